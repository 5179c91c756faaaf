"""Admin console for the effects' models (imported by ``agents.admin``).

The egress allow-list (``studio.EgressAllowedHost``) is registered here too:
it only matters to the agents' HTTP and MCP clients.
"""

from typing import Any

from django.contrib import admin

from agents.models import ApprovalDecision, McpServer, SideEffect, SubworkflowCall
from studio.models import EgressAllowedHost


@admin.register(EgressAllowedHost)
class EgressAllowedHostAdmin(admin.ModelAdmin):
    list_display = ("host", "project", "note", "created_by", "created_at")
    list_filter = ("project",)
    search_fields = ("host", "note")
    readonly_fields = ("created_by", "created_at")

    def get_form(self, request: Any, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        form = super().get_form(request, obj, change=change, **kwargs)
        form.base_fields["host"].help_text = (
            "A host (intranet.example, 10.0.0.5): ports 80 and 443 only; or host:port "
            "(10.0.0.5:8080, [fd00::5]:8443): that port only."
        )
        return form

    def save_model(self, request: Any, obj: EgressAllowedHost, form: Any, change: bool) -> None:
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)


@admin.register(McpServer)
class McpServerAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "project", "url", "timeout_s", "updated_at")
    list_filter = ("project",)
    search_fields = ("name", "slug", "url")
    readonly_fields = ("created_at", "updated_at")
    raw_id_fields = ("headers_secret",)


class _ReadOnly(admin.ModelAdmin):
    """Records written by runs: readable, never edited by hand."""

    def has_add_permission(self, request: Any) -> bool:
        return False

    def has_change_permission(self, request: Any, obj: Any = None) -> bool:
        return False


@admin.register(ApprovalDecision)
class ApprovalDecisionAdmin(_ReadOnly):
    list_display = ("run", "node_id", "iteration", "approved", "decided_by", "decided_at")
    list_filter = ("approved",)
    raw_id_fields = ("run",)


@admin.register(SideEffect)
class SideEffectAdmin(_ReadOnly):
    list_display = ("run", "key", "method", "url", "status", "response_status", "sends", "updated_at")
    list_filter = ("status", "method")
    raw_id_fields = ("run",)


@admin.register(SubworkflowCall)
class SubworkflowCallAdmin(_ReadOnly):
    list_display = ("parent_run", "node_id", "iteration", "child_run", "created_at")
    raw_id_fields = ("parent_run", "child_run")
