"""The LLM gateway: the one door to every model, and the only module that imports litellm.

Usage (async; from sync code wrap it with ``asgiref.sync.async_to_sync``)::

    completion = await complete(
        endpoint=endpoint,                      # a ModelEndpoint row
        messages=[{"role": "user", "content": "Hi"}],
        schema={"type": "object", ...},         # optional: ask for JSON
        params={"temperature": 0, "max_tokens": 64},
        context=SpanContext(project_id=project.pk, trace_id=None, run_id=run.pk, node_id="n_1"),
    )
    completion.text, completion.parsed, completion.cost_usd, completion.span_id

What a call does:

1. Loads the endpoint's API key (``endpoint.api_key_secret``, decrypted with
   :mod:`studio.crypto`) and the values to redact (that key, every secret
   of the project, ``context.redact``). Endpoints with an ``api_base`` and no
   secret get a placeholder key (local OpenAI-compatible servers ignore it);
   endpoints with neither fall back to LiteLLM's provider environment
   variables (``OPENAI_API_KEY`` …). An ``api_base`` passes the egress guard
   (:mod:`studio.lib.ssrf`) at every call, under the project's allow-list as
   it is now: ``openai/`` endpoints connect through
   :class:`studio.lib.pinned.PinnedTransport` (resolved once, checked, and
   the connection opened to the checked address: no DNS rebinding); other
   providers are checked just before LiteLLM's call. Refused:
   ``GatewayError`` ``egress_refused``, and nothing is sent.
2. Asks for structured output the way the endpoint takes it (see
   :mod:`traces.structured`), passes ``tools`` and the allowed ``params``,
   ``timeout=endpoint.timeout_s`` and ``num_retries=0``: retries belong to
   the engine, which knows the node's retry policy.
3. Streams when ``on_token`` is given (``on_token`` gets every text delta)
   and assembles the same :class:`Completion` as without streaming.
4. Prices the call (:func:`traces.pricing.price_call`) and records one
   :class:`~traces.models.Span`, redacted, in ``context.trace_id`` or in a new
   trace — for failures too, then raises :class:`GatewayError`.

Structured output: when a schema is given, ``Completion.parsed`` is the
decoded JSON, or ``None`` with ``Completion.parse_error`` set when the answer
is not JSON. The gateway does not raise for that (the span stays ``ok``,
with ``error_code="invalid_output"`` and ``output.parse_error``): the caller
validates against its schema and decides whether to retry with the error.
llama.cpp endpoints hold the model to the schema with a grammar: the JSON
parses (unless ``max_tokens`` cuts it short) and types, enums and required
keys hold, but numeric ranges (``minimum``/``maximum``) do not (measured:
``maximum: 5`` answered with 10) — so validate there too.

Tools: ``Completion.tool_calls`` holds decoded :class:`ToolCall` tuples.
SmolLM2's chat template knows no tools, so on the local model a tool call
only comes back when ``params["tool_choice"]`` names the function (then
llama.cpp constrains the arguments to its parameters schema).

Errors: :class:`GatewayError` with ``transient`` True for rate limits (429),
timeouts, an unreachable server and 5xx answers; False for authentication,
bad requests (400/422, context window exceeded), unknown models (404), an
endpoint of another project, an inactive endpoint or an unreadable secret.

LiteLLM is imported on first use (2-4 s) with
``LITELLM_LOCAL_MODEL_COST_MAP=True`` (no network), telemetry off, no
callbacks and ``drop_params=True``; call :func:`preload` at worker start to
pay that before the first run. Async DB access goes through
``sync_to_async`` — or through the runner a caller put in :data:`db_runner`
(the runtime does, so the parallel branches of a run do not queue their
span writes on one thread).
"""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import functools
import ipaddress
import logging
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from asgiref.sync import sync_to_async

from studio.lib.pinned import pinned_client
from studio.lib.ssrf import EgressRefused, check_url, parse_url
from traces import openai_compat, recording
from traces.errors import GatewayError, classify_exception
from traces.models import ModelEndpoint
from traces.pricing import TokenPrices, price_usage
from traces.redaction import redact_text
from traces.responses import Answer, ToolCall, answer_from_response, delta_text, provider_reported_usage
from traces.structured import parse_json_output, response_format_for, with_schema_instructions

log = logging.getLogger(__name__)

# Local OpenAI-compatible servers ignore the key, but the OpenAI client refuses to send none.
PLACEHOLDER_API_KEY = "no-key"

# Sampling and tool parameters a caller may set; everything else is the gateway's.
ALLOWED_PARAMS = frozenset(
    {
        "temperature",
        "top_p",
        "top_k",
        "max_tokens",
        "max_completion_tokens",
        "seed",
        "stop",
        "presence_penalty",
        "frequency_penalty",
        "repeat_penalty",
        "logit_bias",
        "tool_choice",
        "parallel_tool_calls",
        "response_format",
        "user",
        "reasoning_effort",
    }
)

__all__ = [
    "Completion",
    "GatewayError",
    "SpanContext",
    "ToolCall",
    "check_endpoint",
    "complete",
    "db_runner",
    "list_models",
    "litellm_token_prices",
    "preload",
    "prepare",
]


@dataclass(frozen=True)
class SpanContext:
    """Where a call's span goes and what it belongs to.

    ``trace_id`` None: a new :class:`~traces.models.Trace` is created for the
    call (named ``name``). ``run_id``/``step_id`` are plain ids of agents'
    rows; ``node_id`` the graph node; ``name`` the span's name.
    ``redact``: extra plaintext values to remove from the span (values the
    caller resolved outside the project's secrets). ``kind``: the span's
    :class:`~traces.models.SpanKind` (``chat``; ``judge`` for a scoring call).
    """

    project_id: int
    trace_id: int | None
    run_id: int | None = None
    step_id: int | None = None
    node_id: str = ""
    name: str = ""
    kind: str = "chat"
    redact: tuple[str, ...] = field(default=(), repr=False)  # secrets: never in a repr or a log line
    #: A :class:`~traces.models.ReplayMode` value: "" (off) for every call but a suite case run's.
    replay: str = ""


@dataclass
class Completion:
    """A model's answer with its accounting.

    ``text``: the assistant's text ("" when it only called tools).
    ``parsed``: the decoded JSON when a schema was requested and the answer is
    JSON, else None (``parse_error`` says why). Tokens are counts as the
    provider reported them, or estimated with LiteLLM's ``token_counter``
    when it reported none (``usage_estimated``). ``cost_usd`` is USD, None
    when the price is unknown; ``price_source`` is ``endpoint``, ``litellm``
    or ``unknown``. ``latency_ms``: wall time of the model call in ms.
    """

    text: str
    parsed: Any | None
    tool_calls: list[ToolCall]
    input_tokens: int
    output_tokens: int
    cached_tokens: int
    cost_usd: Decimal | None
    price_source: str
    latency_ms: float
    span_id: int
    trace_id: int = 0
    finish_reason: str = ""
    parse_error: str = ""
    usage_estimated: bool = False


OnToken = Callable[[str], Awaitable[None]]

#: Runs a sync function with its arguments in some thread and awaits it: ``await runner(fn, *args)``.
DbRunner = Callable[..., Awaitable[Any]]

#: The runner for the gateway's database work in this context; None: ``sync_to_async`` (thread-sensitive).
db_runner: contextvars.ContextVar[DbRunner | None] = contextvars.ContextVar("gateway_db_runner", default=None)


#: Takes a finished call's span instead of the gateway writing it: ``sink(call, prepared)``; see :func:`complete`.
SpanSink = Callable[[recording.CallRecord, recording.Prepared | None], None]


async def prepare(endpoint: ModelEndpoint, context: SpanContext) -> recording.Prepared:
    """Check that calls to ``endpoint`` in ``context`` may go ahead; load the API key and the values to redact.

    Pass the result to :func:`complete` as ``prepared`` for every call of the
    same project, trace and redaction. Raises :class:`GatewayError` (see
    :func:`traces.recording.prepare`).
    """
    return await _in_db_thread(recording.prepare, endpoint, context)  # type: ignore[no-any-return]


async def _in_db_thread_if(needed: bool, fn: Callable[..., Any], *args: Any) -> Any:
    return await _in_db_thread(fn, *args) if needed else fn(*args)


async def _in_db_thread(fn: Callable[..., Any], *args: Any) -> Any:
    runner = db_runner.get()
    if runner is None:
        return await sync_to_async(fn)(*args)
    return await runner(fn, *args)


class _OnTokenFailed(Exception):
    """Carries an exception raised by the caller's ``on_token`` out of the stream loop."""

    def __init__(self, original: Exception) -> None:
        super().__init__(str(original))
        self.original = original


# --------------------------------------------------------------------- litellm


@functools.cache
def _litellm() -> Any:
    """Import and configure litellm once: offline price map, no telemetry, no callbacks."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    litellm.telemetry = False
    litellm.drop_params = True
    litellm.suppress_debug_info = True
    litellm.turn_off_message_logging = True
    litellm.callbacks = []
    litellm.success_callback = []
    litellm.failure_callback = []
    return litellm


def preload() -> None:
    """Import litellm and the openai SDK now (2-4 s) instead of on the first call.

    Called in the Celery master before it forks its pool (``agents.tasks``), so
    no pool child pays the import.
    """
    _litellm()
    import openai  # noqa: F401 - imported for its side effect: loaded before the fork


def litellm_token_prices(model: str) -> TokenPrices | None:
    """USD per token (input, output, cache read, cache write) from LiteLLM's bundled price map.

    Looks ``model`` up as given, then without its ``provider/`` prefix
    (``openai/gpt-4o-mini`` → ``gpt-4o-mini``). The cache read and write
    prices (``cache_read_input_token_cost``, ``cache_creation_input_token_cost``)
    fall back to the input price. None when the map lacks either main price.
    """
    cost_map: dict[str, dict[str, Any]] = _litellm().model_cost
    names = [model, model.split("/", 1)[1]] if "/" in model else [model]
    for name in names:
        entry = cost_map.get(name) or {}
        input_price, output_price = entry.get("input_cost_per_token"), entry.get("output_cost_per_token")
        if isinstance(input_price, int | float) and isinstance(output_price, int | float):
            cached = entry.get("cache_read_input_token_cost")
            write = entry.get("cache_creation_input_token_cost")
            return TokenPrices(
                Decimal(str(input_price)),
                Decimal(str(output_price)),
                Decimal(str(cached if isinstance(cached, int | float) else input_price)),
                Decimal(str(write if isinstance(write, int | float) else input_price)),
            )
    return None


def _count_tokens(model: str, messages: list[dict[str, Any]], text: str) -> tuple[int, int]:
    """Estimated (input, output) tokens with LiteLLM's token_counter (tiktoken for unknown models)."""
    litellm = _litellm()
    try:
        prompt = litellm.token_counter(model=model, messages=messages)
        answer = litellm.token_counter(model=model, text=text, count_response_tokens=True) if text else 0
    except Exception:  # an estimate must never fail the call
        log.warning("token_counter failed for model %s", model, exc_info=True)
        return 0, 0
    return int(prompt), int(answer)


# -------------------------------------------------------------------- the call


async def complete(
    *,
    endpoint: ModelEndpoint,
    messages: list[dict[str, Any]],
    schema: dict[str, Any] | None = None,
    tools: list[dict[str, Any]] | None = None,
    params: dict[str, Any] | None = None,
    context: SpanContext,
    prompt_version_id: int | None = None,
    on_token: OnToken | None = None,
    prepared: recording.Prepared | None = None,
    span_sink: SpanSink | None = None,
) -> Completion:
    """Call ``endpoint`` once with OpenAI-style chat ``messages``; record a span.

    ``prepared``: what :func:`prepare` returned for this endpoint and a
    context of the same project, trace and redaction (a run prepares each
    endpoint once, not once per call); the context is still checked.
    ``span_sink``: instead of writing the span now, hand it to this callable
    (success and failure alike); the caller writes it later, e.g. in the
    transaction that commits the step, with
    :func:`traces.recording.record_span`. ``Completion.span_id`` and
    ``GatewayError.span_id`` are then 0/None.

    ``schema``: a JSON Schema the answer should match (see the module doc for
    how it is asked for and what ``parsed`` holds). ``tools``: OpenAI-style
    tool definitions. ``params``: sampling parameters from
    :data:`ALLOWED_PARAMS` (``temperature``, ``max_tokens`` …);
    ``endpoint.pinned_params`` override them.
    ``on_token``: async callback per text delta; turns on streaming.

    ``context.replay`` (a :class:`~traces.models.ReplayMode`): ``record``
    calls the model and records the answer under the request's key
    (:mod:`traces.replay`); ``replay`` answers from the recording without
    calling the model (the span's output has ``replayed: true``, no tokens,
    cost 0) and raises ``GatewayError`` ``no_recording`` when there is none;
    ``fill`` replays when it can, else calls and records.

    Returns a :class:`Completion`. Raises :class:`GatewayError` (its
    ``span_id`` set to the error span). An exception raised by ``on_token``
    propagates unchanged after the span is recorded as an error.
    """
    # The endpoint's pinned parameters win over the caller's (reproducible runs: temperature 0, a seed).
    params = {**(params or {}), **(endpoint.pinned_params or {})}
    if context.replay:  # suite case runs only (traces.replay); a normal call pays this one test
        return await _complete_with_recordings(
            endpoint, messages, schema, tools, params, context, prompt_version_id, on_token, span_sink
        )
    prepared: recording.Prepared | None = None
    started = time.perf_counter()
    call = recording.CallRecord(endpoint=endpoint, context=context, prompt_version_id=prompt_version_id)
    call.raw_input = _raw_input(messages, schema, tools, params)
    try:
        if prepared is None:
            prepared = await _in_db_thread(recording.prepare, endpoint, context)
        else:
            await _in_db_thread_if(recording.needs_db_check(context), recording.check_context, endpoint, context)
        request = _build_request(endpoint, messages, schema, tools, params, prepared.api_key)
        if on_token is not None:
            request.update(stream=True, stream_options={"include_usage": True})
        call.request = request
        allowed = prepared.allowed_hosts
        if endpoint.api_base and not openai_compat.serves(endpoint.model):
            await _check_egress(endpoint.api_base, allowed)  # LiteLLM resolves the name again: re-checked now
        started = time.perf_counter()
        call.mark_started()
        answer = await (_stream(request, on_token, allowed) if on_token else _once(request, allowed))
    except GatewayError as err:
        await _record_failure(call, prepared, started, err, err.code, span_sink)
        raise
    except asyncio.CancelledError:
        failure = _record_failure(call, prepared, started, "The call was cancelled.", "cancelled", span_sink)
        await asyncio.shield(failure)
        raise
    except _OnTokenFailed as failed:  # the caller's callback failed: record it, re-raise its own exception
        original = failed.original
        message = f"{type(original).__name__}: {original}"
        await _record_failure(call, prepared, started, message, "callback_error", span_sink)
        raise original from None
    except Exception as exc:  # a bug, not a model error: record it and let it through unchanged
        await _record_failure(call, prepared, started, f"{type(exc).__name__}: {exc}", "internal_error", span_sink)
        raise
    latency_ms = (time.perf_counter() - started) * 1000
    return await _finish(call, prepared, answer, schema, latency_ms, span_sink)


async def _complete_with_recordings(
    endpoint: ModelEndpoint,
    messages: list[dict[str, Any]],
    schema: dict[str, Any] | None,
    tools: list[dict[str, Any]] | None,
    params: dict[str, Any],
    context: SpanContext,
    prompt_version_id: int | None,
    on_token: OnToken | None,
    span_sink: SpanSink | None,
) -> Completion:
    """:func:`complete` for a context with a replay mode (see its doc and :mod:`traces.replay`)."""
    from traces import replay
    from traces.models import ReplayMode

    normalised = replay.normalised_request(endpoint, messages, schema, tools, params)
    key = replay.request_key(normalised)
    if context.replay in (ReplayMode.REPLAY, ReplayMode.FILL):
        response = await _in_db_thread(replay.recording_find, context.project_id, key)
        if response is not None:
            return await _replayed(
                endpoint, messages, schema, tools, params, context, prompt_version_id, response, on_token, span_sink
            )
        if context.replay == ReplayMode.REPLAY:
            prepared = await _in_db_thread(recording.prepare, endpoint, context)  # the span is redacted as any
            call = recording.CallRecord(endpoint=endpoint, context=context, prompt_version_id=prompt_version_id)
            call.raw_input = _raw_input(messages, schema, tools, params)
            error = GatewayError(
                f"No recording for this call (endpoint {endpoint.slug!r}, model {endpoint.model}, "
                f"request key {key[:12]}): a prompt, model, input or parameter changed since the suite was "
                "recorded. Run the suite with --replay=fill to call the model and record it.",
                transient=False,
                code=replay.NO_RECORDING,
            )
            await _record_failure(call, prepared, time.perf_counter(), error, error.code, span_sink)
            raise error
    live = dataclasses.replace(context, replay="")
    completion = await complete(
        endpoint=endpoint,
        messages=messages,
        schema=schema,
        tools=tools,
        params=params,
        context=live,
        prompt_version_id=prompt_version_id,
        on_token=on_token,
        span_sink=span_sink,
    )
    await _in_db_thread(
        functools.partial(
            replay.recording_save,
            project_id=context.project_id,
            key=key,
            endpoint=endpoint,
            request=normalised,
            completion=completion,
            redact_values=context.redact,
        )
    )
    return completion


async def _replayed(
    endpoint: ModelEndpoint,
    messages: list[dict[str, Any]],
    schema: dict[str, Any] | None,
    tools: list[dict[str, Any]] | None,
    params: dict[str, Any],
    context: SpanContext,
    prompt_version_id: int | None,
    response: dict[str, Any],
    on_token: OnToken | None,
    span_sink: SpanSink | None,
) -> Completion:
    """The recorded ``response`` as a :class:`Completion`: no model call, no tokens, cost 0; one span
    whose output says ``replayed: true`` (with the recorded token counts as ``recorded_usage``)."""
    prepared = await _in_db_thread(recording.prepare, endpoint, context)  # same checks and redaction as a call
    call = recording.CallRecord(endpoint=endpoint, context=context, prompt_version_id=prompt_version_id)
    call.raw_input = _raw_input(messages, schema, tools, params)
    call.request = _build_request(endpoint, messages, schema, tools, params, None)
    call.mark_started()
    text = str(response.get("text", ""))
    tool_calls = [ToolCall(str(c["id"]), str(c["name"]), dict(c["arguments"])) for c in response.get("tool_calls", [])]
    if on_token is not None and text:
        await on_token(text)
    answer = Answer(text=text, tool_calls=tool_calls, finish_reason=str(response.get("finish_reason", "")))
    parsed, parse_error = parse_json_output(text) if schema is not None else (None, "")
    call.set_answer(answer, parsed=parsed, parse_error=parse_error, cost=Decimal("0"), price_source="replay")
    call.output["replayed"] = True
    call.output["recorded_usage"] = {
        name: int(response.get(name) or 0) for name in ("input_tokens", "output_tokens", "cached_tokens")
    }
    if span_sink is not None:
        call.mark_ended()
        span_sink(call, prepared)
        trace_id, span_id = context.trace_id or 0, 0
    else:
        trace_id, span_id = await _in_db_thread(recording.record_span, call, prepared)
    return Completion(
        text=text,
        parsed=parsed,
        tool_calls=tool_calls,
        input_tokens=0,
        output_tokens=0,
        cached_tokens=0,
        cost_usd=Decimal("0"),
        price_source="replay",
        latency_ms=0.0,
        span_id=span_id,
        trace_id=trace_id,
        finish_reason=answer.finish_reason,
        parse_error=parse_error,
    )


def _raw_input(
    messages: list[dict[str, Any]],
    schema: dict[str, Any] | None,
    tools: list[dict[str, Any]] | None,
    params: dict[str, Any] | None,
) -> dict[str, Any]:
    raw: dict[str, Any] = {"messages": messages, "params": params or {}}
    if schema is not None:
        raw["schema"] = schema
    if tools:
        raw["tools"] = tools
    return raw


def _build_request(
    endpoint: ModelEndpoint,
    messages: list[dict[str, Any]],
    schema: dict[str, Any] | None,
    tools: list[dict[str, Any]] | None,
    params: dict[str, Any] | None,
    api_key: str | None,
) -> dict[str, Any]:
    """LiteLLM ``acompletion`` keyword arguments. Raises GatewayError for a disallowed param."""
    params = dict(params or {})
    unknown = sorted(set(params) - ALLOWED_PARAMS)
    if unknown:
        raise GatewayError(
            f"Unsupported model parameter(s): {', '.join(unknown)}. Allowed: {', '.join(sorted(ALLOWED_PARAMS))}.",
            transient=False,
            code="bad_request",
        )
    if schema is not None:
        response_format = response_format_for(endpoint.structured_output, schema)
        if response_format is None:
            messages = with_schema_instructions(messages, schema)
            params.pop("response_format", None)
        else:
            params["response_format"] = response_format
    request: dict[str, Any] = {
        **params,
        "model": endpoint.model,
        "messages": messages,
        "timeout": endpoint.timeout_s,
        "num_retries": 0,
        "max_retries": 0,
    }
    if endpoint.api_base:
        request["api_base"] = endpoint.api_base
    if api_key is not None:
        request["api_key"] = api_key
    elif endpoint.api_base:
        request["api_key"] = PLACEHOLDER_API_KEY
    if tools:
        request["tools"] = tools
        # litellm 1.106.2 routes any call with tools through its MCP proxy handler, which
        # imports the optional `mcp` package and fails without it; we never use that proxy.
        request["_skip_mcp_handler"] = True
    return request


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


async def _check_egress(api_base: str, allowed: tuple[str, ...]) -> None:
    """Check ``api_base`` with the egress guard now (its host may resolve elsewhere than at save, or
    its allow-list entry may be gone). Raises :class:`GatewayError` ``egress_refused`` (not
    transient) or ``unreachable`` when the host does not resolve."""
    try:
        _scheme, host, _port = parse_url(api_base)
        if _is_ip_literal(host):
            check_url(api_base, allowed_hosts=allowed)  # no DNS: no thread needed
        else:
            await asyncio.to_thread(check_url, api_base, allowed_hosts=allowed)
    except (EgressRefused, ConnectionError) as exc:
        raise classify_exception(exc, api_base=api_base) from exc


async def _once(request: dict[str, Any], allowed: tuple[str, ...] = ()) -> Answer:
    if openai_compat.serves(request["model"]):
        try:
            response = await openai_compat.call_once(request, allowed_hosts=allowed)
        except Exception as exc:
            raise _classify_sdk_exception(exc, request) from exc
        return answer_from_response(response, request, _count_tokens)
    litellm = _litellm()
    try:
        response = await litellm.acompletion(**request)
    except Exception as exc:
        raise classify_exception(exc, api_base=request.get("api_base", "")) from exc
    return answer_from_response(response, request, _count_tokens)


def _classify_sdk_exception(exc: Exception, request: dict[str, Any]) -> GatewayError:
    """A GatewayError for an exception of the ``openai`` SDK (or of building its client)."""
    if type(exc).__name__ == "OpenAIError" and "api_key" in str(exc):  # no key given and no OPENAI_API_KEY
        return GatewayError(f"No API key for the model {request['model']}: {exc}", transient=False, code="auth")
    return classify_exception(exc, api_base=request.get("api_base", ""))


async def _stream(request: dict[str, Any], on_token: OnToken, allowed: tuple[str, ...] = ()) -> Answer:
    if openai_compat.serves(request["model"]):
        return await _stream_sdk(request, on_token, allowed)
    litellm = _litellm()
    api_base = request.get("api_base", "")
    try:
        stream = await litellm.acompletion(**request)
    except Exception as exc:
        raise classify_exception(exc, api_base=api_base) from exc
    try:
        chunks = await _consume(stream, on_token, api_base)
    finally:  # release the HTTP connection when the caller's callback or a cancel ends the stream early
        if hasattr(stream, "aclose"):
            await stream.aclose()
    response = litellm.stream_chunk_builder(chunks, messages=request["messages"])
    answer = answer_from_response(response, request, _count_tokens)
    if not provider_reported_usage(stream):
        # LiteLLM filled usage in with token_counter; llama.cpp's server sends none when streaming.
        answer.usage_estimated = True
        answer.notes.append("usage estimated with litellm.token_counter (provider sent none while streaming)")
    return answer


async def _stream_sdk(request: dict[str, Any], on_token: OnToken, allowed: tuple[str, ...] = ()) -> Answer:
    """Stream through the ``openai`` SDK, assembling the answer once as chunks arrive."""

    async def deliver(delta: str) -> None:
        try:
            await on_token(delta)
        except Exception as exc:
            raise _OnTokenFailed(exc) from exc

    try:
        stream = await openai_compat.open_stream(request, allowed_hosts=allowed)
    except Exception as exc:
        raise _classify_sdk_exception(exc, request) from exc
    assembler = openai_compat.StreamAssembler()
    try:
        await openai_compat.consume_stream(stream, deliver, assembler)
    except _OnTokenFailed:
        raise
    except Exception as exc:
        raise _classify_sdk_exception(exc, request) from exc
    finally:  # release the HTTP connection when the caller's callback or a cancel ends the stream early
        await stream.close()
    answer = assembler.answer()
    if not assembler.reported_usage or (answer.input_tokens == 0 and answer.output_tokens == 0):
        answer.input_tokens, answer.output_tokens = _count_tokens(request["model"], request["messages"], answer.text)
        answer.usage_estimated = True
        answer.notes.append("usage estimated with litellm.token_counter (provider sent none while streaming)")
    return answer


async def _consume(stream: Any, on_token: OnToken, api_base: str) -> list[Any]:
    """Read every chunk, passing text deltas to ``on_token``; returns the chunks."""
    chunks: list[Any] = []
    iterator = stream.__aiter__()
    while True:
        try:
            chunk = await iterator.__anext__()
        except StopAsyncIteration:
            return chunks
        except Exception as exc:
            raise classify_exception(exc, api_base=api_base) from exc
        chunks.append(chunk)
        delta = delta_text(chunk)
        if delta:
            try:
                await on_token(delta)
            except Exception as exc:
                raise _OnTokenFailed(exc) from exc


# ----------------------------------------------------------------- recording


async def _finish(
    call: recording.CallRecord,
    prepared: recording.Prepared | None,
    answer: Answer,
    schema: dict[str, Any] | None,
    latency_ms: float,
    span_sink: SpanSink | None = None,
) -> Completion:
    parsed, parse_error = parse_json_output(answer.text) if schema is not None else (None, "")
    # No thread hop: pricing reads the endpoint row in hand and litellm's map, imported by the call itself.
    cost, source = price_usage(call.endpoint, answer.usage())
    call.set_answer(answer, parsed=parsed, parse_error=parse_error, cost=cost, price_source=source)
    call.latency_ms = latency_ms
    if span_sink is not None:
        call.mark_ended()
        span_sink(call, prepared)
        trace_id, span_id = call.context.trace_id or 0, 0
    else:
        trace_id, span_id = await _in_db_thread(recording.record_span, call, prepared)
    return Completion(
        text=answer.text,
        parsed=parsed,
        tool_calls=answer.tool_calls,
        input_tokens=answer.input_tokens,
        output_tokens=answer.output_tokens,
        cached_tokens=answer.cached_tokens,
        cost_usd=cost,
        price_source=source,
        latency_ms=latency_ms,
        span_id=span_id,
        trace_id=trace_id,
        finish_reason=answer.finish_reason,
        parse_error=parse_error,
        usage_estimated=answer.usage_estimated,
    )


async def _record_failure(
    call: recording.CallRecord,
    prepared: recording.Prepared | None,
    started: float,
    error: GatewayError | str,
    code: str,
    span_sink: SpanSink | None = None,
) -> None:
    call.latency_ms = (time.perf_counter() - started) * 1000 if call.started_at else 0.0
    if isinstance(error, GatewayError):  # provider messages may quote a key
        error.message = redact_text(error.message, prepared.redact_values if prepared else call.context.redact)
    call.set_error(str(error), code)
    if span_sink is not None:
        call.mark_ended()
        span_sink(call, prepared)
        return
    try:
        _, span_id = await _in_db_thread(recording.record_span, call, prepared)
    except Exception:  # never hide the call's own error behind a recording failure
        log.exception("Could not record the error span of a call to endpoint %s", call.endpoint.pk)
        return
    if isinstance(error, GatewayError):
        error.span_id = span_id


# ---------------------------------------------------------- endpoint checks


async def list_models(endpoint: ModelEndpoint) -> list[str]:
    """Model ids served at ``endpoint.api_base`` (``GET {api_base}/models``).

    Only for endpoints with an ``api_base`` (OpenAI-compatible servers).
    Raises :class:`GatewayError` (``unsupported`` without an api_base,
    ``unreachable``/``timeout``/``http_<status>`` otherwise).
    """
    import httpx

    if not endpoint.api_base:
        raise GatewayError("Listing models needs an endpoint with an api_base.", transient=False, code="unsupported")
    prepared = await sync_to_async(recording.prepare)(endpoint, None)
    headers = {"Authorization": f"Bearer {prepared.api_key or PLACEHOLDER_API_KEY}"}
    url = endpoint.api_base.rstrip("/") + "/models"
    try:
        async with pinned_client(allowed_hosts=prepared.allowed_hosts, timeout=min(endpoint.timeout_s, 10.0)) as client:
            response = await client.get(url, headers=headers)
    except (EgressRefused, ConnectionError) as exc:
        raise classify_exception(exc, api_base=endpoint.api_base) from exc
    except httpx.TimeoutException as exc:
        raise GatewayError(f"Timed out listing models at {url}.", transient=True, code="timeout") from exc
    except httpx.HTTPError as exc:
        raise GatewayError(
            f"The model server at {endpoint.api_base} is unreachable ({type(exc).__name__}).",
            transient=True,
            code="unreachable",
        ) from exc
    if response.status_code != 200:
        raise GatewayError(
            f"{url} answered HTTP {response.status_code}.",
            transient=response.status_code >= 500,
            code=f"http_{response.status_code}",
        )
    return [str(item.get("id", "")) for item in response.json().get("data", [])]


async def check_endpoint(endpoint: ModelEndpoint) -> tuple[bool, str]:
    """Test an endpoint with a real one-token completion (recorded as a span, like any call).

    Returns ``(True, "answered in N ms")`` or ``(False, reason)``; never raises
    :class:`GatewayError`.
    """
    context = SpanContext(project_id=endpoint.project_id, trace_id=None, name="endpoint check")
    try:
        completion = await complete(
            endpoint=endpoint,
            messages=[{"role": "user", "content": "Say OK."}],
            params={"max_tokens": 1, "temperature": 0},
            context=context,
        )
    except GatewayError as err:
        return False, str(err)
    return True, f"{endpoint.model} answered in {completion.latency_ms:.0f} ms."
