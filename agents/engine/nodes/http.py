"""``http``: one API call through the runtime's guarded ``HttpClient``."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field

from agents.engine.errors import TemplateError
from agents.engine.nodes.base import ConfigProblem, NodeConfig, NodeContext, NodeError, NodeOutput, NodeType
from agents.engine.nodes.netguard import url_problems
from agents.engine.nodes.registry import register
from agents.engine.protocols import HttpRequest
from agents.engine.signature import FieldSpec, Signature
from agents.engine.templating import render, secret_names, template_problems

Method = Literal["GET", "POST", "PUT", "PATCH", "DELETE"]
_WHOLE_VARIABLE = re.compile(r"^\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}$")


class HttpConfig(NodeConfig):
    """``url`` (Jinja2 over ``inputs``), ``headers`` (values are templates
    and may read secrets: ``{{ secret("API_KEY") }}``), ``body`` (any JSON;
    string leaves are templates, and a leaf that is exactly ``{{ name }}``
    keeps the input's own type), ``request_timeout_s``. Outputs:
    ``status: int``, ``body`` (typed by ``body_type``), ``headers: object``.
    A status of 400 or more fails the step when ``fail_on_status`` (429 and
    5xx as transient, so a retry policy applies). Non-GET requests carry an
    idempotency key ``"{node_id}:{iteration}"`` (the runtime prefixes the
    run id)."""

    method: Method = "GET"
    url: str = ""
    headers: dict[str, str] = Field(default_factory=dict)
    body: Any = None
    inputs: list[FieldSpec] = Field(default_factory=list)
    body_type: Literal["object", "list", "str"] = "object"
    request_timeout_s: float = Field(default=30.0, gt=0, le=300)
    fail_on_status: bool = True


def _templates(config: HttpConfig) -> list[tuple[str, str]]:
    found = [("url", config.url)]
    found += [(f"header {name!r}", value) for name, value in config.headers.items()]

    def walk(where: str, value: Any) -> None:
        if isinstance(value, str):
            found.append((where, value))
        elif isinstance(value, dict):
            for key, item in value.items():
                walk(f"{where}.{key}", item)
        elif isinstance(value, list):
            for index, item in enumerate(value):
                walk(f"{where}[{index}]", item)

    walk("body", config.body)
    return found


def check_http(config: HttpConfig, allowed: list[str]) -> list[ConfigProblem]:
    """Static problems of an http request config (also used by agent tools)."""
    problems = [
        ConfigProblem(p, code="forbidden_host" if "refused host" in p else "invalid_config")
        for p in url_problems(config.url)
    ]
    for where, source in _templates(config):
        problems += [ConfigProblem(f"{where}: {p}") for p in template_problems(source, allowed)]
        names, secret_errors = secret_names(source)
        problems += [ConfigProblem(f"{where}: {p}") for p in secret_errors]
        if names and not where.startswith("header"):
            problems.append(ConfigProblem(f"{where}: secrets may only be used in headers"))
    return problems


def _render_body(value: Any, variables: dict[str, Any]) -> Any:
    if isinstance(value, str):
        whole = _WHOLE_VARIABLE.match(value)
        if whole and whole.group(1) in variables:
            return variables[whole.group(1)]
        return render(value, variables)
    if isinstance(value, dict):
        return {key: _render_body(item, variables) for key, item in value.items()}
    if isinstance(value, list):
        return [_render_body(item, variables) for item in value]
    return value


async def perform_http(ctx: NodeContext, config: HttpConfig, inputs: dict[str, Any]) -> dict[str, Any]:
    """Render and send the request; returns ``{"status", "body", "headers"}``.
    Raises :class:`NodeError` (``not_configured``, ``secret_not_found``, ``secret_forbidden``,
    ``template_error``, ``forbidden_host``, ``http_status``) and lets
    ``ConnectionError``/``TimeoutError`` through (transient)."""
    client = ctx.runtime.http
    if client is None:
        raise NodeError("HTTP calls are not available in this runtime", code="not_configured")
    names: set[str] = set()
    for source in config.headers.values():
        names |= secret_names(source)[0]
    secrets: dict[str, str] = {}
    if names:
        store = ctx.runtime.secrets
        if store is None:
            raise NodeError("secrets are not available in this runtime", code="not_configured")
        for name in sorted(names):
            try:
                secrets[name] = await store.get_secret(name)
            except LookupError:
                raise NodeError(f"secret {name!r} does not exist", code="secret_not_found") from None
            except PermissionError as exc:
                raise NodeError(str(exc), code="secret_forbidden") from None
    try:
        url = render(config.url, inputs)
        headers = {key: render(value, inputs, secrets=secrets) for key, value in config.headers.items()}
        body = _render_body(config.body, inputs)
    except TemplateError as exc:
        raise NodeError(f"template: {exc}", code="template_error") from None
    if not url.startswith(("http://", "https://")):
        raise NodeError(f"the URL must start with http:// or https:// (got {url[:80]!r})", code="invalid_url")
    # The address itself is checked by the runtime's HttpClient after DNS resolution, against the
    # admin's allow-list; the static check in ``check`` gives early feedback on literal hosts.
    request = HttpRequest(
        method=config.method,
        url=url,
        headers=headers,
        json=body,
        timeout_s=config.request_timeout_s,
        idempotency_key=None if config.method == "GET" else f"{ctx.node_id}:{ctx.iteration}",
    )
    try:
        response = await client.request(request)
    except PermissionError as exc:
        raise NodeError(f"refused address: {exc}", code="forbidden_host") from None
    if response.status >= 400 and config.fail_on_status:
        transient = response.status == 429 or response.status >= 500
        raise NodeError(
            f"{config.method} {url.split('?', 1)[0]} answered HTTP {response.status}",
            code="http_status",
            transient=transient,
        )
    return {"status": response.status, "body": response.body, "headers": dict(response.headers)}


@register
class HttpNode(NodeType):
    type = "http"
    kind = "integration"
    title = "HTTP request"
    description = "Call an API. Private, loopback and metadata addresses are refused."
    Config = HttpConfig

    def ports(self, config: HttpConfig) -> tuple[Signature, Signature]:
        return Signature(config.inputs), Signature(
            [
                FieldSpec(name="status", type="int", description="HTTP status code"),
                FieldSpec(name="body", type=config.body_type, description="Decoded response body"),
                FieldSpec(name="headers", type="object", description="Response headers"),
            ]
        )

    def check(self, config: HttpConfig) -> list[ConfigProblem]:
        return check_http(config, [f.name for f in config.inputs])

    async def run(self, ctx: NodeContext, inputs: dict[str, Any]) -> NodeOutput:
        config: HttpConfig = ctx.config
        result = await perform_http(ctx, config, inputs)
        return ctx.result(result, method=config.method)
