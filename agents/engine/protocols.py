"""The engine's contract with the outside world.

The engine (``agents/engine``) is pure Python: it imports nothing from Django,
Celery, Channels or litellm. Every effect reaches it through the small
protocols below, which ``agents/runtime.py`` implements with the ORM, the
traces gateway and the channel layer, and which the engine's unit tests
implement with scripted fakes.

All protocol methods are ``async``; the runtime bridges to the synchronous ORM
with ``asgiref.sync.sync_to_async``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    from agents.engine.run import RunResult

JSON = Any

StepStatus = Literal["pending", "running", "succeeded", "failed", "skipped", "waiting"]
RunStatus = Literal["succeeded", "failed", "cancelled", "waiting"]


# --------------------------------------------------------------------------- LLM


@dataclass(frozen=True)
class ToolCall:
    """One tool call the model asked for: ``arguments`` is the decoded JSON object."""

    id: str
    name: str
    arguments: dict[str, Any]


@dataclass
class LLMRequest:
    """What a node asks of a model endpoint.

    ``endpoint`` is the model endpoint's slug within the run's project.
    ``messages`` are OpenAI-style chat messages (``{"role", "content"}``, plus
    ``tool_calls``/``tool_call_id`` inside a tool loop). ``schema`` is a JSON
    Schema (object) the answer must satisfy; the gateway picks how to ask for
    it (json_schema, json_object with schema, or prompt-only) from the
    endpoint. ``params`` holds sampling parameters (``temperature``,
    ``max_tokens``, ``seed`` ...). ``on_token`` is called with each text
    delta when the runtime streams; it may be ignored.
    """

    endpoint: str
    messages: list[dict[str, Any]]
    node_id: str
    iteration: str = ""
    schema: dict[str, Any] | None = None
    tools: list[dict[str, Any]] | None = None
    params: dict[str, Any] = field(default_factory=dict)
    prompt_version_id: int | None = None
    on_token: Callable[[str], Awaitable[None]] | None = None


@dataclass
class LLMResponse:
    """A model's answer with its accounting.

    Tokens are counts reported by the provider. ``cost_usd`` is ``None`` when
    the price of the endpoint is unknown (never guessed as 0).
    ``latency_ms`` is wall time of the call in milliseconds.
    """

    text: str
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    cost_usd: Decimal | None = Decimal("0")
    latency_ms: float = 0.0
    tool_calls: list[ToolCall] = field(default_factory=list)
    span_id: int | None = None


class LLMError(Exception):
    """A model call failed. ``transient`` errors (rate limit, timeout, 5xx,
    connection refused) may be retried by the node's retry policy; the others
    (bad request, auth, unknown endpoint) fail the step at once."""

    def __init__(self, message: str, *, transient: bool = False, code: str = "llm_error"):
        super().__init__(message)
        self.transient = transient
        self.code = code


class LLMClient(Protocol):
    """The door to the models (the runtime wires it to ``traces.gateway``)."""

    async def complete(self, request: LLMRequest) -> LLMResponse:
        """Call the model once. Raises :class:`LLMError`."""
        ...


# ------------------------------------------------------------------- prompts


@dataclass(frozen=True)
class PromptRef:
    """A reference to a stored prompt: by ``label`` (e.g. ``production``) or
    by pinned integer ``version``; exactly one of the two is set."""

    slug: str
    label: str | None = None
    version: int | None = None


@dataclass(frozen=True)
class PromptSpec:
    """An immutable prompt version as the engine needs it.

    ``messages`` are chat messages whose ``content`` is a Jinja2 template
    rendered by the engine's sandbox with strict undefined variables.
    ``model_config`` holds default sampling parameters.
    """

    version_id: int
    version: int
    messages: list[dict[str, str]]
    variables: list[str] = field(default_factory=list)
    model_config: dict[str, Any] = field(default_factory=dict)


class PromptStore(Protocol):
    async def get_prompt(self, ref: PromptRef) -> PromptSpec:
        """Resolve ``ref`` in the run's project. Raises ``LookupError`` when
        the prompt, label or version does not exist."""
        ...


# --------------------------------------------------------------- steps/events


@dataclass
class StepRecord:
    """One node execution. ``iteration`` distinguishes repeated executions
    of the same node in one run (loop rounds, fan-out items); ``""`` for the
    first and only one. ``duration_ms`` in milliseconds; ``cost_usd`` None
    when unknown."""

    node_id: str
    node_type: str
    iteration: str = ""
    status: StepStatus = "pending"
    inputs: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)
    error: str = ""
    error_code: str = ""
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: Decimal | None = Decimal("0")
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    duration_ms: float = 0.0
    attempt: int = 1
    meta: dict[str, Any] = field(default_factory=dict)


class StepStore(Protocol):
    """Checkpoints. Each write commits the step row together with its run
    event in one transaction, so a crashed run resumes from what is stored."""

    async def load_finished(self, node_id: str, iteration: str) -> StepRecord | None:
        """The stored step with status ``succeeded`` or ``skipped`` for this
        (node, iteration) of the run, or ``None``. Its outputs are reused
        instead of running the node again."""
        ...

    async def step_started(self, record: StepRecord) -> None: ...

    async def step_finished(self, record: StepRecord) -> None:
        """Persist a terminal (succeeded/failed/skipped) or waiting step."""
        ...


class EventSink(Protocol):
    """Run events that are not step transitions (token stream, logs)."""

    async def emit(self, type: str, payload: dict[str, Any]) -> None: ...


class Clock(Protocol):
    def now(self) -> dt.datetime: ...

    def monotonic(self) -> float: ...


class RunControl(Protocol):
    async def is_cancelled(self) -> bool:
        """True once somebody asked to cancel the run."""
        ...


# ------------------------------------------------------- effects for issue 3


@dataclass
class HttpRequest:
    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    json: Any = None
    timeout_s: float = 30.0
    idempotency_key: str | None = None


@dataclass
class HttpResponse:
    status: int
    headers: dict[str, str]
    body: Any  # decoded JSON when the response is JSON, else text


class HttpClient(Protocol):
    async def request(self, request: HttpRequest) -> HttpResponse:
        """Perform a guarded HTTP call (SSRF checks on every resolved address
        and redirect). Raises ``PermissionError`` for a refused address and
        ``ConnectionError``/``TimeoutError`` for transient failures."""
        ...


class SecretStore(Protocol):
    async def get_secret(self, name: str) -> str:
        """Decrypted value of the project's secret ``name``; ``LookupError``
        if missing, ``PermissionError`` if the run may not use it. Never log
        the value."""
        ...


# ------------------------------------------------- effects for orchestration


@dataclass(frozen=True)
class Decision:
    """A human's decision on an ``approval`` step. ``data``, when set,
    replaces the values under review (it is validated against the approval
    node's signature); ``comment`` is free text shown downstream."""

    approved: bool
    data: dict[str, Any] | None = None
    comment: str = ""
    decided_by: str = ""


class ApprovalGate(Protocol):
    async def get_decision(self, node_id: str, iteration: str) -> Decision | None:
        """The decision taken on this (node, iteration) of the run, or
        ``None`` while nobody has decided yet (the step is then stored as
        ``waiting`` with what is to be reviewed as its inputs)."""
        ...


class SubworkflowRunner(Protocol):
    async def run(self, workflow_slug: str, inputs: dict[str, Any], *, node_id: str, iteration: str) -> RunResult:
        """Run the published version of ``workflow_slug`` (same project) to
        completion as a child of this run's step (node_id, iteration) and
        return its result. Being idempotent per (run, node_id, iteration) is
        the runtime's job, as is refusing a workflow that calls itself
        (see :func:`agents.engine.graph.find_subworkflow_cycle`). Raises
        ``LookupError`` for an unknown workflow."""
        ...


@dataclass(frozen=True)
class McpTool:
    """A tool an MCP server offers: ``input_schema`` is its JSON Schema."""

    name: str
    description: str = ""
    input_schema: dict[str, Any] = field(default_factory=dict)


class McpClient(Protocol):
    async def list_tools(self, server: str) -> list[McpTool]:
        """Tools of the project's MCP server ``server`` (a slug). Raises
        ``LookupError`` for an unknown server, ``ConnectionError`` when it
        cannot be reached."""
        ...

    async def call_tool(self, server: str, name: str, arguments: dict[str, Any]) -> Any:
        """Call one tool and return its result (decoded JSON or text).
        Raises ``LookupError``, ``ConnectionError``/``TimeoutError``, or
        ``RuntimeError`` when the tool reports an error."""
        ...
