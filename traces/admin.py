"""Admin console for model endpoints (prices, structured output, test connection), traces and spans.

Traces and spans are records: read-only here.
"""

from __future__ import annotations

from typing import Any

from asgiref.sync import async_to_sync
from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from guardian.admin import GuardedModelAdmin

from traces.models import ModelEndpoint, Span, Trace


class ModelEndpointForm(forms.ModelForm):
    api_base = forms.URLField(
        required=False, assume_scheme="http", help_text="Base URL of an OpenAI-compatible server, if any."
    )

    class Meta:
        model = ModelEndpoint
        fields = [
            "project",
            "name",
            "slug",
            "model",
            "api_base",
            "api_key_secret",
            "is_active",
            "structured_output",
            "input_price_per_mtok",
            "output_price_per_mtok",
            "cached_input_price_per_mtok",
            "context_window",
            "timeout_s",
            "pinned_params",
        ]

    def clean_pinned_params(self) -> dict[str, Any]:
        """An object of allowed sampling parameters (the gateway's ``ALLOWED_PARAMS``)."""
        from traces.gateway import ALLOWED_PARAMS

        value = self.cleaned_data.get("pinned_params") or {}
        if not isinstance(value, dict):
            raise forms.ValidationError('Pinned parameters must be a JSON object, e.g. {"temperature": 0}.')
        unknown = sorted(set(value) - ALLOWED_PARAMS)
        if unknown:
            raise forms.ValidationError(
                f"Unsupported model parameter(s): {', '.join(unknown)}. Allowed: {', '.join(sorted(ALLOWED_PARAMS))}."
            )
        return value

    def clean(self) -> dict[str, Any]:
        cleaned: dict[str, Any] = super().clean() or {}
        secret, project = cleaned.get("api_key_secret"), cleaned.get("project")
        if secret is not None and project is not None and secret.project_id != project.pk:
            self.add_error("api_key_secret", "The API key secret must belong to the endpoint's project.")
        return cleaned


@admin.register(ModelEndpoint)
class ModelEndpointAdmin(GuardedModelAdmin):
    form = ModelEndpointForm
    list_display = [
        "name",
        "project",
        "slug",
        "model",
        "structured_output",
        "input_price_per_mtok",
        "output_price_per_mtok",
        "is_active",
    ]
    list_filter = ["project", "structured_output", "is_active"]
    search_fields = ["name", "slug", "model"]
    list_select_related = ["project"]
    prepopulated_fields = {"slug": ["name"]}
    actions = ["test_connection"]
    fieldsets = [
        (None, {"fields": ["project", "name", "slug", "model", "api_base", "api_key_secret", "is_active"]}),
        ("Structured output", {"fields": ["structured_output"]}),
        (
            "Prices (USD per 1M tokens; leave blank when unknown — never 0 unless it is free)",
            {
                "fields": [
                    "input_price_per_mtok",
                    "output_price_per_mtok",
                    "cached_input_price_per_mtok",
                    "cache_write_price_per_mtok",
                ]
            },
        ),
        ("Limits", {"fields": ["context_window", "timeout_s"]}),
        ("Sampling", {"fields": ["pinned_params"]}),
    ]

    @admin.action(description="Test connection (one-token completion, recorded as a span)")
    def test_connection(self, request: HttpRequest, queryset: QuerySet[ModelEndpoint]) -> None:
        from traces.gateway import check_endpoint

        for endpoint in queryset:
            ok, message = async_to_sync(check_endpoint)(endpoint)
            level = messages.SUCCESS if ok else messages.ERROR
            self.message_user(request, f"{endpoint.name}: {message}", level)


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class SpanInline(admin.TabularInline):
    model = Span
    extra = 0
    can_delete = False
    show_change_link = True
    fields = ["started_at", "name", "model", "status", "input_tokens", "output_tokens", "cost_usd", "latency_ms"]
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Trace)
class TraceAdmin(ReadOnlyAdmin):
    list_display = ["id", "project", "name", "source", "run_id", "session_id", "started_at", "ended_at"]
    list_filter = ["project", "source"]
    search_fields = ["name", "run_id"]
    list_select_related = ["project"]
    inlines = [SpanInline]


@admin.register(Span)
class SpanAdmin(ReadOnlyAdmin):
    list_display = [
        "started_at",
        "project",
        "model",
        "node_id",
        "status",
        "input_tokens",
        "output_tokens",
        "cost_usd",
        "price_source",
        "latency_ms",
    ]
    list_filter = ["project", "kind", "status", "model", "price_source", "error_code"]
    search_fields = ["name", "model", "node_id", "run_id"]
    list_select_related = ["project"]
    date_hierarchy = "started_at"
