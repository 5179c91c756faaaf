"""Explicit input and output shapes of the prompt API."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from prompts.models import Prompt, PromptLabel, PromptLabelMove, PromptVersion


class MessageField(serializers.Serializer):
    role = serializers.ChoiceField(choices=["system", "user", "assistant"])
    content = serializers.CharField(trim_whitespace=False)


class VariableField(serializers.Serializer):
    """A typed variable: the engine's signature field types (``str``, ``int``, ``float``, ``bool``,
    ``list`` with optional ``items``, ``object``, ``enum`` with ``choices``)."""

    name = serializers.CharField()
    type = serializers.ChoiceField(choices=["str", "int", "float", "bool", "list", "object", "enum"])
    description = serializers.CharField(allow_blank=True)
    items = serializers.CharField(required=False)
    choices = serializers.ListField(child=serializers.CharField(), required=False)


class VersionOut(serializers.ModelSerializer):
    """One immutable version: messages, declared variables (names, and typed in ``signature``),
    model config, who committed it."""

    messages = MessageField(many=True)
    variables = serializers.ListField(child=serializers.CharField())
    signature = serializers.SerializerMethodField()
    model_config = serializers.DictField()
    created_by = serializers.SerializerMethodField()

    class Meta:
        model = PromptVersion
        fields = [
            "version",
            "messages",
            "variables",
            "signature",
            "model_config",
            "commit_message",
            "created_by",
            "created_at",
        ]

    @extend_schema_field(VariableField(many=True))
    def get_signature(self, obj: PromptVersion) -> list[dict[str, Any]]:
        return obj.variable_fields()

    def get_created_by(self, obj: PromptVersion) -> str | None:
        return obj.created_by.get_username() if obj.created_by else None


class LabelOut(serializers.ModelSerializer):
    """A label and the version number it points at."""

    version = serializers.IntegerField(source="version.version")

    class Meta:
        model = PromptLabel
        fields = ["name", "version", "updated_at"]


class LabelMoveOut(serializers.ModelSerializer):
    """One move of a label: from which version (null when created) to which, by whom, when."""

    from_version = serializers.SerializerMethodField()
    to_version = serializers.IntegerField(source="to_version.version")
    moved_by = serializers.SerializerMethodField()

    class Meta:
        model = PromptLabelMove
        fields = ["label", "from_version", "to_version", "moved_by", "moved_at"]

    def get_from_version(self, obj: PromptLabelMove) -> int | None:
        return obj.from_version.version if obj.from_version else None

    def get_moved_by(self, obj: PromptLabelMove) -> str | None:
        return obj.moved_by.get_username() if obj.moved_by else None


class PromptOut(serializers.ModelSerializer):
    """A prompt with its labels and the number of its latest version (null before the first commit)."""

    labels = serializers.SerializerMethodField()
    protected_labels = serializers.ListField(child=serializers.CharField(), read_only=True)
    latest_version = serializers.SerializerMethodField()

    class Meta:
        model = Prompt
        fields = ["slug", "name", "description", "created_at", "labels", "protected_labels", "latest_version"]

    def get_labels(self, obj: Prompt) -> list[dict[str, Any]]:
        return list(LabelOut(obj.labels.select_related("version").order_by("name"), many=True).data)

    def get_latest_version(self, obj: Prompt) -> int | None:
        latest = obj.versions.order_by("-version").first()
        return latest.version if latest else None


class PromptDetailOut(PromptOut):
    """A prompt and one version of it: the one asked for by ``label`` or ``version``, else the latest."""

    version = serializers.SerializerMethodField()

    class Meta(PromptOut.Meta):
        fields = [*PromptOut.Meta.fields, "version"]

    def get_version(self, obj: Prompt) -> dict[str, Any] | None:
        found = self.context.get("version")
        return dict(VersionOut(found).data) if found else None


class VersionIn(serializers.Serializer):
    """A new version. ``variables``: names (typed ``str``) or typed fields
    ``{"name", "type", "description", "items"?, "choices"?}``. The service checks templates and variables."""

    messages = serializers.JSONField()
    variables = serializers.JSONField(required=False, default=list)
    model_config = serializers.JSONField(required=False, default=dict)
    commit_message = serializers.CharField(required=False, default="", allow_blank=True, max_length=500)


class PromptCreateIn(serializers.Serializer):
    """A new prompt; with ``messages`` its version 1 is committed in the same transaction."""

    name = serializers.CharField(max_length=200)
    slug = serializers.CharField(max_length=64, required=False, allow_blank=True)
    description = serializers.CharField(required=False, default="", allow_blank=True)
    messages = serializers.JSONField(required=False)
    variables = serializers.JSONField(required=False, default=list)
    model_config = serializers.JSONField(required=False, default=dict)
    commit_message = serializers.CharField(required=False, default="", allow_blank=True, max_length=500)


class LabelMoveIn(serializers.Serializer):
    """Point the label at ``version``; ``expected_version`` (0: no such label yet) guards against a stale move."""

    version = serializers.IntegerField(min_value=1)
    expected_version = serializers.IntegerField(min_value=0, required=False)


class RenderIn(serializers.Serializer):
    """Exactly one of ``version`` and ``label``; ``variables`` the version declares."""

    version = serializers.IntegerField(min_value=1, required=False)
    label = serializers.CharField(required=False)
    variables = serializers.JSONField(required=False, default=dict)


class RenderOut(serializers.Serializer):
    version = serializers.IntegerField()
    messages = MessageField(many=True)
