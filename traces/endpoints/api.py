"""REST API of model endpoints: ``/api/v1/projects/<project>/endpoints``.

``GET …/endpoints`` (every member: the role table's viewers read endpoints)
lists them; ``POST`` creates one, optionally from a provider ``preset``
(its model string, API base, structured-output mode and context window fill
the fields not given); ``GET/PATCH/DELETE …/endpoints/<id>``; ``POST
…/endpoints/<id>/test`` is Test connection (one tiny real call through the
gateway: the answer, latency in ms, tokens and cost in USD, or the
provider's error). Writes and tests by admins and owners, through
:mod:`traces.endpoints.services` (validated — ``api_base`` through the egress
guard — and audited). ``api_key_secret`` is a secret's *name*; no value is
ever returned. Prices are USD per 1M tokens. Errors: ``{"detail", "code",
"errors"?}`` — ``invalid``, ``duplicate``, ``egress_refused``,
``unresolvable`` (400), ``secret_forbidden`` (403).
"""

from __future__ import annotations

from typing import Any, NoReturn

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import api_view
from rest_framework.request import Request
from rest_framework.response import Response

from studio.api.errors import ApiError
from studio.models import Project, Secret
from studio.selectors import access_project
from traces.endpoints import services as svc
from traces.endpoints.presets import PRESETS, PRESETS_BY_KEY
from traces.endpoints.selectors import project_endpoints
from traces.models import ModelEndpoint, StructuredOutput
from traces.selectors import access_endpoint

PRICE_MODE_CHOICES = [
    ("custom", "The prices given"),
    ("litellm", "LiteLLM's price map"),
    ("unknown", "Unknown: costs recorded as unknown"),
]
PRESET_CHOICES = [(preset.key, preset.label) for preset in PRESETS]


def _raise(exc: svc.EndpointError) -> NoReturn:
    code = 403 if exc.code == "secret_forbidden" else 400
    errors = {exc.field: [exc.message]} if exc.field else None
    raise ApiError(exc.message, code=exc.code, status_code=code, errors=errors)


class EndpointOut(serializers.Serializer[Any]):
    """An endpoint as the API shows it: prices in USD per 1M tokens (strings), timeout in s, context in tokens."""

    id = serializers.IntegerField()
    name = serializers.CharField()
    slug = serializers.CharField()
    model = serializers.CharField(help_text="LiteLLM model string, e.g. openai/gpt-4o-mini.")
    api_base = serializers.CharField(allow_blank=True)
    api_key_secret = serializers.CharField(allow_null=True, help_text="The name of the project secret holding the key.")
    structured_output = serializers.CharField()
    price_mode = serializers.CharField(help_text="custom, litellm or unknown.")
    input_price_per_mtok = serializers.DecimalField(max_digits=12, decimal_places=6, allow_null=True)
    output_price_per_mtok = serializers.DecimalField(max_digits=12, decimal_places=6, allow_null=True)
    cached_input_price_per_mtok = serializers.DecimalField(max_digits=12, decimal_places=6, allow_null=True)
    context_window = serializers.IntegerField(help_text="Tokens.")
    timeout_s = serializers.FloatField(help_text="Seconds per call.")
    is_active = serializers.BooleanField()


def _price_field(help_text: str) -> serializers.DecimalField:
    return serializers.DecimalField(
        max_digits=12, decimal_places=6, required=False, allow_null=True, help_text=help_text
    )


class EndpointPatchIn(serializers.Serializer[Any]):
    name = serializers.CharField(max_length=200, required=False)
    slug = serializers.CharField(max_length=64, required=False, allow_blank=True)
    model = serializers.CharField(max_length=200, required=False)
    api_base = serializers.CharField(max_length=200, required=False, allow_blank=True)
    api_key_secret = serializers.CharField(
        max_length=100, required=False, allow_null=True, allow_blank=True, help_text="A secret's name; null: none."
    )
    structured_output = serializers.ChoiceField(choices=StructuredOutput.choices, required=False)
    price_mode = serializers.ChoiceField(choices=PRICE_MODE_CHOICES, required=False)
    input_price_per_mtok = _price_field("USD per 1M input tokens (price_mode custom).")
    output_price_per_mtok = _price_field("USD per 1M output tokens (price_mode custom).")
    cached_input_price_per_mtok = _price_field("USD per 1M cached input tokens (optional).")
    context_window = serializers.IntegerField(required=False, min_value=1, help_text="Tokens.")
    timeout_s = serializers.FloatField(required=False, min_value=1, help_text="Seconds per call.")
    is_active = serializers.BooleanField(required=False)


class EndpointIn(EndpointPatchIn):
    preset = serializers.ChoiceField(
        choices=PRESET_CHOICES, required=False, help_text="Fills model, api_base, structured_output, context_window."
    )
    name = serializers.CharField(max_length=200)


class ConnectionTestOut(serializers.Serializer[Any]):
    ok = serializers.BooleanField()
    answer = serializers.CharField(allow_blank=True)
    error = serializers.CharField(allow_blank=True, help_text="The provider's error, when not ok.")
    error_code = serializers.CharField(allow_blank=True)
    latency_ms = serializers.FloatField()
    input_tokens = serializers.IntegerField()
    output_tokens = serializers.IntegerField()
    cost_usd = serializers.DecimalField(
        max_digits=16, decimal_places=10, allow_null=True, help_text="USD; null: unknown."
    )
    price_source = serializers.CharField(allow_blank=True)


def _out(endpoint: ModelEndpoint) -> Any:
    secret = endpoint.api_key_secret
    return EndpointOut(
        {
            "id": endpoint.pk,
            "name": endpoint.name,
            "slug": endpoint.slug,
            "model": endpoint.model,
            "api_base": endpoint.api_base,
            "api_key_secret": secret.name if secret else None,
            "structured_output": endpoint.structured_output,
            "price_mode": svc.price_mode_of(endpoint),
            "input_price_per_mtok": endpoint.input_price_per_mtok,
            "output_price_per_mtok": endpoint.output_price_per_mtok,
            "cached_input_price_per_mtok": endpoint.cached_input_price_per_mtok,
            "context_window": endpoint.context_window,
            "timeout_s": endpoint.timeout_s,
            "is_active": endpoint.is_active,
        }
    ).data


def _current(endpoint: ModelEndpoint) -> dict[str, Any]:
    """The endpoint's fields as the service's form-like ``data``."""
    return {
        "name": endpoint.name,
        "slug": endpoint.slug,
        "model": endpoint.model,
        "api_base": endpoint.api_base,
        "api_key_secret": endpoint.api_key_secret_id,
        "structured_output": endpoint.structured_output,
        "price_mode": svc.price_mode_of(endpoint),
        "input_price_per_mtok": endpoint.input_price_per_mtok,
        "output_price_per_mtok": endpoint.output_price_per_mtok,
        "cached_input_price_per_mtok": endpoint.cached_input_price_per_mtok,
        "context_window": endpoint.context_window,
        "timeout_s": endpoint.timeout_s,
        "is_active": endpoint.is_active,
    }


def _data(project: Project, validated: dict[str, Any], base: dict[str, Any]) -> dict[str, Any]:
    """Merge validated API fields over ``base``; a secret name becomes its id (400 when unknown)."""
    data = dict(base)
    for key, value in validated.items():
        if key == "preset":
            continue
        data[key] = value
    if "api_key_secret" in validated:
        name = validated["api_key_secret"]
        if name in (None, ""):
            data["api_key_secret"] = None
        else:
            secret = Secret.objects.filter(project=project, name=name).first()
            if secret is None:
                _raise(svc.EndpointError(f"No secret named {name!r} in this project.", field="api_key_secret"))
            data["api_key_secret"] = secret.pk
    for key in ("context_window", "timeout_s"):
        if data.get(key) is not None:
            data[key] = str(data[key])
    if "is_active" not in data:
        data["is_active"] = True
    return data


def _valid(serializer_class: type[serializers.Serializer[Any]], body: Any) -> dict[str, Any]:
    serializer = serializer_class(data=body)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


@extend_schema(
    methods=["GET"], responses={200: EndpointOut(many=True)}, tags=["endpoints"], operation_id="endpoints_list"
)
@extend_schema(
    methods=["POST"],
    request=EndpointIn,
    responses={201: EndpointOut},
    tags=["endpoints"],
    operation_id="endpoints_create",
)
@api_view(["GET", "POST"])
def endpoints(request: Request, project_slug: str) -> Response:
    """List the project's model endpoints (every member), or add one (admins and owners)."""
    if request.method == "GET":
        project = access_project(user=request.user, slug=project_slug, perm="view")
        return Response([_out(endpoint) for endpoint in project_endpoints(project=project)])
    project = access_project(user=request.user, slug=project_slug, perm="manage")
    validated = _valid(EndpointIn, request.data)
    base: dict[str, Any] = {}
    preset = PRESETS_BY_KEY.get(str(validated.get("preset") or ""))
    if preset is not None:
        base = {
            "model": preset.model,
            "api_base": preset.api_base,
            "structured_output": preset.structured_output,
            "context_window": preset.context_window,
        }
    try:
        endpoint = svc.endpoint_create(project=project, actor=request.user, data=_data(project, validated, base))
    except svc.EndpointError as exc:
        _raise(exc)
    return Response(_out(endpoint), status=status.HTTP_201_CREATED)


@extend_schema(methods=["GET"], responses={200: EndpointOut}, tags=["endpoints"], operation_id="endpoints_get")
@extend_schema(
    methods=["PATCH"],
    request=EndpointPatchIn,
    responses={200: EndpointOut},
    tags=["endpoints"],
    operation_id="endpoints_update",
)
@extend_schema(methods=["DELETE"], responses={204: None}, tags=["endpoints"], operation_id="endpoints_delete")
@api_view(["GET", "PATCH", "DELETE"])
def endpoint(request: Request, project_slug: str, endpoint_id: int) -> Response:
    """One endpoint: read it (every member), change any of its fields, or delete it (admins and owners)."""
    perm = "view" if request.method == "GET" else "manage"
    project = access_project(user=request.user, slug=project_slug, perm=perm)
    found = access_endpoint(user=request.user, project=project, pk=endpoint_id, perm=perm)
    if request.method == "GET":
        return Response(_out(found))
    if request.method == "DELETE":
        svc.endpoint_delete(endpoint=found, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)
    validated = _valid(EndpointPatchIn, request.data)
    try:
        found = svc.endpoint_update(endpoint=found, actor=request.user, data=_data(project, validated, _current(found)))
    except svc.EndpointError as exc:
        _raise(exc)
    return Response(_out(found))


@extend_schema(request=None, responses={200: ConnectionTestOut}, tags=["endpoints"], operation_id="endpoints_test")
@api_view(["POST"])
def endpoint_test(request: Request, project_slug: str, endpoint_id: int) -> Response:
    """Test connection: one tiny real call through the gateway (audited); ``ok`` false carries the error."""
    project = access_project(user=request.user, slug=project_slug, perm="manage")
    found = access_endpoint(user=request.user, project=project, pk=endpoint_id, perm="manage")
    result = svc.endpoint_test(endpoint=found, actor=request.user)
    return Response(
        ConnectionTestOut(
            {
                "ok": result.ok,
                "answer": result.answer,
                "error": result.error,
                "error_code": result.error_code,
                "latency_ms": result.latency_ms,
                "input_tokens": result.input_tokens,
                "output_tokens": result.output_tokens,
                "cost_usd": result.cost_usd,
                "price_source": result.price_source,
            }
        ).data
    )
