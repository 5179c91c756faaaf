"""Admin console: prompts, their immutable versions, labels and label history."""

from django.contrib import admin
from guardian.admin import GuardedModelAdmin

from prompts.models import Prompt, PromptLabel, PromptLabelMove, PromptVersion


class PromptVersionInline(admin.TabularInline):
    model = PromptVersion
    fields = ("version", "commit_message", "created_by", "created_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False


class PromptLabelInline(admin.TabularInline):
    model = PromptLabel
    fields = ("name", "version", "updated_at")
    readonly_fields = fields
    extra = 0

    def has_add_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False


@admin.register(Prompt)
class PromptAdmin(GuardedModelAdmin):
    list_display = ("name", "slug", "project")
    list_filter = ("project",)
    inlines = [PromptVersionInline, PromptLabelInline]


@admin.register(PromptVersion)
class PromptVersionAdmin(admin.ModelAdmin):
    list_display = ("prompt", "version", "commit_message", "created_at")
    readonly_fields = (
        "prompt",
        "version",
        "messages",
        "variables",
        "signature",
        "model_config",
        "commit_message",
        "created_by",
        "created_at",
    )

    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return False

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False


@admin.register(PromptLabelMove)
class PromptLabelMoveAdmin(admin.ModelAdmin):
    list_display = ("prompt", "label", "from_version", "to_version", "moved_by", "moved_at")
    readonly_fields = ("prompt", "label", "from_version", "to_version", "moved_by", "moved_at")

    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return False

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False


@admin.register(PromptLabel)
class PromptLabelAdmin(admin.ModelAdmin):
    """Labels are moved with ``prompts.services.prompt_label_move`` (recorded); here they are read-only."""

    list_display = ("prompt", "name", "version", "updated_at")
    list_filter = ("prompt__project",)
    readonly_fields = ("prompt", "name", "version", "updated_at")

    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return False

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False
