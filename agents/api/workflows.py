"""Workflow REST API: drafts, validation, publishing, versions, diffs, templates, import/export.

One view per operation; every object is fetched through ``access_*``
selectors (404 when not viewable, 403 when the permission is missing) and
every list is scoped with ``workflows_visible``. The lead includes
:data:`urlpatterns` under ``/api/v1/``.
"""

from __future__ import annotations

from typing import Any, NoReturn

from django.db.models import Max
from django.http import HttpResponse
from django.urls import path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from agents.api import serializers_workflows as s
from agents.interchange import (
    MAX_DOCUMENT_BYTES,
    InterchangeError,
    dump_json,
    dump_yaml,
    export_document,
    import_document,
    parse_document,
)
from agents.models import Workflow
from agents.selectors import access_workflow, access_workflow_version, workflows_visible
from agents.services import workflows as svc
from studio.api.errors import ApiError
from studio.lib.jsonsafe import positive_int
from studio.selectors import access_project

ERROR = OpenApiResponse(
    inline_serializer(
        "ApiErrorBody",
        {
            "detail": serializers.CharField(),
            "code": serializers.CharField(),
            "errors": serializers.JSONField(required=False),
        },
    ),
    description="Error: {detail, code, errors?}",
)


def raise_workflow_error(exc: svc.WorkflowError) -> NoReturn:
    """Translate a service error into the API's error shape."""
    if isinstance(exc, svc.DraftConflictError):
        raise ApiError(
            exc.message,
            code=exc.code,
            status_code=status.HTTP_409_CONFLICT,
            errors={
                "base_revision": exc.base_revision,
                "current_revision": exc.current_revision,
                "current_graph": exc.current_graph,
            },
        )
    if isinstance(exc, svc.TemplateNotFoundError):
        raise ApiError(exc.message, code=exc.code, status_code=404)
    raise ApiError(
        exc.message,
        code=exc.code,
        status_code=getattr(exc, "status_code", 400),
        errors=[i.as_dict() for i in exc.issues] or None,
    )


class TextParser(JSONParser):
    """Raw YAML or JSON text bodies for import (``application/yaml``, ``text/yaml``, ``text/plain``)."""

    media_type = "*/*"

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        # Read one byte past the limit so parse_document can refuse an oversized file with a clear message.
        return {"__raw__": stream.read(MAX_DOCUMENT_BYTES + 1) if stream is not None else b""}


def _summary_qs(qs: Any) -> Any:
    return qs.annotate(latest_version=Max("versions__version"))


# ----------------------------------------------------------------- workflows


class ProjectWorkflowsView(APIView):
    @extend_schema(
        operation_id="workflows_list", responses={200: s.WorkflowSummaryOut(many=True), 404: ERROR}, tags=["workflows"]
    )
    def get(self, request: Request, project: str) -> Response:
        """Workflows of a project the caller may view."""
        proj = access_project(user=request.user, slug=project)
        qs = _summary_qs(workflows_visible(user=request.user, project=proj)).order_by("name")
        return Response(s.WorkflowSummaryOut(qs, many=True).data)

    @extend_schema(
        operation_id="workflows_create",
        request=s.WorkflowCreateIn,
        responses={201: s.WorkflowDetailOut, 400: ERROR, 403: ERROR, 404: ERROR},
        tags=["workflows"],
    )
    def post(self, request: Request, project: str) -> Response:
        """Create a workflow (empty draft unless a graph is given). Needs the 'change' permission."""
        proj = access_project(user=request.user, slug=project, perm="change")
        data = _valid(s.WorkflowCreateIn, request.data)
        try:
            workflow = svc.workflow_create(
                project=proj,
                user=request.user,
                name=data["name"],
                slug=data.get("slug") or None,
                graph=data.get("graph"),
                description=data.get("description", ""),
            )
        except svc.WorkflowError as exc:
            raise_workflow_error(exc)
        return Response(s.WorkflowDetailOut(workflow).data, status=201)


class WorkflowDetailView(APIView):
    @extend_schema(operation_id="workflows_get", responses={200: s.WorkflowDetailOut, 404: ERROR}, tags=["workflows"])
    def get(self, request: Request, pk: int) -> Response:
        """A workflow with its draft graph, draft revision and the ports of every node."""
        workflow = access_workflow(user=request.user, pk=pk)
        return Response(s.WorkflowDetailOut(workflow).data)


class DraftView(APIView):
    @extend_schema(
        operation_id="workflows_draft_save",
        request=s.DraftSaveIn,
        responses={
            200: s.DraftSavedOut,
            400: ERROR,
            403: ERROR,
            404: ERROR,
            409: OpenApiResponse(description="draft_conflict: errors carry current_revision and current_graph"),
        },
        tags=["workflows"],
    )
    def put(self, request: Request, pk: int) -> Response:
        """Save the draft. Refused with 409 ``draft_conflict`` when ``base_revision`` is stale."""
        workflow = access_workflow(user=request.user, pk=pk, perm="change")
        data = _valid(s.DraftSaveIn, request.data)
        try:
            workflow = svc.workflow_draft_save(
                workflow=workflow, user=request.user, graph=data["graph"], base_revision=data["base_revision"]
            )
        except svc.WorkflowError as exc:
            raise_workflow_error(exc)
        issues = []
        if request.query_params.get("check") == "1":
            issues = svc.engine_issues(workflow.draft_graph, project_id=workflow.project_id) + svc.secret_issues(
                project=workflow.project, user=request.user, graph=workflow.draft_graph
            )
        return Response(
            {
                "id": workflow.pk,
                "draft_revision": workflow.draft_revision,
                "updated_at": workflow.updated_at,
                "issues": [i.as_dict() for i in issues],
            }
        )


class ValidateView(APIView):
    @extend_schema(
        operation_id="workflows_validate",
        request=s.ValidateIn,
        responses={200: s.ValidationOut, 404: ERROR},
        tags=["workflows"],
    )
    def post(self, request: Request, pk: int) -> Response:
        """Every problem that would block publishing/running the given graph (default: the draft)."""
        workflow = access_workflow(user=request.user, pk=pk)
        data = _valid(s.ValidateIn, request.data)
        graph = data.get("graph") if data.get("graph") is not None else workflow.draft_graph
        issues = svc.engine_issues(graph, project_id=workflow.project_id) + svc.secret_issues(
            project=workflow.project, user=request.user, graph=graph
        )
        return Response({"valid": not issues, "issues": [i.as_dict() for i in issues]})


class PublishView(APIView):
    @extend_schema(
        operation_id="workflows_publish",
        request=s.PublishIn,
        responses={201: s.VersionOut, 400: ERROR, 403: ERROR, 404: ERROR, 409: ERROR},
        tags=["workflows"],
    )
    def post(self, request: Request, pk: int) -> Response:
        """Publish the draft as the next immutable version; 400 ``graph_not_executable`` lists the issues."""
        workflow = access_workflow(user=request.user, pk=pk, perm="change")
        data = _valid(s.PublishIn, request.data)
        try:
            version = svc.workflow_publish(
                workflow=workflow, user=request.user, note=data["note"], base_revision=data.get("base_revision"),
                override_reason=data.get("override_reason", ""),
            )
        except svc.WorkflowError as exc:
            raise_workflow_error(exc)
        return Response(s.VersionOut(version).data, status=201)


class VersionsView(APIView):
    @extend_schema(
        operation_id="workflows_versions", responses={200: s.VersionOut(many=True), 404: ERROR}, tags=["workflows"]
    )
    def get(self, request: Request, pk: int) -> Response:
        """Published versions, newest first (who, when, note)."""
        workflow = access_workflow(user=request.user, pk=pk)
        return Response(
            s.VersionOut(workflow.versions.select_related("created_by").order_by("-version"), many=True).data
        )


class VersionDetailView(APIView):
    @extend_schema(
        operation_id="workflows_version_get", responses={200: s.VersionDetailOut, 404: ERROR}, tags=["workflows"]
    )
    def get(self, request: Request, pk: int, version: int) -> Response:
        """One published version with its graph."""
        workflow = access_workflow(user=request.user, pk=pk)
        return Response(
            s.VersionDetailOut(access_workflow_version(user=request.user, workflow=workflow, version=version)).data
        )


def graph_of(*, user: Any, workflow: Workflow, ref: str) -> dict[str, Any]:
    """``ref`` is ``draft`` or a version number. Raises Http404 / ApiError."""
    if ref == "draft":
        return workflow.draft_graph
    number = positive_int(ref)
    if number is None:
        raise ApiError(f"{ref[:40]!r} is neither 'draft' nor a version number.", code="invalid")
    return access_workflow_version(user=user, workflow=workflow, version=number).graph


class DiffView(APIView):
    @extend_schema(
        operation_id="workflows_diff",
        parameters=[
            OpenApiParameter("a", str, description="'draft' or a version number"),
            OpenApiParameter("b", str, description="'draft' or a version number"),
        ],
        responses={200: s.DiffOut, 400: ERROR, 404: ERROR},
        tags=["workflows"],
    )
    def get(self, request: Request, pk: int) -> Response:
        """Added/removed/changed nodes (field-level config changes) and edges from ``a`` to ``b``."""
        workflow = access_workflow(user=request.user, pk=pk)
        a, b = request.query_params.get("a", ""), request.query_params.get("b", "draft")
        if not a:
            latest = workflow.versions.aggregate(m=Max("version"))["m"]
            a = str(latest) if latest else "draft"
        diff = svc.workflow_version_diff(
            graph_of(user=request.user, workflow=workflow, ref=a), graph_of(user=request.user, workflow=workflow, ref=b)
        )
        return Response({"a": a, "b": b, **diff})


class RestoreView(APIView):
    @extend_schema(
        operation_id="workflows_restore",
        request=s.RestoreIn,
        responses={200: s.WorkflowDetailOut, 403: ERROR, 404: ERROR},
        tags=["workflows"],
    )
    def post(self, request: Request, pk: int) -> Response:
        """Copy a published version into the draft (new draft revision)."""
        workflow = access_workflow(user=request.user, pk=pk, perm="change")
        data = _valid(s.RestoreIn, request.data)
        version = access_workflow_version(user=request.user, workflow=workflow, version=data["version"])
        try:
            workflow = svc.workflow_restore(workflow=workflow, version=version, user=request.user)
        except svc.WorkflowError as exc:
            raise_workflow_error(exc)
        return Response(s.WorkflowDetailOut(workflow).data)


# ------------------------------------------------------------ catalog, ports


class NodeCatalogView(APIView):
    @extend_schema(operation_id="node_catalog", responses={200: s.CatalogEntryOut(many=True)}, tags=["workflows"])
    def get(self, request: Request) -> Response:
        """Every node type: kind, title, description, config JSON Schema, default config and ports."""
        return Response(svc.node_catalog_with_ports())


class PortsView(APIView):
    @extend_schema(operation_id="node_ports", request=s.PortsIn, responses={200: s.PortsOut}, tags=["workflows"])
    def post(self, request: Request) -> Response:
        """Input/output fields of the given nodes (for the editor after a config change)."""
        data = _valid(s.PortsIn, request.data)
        nodes = [n for n in data["nodes"] if isinstance(n, dict) and isinstance(n.get("id"), str)]
        return Response({"ports": {n["id"]: svc.node_ports_of(n) for n in nodes}})


# ---------------------------------------------------------------- templates


class TemplatesView(APIView):
    @extend_schema(operation_id="templates_list", responses={200: s.TemplateOut(many=True)}, tags=["templates"])
    def get(self, request: Request) -> Response:
        """The workflow templates gallery (name, description, category, graph)."""
        return Response(s.TemplateOut(svc.workflow_templates(), many=True).data)


class TemplateUseView(APIView):
    @extend_schema(
        operation_id="templates_use",
        request=s.TemplateUseIn,
        responses={201: s.WorkflowDetailOut, 403: ERROR, 404: ERROR},
        tags=["templates"],
    )
    def post(self, request: Request, slug: str) -> Response:
        """Create a workflow from a template in the chosen project ('change' permission there)."""
        data = _valid(s.TemplateUseIn, request.data)
        project = access_project(user=request.user, slug=data["project"], perm="change")
        try:
            workflow = svc.workflow_from_template(
                project=project, user=request.user, template_slug=slug, name=data.get("name", "")
            )
        except svc.WorkflowError as exc:
            raise_workflow_error(exc)
        return Response(s.WorkflowDetailOut(workflow).data, status=201)


# ----------------------------------------------------------- import, export


class ImportView(APIView):
    parser_classes = [MultiPartParser, FormParser, TextParser]

    @extend_schema(
        operation_id="workflows_import",
        request={
            "application/json": s.ImportIn,
            "multipart/form-data": s.ImportIn,
            "application/yaml": OpenApiTypes.STR,
        },
        responses={201: s.ImportOut, 400: ERROR, 403: ERROR, 404: ERROR},
        tags=["workflows"],
    )
    def post(self, request: Request, project: str) -> Response:
        """Create a new workflow from a JSON or YAML export. Validated; nothing in it is executed."""
        proj = access_project(user=request.user, slug=project, perm="change")
        body = request.data
        text: Any = None
        doc: Any = None
        fmt: str | None = None
        name = None
        if "file" in request.FILES:
            upload = request.FILES["file"]
            text = upload.read(4 * 1024 * 1024 + 1)
            lower = (upload.name or "").lower()
            fmt = "yaml" if lower.endswith((".yaml", ".yml")) else ("json" if lower.endswith(".json") else None)
            name = body.get("name") or None
        elif isinstance(body, dict) and "__raw__" in body:
            ctype = (request.content_type or "").lower()
            fmt = "yaml" if "yaml" in ctype else ("json" if "json" in ctype else None)
            try:
                doc = parse_document(body["__raw__"], fmt=fmt)
            except InterchangeError as exc:
                raise ApiError(exc.message, code=exc.code, errors=exc.errors or None) from None
            if isinstance(doc, dict) and "document" in doc and "studio_export" not in doc:
                name = doc.get("name") or None
                doc = doc["document"]
                if isinstance(doc, str):
                    text, doc, fmt = doc, None, None
        else:
            raise ApiError(
                "Send an export as the body, as {'document': ...}, or as a 'file' upload.", code="invalid_import"
            )
        try:
            workflow, warnings = import_document(
                project=proj, user=request.user, text=text, doc=doc, fmt=fmt, name=name
            )
        except InterchangeError as exc:
            raise ApiError(exc.message, code=exc.code, errors=exc.errors or None) from None
        except svc.WorkflowError as exc:
            raise_workflow_error(exc)
        return Response({"workflow": s.WorkflowSummaryOut(workflow).data, "warnings": warnings}, status=201)


class ExportView(APIView):
    def perform_content_negotiation(self, request: Request, force: bool = False) -> tuple[Any, str]:
        # ``?format=`` picks the export format here, not a DRF renderer.
        return JSONRenderer(), JSONRenderer.media_type

    @extend_schema(
        operation_id="workflows_export",
        parameters=[
            OpenApiParameter("format", str, enum=["json", "yaml", "python"], description="default json"),
            OpenApiParameter("version", str, description="'draft' (default) or a version number"),
        ],
        responses={
            (200, "application/json"): OpenApiTypes.OBJECT,
            (200, "application/yaml"): OpenApiTypes.STR,
            (200, "text/x-python"): OpenApiTypes.STR,
            404: ERROR,
        },
        tags=["workflows"],
    )
    def get(self, request: Request, pk: int) -> HttpResponse:
        """Download the workflow as a studio export (JSON/YAML) or a standalone Python script."""
        workflow = access_workflow(user=request.user, pk=pk)
        fmt = request.query_params.get("format", "json")
        ref = request.query_params.get("version", "draft")
        graph = graph_of(user=request.user, workflow=workflow, ref=ref)
        version = positive_int(ref)
        suffix = f"-v{version}" if version else ""
        if fmt == "python":
            from agents.export_python import export_python

            try:
                body = export_python(workflow=workflow, graph=graph, version=version)
            except ValueError as exc:  # a cycle, an invalid node config, a missing prompt
                raise ApiError(f"The workflow cannot be exported to Python: {exc}", code="invalid_graph") from None
            ctype, ext = "text/x-python", "py"
        elif fmt in ("json", "yaml"):
            doc = export_document(workflow, graph=graph, version=version)
            body, ctype, ext = (
                (dump_json(doc), "application/json", "json")
                if fmt == "json"
                else (dump_yaml(doc), "application/yaml", "yaml")
            )
        else:
            raise ApiError("format must be json, yaml or python.", code="invalid")
        response = HttpResponse(body, content_type=f"{ctype}; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{workflow.slug}{suffix}.{ext}"'
        return response


class TraceIngestView(APIView):
    @extend_schema(
        operation_id="traces_ingest",
        request=s.TraceIngestIn,
        responses={201: s.TraceIngestOut, 400: ERROR, 403: ERROR, 404: ERROR},
        tags=["traces"],
    )
    def post(self, request: Request) -> Response:
        """Record the trace of a run of an exported Python script (``--studio-url`` + ``--api-key``).

        Needs the 'run' permission on the workflow named in the payload.
        """
        data = _valid(s.TraceIngestIn, request.data)
        ref = data["workflow"]
        project = access_project(user=request.user, slug=str(ref.get("project", "")))
        workflow = access_workflow(user=request.user, project=project, slug=str(ref.get("slug", "")), perm="run")
        try:
            trace = svc.workflow_trace_ingest(workflow=workflow, user=request.user, payload=data)
        except ValueError as exc:
            raise ApiError(str(exc), code="invalid") from None
        return Response({"trace_id": trace.pk, "spans": trace.spans.count()}, status=201)


def _valid(serializer_class: type[serializers.Serializer], data: Any) -> dict[str, Any]:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


urlpatterns = [
    path("projects/<slug:project>/workflows/", ProjectWorkflowsView.as_view(), name="api-workflows"),
    path("projects/<slug:project>/workflows/import/", ImportView.as_view(), name="api-workflow-import"),
    path("workflows/<int:pk>/", WorkflowDetailView.as_view(), name="api-workflow"),
    path("workflows/<int:pk>/draft/", DraftView.as_view(), name="api-workflow-draft"),
    path("workflows/<int:pk>/validate/", ValidateView.as_view(), name="api-workflow-validate"),
    path("workflows/<int:pk>/publish/", PublishView.as_view(), name="api-workflow-publish"),
    path("workflows/<int:pk>/versions/", VersionsView.as_view(), name="api-workflow-versions"),
    path("workflows/<int:pk>/versions/<int:version>/", VersionDetailView.as_view(), name="api-workflow-version"),
    path("workflows/<int:pk>/diff/", DiffView.as_view(), name="api-workflow-diff"),
    path("workflows/<int:pk>/restore/", RestoreView.as_view(), name="api-workflow-restore"),
    path("workflows/<int:pk>/export/", ExportView.as_view(), name="api-workflow-export"),
    path("node-catalog/", NodeCatalogView.as_view(), name="api-node-catalog"),
    path("node-ports/", PortsView.as_view(), name="api-node-ports"),
    path("templates/", TemplatesView.as_view(), name="api-templates"),
    path("templates/<slug:slug>/use/", TemplateUseView.as_view(), name="api-template-use"),
    path("traces/ingest", TraceIngestView.as_view(), name="api-traces-ingest"),
]
