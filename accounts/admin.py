from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from .models import User


@admin.register(User)
class BlinnoUserAdmin(UserAdmin):
    list_display = ("username", "get_full_name", "email", "phone_number", "is_creator", "is_staff")
    list_filter = ("is_creator", "is_staff", "groups", "language")
    search_fields = ("username", "first_name", "last_name", "email", "phone_number")
    fieldsets = (*(UserAdmin.fieldsets or ()), ("Blinno", {"fields": ("phone_number", "language", "is_creator")}))
