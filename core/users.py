"""The user type for annotations, in apps the layers keep from importing ``accounts``."""

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    # django-stubs resolves this name to settings.AUTH_USER_MODEL (accounts.User), the type
    # of every user foreign key, without an import of accounts.
    from django.contrib.auth.models import _User as User
else:
    from django.contrib.auth.base_user import AbstractBaseUser as User

__all__ = ["User"]
