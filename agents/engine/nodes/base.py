"""What every node type is made of.

A node type is a :class:`NodeType` subclass with a pydantic ``Config`` (a
:class:`NodeConfig`), ``ports(config)`` returning its (inputs, outputs)
signatures, optional static ``check(config)``, and ``async run(ctx,
inputs)``. The executor hands ``run`` a :class:`NodeContext` through which
all effects go.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from agents.engine.protocols import LLMRequest, LLMResponse
from agents.engine.signature import Signature

if TYPE_CHECKING:
    from agents.engine.run import Runtime

NodeKind = Literal["io", "llm", "logic", "data", "integration", "human"]
OnError = Literal["fail", "default", "branch"]

#: The output port a node with ``on_error: branch`` gets (a str: the error).
ERROR_PORT = "error"


class NodeError(Exception):
    """A step failed. ``message`` is plain English (the executor prefixes the
    node's name); ``code`` is stable (``node_error``, ``invalid_output``,
    ``timeout``, ``http_status`` ...). ``transient`` errors may be retried
    by the node's retry policy."""

    def __init__(self, message: str, *, code: str = "node_error", transient: bool = False):
        super().__init__(message)
        self.message = message
        self.code = code
        self.transient = transient


class StepWaiting(Exception):
    """Raised (through the context) when a step cannot finish until a human
    decides; the step is stored as ``waiting``."""


class RetryPolicy(BaseModel):
    """Retry transient failures (``LLMError(transient=True)``,
    ``ConnectionError``, ``TimeoutError``, transient ``NodeError``).
    ``attempts`` counts the first try; the n-th retry waits
    ``backoff_ms * 2**(n-1)`` milliseconds."""

    model_config = ConfigDict(extra="forbid")

    attempts: int = Field(default=3, ge=1, le=10)
    backoff_ms: int = Field(default=500, ge=0, le=60_000)


class NodeConfig(BaseModel):
    """Settings every node type has, besides its own.

    ``retry`` (None: no retry), ``timeout_s`` (seconds for the whole step,
    None: none), ``on_error``: ``fail`` the run, use ``default_outputs``
    (validated against the output signature), or ``branch``: emit the error
    message on an extra ``error`` output port and nothing else.
    """

    model_config = ConfigDict(extra="forbid")

    retry: RetryPolicy | None = None
    timeout_s: float | None = Field(default=None, gt=0, le=86_400)
    on_error: OnError = "fail"
    default_outputs: dict[str, Any] | None = None


@dataclass(frozen=True)
class ConfigProblem:
    """A static problem of a node's configuration (found before any run).
    ``code`` is a graph issue code (``invalid_config``, ``invalid_expression``,
    ``forbidden_host``)."""

    message: str
    code: str = "invalid_config"


@dataclass
class NodeOutput:
    """What a step produced: ``outputs`` by port name (a port left out is
    inactive: nodes wired to it are skipped), tokens, cost in USD (``None``
    when unknown) and ``status`` (``succeeded`` or ``waiting``). Build it with
    :meth:`NodeContext.result` so the step's model usage is included."""

    outputs: dict[str, Any]
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: Decimal | None = Decimal("0")
    status: Literal["succeeded", "waiting"] = "succeeded"
    meta: dict[str, Any] = field(default_factory=dict)


class NodeContext(Protocol):
    """A step's view of the run (implemented by the executor)."""

    node_id: str
    """Full id: ``writer``, or ``loop.writer`` inside a container."""
    iteration: str
    label: str
    config: Any
    runtime: Runtime

    def describe(self) -> str:
        """``Node "Writer" (writer)``, for messages."""
        ...

    async def complete(self, request: LLMRequest) -> LLMResponse:
        """Call the model, counting tokens and cost into this step and the
        run, streaming ``step.token`` events, and enforcing the run budget."""
        ...

    def add_usage(self, input_tokens: int, output_tokens: int, cost_usd: Decimal | None) -> None:
        """Count usage that did not go through :meth:`complete` (a child run)."""
        ...

    def result(self, outputs: dict[str, Any], **meta: Any) -> NodeOutput:
        """A succeeded :class:`NodeOutput` carrying this step's usage."""
        ...

    async def run_child(
        self,
        name: str,
        key: str,
        node_type: str,
        config: dict[str, Any],
        inputs: dict[str, Any],
        *,
        label: str = "",
    ) -> dict[str, Any]:
        """Run a node of type ``node_type`` as its own recorded step
        ``{node_id}.{name}`` at iteration ``{iteration}/{key}`` (reused from
        the store when finished before with the same inputs). Returns its
        outputs. Raises :class:`NodeError` when it fails, :class:`StepWaiting`
        when it waits."""
        ...

    async def run_subgraph(self, name: str, key: str, graph: dict[str, Any], inputs: dict[str, Any]) -> dict[str, Any]:
        """Run ``graph`` (a graph document with its own input and output
        nodes) with ``inputs``; its nodes are recorded as steps
        ``{node_id}.{inner_id}`` at iteration ``{iteration}/{key}``. Returns
        the sub-graph's outputs. Raises like :meth:`run_child`."""
        ...

    async def emit(self, type: str, payload: dict[str, Any]) -> None:
        """Send a run event (the node id and iteration are added)."""
        ...


class NodeType:
    """Base class of node types. Subclasses set the class attributes and
    override :meth:`ports` and :meth:`run`; :meth:`check` adds static checks
    beyond the ``Config`` model's own validation."""

    type: ClassVar[str]
    kind: ClassVar[NodeKind]
    title: ClassVar[str]
    description: ClassVar[str]
    Config: ClassVar[builtins.type[NodeConfig]] = NodeConfig
    #: Containers run children as their own steps and take no concurrency slot.
    container: ClassVar[bool] = False
    #: A join runs when at least one input edge is active; other nodes are
    #: skipped when an inactive edge feeds a required port.
    runs_on_any_input: ClassVar[bool] = False
    #: Whether the executor validates emitted outputs against the output ports.
    checks_outputs: ClassVar[bool] = True

    def parse_config(self, raw: dict[str, Any]) -> NodeConfig:
        """Validate ``raw``; raises ``pydantic.ValidationError``."""
        return self.Config.model_validate(raw)

    def default_config(self) -> dict[str, Any]:
        """The config a freshly dropped node gets (JSON-ready)."""
        return self.Config().model_dump(mode="json")

    def ports(self, config: Any) -> tuple[Signature, Signature]:
        """(input signature, output signature) for ``config``."""
        raise NotImplementedError

    def check(self, config: Any) -> list[ConfigProblem]:
        """Static problems beyond the config model (expressions, templates,
        hosts, required settings). Empty when fine."""
        return []

    async def run(self, ctx: NodeContext, inputs: dict[str, Any]) -> NodeOutput:
        """Execute one step. ``inputs`` are validated against the input
        signature. Raises :class:`NodeError` (or ``LLMError``,
        ``ConnectionError``, ``TimeoutError``) on failure."""
        raise NotImplementedError

    def catalog_entry(self) -> dict[str, Any]:
        """The editor palette's description of this node type."""
        return {
            "type": self.type,
            "kind": self.kind,
            "title": self.title,
            "description": self.description,
            "config_schema": self.Config.model_json_schema(),
            "default_config": self.default_config(),
        }
