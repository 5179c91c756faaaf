"""Admin console: workflows, versions (read-only), runs with their steps and events (read-only)."""

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from guardian.admin import GuardedModelAdmin

from agents import admin_effects  # noqa: F401 - registers approvals, side effects, MCP servers, egress hosts
from agents.models import Run, RunEvent, Step, Workflow, WorkflowVersion


class WorkflowVersionInline(admin.TabularInline):
    model = WorkflowVersion
    fields = ("version", "note", "created_by", "created_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False


@admin.register(Workflow)
class WorkflowAdmin(GuardedModelAdmin):
    """Name, description and run defaults are editable here; the draft graph is not.

    Draft edits go through the editor or the API, which check ``draft_revision``
    (a stale save is refused). Saving here writes only the form's fields, so it
    never overwrites a draft an editor saved meanwhile.
    """

    list_display = ("name", "slug", "project", "draft_revision", "updated_at")
    list_filter = ("project",)
    search_fields = ("name", "slug")
    readonly_fields = ("draft_graph", "draft_revision", "created_by", "created_at", "updated_at")
    inlines = [WorkflowVersionInline]

    def get_readonly_fields(self, request: HttpRequest, obj: Workflow | None = None) -> tuple[str, ...]:
        return (*self.readonly_fields, "project") if obj is not None else self.readonly_fields

    def save_model(self, request: HttpRequest, obj: Workflow, form: Any, change: bool) -> None:
        if not change:
            obj.created_by = request.user
            super().save_model(request, obj, form, change)
            return
        editable = [name for name in form.base_fields if name not in self.get_readonly_fields(request, obj)]
        obj.save(update_fields=[*editable, "updated_at"])


@admin.register(WorkflowVersion)
class WorkflowVersionAdmin(admin.ModelAdmin):
    list_display = ("workflow", "version", "note", "created_by", "created_at")
    list_filter = ("workflow__project",)
    readonly_fields = ("workflow", "version", "graph", "note", "created_by", "created_at")

    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return False

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False


class StepInline(admin.TabularInline):
    model = Step
    fields = (
        "node_id",
        "iteration",
        "node_type",
        "status",
        "input_tokens",
        "output_tokens",
        "cost_usd",
        "duration_ms",
        "reused",
        "error",
    )
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False


@admin.register(Run)
class RunAdmin(admin.ModelAdmin):
    list_display = ("id", "workflow", "status", "input_tokens", "output_tokens", "cost_usd", "created_at")
    list_filter = ("status", "project")
    search_fields = ("workflow__name", "error")
    readonly_fields = [f.name for f in Run._meta.fields]
    inlines = [StepInline]

    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return False


@admin.register(Step)
class StepAdmin(admin.ModelAdmin):
    list_display = ("run", "node_id", "iteration", "status", "input_tokens", "output_tokens", "cost_usd")
    list_filter = ("status", "node_type")
    readonly_fields = [f.name for f in Step._meta.fields]

    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return False


@admin.register(RunEvent)
class RunEventAdmin(admin.ModelAdmin):
    list_display = ("run", "seq", "type", "created_at")
    list_filter = ("type",)
    readonly_fields = ("run", "seq", "type", "payload", "created_at")

    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return False

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False
