"""API keys in the back-office: made here (the key is shown once), revoked here."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest
from rest_framework_api_key.admin import APIKeyModelAdmin
from rest_framework_api_key.models import APIKey

from .models import StorefrontKey

# The library's own key model is unused: every key here has scopes (StorefrontKey).
if admin.site.is_registered(APIKey):
    admin.site.unregister(APIKey)


@admin.register(StorefrontKey)
class StorefrontKeyAdmin(APIKeyModelAdmin):
    def get_list_display(self, request: HttpRequest) -> tuple[str, ...]:
        return (*APIKeyModelAdmin.list_display, "scopes")

    fields = ["name", "scopes", "expiry_date", "revoked"]
