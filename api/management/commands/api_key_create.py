"""``manage.py api_key_create NAME --scopes storefront``: make an API key and print it, once."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from api.models import Scope, StorefrontKey


class Command(BaseCommand):
    help = "Create an API key for the storefront and print it (it is stored hashed and never shown again)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="Who holds the key, e.g. storefront-web")
        parser.add_argument("--scopes", nargs="+", default=[Scope.STOREFRONT], choices=Scope.values)

    def handle(self, *args: Any, name: str, scopes: list[str], **options: Any) -> None:
        if not name.strip():
            raise CommandError("The key needs a name.")
        chosen = sorted(set(scopes))
        api_key, key = StorefrontKey.objects.create_key(name=name.strip(), scopes=chosen)
        self.stderr.write(f"API key {api_key.prefix} ({', '.join(chosen)}) for {api_key.name}; keep it now:")
        self.stdout.write(key)
