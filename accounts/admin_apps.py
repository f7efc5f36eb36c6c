"""django.contrib.admin's app config with the back-office's site (accounts.admin_site) as the default one.

A module of its own: settings name it in INSTALLED_APPS, and accounts.apps may declare only one config.
"""

from django.contrib.admin.apps import AdminConfig


class StaffAdminConfig(AdminConfig):
    default_site = "accounts.admin_site.StaffAdminSite"
