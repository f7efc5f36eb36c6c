"""API keys in the admin: made there with their scopes, the key shown once, revoked there."""

import re

import pytest
from django.urls import reverse

from api.models import StorefrontKey
from tests.api.conftest import Api, error
from tests.staff import messages_of


@pytest.mark.django_db
def test_a_superuser_makes_a_key_and_sees_it_once(root):
    response = root.post(
        reverse("admin:api_storefrontkey_add"), {"name": "storefront-web", "scopes": "storefront"}, follow=True
    )
    [message] = [m for m in messages_of(response) if m.startswith("The API key for")]
    key = re.search(r"([A-Za-z0-9]{8}\.[A-Za-z0-9]+)", message).group(1)
    stored = StorefrontKey.objects.get()
    assert (stored.name, stored.scopes) == ("storefront-web", ["storefront"])
    assert Api(key).get("people/nobody").status_code == 404  # authenticated: a 404, not a 401
    page = root.get(reverse("admin:api_storefrontkey_change", args=[stored.pk]))
    assert key.encode() not in page.content


@pytest.mark.django_db
def test_a_revoked_key_stops_working(root):
    _, key = StorefrontKey.objects.create_key(name="old", scopes=["storefront"])
    stored = StorefrontKey.objects.get()
    root.post(
        reverse("admin:api_storefrontkey_change", args=[stored.pk]),
        {"name": "old", "scopes": "storefront", "revoked": "on"},
    )
    assert StorefrontKey.objects.get().revoked is True
    assert error(Api(key).get("people/nobody"))["code"] == "invalid_api_key"


@pytest.mark.django_db
def test_an_unknown_scope_is_refused_by_the_form(root):
    response = root.post(reverse("admin:api_storefrontkey_add"), {"name": "x", "scopes": "everything"})
    assert response.status_code == 200
    assert not StorefrontKey.objects.exists()
