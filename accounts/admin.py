"""Django admin for the operator (superusers); org admins use /manage/ instead."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from accounts.models import Organisation, User


@admin.register(Organisation)
class OrganisationAdmin(admin.ModelAdmin):
    list_display = ("name", "max_attachment_mb", "created")
    search_fields = ("name",)


@admin.register(User)
class WebmailUserAdmin(UserAdmin):
    list_display = ("username", "email", "organisation", "is_org_admin", "is_active")
    list_filter = ("organisation", "is_org_admin", "is_active", "is_superuser")
    fieldsets = (
        *UserAdmin.fieldsets,  # type: ignore[misc]
        ("Organisation", {"fields": ("organisation", "is_org_admin", "language")}),
    )
    add_fieldsets = (
        *UserAdmin.add_fieldsets,
        ("Organisation", {"fields": ("organisation", "is_org_admin")}),
    )
