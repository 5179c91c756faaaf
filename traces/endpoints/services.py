"""Writes of model endpoints from the app, and Test connection.

Every write is atomic and audited (``audit_record``); values are validated
first and nothing is saved on an :class:`EndpointError`. An ``api_base`` must
be an http(s) URL whose host resolves only to public addresses
(:func:`studio.lib.ssrf.check_url`) unless a superuser allowed the host
(``EgressAllowedHost``) or it is the site's own local model server
(``settings.STUDIO_LOCAL_MODEL_URL``).

Prices are USD per 1,000,000 tokens. ``price_mode``: ``custom`` (the prices
given; 0 is a price), ``litellm`` (LiteLLM's bundled map) or ``unknown``
(the cost is recorded as unknown, never 0).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from asgiref.sync import async_to_sync
from django.db import IntegrityError, transaction
from django.utils.text import slugify

from studio.lib.ssrf import EgressRefused, check_url, host_allowed, parse_url
from studio.models import Project, Secret
from studio.selectors import may_use_secret
from studio.services import audit_record
from traces.endpoints.selectors import egress_hosts_for, local_model_allow_entry
from traces.models import ModelEndpoint, StructuredOutput

PRICE_MODES = ("custom", "litellm", "unknown")
MAX_PRICE = Decimal("100000")
MAX_CONTEXT = 10_000_000
MAX_TIMEOUT_S = 3600.0
FIELDS = (
    "name",
    "slug",
    "model",
    "api_base",
    "api_key_secret",
    "structured_output",
    "price_mode",
    "input_price_per_mtok",
    "output_price_per_mtok",
    "cached_input_price_per_mtok",
    "context_window",
    "timeout_s",
    "is_active",
)


class EndpointError(Exception):
    """A refused endpoint change: ``message``, the ``field`` it concerns, a stable ``code``."""

    def __init__(self, message: str, *, field: str | None = None, code: str = "invalid"):
        super().__init__(message)
        self.message = message
        self.field = field
        self.code = code


def price_mode_of(endpoint: ModelEndpoint) -> str:
    """``custom`` when both main prices are set, else ``litellm`` or ``unknown``."""
    if endpoint.has_price:
        return "custom"
    return "litellm" if endpoint.use_litellm_prices else "unknown"


def _local_model_host() -> str:
    """The local model server as an allow-list entry (``host:port``)."""
    return local_model_allow_entry()


def check_api_base(api_base: str, *, project: Project) -> str:
    """Validate an endpoint's ``api_base``; returns it without a trailing slash ("" stays "").

    Raises :class:`EndpointError` (field ``api_base``): malformed URL, a scheme
    other than http(s), credentials in the URL, a host that does not resolve,
    or one that resolves to a private, loopback, link-local or metadata address
    that no superuser allowed (code ``egress_refused``).
    """
    url = (api_base or "").strip()
    if not url:
        return ""
    if len(url) > 200:
        raise EndpointError("At most 200 characters.", field="api_base")
    try:
        _scheme, host, port = parse_url(url)
    except EgressRefused as exc:
        raise EndpointError(f"Not a usable URL: {exc}.", field="api_base") from None
    allowed = [*egress_hosts_for(project), _local_model_host()]
    if host_allowed(host, port, allowed):  # the egress allow-list's one rule (host:port, or 80/443)
        return url.rstrip("/")
    try:
        check_url(url, allowed_hosts=allowed)
    except EgressRefused as exc:
        raise EndpointError(
            f"Refused: {exc}. Ask a superuser to allow this host if it is yours.",
            field="api_base",
            code="egress_refused",
        ) from None
    except ConnectionError as exc:
        raise EndpointError(f"The host does not resolve ({exc}).", field="api_base", code="unresolvable") from None
    return url.rstrip("/")


def _price(value: Any, *, field: str, required: bool) -> Decimal | None:
    if value in (None, ""):
        if required:
            raise EndpointError("Enter a price in USD per 1M tokens (0 if free).", field=field)
        return None
    try:
        price = Decimal(str(value).strip())
    except InvalidOperation:
        raise EndpointError("Enter a number, like 0.15.", field=field) from None
    if not price.is_finite() or price < 0 or price > MAX_PRICE:
        raise EndpointError(f"Enter a price from 0 to {MAX_PRICE} USD per 1M tokens.", field=field)
    return price.quantize(Decimal("0.000001"))


def _clean(project: Project, data: dict[str, Any], *, instance: ModelEndpoint | None) -> dict[str, Any]:
    name = str(data.get("name") or "").strip()
    if not name or len(name) > 200:
        raise EndpointError("Enter a name (at most 200 characters).", field="name")
    slug = slugify(str(data.get("slug") or "") or name)[:64]
    if not slug:
        raise EndpointError("Enter a slug of letters, digits and hyphens.", field="slug")
    taken = ModelEndpoint.objects.filter(project=project, slug=slug)
    if instance is not None:
        taken = taken.exclude(pk=instance.pk)
    if taken.exists():
        raise EndpointError(f"An endpoint with the slug {slug!r} already exists.", field="slug", code="duplicate")
    model = str(data.get("model") or "").strip()
    if not model or len(model) > 200 or any(c.isspace() for c in model) or "<" in model:
        raise EndpointError(
            "Enter a LiteLLM model string like openai/gpt-4o-mini (no spaces or placeholders).", field="model"
        )
    structured = str(data.get("structured_output") or StructuredOutput.JSON_SCHEMA)
    if structured not in StructuredOutput.values:
        raise EndpointError("Choose how this endpoint takes structured output.", field="structured_output")
    secret: Secret | None = None
    secret_id = data.get("api_key_secret")
    if secret_id not in (None, ""):
        secret = Secret.objects.filter(project=project, pk=int(secret_id) if str(secret_id).isdigit() else -1).first()
        if secret is None:
            raise EndpointError("Choose a secret of this project.", field="api_key_secret")
    mode = str(data.get("price_mode") or "litellm")
    if mode not in PRICE_MODES:
        raise EndpointError("Choose how calls are priced.", field="price_mode")
    custom = mode == "custom"
    prices = {
        "input_price_per_mtok": _price(data.get("input_price_per_mtok"), field="input_price_per_mtok", required=custom)
        if custom
        else None,
        "output_price_per_mtok": _price(
            data.get("output_price_per_mtok"), field="output_price_per_mtok", required=custom
        )
        if custom
        else None,
        "cached_input_price_per_mtok": _price(
            data.get("cached_input_price_per_mtok"), field="cached_input_price_per_mtok", required=False
        )
        if custom
        else None,
    }
    try:
        context_window = int(str(data.get("context_window") or "8192"))
    except ValueError:
        raise EndpointError("Enter a whole number of tokens.", field="context_window") from None
    if not 1 <= context_window <= MAX_CONTEXT:
        raise EndpointError(f"Enter 1 to {MAX_CONTEXT} tokens.", field="context_window")
    try:
        timeout_s = float(str(data.get("timeout_s") or "120"))
    except ValueError:
        raise EndpointError("Enter seconds, like 60.", field="timeout_s") from None
    if not math.isfinite(timeout_s) or not 1 <= timeout_s <= MAX_TIMEOUT_S:
        raise EndpointError(f"Enter 1 to {MAX_TIMEOUT_S:.0f} seconds.", field="timeout_s")
    api_base = check_api_base(str(data.get("api_base") or ""), project=project)
    active = data.get("is_active")
    return {
        "name": name,
        "slug": slug,
        "model": model,
        "api_base": api_base,
        "api_key_secret": secret,
        "structured_output": structured,
        "use_litellm_prices": mode != "unknown",
        **prices,
        "context_window": context_window,
        "timeout_s": timeout_s,
        "is_active": True if active is None else active in (True, "on", "1", "true"),
    }


def _check_secret_use(project: Project, actor: Any, secret: Secret | None, current: Secret | None = None) -> None:
    """The actor must be allowed to use the API key secret they choose (``studio.selectors.may_use_secret``)."""
    if secret is not None and secret != current and actor is not None and not may_use_secret(actor, project, secret):
        raise EndpointError(
            f'You may not use the secret "{secret.name}": a project owner or admin can, or can grant you its use.',
            field="api_key_secret",
            code="secret_forbidden",
        )


def endpoint_create(*, project: Project, actor: Any, data: dict[str, Any]) -> ModelEndpoint:
    """Create an endpoint from form-like ``data`` (see :data:`FIELDS`). Raises :class:`EndpointError`
    (``secret_forbidden`` when ``actor`` may not use the chosen API key secret)."""
    clean = _clean(project, data, instance=None)
    _check_secret_use(project, actor, clean["api_key_secret"])
    try:
        with transaction.atomic():
            endpoint = ModelEndpoint.objects.create(project=project, **clean)
            audit_record(
                project=project,
                actor=actor,
                verb="endpoint.create",
                obj=endpoint,
                data={"slug": endpoint.slug, "model": endpoint.model, "api_base": endpoint.api_base},
            )
    except IntegrityError:
        raise EndpointError("An endpoint with this slug already exists.", field="slug", code="duplicate") from None
    return endpoint


def endpoint_update(*, endpoint: ModelEndpoint, actor: Any, data: dict[str, Any]) -> ModelEndpoint:
    """Change an endpoint; audited with the names of the changed fields (prices with their values)."""
    clean = _clean(endpoint.project, data, instance=endpoint)
    _check_secret_use(endpoint.project, actor, clean["api_key_secret"], current=endpoint.api_key_secret)
    with transaction.atomic():
        locked = ModelEndpoint.objects.select_for_update().get(pk=endpoint.pk)
        changed = [key for key, value in clean.items() if getattr(locked, key) != value]
        for key in changed:
            setattr(locked, key, clean[key])
        if changed:
            try:
                with transaction.atomic():
                    locked.save(update_fields=changed)
            except IntegrityError:
                raise EndpointError(
                    "An endpoint with this slug already exists.", field="slug", code="duplicate"
                ) from None
            details = {key: str(clean[key]) for key in changed if key.endswith("_per_mtok") or key == "model"}
            audit_record(
                project=locked.project,
                actor=actor,
                verb="endpoint.update",
                obj=locked,
                data={"fields": changed, **details},
            )
    return locked


@transaction.atomic
def endpoint_delete(*, endpoint: ModelEndpoint, actor: Any) -> None:
    """Delete an endpoint (its spans keep their model and cost; nodes naming it fail validation)."""
    audit_record(
        project=endpoint.project,
        actor=actor,
        verb="endpoint.delete",
        obj=endpoint,
        data={"slug": endpoint.slug, "model": endpoint.model},
    )
    endpoint.delete()


@dataclass(frozen=True)
class ConnectionTest:
    """What Test connection saw: ``answer`` text or the provider's ``error``; latency in ms,
    tokens as counted, ``cost_usd`` in USD (None: unknown) and where the price came from."""

    ok: bool
    answer: str = ""
    error: str = ""
    error_code: str = ""
    latency_ms: float = 0.0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: Decimal | None = None
    price_source: str = ""


def endpoint_test(*, endpoint: ModelEndpoint, actor: Any) -> ConnectionTest:
    """One tiny real call through the gateway (recorded as a span, like any call); audited.

    The ``api_base`` is checked against the egress guard again first (DNS may
    have changed since it was saved). Never raises for a provider error.
    """
    from traces.gateway import GatewayError, SpanContext, complete

    try:
        check_api_base(endpoint.api_base, project=endpoint.project)
    except EndpointError as exc:
        result = ConnectionTest(ok=False, error=exc.message, error_code=exc.code)
    else:
        try:
            completion = async_to_sync(complete)(
                endpoint=endpoint,
                messages=[{"role": "user", "content": "Reply with one word: OK"}],
                params={"max_tokens": 8, "temperature": 0},
                context=SpanContext(project_id=endpoint.project_id, trace_id=None, name="endpoint test"),
            )
        except GatewayError as err:
            result = ConnectionTest(ok=False, error=str(err), error_code=err.code)
        else:
            result = ConnectionTest(
                ok=True,
                answer=completion.text.strip()[:500],
                latency_ms=completion.latency_ms,
                input_tokens=completion.input_tokens,
                output_tokens=completion.output_tokens,
                cost_usd=completion.cost_usd,
                price_source=completion.price_source,
            )
    audit_record(
        project=endpoint.project,
        actor=actor,
        verb="endpoint.test",
        obj=endpoint,
        data={"ok": result.ok, "error_code": result.error_code},
    )
    return result
