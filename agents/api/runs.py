"""REST API of runs: start, read (with steps), list, cancel, rerun from a node, events as SSE.

Every object is fetched through ``agents.selectors``; errors have the shape
``{"detail", "code", "errors"?}``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.http import Http404, StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import api_view, renderer_classes
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from agents.api.sse import EventStreamRenderer, run_event_stream
from agents.models import Run, Step
from agents.selectors import access_run, access_workflow, access_workflow_version, runs_visible
from agents.services.budgets import ProjectBudgetExceededError
from agents.services.runs import (
    GraphInvalidError,
    RunInputError,
    RunStateError,
    SecretUseForbiddenError,
    run_cancel,
    run_rerun_from,
    run_start,
)
from studio.api.errors import ApiError
from studio.lib.jsonsafe import MAX_BUDGET_USD, MAX_POSITIVE_INT
from studio.selectors import access_project


class StepOut(serializers.ModelSerializer[Step]):
    class Meta:
        model = Step
        fields = ["id", "node_id", "iteration", "node_type", "label", "status", "inputs", "outputs", "error",
                  "error_code", "input_tokens", "output_tokens", "cost_usd", "duration_ms", "reused", "started_at",
                  "finished_at"]


class RunOut(serializers.ModelSerializer[Run]):
    workflow = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    project = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    version = serializers.IntegerField(source="version.version", allow_null=True, read_only=True)
    duration_ms = serializers.FloatField(allow_null=True, read_only=True)

    class Meta:
        model = Run
        fields = ["id", "project", "workflow", "version", "status", "inputs", "outputs", "error", "error_code",
                  "failed_node", "input_tokens", "output_tokens", "cost_usd", "cost_unknown", "budget_tokens",
                  "budget_usd", "parent_run", "rerun_from_node", "session_id", "created_at", "started_at",
                  "finished_at", "duration_ms"]


class RunDetailOut(RunOut):
    steps = StepOut(many=True, read_only=True)

    class Meta(RunOut.Meta):
        fields = [*RunOut.Meta.fields, "steps"]


class RunStartIn(serializers.Serializer[Any]):
    inputs = serializers.DictField(default=dict)
    version = serializers.IntegerField(required=False, min_value=1, max_value=MAX_POSITIVE_INT,
                                       help_text="Published version; latest if omitted")
    draft = serializers.BooleanField(default=False, help_text="Run the draft instead of a published version")
    budget_tokens = serializers.IntegerField(required=False, min_value=1, max_value=MAX_POSITIVE_INT)
    budget_usd = serializers.DecimalField(required=False, max_digits=12, decimal_places=6, min_value=0,
                                          max_value=Decimal(MAX_BUDGET_USD))
    session_id = serializers.CharField(required=False, default="", allow_blank=True, max_length=200,
                                       help_text="Groups the runs of one chat-style session")


class RerunIn(serializers.Serializer[Any]):
    node_id = serializers.CharField(max_length=64)
    inputs = serializers.DictField(required=False)


def _start_errors(exc: Exception) -> ApiError:
    if isinstance(exc, RunInputError):
        return ApiError("The inputs do not match the workflow's input signature.", code="invalid_inputs",
                        errors=exc.errors)
    if isinstance(exc, SecretUseForbiddenError):
        return ApiError("The run would use a secret you may not use.", code="secret_forbidden", status_code=403,
                        errors=[{"code": i.code, "message": i.message, "node_id": i.node_id} for i in exc.issues])
    if isinstance(exc, GraphInvalidError):
        return ApiError("The workflow's graph is invalid.", code="invalid_graph",
                        errors=[{"code": i.code, "message": i.message, "node_id": i.node_id} for i in exc.issues])
    raise exc


@extend_schema(request=RunStartIn, responses={201: RunOut}, summary="Start a run of a workflow")
@api_view(["POST"])
def run_create(request: Request, project_slug: str, workflow_slug: str) -> Response:
    project = access_project(user=request.user, slug=project_slug)
    workflow = access_workflow(user=request.user, project=project, slug=workflow_slug, perm="run")
    body = RunStartIn(data=request.data)
    body.is_valid(raise_exception=True)
    data = body.validated_data
    version = None
    if not data["draft"]:
        if "version" in data:
            version = access_workflow_version(user=request.user, workflow=workflow, version=data["version"])
        else:
            version = workflow.versions.order_by("-version").first()
            if version is None:
                raise ApiError("The workflow has no published version; publish it or pass draft=true.",
                               code="not_published")
    try:
        run = run_start(workflow=workflow, user=request.user, inputs=data["inputs"], version=version,
                        budget_tokens=data.get("budget_tokens"), budget_usd=data.get("budget_usd"),
                        session_id=data["session_id"])
    except ProjectBudgetExceededError as exc:
        raise ApiError(str(exc), code=exc.code, status_code=402) from exc
    except (RunInputError, GraphInvalidError) as exc:
        raise _start_errors(exc) from exc
    return Response(RunOut(run).data, status=status.HTTP_201_CREATED)


@extend_schema(
    responses={200: RunOut(many=True)},
    parameters=[OpenApiParameter("status", str), OpenApiParameter("workflow", str)],
    summary="List runs of a project",
)
@api_view(["GET"])
def run_list(request: Request, project_slug: str) -> Response:
    project = access_project(user=request.user, slug=project_slug)
    qs = runs_visible(user=request.user, project=project).select_related("project")
    if request.query_params.get("status"):
        qs = qs.filter(status=request.query_params["status"])
    if request.query_params.get("workflow"):
        qs = qs.filter(workflow__slug=request.query_params["workflow"])
    from rest_framework.pagination import LimitOffsetPagination

    paginator = LimitOffsetPagination()
    page = paginator.paginate_queryset(qs, request)
    return paginator.get_paginated_response(RunOut(page, many=True).data)


@extend_schema(responses={200: RunDetailOut}, summary="A run with its steps")
@api_view(["GET"])
def run_detail(request: Request, run_id: int) -> Response:
    run = access_run(user=request.user, pk=run_id)
    return Response(RunDetailOut(run).data)


@extend_schema(request=None, responses={202: RunOut}, summary="Cancel a run")
@api_view(["POST"])
def run_cancel_view(request: Request, run_id: int) -> Response:
    run = access_run(user=request.user, pk=run_id, perm="run")
    try:
        run = run_cancel(run=run, user=request.user)
    except RunStateError as exc:
        raise ApiError(str(exc), code="run_finished", status_code=409) from exc
    return Response(RunOut(run).data, status=status.HTTP_202_ACCEPTED)


@extend_schema(request=RerunIn, responses={201: RunOut}, summary="Rerun from a node, reusing upstream steps")
@api_view(["POST"])
def run_rerun(request: Request, run_id: int) -> Response:
    run = access_run(user=request.user, pk=run_id, perm="run")
    body = RerunIn(data=request.data)
    body.is_valid(raise_exception=True)
    try:
        new_run = run_rerun_from(run=run, node_id=body.validated_data["node_id"], user=request.user,
                                 inputs=body.validated_data.get("inputs"))
    except ValueError as exc:
        raise ApiError(str(exc), code="unknown_node") from exc
    except ProjectBudgetExceededError as exc:
        raise ApiError(str(exc), code=exc.code, status_code=402) from exc
    except (RunInputError, GraphInvalidError) as exc:
        raise _start_errors(exc) from exc
    return Response(RunOut(new_run).data, status=status.HTTP_201_CREATED)


@extend_schema(
    responses={(200, "text/event-stream"): OpenApiTypes.STR},
    parameters=[OpenApiParameter("Last-Event-ID", int, OpenApiParameter.HEADER, required=False),
                OpenApiParameter("after", int, required=False)],
    summary="Run events as Server-Sent Events (replay after Last-Event-ID, then live until the run ends)",
)
@api_view(["GET"])
@renderer_classes([JSONRenderer, EventStreamRenderer])
def run_events(request: Request, run_id: int) -> StreamingHttpResponse:
    """Stream the run's events (``agents.api.sse``); ``Last-Event-ID`` (or ``?after=``) resumes after a seq.

    Accepts ``Accept: text/event-stream`` (EventSource) as well as JSON clients;
    a bad cursor is a 400 ``invalid_cursor``, a run the user may not see a 404.
    """
    run = access_run(user=request.user, pk=run_id)
    raw = request.headers.get("Last-Event-ID") or request.query_params.get("after") or "0"
    try:
        after = max(0, int(raw))
    except ValueError as exc:
        raise ApiError("Last-Event-ID must be an integer.", code="invalid_cursor") from exc
    response = StreamingHttpResponse(run_event_stream(run.pk, after), content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    return response


__all__ = ["Http404", "run_cancel_view", "run_create", "run_detail", "run_events", "run_list", "run_rerun"]
