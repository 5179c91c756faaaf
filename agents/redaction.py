"""A run's secrets, redacted from everything the run stores, broadcasts or passes on.

When a remote API echoes a secret back (an http header, an endpoint's API
key, an MCP server's token), its plaintext must not reach a step's outputs,
the run's outputs, its events or a viewer's screen. Each executing run has
one :class:`~traces.redaction.Redactor` (the same helper the gateway uses for
spans) holding the decrypted values of every secret of the run's project,
plus every value the run resolves while it executes (:class:`RecordingSecretStore`).

It is applied where the runtime (:mod:`agents.runtime`) hands data on:

* the effects' answers — http responses, model answers, MCP tool results —
  before any downstream node sees them (:class:`RedactingHttpClient`,
  :class:`RedactingLLMClient`, :class:`RedactingMcpClient`), so an echoed
  secret is never forwarded to another host, a child run or a prompt;
* every step write (:func:`redact_step_record`: inputs, outputs, error,
  meta — and so the ``step.*`` events built from the stored row);
* the run's final state (outputs and error, and so ``run.finished``),
  through :func:`run_redactor`;
* ephemeral events and streamed tokens (:class:`RedactingEventSink`), holding
  back the end of a token stream that could be the start of a secret until
  the next delta shows it is not (the final text arrives in
  ``step.finished`` anyway).

Only known values are replaced (with their JSON-escaped, URL-encoded,
HTML-escaped and base64 forms): credential *patterns* are not applied to run
data, which may legitimately look like one.
"""

from __future__ import annotations

import dataclasses
import weakref
from typing import Any

from agents.engine.protocols import (
    EventSink,
    HttpClient,
    HttpRequest,
    HttpResponse,
    LLMClient,
    LLMRequest,
    LLMResponse,
    McpClient,
    McpTool,
    SecretStore,
    StepRecord,
    ToolCall,
)
from agents.engine.run import Runtime
from traces.redaction import Redactor

# Redactors of the runs executing in this process, by run id (held alive by their runtime).
_active: weakref.WeakValueDictionary[int, Redactor] = weakref.WeakValueDictionary()


def _delegate(self: Any, name: str) -> Any:
    """Attributes a wrapper lacks come from the wrapped effect (e.g. the LLM client's ``steps``)."""
    if name.startswith("_") or name in ("inner", "redactor"):
        raise AttributeError(name)
    return getattr(self.inner, name)


def run_redactor(*, run_id: int, project_id: int) -> Redactor:
    """The redactor of run ``run_id``: the one its executing runtime holds, else a new one.

    A new one holds the decrypted values of every secret of ``project_id``
    (secrets that no longer decrypt are skipped and logged by name). Sync:
    reads the database. Never raises for a missing project (empty redactor).
    """
    found = _active.get(run_id)
    if found is not None:
        return found
    from traces.recording import project_secret_values

    redactor = Redactor(project_secret_values(project_id))
    _active[run_id] = redactor
    return redactor


def redact_step_record(redactor: Redactor, record: StepRecord) -> StepRecord:
    """A copy of ``record`` with its inputs, outputs, error and meta redacted."""
    if not redactor:
        return record
    return dataclasses.replace(
        record,
        inputs=redactor.value(record.inputs),
        outputs=redactor.value(record.outputs),
        error=redactor.text(record.error),
        meta=redactor.value(record.meta),
    )


@dataclasses.dataclass
class RecordingSecretStore:
    """A ``SecretStore`` that adds every value it hands out to the run's redactor."""

    inner: SecretStore
    redactor: Redactor = dataclasses.field(repr=False)

    async def get_secret(self, name: str) -> str:
        value = await self.inner.get_secret(name)
        self.redactor.add(value)
        return value


@dataclasses.dataclass
class RedactingHttpClient:
    """An ``HttpClient`` whose responses (body and headers) come back redacted."""

    inner: HttpClient
    redactor: Redactor = dataclasses.field(repr=False)

    async def request(self, request: HttpRequest) -> HttpResponse:
        response = await self.inner.request(request)
        return dataclasses.replace(
            response, body=self.redactor.value(response.body), headers=self.redactor.value(response.headers)
        )

    __getattr__ = _delegate


@dataclasses.dataclass
class RedactingLLMClient:
    """An ``LLMClient`` whose answers (text and tool-call arguments) come back redacted."""

    inner: LLMClient
    redactor: Redactor = dataclasses.field(repr=False)

    async def complete(self, request: LLMRequest) -> LLMResponse:
        response = await self.inner.complete(request)
        redactor = self.redactor
        if not redactor:
            return response
        return dataclasses.replace(
            response,
            text=redactor.text(response.text),
            tool_calls=[
                ToolCall(id=call.id, name=call.name, arguments=redactor.value(call.arguments))
                for call in response.tool_calls
            ],
        )

    __getattr__ = _delegate


@dataclasses.dataclass
class RedactingMcpClient:
    """An ``McpClient`` whose tool results come back redacted."""

    inner: McpClient
    redactor: Redactor = dataclasses.field(repr=False)

    async def list_tools(self, server: str) -> list[McpTool]:
        return await self.inner.list_tools(server)

    async def call_tool(self, server: str, name: str, arguments: dict[str, Any]) -> Any:
        return self.redactor.value(await self.inner.call_tool(server, name, arguments))

    __getattr__ = _delegate


@dataclasses.dataclass
class RedactingEventSink:
    """An ``EventSink`` that redacts every payload; token deltas with a hold-back.

    A secret spelled out by a model may arrive split over two deltas; the end
    of each step's streamed text that could be the start of a secret is kept
    back and sent with the next delta of that step once it is known not to be
    (a held-back end of a stream is never sent: ``step.finished`` carries the
    whole, redacted, text).
    """

    inner: EventSink
    redactor: Redactor = dataclasses.field(repr=False)
    _held: dict[tuple[str, str], str] = dataclasses.field(default_factory=dict, repr=False)

    async def emit(self, type: str, payload: dict[str, Any]) -> None:
        redactor = self.redactor
        if redactor:
            if type == "step.token" and isinstance(payload.get("tokens"), list):
                payload = {**payload, "tokens": [self._token(delta) for delta in payload["tokens"]]}
            else:
                payload = redactor.value(payload)
        await self.inner.emit(type, payload)

    def _token(self, delta: Any) -> Any:
        if not isinstance(delta, dict):
            return self.redactor.value(delta)
        key = (str(delta.get("node_id", "")), str(delta.get("iteration", "")))
        text = self._held.pop(key, "") + str(delta.get("text") or "")
        text = self.redactor.text(text)
        hold = self.redactor.pending_prefix(text)
        if hold:
            self._held[key] = text[-hold:]
            text = text[:-hold]
        rest = self.redactor.value({k: v for k, v in delta.items() if k != "text"})
        return {**rest, "text": text}

    __getattr__ = _delegate


def wrap_effects(redactor: Redactor, runtime: Runtime) -> Runtime:
    """``runtime`` with its model, http, MCP, secrets and event effects wrapped as described above.

    The step store is left as it is: it redacts its own writes (it holds the
    same ``redactor``).
    """
    return dataclasses.replace(
        runtime,
        llm=RedactingLLMClient(runtime.llm, redactor),
        events=RedactingEventSink(runtime.events, redactor),
        http=None if runtime.http is None else RedactingHttpClient(runtime.http, redactor),
        mcp=None if runtime.mcp is None else RedactingMcpClient(runtime.mcp, redactor),
        secrets=None if runtime.secrets is None else RecordingSecretStore(runtime.secrets, redactor),
    )
