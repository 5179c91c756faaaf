"""Input and output serializers of the workflow API (one pair per operation)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_serializer
from rest_framework import serializers

from agents.models import Workflow, WorkflowVersion
from studio.lib.jsonsafe import MAX_EPOCH_S, MAX_LATENCY_MS, MAX_POSITIVE_INT


class GraphField(serializers.JSONField):
    """A graph document ``{"schema": 1, "nodes": [...], "edges": [...]}`` (checked by the service)."""


# ---------------------------------------------------------------- outputs


class IssueOut(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()
    path = serializers.CharField(required=False, allow_blank=True)
    node_id = serializers.CharField(allow_null=True, required=False)
    edge_id = serializers.CharField(allow_null=True, required=False)


class WorkflowSummaryOut(serializers.ModelSerializer):
    project = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    latest_version = serializers.SerializerMethodField()
    editor_url = serializers.SerializerMethodField()

    class Meta:
        model = Workflow
        fields = [
            "id",
            "project",
            "slug",
            "name",
            "description",
            "draft_revision",
            "latest_version",
            "max_concurrency",
            "budget_tokens",
            "budget_usd",
            "created_at",
            "updated_at",
            "editor_url",
        ]

    def get_latest_version(self, obj: Workflow) -> int | None:
        value = getattr(obj, "latest_version", None)
        if value is None and not hasattr(obj, "latest_version"):
            value = obj.versions.order_by("-version").values_list("version", flat=True).first()
        return value

    def get_editor_url(self, obj: Workflow) -> str:
        return f"/p/{obj.project.slug}/w/{obj.slug}/edit/"


class WorkflowDetailOut(WorkflowSummaryOut):
    draft_graph = GraphField()
    ports = serializers.SerializerMethodField()

    class Meta(WorkflowSummaryOut.Meta):
        fields = [*WorkflowSummaryOut.Meta.fields, "draft_graph", "ports"]

    def get_ports(self, obj: Workflow) -> dict[str, Any]:
        """Input and output fields of every node of the draft, by node id."""
        from agents.services.workflows import graph_ports

        return graph_ports(obj.draft_graph)


class DraftSavedOut(serializers.Serializer):
    id = serializers.IntegerField()
    draft_revision = serializers.IntegerField()
    updated_at = serializers.DateTimeField()
    issues = IssueOut(many=True, help_text="Executability issues (not blocking for a draft).")


@extend_schema_serializer(component_name="WorkflowVersionOut")  # prompts have a VersionOut too
class VersionOut(serializers.ModelSerializer):
    created_by = serializers.SerializerMethodField()

    class Meta:
        model = WorkflowVersion
        fields = ["version", "note", "created_by", "created_at"]

    def get_created_by(self, obj: WorkflowVersion) -> str | None:
        return obj.created_by.get_username() if obj.created_by else None


@extend_schema_serializer(component_name="WorkflowVersionDetailOut")
class VersionDetailOut(VersionOut):
    graph = GraphField()

    class Meta(VersionOut.Meta):
        fields = [*VersionOut.Meta.fields, "graph"]


class ValidationOut(serializers.Serializer):
    valid = serializers.BooleanField()
    issues = IssueOut(many=True)


class DiffOut(serializers.Serializer):
    a = serializers.CharField()
    b = serializers.CharField()
    nodes = serializers.JSONField()
    edges = serializers.JSONField()
    summary = serializers.JSONField()


class CatalogEntryOut(serializers.Serializer):
    type = serializers.CharField()
    kind = serializers.CharField()
    title = serializers.CharField()
    description = serializers.CharField()
    config_schema = serializers.JSONField()
    default_config = serializers.JSONField()
    default_ports = serializers.JSONField(help_text='{"inputs": [field], "outputs": [field]} of the default config')


class TemplateOut(serializers.Serializer):
    slug = serializers.CharField()
    name = serializers.CharField()
    description = serializers.CharField()
    category = serializers.CharField()
    node_count = serializers.IntegerField()
    graph = GraphField()


class PortsOut(serializers.Serializer):
    ports = serializers.JSONField(help_text='{node_id: {"inputs": [field], "outputs": [field], "error": str|null}}')


# ----------------------------------------------------------------- inputs


class WorkflowCreateIn(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    slug = serializers.SlugField(max_length=64, required=False, allow_blank=True)
    description = serializers.CharField(required=False, allow_blank=True, default="", max_length=10_000)
    graph = GraphField(required=False, allow_null=True, default=None)


class DraftSaveIn(serializers.Serializer):
    graph = GraphField()
    base_revision = serializers.IntegerField(
        min_value=0, max_value=MAX_POSITIVE_INT, help_text="The draft_revision your copy is based on."
    )


class ValidateIn(serializers.Serializer):
    graph = GraphField(required=False, allow_null=True, default=None, help_text="Defaults to the stored draft.")


class PublishIn(serializers.Serializer):
    note = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")
    base_revision = serializers.IntegerField(
        required=False, allow_null=True, default=None, min_value=0, max_value=MAX_POSITIVE_INT
    )
    override_reason = serializers.CharField(
        max_length=1000, required=False, allow_blank=True, default="",
        help_text="Admins and owners: publish although the test suite has not passed on this draft (audited).",
    )


class RestoreIn(serializers.Serializer):
    version = serializers.IntegerField(min_value=1, max_value=MAX_POSITIVE_INT)


class TemplateUseIn(serializers.Serializer):
    project = serializers.SlugField(help_text="Slug of the project to create the workflow in.")
    name = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")


class PortsIn(serializers.Serializer):
    nodes = serializers.ListField(child=serializers.JSONField(), max_length=2000)


class ImportIn(serializers.Serializer):
    """JSON body ``{"document": <export envelope or its text>, "name"?}``; or send the raw
    JSON/YAML text as the body (``application/json``, ``application/yaml``, ``text/yaml``),
    or a multipart upload in the ``file`` field."""

    document = serializers.JSONField(required=False)
    file = serializers.FileField(required=False)
    name = serializers.CharField(max_length=200, required=False, allow_blank=True)


class ImportOut(serializers.Serializer):
    workflow = WorkflowSummaryOut()
    warnings = serializers.ListField(child=serializers.CharField())


class TraceSpanIn(serializers.Serializer):
    node_id = serializers.CharField(max_length=64, allow_blank=True, required=False, default="")
    model = serializers.CharField(max_length=200, allow_blank=True, required=False, default="")
    input = serializers.JSONField(required=False, default=dict)
    output = serializers.JSONField(required=False, default=dict)
    input_tokens = serializers.IntegerField(min_value=0, max_value=MAX_POSITIVE_INT, required=False, default=0)
    output_tokens = serializers.IntegerField(min_value=0, max_value=MAX_POSITIVE_INT, required=False, default=0)
    latency_ms = serializers.FloatField(
        min_value=0, max_value=MAX_LATENCY_MS, required=False, default=0, help_text="milliseconds (at most 30 days)"
    )
    started_at = serializers.FloatField(
        min_value=0, max_value=MAX_EPOCH_S, required=False, allow_null=True, default=None, help_text="epoch seconds"
    )


class TraceIngestIn(serializers.Serializer):
    """What an exported script posts: its workflow, status, steps and model calls."""

    source = serializers.CharField(max_length=64, required=False, default="python-export")
    workflow = serializers.DictField(help_text='{"project": slug, "slug": workflow slug, "version": int|null}')
    status = serializers.ChoiceField(choices=["succeeded", "failed"], default="succeeded")
    error = serializers.CharField(allow_blank=True, required=False, default="", max_length=10_000)
    inputs = serializers.JSONField(required=False, default=dict)
    outputs = serializers.JSONField(required=False, default=dict)
    steps = serializers.ListField(child=serializers.JSONField(), required=False, default=list, max_length=5000)
    spans = TraceSpanIn(many=True, required=False, default=list)


class TraceIngestOut(serializers.Serializer):
    trace_id = serializers.IntegerField()
    spans = serializers.IntegerField()
