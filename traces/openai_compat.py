"""Calls to OpenAI-compatible endpoints through the official ``openai`` SDK.

Used by :mod:`traces.gateway` for every endpoint whose model string starts
with ``openai/`` — OpenAI itself, and any server that speaks its chat API at an
``api_base``: llama.cpp, vLLM, Ollama's ``/v1``. Other providers (Anthropic,
``ollama_chat/`` …) still go through LiteLLM.

Why not LiteLLM for these: LiteLLM wraps this same SDK, and on a call to an
instant server it spent ~17 ms of CPU per call (its request/response
transformations, its logging objects, and a stream assembled twice) against
~1.6 ms for a raw ``httpx`` call; it also caches one HTTP client per event
loop and never closes it. Here:

* **one long-lived ``AsyncOpenAI`` client per (api_base, API key, egress
  allow-list) per event loop** (:func:`client_for`): connections are kept alive between calls, and a
  worker with one event loop per process (``agents.tasks``) reuses them for
  every run — against a real provider, no TLS handshake per call;
* streaming only when the caller wants token deltas, the chunks assembled
  once (:func:`assemble_stream`);
* ``max_retries=0``: retries belong to the engine.

The request is the gateway's neutral request dict (LiteLLM's keyword
arguments: ``model`` with its ``openai/`` prefix, ``api_base``, ``api_key``,
``timeout`` …); :func:`sdk_arguments` turns it into the SDK's.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable
from typing import Any

from traces.responses import Answer, ToolCall, read_usage_details

#: Model-string prefix of the endpoints this module serves.
OPENAI_PREFIX = "openai/"

#: Sampling parameters that are not part of OpenAI's API: sent in the body to
#: OpenAI-compatible servers at an ``api_base`` (llama.cpp honours them), dropped
#: for OpenAI itself (it refuses unknown arguments), as LiteLLM's ``drop_params`` did.
_NON_OPENAI_PARAMS = ("top_k", "repeat_penalty")

#: Gateway request keys that are not request-body arguments of the SDK.
_NOT_ARGUMENTS = frozenset({"model", "api_base", "api_key", "num_retries", "max_retries", "_skip_mcp_handler"})

#: Most clients kept per event loop (distinct api_base/key pairs); the oldest is dropped past it.
MAX_CLIENTS_PER_LOOP = 32

# Keyed by the loop object itself, not weakly: a client's open connections refer back to
# their loop, so a weak key would never die. Entries of closed loops are pruned instead.
_clients: dict[asyncio.AbstractEventLoop, dict[tuple[str, str, tuple[str, ...]], Any]] = {}


_closing: set[asyncio.Task[None]] = set()


def serves(model: str) -> bool:
    """Whether an endpoint with model string ``model`` is called through the SDK (``openai/…``)."""
    return model.startswith(OPENAI_PREFIX)


def client_for(api_base: str, api_key: str | None, allowed_hosts: tuple[str, ...] = ()) -> Any:
    """The ``AsyncOpenAI`` client of this event loop for ``api_base`` and ``api_key``.

    Created on first use and kept for the life of the loop (an httpx
    connection pool belongs to one loop). ``api_base`` "" means OpenAI's
    own (or ``OPENAI_BASE_URL``); ``api_key`` None means ``OPENAI_API_KEY``.
    A client for an ``api_base`` sends every request through
    :class:`studio.lib.pinned.PinnedTransport`: the egress guard checks the
    address under ``allowed_hosts`` (allow-list entries) and the connection
    goes to that checked address (a refusal raises ``EgressRefused`` inside
    the SDK's connection error). Must be called inside a running event loop.
    Raises the SDK's ``OpenAIError`` when no API key can be found.
    """
    import openai

    loop = asyncio.get_running_loop()
    per_loop = _clients.get(loop)
    if per_loop is None:
        for closed in [other for other in _clients if other.is_closed()]:
            del _clients[closed]  # their sockets died with their loop; drop the clients with them
        per_loop = _clients[loop] = {}
    # The key is hashed: the cache's keys must not be a second copy of a credential.
    key = (api_base, hashlib.sha256((api_key or "").encode()).hexdigest(), allowed_hosts)
    client = per_loop.get(key)
    if client is None:
        if len(per_loop) >= MAX_CLIENTS_PER_LOOP:
            oldest = per_loop.pop(next(iter(per_loop)))
            _closing.add(task := loop.create_task(oldest.close()))  # release its connection pool
            task.add_done_callback(_closing.discard)
        http_client = None
        if api_base:
            from studio.lib.pinned import pinned_client

            # The SDK's default timeout; each call passes the endpoint's own.
            http_client = pinned_client(allowed_hosts=allowed_hosts, timeout=openai.DEFAULT_TIMEOUT)
        client = openai.AsyncOpenAI(api_key=api_key, base_url=api_base or None, max_retries=0, http_client=http_client)
        per_loop[key] = client
    return client


def sdk_arguments(request: dict[str, Any]) -> dict[str, Any]:
    """``chat.completions.create`` keyword arguments for a gateway request dict.

    The model loses its ``openai/`` prefix; llama.cpp-only sampling
    parameters go into ``extra_body`` when the endpoint has an ``api_base``
    and are dropped otherwise.
    """
    arguments = {key: value for key, value in request.items() if key not in _NOT_ARGUMENTS}
    arguments["model"] = request["model"].removeprefix(OPENAI_PREFIX)
    extra = {name: arguments.pop(name) for name in _NON_OPENAI_PARAMS if name in arguments}
    if extra and request.get("api_base"):
        arguments["extra_body"] = extra
    return arguments


async def call_once(request: dict[str, Any], *, allowed_hosts: tuple[str, ...] = ()) -> Any:
    """One non-streamed chat completion; returns the SDK's ``ChatCompletion``. SDK exceptions propagate."""
    client = client_for(request.get("api_base", ""), request.get("api_key"), allowed_hosts)
    return await client.chat.completions.create(**sdk_arguments(request))


async def open_stream(request: dict[str, Any], *, allowed_hosts: tuple[str, ...] = ()) -> Any:
    """A streamed chat completion: the SDK's ``AsyncStream`` of chunks. SDK exceptions propagate."""
    client = client_for(request.get("api_base", ""), request.get("api_key"), allowed_hosts)
    return await client.chat.completions.create(**sdk_arguments(request))


class StreamAssembler:
    """Builds one :class:`~traces.responses.Answer` from stream chunks, as they arrive (one pass).

    Text deltas are joined, tool-call fragments are merged by ``index``
    (id and name from the first fragment, arguments concatenated), the last
    ``finish_reason`` and the usage chunk (``stream_options.include_usage``)
    are kept. :attr:`reported_usage` says whether the provider sent usage.
    """

    def __init__(self) -> None:
        self._text: list[str] = []
        self._tools: dict[int, dict[str, Any]] = {}
        self.finish_reason = ""
        self.usage: Any = None

    @property
    def reported_usage(self) -> bool:
        return self.usage is not None

    def add(self, chunk: Any) -> str:
        """Take one chunk; returns its text delta ("" when it has none)."""
        usage = getattr(chunk, "usage", None)
        if usage is not None:
            self.usage = usage
        choices = getattr(chunk, "choices", None) or []
        if not choices:
            return ""
        choice = choices[0]
        if getattr(choice, "finish_reason", None):
            self.finish_reason = choice.finish_reason
        delta = getattr(choice, "delta", None)
        if delta is None:
            return ""
        for fragment in getattr(delta, "tool_calls", None) or []:
            slot = self._tools.setdefault(fragment.index or 0, {"id": "", "name": "", "arguments": []})
            if fragment.id:
                slot["id"] = fragment.id
            function = fragment.function
            if function is not None:
                if function.name:
                    slot["name"] = function.name
                if function.arguments:
                    slot["arguments"].append(function.arguments)
        content = getattr(delta, "content", None)
        if isinstance(content, str) and content:
            self._text.append(content)
            return content
        return ""

    def answer(self) -> Answer:
        """The assembled answer; tokens from the usage chunk (0 when none came)."""
        import json

        calls: list[ToolCall] = []
        notes: list[str] = []
        for _, slot in sorted(self._tools.items()):
            raw = "".join(slot["arguments"]) or "{}"
            try:
                arguments = json.loads(raw)
            except json.JSONDecodeError as exc:
                arguments = {}
                notes.append(f"tool call {slot['id']} ({slot['name']}): arguments are not valid JSON ({exc.msg})")
            if not isinstance(arguments, dict):
                arguments = {"value": arguments}
            calls.append(ToolCall(id=slot["id"], name=slot["name"], arguments=arguments))
        answer = Answer(text="".join(self._text), tool_calls=calls, finish_reason=self.finish_reason, notes=notes)
        usage = self.usage
        if usage is not None:
            answer.input_tokens = int(getattr(usage, "prompt_tokens", 0) or 0)
            answer.output_tokens = int(getattr(usage, "completion_tokens", 0) or 0)
            read_usage_details(answer, usage)
        return answer


async def consume_stream(stream: Any, on_delta: Callable[[str], Awaitable[None]], assembler: StreamAssembler) -> None:
    """Feed every chunk of ``stream`` to ``assembler``, awaiting ``on_delta`` for each text delta.

    Exceptions of the stream and of ``on_delta`` propagate; the caller closes the stream.
    """
    async for chunk in stream:
        delta = assembler.add(chunk)
        if delta:
            await on_delta(delta)
