"""What a run needs (:class:`Runtime`, :class:`Budget`) and what it returns
(:class:`RunResult`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from agents.engine.protocols import (
    Clock,
    EventSink,
    HttpClient,
    LLMClient,
    PromptStore,
    RunControl,
    RunStatus,
    SecretStore,
    StepStore,
)

if TYPE_CHECKING:
    from agents.engine.protocols import ApprovalGate, McpClient, SubworkflowRunner


#: Default of :attr:`Runtime.max_step_output_bytes` (2 MiB).
MAX_STEP_OUTPUT_BYTES = 2 * 1024 * 1024


@dataclass
class Runtime:
    """The effects a run may use. ``http``, ``secrets``, ``subworkflows``,
    ``approvals`` and ``mcp`` are optional: a node that needs a missing one
    fails its step with error code ``not_configured``.
    ``max_step_output_bytes``: the most a step may store as outputs (bytes of
    UTF-8 JSON); a step producing more fails with ``output_too_large``."""

    llm: LLMClient
    steps: StepStore
    events: EventSink
    prompts: PromptStore
    clock: Clock
    control: RunControl
    http: HttpClient | None = None
    secrets: SecretStore | None = None
    subworkflows: SubworkflowRunner | None = None
    approvals: ApprovalGate | None = None
    mcp: McpClient | None = None
    max_step_output_bytes: int = MAX_STEP_OUTPUT_BYTES


@dataclass(frozen=True)
class Budget:
    """Per-run limits. ``max_tokens`` counts input + output tokens;
    ``max_cost_usd`` in USD. ``None`` means no limit. A run stops the moment
    its total goes strictly above a limit (``budget_exceeded``). With
    ``max_cost_usd`` set, a model call whose price is unknown stops the run
    at that call (``budget_unpriced``): its cost is never counted as $0."""

    max_tokens: int | None = None
    max_cost_usd: Decimal | None = None


@dataclass
class RunResult:
    """The outcome of :func:`agents.engine.execute_graph`.

    ``outputs`` are the ``output`` node's values (empty unless succeeded).
    ``error_code`` is one of ``invalid_graph``, ``invalid_inputs``,
    ``budget_exceeded``, ``budget_unpriced``, ``cancelled``, ``engine_error`` or the failed step's
    own code (``node_error``, ``llm_error``, ``invalid_output``, ``timeout``
    ...). ``failed_node`` is the id of the step that failed, if one did.
    Tokens and ``cost_usd`` (USD) count the model calls made by this
    execution only — steps reused from the store add nothing.
    ``cost_unknown`` is true when at least one call had no known price (its
    cost is then not in ``cost_usd``).
    """

    status: RunStatus
    outputs: dict[str, Any] = field(default_factory=dict)
    error: str = ""
    error_code: str = ""
    failed_node: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: Decimal = Decimal("0")
    cost_unknown: bool = False

    @property
    def total_tokens(self) -> int:
        """Input + output tokens."""
        return self.input_tokens + self.output_tokens
