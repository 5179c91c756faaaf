"""Admin console for the platform core: projects, members, audit log, secrets, API keys.

Secret values are write-only: the form takes a new value in a password input
that never renders it back, and no page shows a stored value. API keys are
shown once, in the message after creation; only their prefix is listed.
Object permissions (django-guardian) can be granted on projects and secrets.
The site is for superusers only and audits every change (``studio.admin_site``).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from guardian.admin import GuardedModelAdmin

from studio.admin_site import admin_audit
from studio.crypto import secret_set_value
from studio.models import ApiKey, AuditEvent, Membership, Project, Secret

API_KEY_PREFIX_LENGTH = 10  # "sk_" + 7 characters: enough to recognise a key, useless to guess it


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 1
    autocomplete_fields = ["user"]
    fields = ["user", "role", "created_at"]
    readonly_fields = ["created_at"]


@admin.register(Project)
class ProjectAdmin(GuardedModelAdmin):
    list_display = ["name", "slug", "max_running_runs", "created_at"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [MembershipInline]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    """Who has which role in which project (also editable inline on the project)."""

    list_display = ("user", "project", "role", "created_at")
    list_filter = ("role", "project")
    search_fields = ("user__username", "project__slug")
    autocomplete_fields = ()


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """Append-only: no add, change or delete, not even for superusers."""

    list_display = ["created_at", "project", "actor_username", "verb", "object_type", "object_id"]
    list_filter = ["verb", "object_type", "project"]
    search_fields = ["verb", "object_type", "object_id", "actor_username"]
    date_hierarchy = "created_at"
    list_select_related = ["project"]

    def get_readonly_fields(self, request: HttpRequest, obj: AuditEvent | None = None) -> list[str]:
        return [field.name for field in AuditEvent._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: AuditEvent | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: AuditEvent | None = None) -> bool:
        return False


class SecretForm(forms.ModelForm):
    """The value is write-only: required when creating, blank keeps the stored one."""

    value = forms.CharField(
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        required=False,
        strip=False,
        help_text="Stored encrypted and never shown again. Leave blank to keep the current value.",
    )

    class Meta:
        model = Secret
        fields = ["project", "name"]

    def clean_value(self) -> str:
        value: str = self.cleaned_data.get("value", "")
        if not value and self.instance.pk is None:
            raise forms.ValidationError("A new secret needs a value.")
        return value


@admin.register(Secret)
class SecretAdmin(GuardedModelAdmin):
    form = SecretForm
    list_display = ["name", "project", "updated_at"]
    list_filter = ["project"]
    search_fields = ["name", "project__slug"]
    list_select_related = ["project"]
    readonly_fields = ["created_by", "created_at", "updated_at"]

    def get_fields(self, request: HttpRequest, obj: Secret | None = None) -> list[str]:
        return ["project", "name", "value", *self.readonly_fields]

    def save_model(self, request: HttpRequest, obj: Secret, form: forms.ModelForm, change: bool) -> None:
        value = form.cleaned_data.get("value")
        if value:
            secret_set_value(secret=obj, value=value)
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)  # audited by the site: the "value" field shows as changed


class ApiKeyAddForm(forms.ModelForm):
    class Meta:
        model = ApiKey
        fields = ["project", "name", "role", "user"]


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    """Creation generates the key and shows it once; afterwards only the prefix exists to see."""

    list_display = ["name", "project", "masked_prefix", "role", "user", "created_at", "last_used_at", "revoked_at"]
    list_filter = ["project", "role"]
    search_fields = ["name", "prefix", "project__slug", "user__username"]
    list_select_related = ["project", "user"]
    autocomplete_fields = ["user"]
    actions = ["revoke"]

    @admin.display(description="key")
    def masked_prefix(self, obj: ApiKey) -> str:
        return f"{obj.prefix}…"

    def get_form(self, request: HttpRequest, obj: ApiKey | None = None, change: bool = False, **kwargs: Any) -> Any:
        if obj is None:
            kwargs["form"] = ApiKeyAddForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request: HttpRequest, obj: ApiKey | None = None) -> list[str]:
        if obj is None:
            return ["project", "name", "role", "user"]
        return ["project", "name", "role", "user", "masked_prefix", "created_at", "last_used_at", "revoked_at"]

    def get_readonly_fields(self, request: HttpRequest, obj: ApiKey | None = None) -> list[str]:
        if obj is None:
            return []
        return ["project", "user", "masked_prefix", "created_at", "last_used_at", "revoked_at"]

    def save_model(self, request: HttpRequest, obj: ApiKey, form: forms.ModelForm, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        raw = ApiKey.generate()
        obj.prefix = raw[:API_KEY_PREFIX_LENGTH]
        obj.hashed_key = ApiKey.hash(raw)
        super().save_model(request, obj, form, change)
        messages.warning(request, f"API key {obj.name!r}: {raw} — copy it now, it will not be shown again.")

    @admin.action(description="Revoke selected API keys")
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        keys = list(queryset.filter(revoked_at__isnull=True).select_related("project"))
        queryset.filter(pk__in=[key.pk for key in keys]).update(revoked_at=timezone.now())
        for key in keys:
            admin_audit(request, key, "revoke")
        self.message_user(request, f"Revoked {len(keys)} API key(s).")
