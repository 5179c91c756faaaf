"""REST API of deployments and the invoke API of a workflow's live version.

- ``POST /api/v1/workflows/<id>/deploy`` ``{"version": n, "note"?}`` makes a
  published version live (editors); ``GET …/deployments`` lists the history.
- ``POST /api/v1/projects/<p>/workflows/<w>/invoke`` ``{"inputs": {…},
  "wait_s"?}`` starts a run of the live version (runners). Modes
  (``?mode=``): ``sync`` (default) waits up to ``wait_s`` seconds (default
  ``STUDIO_INVOKE_DEFAULT_WAIT_S``, at most ``STUDIO_INVOKE_MAX_WAIT_S``) on
  the server's event loop — no thread held — and answers 200 with the run's
  result, or 202 with its URLs when it is still going; ``async`` answers 202
  at once; ``stream`` answers Server-Sent Events (every stored event of the
  run, the live token deltas, then ``event: result``). An
  ``Idempotency-Key`` header (≤ 255 printable ASCII characters, scoped to the
  project) makes a retried call return the same run
  (``Idempotent-Replayed: true``); the same key with other inputs is a 409.

The invoke route is an async Django view around a DRF view: DRF
authenticates (session with CSRF, or a bearer API key), checks access,
validates and starts the run in a thread; the waiting happens on the loop.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import api_view, authentication_classes, parser_classes, permission_classes
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response

from agents.api.sse import run_event_stream
from agents.deploy.callbacks import CallbackConfigError, callback_create, callback_delete, callback_resend
from agents.deploy.models import (
    CallbackDelivery,
    CallbackEndpoint,
    Deployment,
    OverlapPolicy,
    Schedule,
    WebhookDelivery,
    WebhookTrigger,
)
from agents.deploy.openapi import workflow_openapi
from agents.deploy.schedules import (
    ScheduleConfigError,
    next_times,
    parse_cron,
    parse_timezone,
    schedule_delete,
    schedule_save,
)
from agents.deploy.selectors import deployment_history, deployment_live
from agents.deploy.services import (
    MAX_IDEMPOTENCY_KEY,
    IdempotencyKeyReusedError,
    NotDeployedError,
    deployment_create,
    invoke_start,
)
from agents.deploy.waiting import run_wait_settled
from agents.deploy.webhooks import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    WebhookConfigError,
    webhook_create,
    webhook_delete,
    webhook_receive,
)
from agents.models import TERMINAL_RUN_STATUSES, Run, Workflow
from agents.selectors import access_workflow, access_workflow_version
from agents.services.runs import GraphInvalidError, RunInputError, SecretUseForbiddenError
from studio.api.errors import ApiError
from studio.lib.jsonsafe import MAX_POSITIVE_INT
from studio.selectors import access_project

MODES = ("sync", "async", "stream")


class DeployIn(serializers.Serializer[Any]):
    version = serializers.IntegerField(min_value=1, max_value=MAX_POSITIVE_INT, help_text="A published version")
    note = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


class DeploymentOut(serializers.ModelSerializer[Deployment]):
    version = serializers.IntegerField(source="version.version", read_only=True)
    deployed_by = serializers.CharField(source="deployed_by.username", read_only=True, allow_null=True, default=None)

    class Meta:
        model = Deployment
        fields = ["id", "version", "note", "deployed_by", "created_at"]


class DeploymentsOut(serializers.Serializer[Any]):
    live = serializers.IntegerField(allow_null=True, help_text="The live version, null when never deployed")
    deployments = DeploymentOut(many=True)


class InvokeIn(serializers.Serializer[Any]):
    inputs = serializers.DictField(default=dict, help_text="Values for the workflow's input signature")
    wait_s = serializers.FloatField(
        required=False,
        min_value=0,
        max_value=settings.STUDIO_INVOKE_MAX_WAIT_S,
        help_text="Seconds to wait for the result in sync mode (default STUDIO_INVOKE_DEFAULT_WAIT_S)",
    )


class InvokeResultOut(serializers.Serializer[Any]):
    run = serializers.IntegerField()
    status = serializers.CharField()
    outputs = serializers.DictField()
    cost_usd = serializers.DecimalField(max_digits=14, decimal_places=8)
    cost_unknown = serializers.BooleanField()
    input_tokens = serializers.IntegerField()
    output_tokens = serializers.IntegerField()
    error = serializers.CharField(allow_blank=True)
    error_code = serializers.CharField(allow_blank=True)
    url = serializers.CharField(help_text="The run in the API (GET)")


class InvokePendingOut(serializers.Serializer[Any]):
    run = serializers.IntegerField()
    status = serializers.CharField()
    url = serializers.CharField(help_text="The run in the API (GET): poll it")
    events_url = serializers.CharField(help_text="The run's events as Server-Sent Events")


def invoke_result(run: Run) -> dict[str, Any]:
    """The body of a settled invoke: run id, status, outputs, cost (USD, as a decimal string), tokens."""
    return {
        "run": run.pk,
        "status": run.status,
        "outputs": run.outputs,
        "cost_usd": str(run.cost_usd),
        "cost_unknown": run.cost_unknown,
        "input_tokens": run.input_tokens,
        "output_tokens": run.output_tokens,
        "error": run.error,
        "error_code": run.error_code,
        "url": reverse("api-run-detail", args=[run.pk]),
    }


def invoke_pending(run: Run) -> dict[str, Any]:
    """The body of a 202: where to find the run that is still going."""
    return {
        "run": run.pk,
        "status": run.status,
        "url": reverse("api-run-detail", args=[run.pk]),
        "events_url": reverse("api-run-events", args=[run.pk]),
    }


@dataclass(frozen=True)
class InvokePlan:
    """What the async wrapper does after the DRF view started (or found) the run."""

    run_id: int
    mode: str
    wait_s: float


@extend_schema(
    request=DeployIn,
    responses={201: DeploymentOut},
    summary="Deploy a published version (make it live)",
    tags=["deploy"],
)
@api_view(["POST"])
def workflow_deploy(request: Request, pk: int) -> Response:
    """Make a published version the workflow's live version; deploying an older one is a rollback."""
    workflow = access_workflow(user=request.user, pk=pk, perm="change")
    body = DeployIn(data=request.data)
    body.is_valid(raise_exception=True)
    version = access_workflow_version(user=request.user, workflow=workflow, version=body.validated_data["version"])
    deployment = deployment_create(
        workflow=workflow, version=version, user=request.user, note=body.validated_data["note"]
    )
    return Response(DeploymentOut(deployment).data, status=status.HTTP_201_CREATED)


@extend_schema(responses={200: DeploymentsOut}, summary="The live version and the deployment history", tags=["deploy"])
@api_view(["GET"])
def workflow_deployments(request: Request, pk: int) -> Response:
    workflow = access_workflow(user=request.user, pk=pk)
    live = deployment_live(workflow=workflow)
    return Response(
        {
            "live": live.version.version if live else None,
            "deployments": DeploymentOut(deployment_history(workflow=workflow), many=True).data,
        }
    )


@extend_schema(
    responses={200: OpenApiTypes.OBJECT},
    summary="The OpenAPI document of invoking this workflow's live version (typed from its signatures)",
    tags=["deploy"],
)
@api_view(["GET"])
def workflow_openapi_document(request: Request, project_slug: str, workflow_slug: str) -> Response:
    """OpenAPI 3.1 for ``POST …/invoke`` of the live version; 404 ``not_deployed`` without one."""
    project = access_project(user=request.user, slug=project_slug)
    workflow = access_workflow(user=request.user, project=project, slug=workflow_slug)
    live = deployment_live(workflow=workflow)
    if live is None:
        raise ApiError(
            f"Workflow {workflow.slug} has no live version: deploy one first.", code="not_deployed", status_code=404
        )
    return Response(
        workflow_openapi(workflow=workflow, version=live.version, server_url=request.build_absolute_uri("/"))
    )


def _start_error(exc: Exception) -> ApiError:
    if isinstance(exc, RunInputError):
        return ApiError(
            "The inputs do not match the workflow's input signature.", code="invalid_inputs", errors=exc.errors
        )
    if isinstance(exc, SecretUseForbiddenError):
        return ApiError(
            "The run would use a secret you may not use.",
            code="secret_forbidden",
            status_code=403,
            errors=[{"code": i.code, "message": i.message, "node_id": i.node_id} for i in exc.issues],
        )
    if isinstance(exc, GraphInvalidError):
        return ApiError(
            "The live version's graph cannot run.",
            code="invalid_graph",
            errors=[{"code": i.code, "message": i.message, "node_id": i.node_id} for i in exc.issues],
        )
    raise exc


def _idempotency_key(request: Request) -> str | None:
    raw = request.headers.get("Idempotency-Key")
    if raw is None:
        return None
    if not 0 < len(raw) <= MAX_IDEMPOTENCY_KEY or not all(33 <= ord(c) <= 126 for c in raw):
        raise ApiError(
            f"Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY} printable ASCII characters, no spaces.",
            code="invalid_idempotency_key",
        )
    return raw


@extend_schema(
    request=InvokeIn,
    responses={
        200: InvokeResultOut,
        202: InvokePendingOut,
        (200, "text/event-stream"): OpenApiResponse(OpenApiTypes.STR, description="mode=stream"),
    },
    parameters=[
        OpenApiParameter(
            "mode",
            str,
            enum=list(MODES),
            required=False,
            description="sync (default): wait up to wait_s; async: 202 at once; stream: SSE",
        ),
        OpenApiParameter(
            "Idempotency-Key",
            str,
            OpenApiParameter.HEADER,
            required=False,
            description="A retried call with the same key returns the same run",
        ),
    ],
    summary="Invoke the live version of a workflow",
    description=(
        "Starts a run of the deployed (live) version. mode=sync (default) waits up to wait_s seconds and answers "
        "200 with the outputs, or 202 with the run's URLs when it takes longer; mode=async answers 202 at once; "
        "mode=stream answers Server-Sent Events: the run's events, token deltas, then `event: result`. "
        "A retried call with the same Idempotency-Key returns the same run (header Idempotent-Replayed: true)."
    ),
    tags=["deploy"],
)
@api_view(["POST"])
def invoke_prepare(request: Request, project_slug: str, workflow_slug: str) -> Response:
    """Start (or, for a known ``Idempotency-Key``, find) a run of the live version; 202 with its URLs.

    The async :func:`workflow_invoke` then waits for it (sync) or streams it.
    """
    mode = request.query_params.get("mode", "sync")
    if mode not in MODES:
        raise ApiError("mode must be sync, async or stream.", code="invalid_mode")
    project = access_project(user=request.user, slug=project_slug)
    workflow = access_workflow(user=request.user, project=project, slug=workflow_slug, perm="run")
    body = InvokeIn(data=request.data)
    body.is_valid(raise_exception=True)
    key = _idempotency_key(request)
    try:
        run, created = invoke_start(
            workflow=workflow, user=request.user, inputs=body.validated_data["inputs"], idempotency_key=key
        )
    except NotDeployedError as exc:
        raise ApiError(str(exc), code="not_deployed", status_code=409) from exc
    except IdempotencyKeyReusedError as exc:
        raise ApiError(str(exc), code="idempotency_key_reused", status_code=409) from exc
    except (RunInputError, GraphInvalidError) as exc:
        raise _start_error(exc) from exc
    response = Response(
        invoke_pending(run),
        status=status.HTTP_202_ACCEPTED,
        headers={"Location": reverse("api-run-detail", args=[run.pk])},
    )
    if not created:
        response["Idempotent-Replayed"] = "true"
    wait_s = body.validated_data.get("wait_s", settings.STUDIO_INVOKE_DEFAULT_WAIT_S)
    response.invoke_plan = InvokePlan(run_id=run.pk, mode=mode, wait_s=float(wait_s))  # type: ignore[attr-defined]
    return response


async def _invoke_stream(run_id: int) -> Any:
    """The run's stored events and token deltas as SSE, then ``event: result`` with the run's result."""
    async for block in run_event_stream(run_id, 0, tokens=True):
        yield block
    run = await sync_to_async(Run.objects.filter(pk=run_id).first, thread_sensitive=False)()
    if run is not None:
        data = json.dumps(
            invoke_result(run) if run.status in TERMINAL_RUN_STATUSES else invoke_pending(run), cls=DjangoJSONEncoder
        )
        yield f"event: result\ndata: {data}\n\n"


@csrf_exempt  # DRF's view below enforces CSRF for session users, as every API view does
async def workflow_invoke(request: HttpRequest, project_slug: str, workflow_slug: str) -> HttpResponse:
    """``POST …/invoke``: see the module docstring. Holds no thread while it waits."""
    response = await sync_to_async(invoke_prepare)(request, project_slug=project_slug, workflow_slug=workflow_slug)
    plan: InvokePlan | None = getattr(response, "invoke_plan", None)
    if plan is None or plan.mode == "async":
        return response
    if plan.mode == "stream":
        stream = StreamingHttpResponse(_invoke_stream(plan.run_id), content_type="text/event-stream")
        stream["Cache-Control"] = "no-cache"
        stream["X-Accel-Buffering"] = "no"
        stream["Location"] = response["Location"]
        return stream
    run = await run_wait_settled(plan.run_id, plan.wait_s)
    if run is None or run.status not in TERMINAL_RUN_STATUSES:
        return response
    answer = JsonResponse(invoke_result(run), encoder=DjangoJSONEncoder)
    for header in ("Location", "Idempotent-Replayed"):
        if header in response:
            answer[header] = response[header]
    return answer


# drf-spectacular and the authorization matrix read the DRF view behind the async one.
workflow_invoke.cls = invoke_prepare.cls  # type: ignore[attr-defined]
workflow_invoke.initkwargs = getattr(invoke_prepare, "initkwargs", {})  # type: ignore[attr-defined]

__all__ = ["invoke_result", "workflow_deploy", "workflow_deployments", "workflow_invoke"]


# ------------------------------------------------------------------ inbound webhooks


class WebhookIn(serializers.Serializer[Any]):
    name = serializers.CharField(max_length=100)
    input_map = serializers.DictField(
        child=serializers.CharField(max_length=1000),
        required=False,
        default=dict,
        help_text='Input field → sandboxed Jinja2 expression over body, e.g. {"question": "body.issue.title"}',
    )
    rate_limit_per_minute = serializers.IntegerField(min_value=1, max_value=10_000, default=60)


class WebhookOut(serializers.ModelSerializer[WebhookTrigger]):
    url = serializers.SerializerMethodField()

    class Meta:
        model = WebhookTrigger
        fields = ["id", "name", "url", "input_map", "rate_limit_per_minute", "enabled", "created_at"]

    def get_url(self, trigger: WebhookTrigger) -> str:
        return reverse("api-webhook-receive", args=[trigger.token])


class WebhookCreatedOut(WebhookOut):
    secret = serializers.CharField(help_text="Shown once: signs requests (HMAC-SHA256)")

    class Meta(WebhookOut.Meta):
        fields = [*WebhookOut.Meta.fields, "secret"]


class WebhookDeliveryOut(serializers.ModelSerializer[WebhookDelivery]):
    class Meta:
        model = WebhookDelivery
        fields = ["id", "status_code", "outcome", "detail", "run", "received_at"]


def _trigger_of(request: Request, pk: int, hook_id: int) -> WebhookTrigger:
    workflow = access_workflow(user=request.user, pk=pk, perm="change")
    trigger = WebhookTrigger.objects.filter(workflow=workflow, pk=hook_id).first()
    if trigger is None:
        raise ApiError("Webhook not found.", code="not_found", status_code=404)
    return trigger


@extend_schema(
    request=WebhookIn,
    responses={200: WebhookOut(many=True), 201: WebhookCreatedOut},
    summary="A workflow's inbound webhooks (list, create: the secret is shown once)",
    tags=["deploy"],
)
@api_view(["GET", "POST"])
def workflow_webhooks(request: Request, pk: int) -> Response:
    workflow = access_workflow(user=request.user, pk=pk, perm="change")
    if request.method == "GET":
        return Response(WebhookOut(workflow.webhook_triggers.all(), many=True).data)
    body = WebhookIn(data=request.data)
    body.is_valid(raise_exception=True)
    try:
        trigger, secret = webhook_create(workflow=workflow, user=request.user, **body.validated_data)
    except WebhookConfigError as exc:
        raise ApiError("Invalid webhook.", code="invalid", errors=exc.errors) from exc
    data = dict(WebhookOut(trigger).data)
    data["secret"] = secret
    return Response(data, status=status.HTTP_201_CREATED)


@extend_schema(responses={204: None}, summary="Delete an inbound webhook", tags=["deploy"])
@api_view(["DELETE"])
def workflow_webhook(request: Request, pk: int, hook_id: int) -> Response:
    webhook_delete(trigger=_trigger_of(request, pk, hook_id), user=request.user)
    return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema(
    responses={200: WebhookDeliveryOut(many=True)}, summary="A webhook's delivery log (newest first)", tags=["deploy"]
)
@api_view(["GET"])
def workflow_webhook_deliveries(request: Request, pk: int, hook_id: int) -> Response:
    trigger = _trigger_of(request, pk, hook_id)
    return Response(WebhookDeliveryOut(trigger.deliveries.all()[:100], many=True).data)


@extend_schema(
    request={"application/json": OpenApiTypes.OBJECT},
    responses={
        202: OpenApiTypes.OBJECT,
        400: OpenApiTypes.OBJECT,
        401: OpenApiTypes.OBJECT,
        404: OpenApiTypes.OBJECT,
        409: OpenApiTypes.OBJECT,
        429: OpenApiTypes.OBJECT,
    },
    parameters=[
        OpenApiParameter(
            TIMESTAMP_HEADER,
            str,
            OpenApiParameter.HEADER,
            required=True,
            description="Unix time in seconds; refused when more than 5 minutes away",
        ),
        OpenApiParameter(
            SIGNATURE_HEADER,
            str,
            OpenApiParameter.HEADER,
            required=True,
            description='"sha256=" + hex HMAC-SHA256(secret, timestamp + "." + raw body)',
        ),
    ],
    summary="Inbound webhook: a signed JSON body starts a run of the live version",
    tags=["deploy"],
    auth=[],
)
@api_view(["POST"])
@authentication_classes([])
@permission_classes([AllowAny])
@parser_classes([])
def webhook_receive_view(request: Request, token: str) -> Response:
    """Public: the signature is the authentication. Answers ``{"detail", "code", "run"?}``."""
    answer = webhook_receive(
        token=token,
        timestamp=request.headers.get(TIMESTAMP_HEADER),
        signature=request.headers.get(SIGNATURE_HEADER),
        body=request._request.body,
    )
    body: dict[str, Any] = {"detail": answer.detail, "code": answer.code}
    if answer.run is not None:
        body["run"] = answer.run.pk
    return Response(body, status=answer.status_code)


# ------------------------------------------------------------------ schedules


class ScheduleIn(serializers.Serializer[Any]):
    name = serializers.CharField(max_length=100)
    cron = serializers.CharField(max_length=100, help_text="Five fields: minute hour day-of-month month day-of-week")
    timezone = serializers.CharField(max_length=64, default="UTC", help_text="IANA name, e.g. Europe/Paris")
    inputs = serializers.DictField(default=dict, help_text="Fixed inputs of every run")
    overlap = serializers.ChoiceField(choices=OverlapPolicy.choices, default=OverlapPolicy.SKIP)
    paused = serializers.BooleanField(default=False)


class SchedulePatchIn(ScheduleIn):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, partial=True, **kwargs)


class ScheduleOut(serializers.ModelSerializer[Schedule]):
    next_runs = serializers.SerializerMethodField(help_text="The next 5 fire times (UTC), none while paused")

    class Meta:
        model = Schedule
        fields = [
            "id",
            "name",
            "cron",
            "timezone",
            "inputs",
            "overlap",
            "paused",
            "next_run_at",
            "next_runs",
            "last_fired_at",
            "last_outcome",
            "last_run",
            "created_at",
        ]

    def get_next_runs(self, schedule: Schedule) -> list[str]:
        if schedule.paused:
            return []
        cron, zone = parse_cron(schedule.cron), parse_timezone(schedule.timezone)
        return [t.isoformat() for t in next_times(cron, zone, timezone.now(), count=5)]


def _schedule_of(request: Request, pk: int, schedule_id: int) -> tuple[Workflow, Schedule]:
    workflow = access_workflow(user=request.user, pk=pk, perm="change")
    schedule = Schedule.objects.filter(workflow=workflow, pk=schedule_id).first()
    if schedule is None:
        raise ApiError("Schedule not found.", code="not_found", status_code=404)
    return workflow, schedule


@extend_schema(
    request=ScheduleIn,
    responses={200: ScheduleOut(many=True), 201: ScheduleOut},
    summary="A workflow's cron schedules (list, create)",
    tags=["deploy"],
)
@api_view(["GET", "POST"])
def workflow_schedules(request: Request, pk: int) -> Response:
    if request.method == "GET":
        workflow = access_workflow(user=request.user, pk=pk)
        return Response(ScheduleOut(workflow.schedules.all(), many=True).data)
    workflow = access_workflow(user=request.user, pk=pk, perm="change")
    body = ScheduleIn(data=request.data)
    body.is_valid(raise_exception=True)
    try:
        schedule = schedule_save(workflow=workflow, user=request.user, data=dict(body.validated_data))
    except ScheduleConfigError as exc:
        raise ApiError("Invalid schedule.", code="invalid", errors=exc.errors) from exc
    return Response(ScheduleOut(schedule).data, status=status.HTTP_201_CREATED)


@extend_schema(
    request=SchedulePatchIn,
    responses={200: ScheduleOut, 204: None},
    summary="Change (pause/resume: paused) or delete a schedule",
    tags=["deploy"],
)
@api_view(["PATCH", "DELETE"])
def workflow_schedule(request: Request, pk: int, schedule_id: int) -> Response:
    workflow, schedule = _schedule_of(request, pk, schedule_id)
    if request.method == "DELETE":
        schedule_delete(schedule=schedule, user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)
    body = SchedulePatchIn(data=request.data)
    body.is_valid(raise_exception=True)
    try:
        schedule = schedule_save(
            workflow=workflow, user=request.user, data=dict(body.validated_data), schedule=schedule
        )
    except ScheduleConfigError as exc:
        raise ApiError("Invalid schedule.", code="invalid", errors=exc.errors) from exc
    return Response(ScheduleOut(schedule).data)


# ------------------------------------------------------------------ outbound callbacks


class CallbackIn(serializers.Serializer[Any]):
    url = serializers.URLField(max_length=1000, help_text="Receives a signed POST when a run finishes")


class CallbackOut(serializers.ModelSerializer[CallbackEndpoint]):
    class Meta:
        model = CallbackEndpoint
        fields = ["id", "url", "enabled", "created_at"]


class CallbackDeliveryOut(serializers.ModelSerializer[CallbackDelivery]):
    class Meta:
        model = CallbackDelivery
        fields = ["id", "run", "status", "attempts", "last_status_code", "last_error", "created_at", "delivered_at"]


def _callback_of(request: Request, pk: int, callback_id: int) -> CallbackEndpoint:
    workflow = access_workflow(user=request.user, pk=pk, perm="change")
    endpoint = CallbackEndpoint.objects.filter(workflow=workflow, pk=callback_id).first()
    if endpoint is None:
        raise ApiError("Callback not found.", code="not_found", status_code=404)
    return endpoint


@extend_schema(
    request=CallbackIn,
    responses={200: CallbackOut(many=True), 201: CallbackOut},
    summary="A workflow's run-finished callbacks (list, add: the signing secret is shown once)",
    tags=["deploy"],
)
@api_view(["GET", "POST"])
def workflow_callbacks(request: Request, pk: int) -> Response:
    workflow = access_workflow(user=request.user, pk=pk, perm="change")
    if request.method == "GET":
        return Response(CallbackOut(workflow.callback_endpoints.all(), many=True).data)
    body = CallbackIn(data=request.data)
    body.is_valid(raise_exception=True)
    try:
        endpoint, secret = callback_create(workflow=workflow, user=request.user, url=body.validated_data["url"])
    except CallbackConfigError as exc:
        raise ApiError("The callback URL is refused.", code="egress_refused", errors=exc.errors) from exc
    return Response({**CallbackOut(endpoint).data, "secret": secret}, status=status.HTTP_201_CREATED)


@extend_schema(responses={204: None}, summary="Remove a callback URL", tags=["deploy"])
@api_view(["DELETE"])
def workflow_callback(request: Request, pk: int, callback_id: int) -> Response:
    callback_delete(endpoint=_callback_of(request, pk, callback_id), user=request.user)
    return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema(
    responses={200: CallbackDeliveryOut(many=True)}, summary="A callback's deliveries (newest first)", tags=["deploy"]
)
@api_view(["GET"])
def workflow_callback_deliveries(request: Request, pk: int, callback_id: int) -> Response:
    endpoint = _callback_of(request, pk, callback_id)
    return Response(CallbackDeliveryOut(endpoint.deliveries.all()[:100], many=True).data)


@extend_schema(
    request=None, responses={202: CallbackDeliveryOut}, summary="Send a callback delivery again", tags=["deploy"]
)
@api_view(["POST"])
def workflow_callback_resend(request: Request, pk: int, callback_id: int, delivery_id: int) -> Response:
    endpoint = _callback_of(request, pk, callback_id)
    delivery = endpoint.deliveries.filter(pk=delivery_id).first()
    if delivery is None:
        raise ApiError("Delivery not found.", code="not_found", status_code=404)
    delivery = callback_resend(delivery=delivery, user=request.user)
    return Response(CallbackDeliveryOut(delivery).data, status=status.HTTP_202_ACCEPTED)
