"""Executing one step: reuse, retries, timeout, ``on_error``, checkpoints,
and the :class:`StepContext` a node type runs with."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Awaitable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

from agents.engine.errors import GraphValidationError, InputValidationError, SignatureError
from agents.engine.graph import (
    NodeDoc,
    check_graph,
    check_inputs,
    node_ports,
)
from agents.engine.nodes import (
    ERROR_PORT,
    NodeConfig,
    NodeError,
    NodeOutput,
    NodeType,
    StepWaiting,
    get_node_type,
)
from agents.engine.protocols import LLMError, LLMRequest, LLMResponse, StepRecord, StepStatus
from agents.engine.run import Runtime
from agents.engine.runstate import RunCancelled, RunState, RunStop, Usage
from agents.engine.signature import Signature

OutcomeStatus = Literal["succeeded", "failed", "skipped", "waiting"]


@dataclass
class StepOutcome:
    """How one step ended (``outputs`` by port; ``node_id`` is the full id)."""

    status: OutcomeStatus
    node_id: str
    outputs: dict[str, Any] = field(default_factory=dict)
    error: str = ""
    error_code: str = ""


@dataclass
class StepSpec:
    """Everything needed to execute one step."""

    node_id: str
    label: str
    node_type: NodeType
    config: NodeConfig
    iteration: str
    inputs: dict[str, Any]
    input_signature: Signature
    output_signature: Signature
    parent_holds_slot: bool = False
    validate_inputs: bool = True

    def describe(self) -> str:
        return f'Node "{self.label}" ({self.node_id})' if self.label else f'Node "{self.node_id}"'

    @property
    def acquires_slot(self) -> bool:
        return not self.node_type.container and not self.parent_holds_slot


def join_iteration(parent: str, key: str) -> str:
    """``"2"`` + ``"1"`` → ``"2/1"``; empty parts are dropped."""
    return "/".join(part for part in (parent, key) if part)


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def _is_transient(exc: BaseException) -> bool:
    if isinstance(exc, LLMError):
        return exc.transient
    if isinstance(exc, NodeError):
        return exc.transient
    return isinstance(exc, (ConnectionError, TimeoutError))


def _describe_error(exc: BaseException) -> tuple[str, str]:
    if isinstance(exc, NodeError):
        return exc.message, exc.code
    if isinstance(exc, LLMError):
        return f"model call failed: {exc}", exc.code
    if isinstance(exc, TimeoutError):
        return f"timed out{': ' + str(exc) if str(exc) else ''}", "timeout"
    if isinstance(exc, ConnectionError):
        return f"connection failed: {exc}", "connection_error"
    return f"{type(exc).__name__}: {exc}", "node_error"


class StepContext:
    """The :class:`~agents.engine.nodes.NodeContext` the executor gives a step."""

    def __init__(self, run: RunState, spec: StepSpec, usage: Usage):
        self._run = run
        self._spec = spec
        self._usage = usage
        self.node_id = spec.node_id
        self.iteration = spec.iteration
        self.label = spec.label
        self.config: Any = spec.config
        self.runtime: Runtime = run.runtime
        self.holds_slot = spec.acquires_slot or spec.parent_holds_slot

    def describe(self) -> str:
        return self._spec.describe()

    async def complete(self, request: LLMRequest) -> LLMResponse:
        self._run.check_budget(self.node_id, self.describe())
        if request.on_token is None:
            request = dataclasses.replace(request, on_token=self._run.streamer.callback(self.node_id, self.iteration))
        try:
            response = await self._run.runtime.llm.complete(request)
        finally:
            await self._run.streamer.flush()
        self.add_usage(response.input_tokens, response.output_tokens, response.cost_usd)
        return response

    def add_usage(self, input_tokens: int, output_tokens: int, cost_usd: Decimal | None) -> None:
        self._usage.add(input_tokens, output_tokens, cost_usd)
        self._run.charge(input_tokens, output_tokens, cost_usd, self.node_id, self.describe())

    def result(self, outputs: dict[str, Any], **meta: Any) -> NodeOutput:
        return NodeOutput(
            outputs=outputs,
            input_tokens=self._usage.input_tokens,
            output_tokens=self._usage.output_tokens,
            cost_usd=self._usage.recorded_cost,
            meta=dict(meta),
        )

    async def emit(self, type: str, payload: dict[str, Any]) -> None:
        await self._run.runtime.events.emit(type, {"node_id": self.node_id, "iteration": self.iteration, **payload})

    def _raise_for(self, outcome: StepOutcome, what: str) -> None:
        if outcome.status == "waiting":
            raise StepWaiting(what)
        if outcome.status == "failed":
            raise NodeError(outcome.error, code=outcome.error_code or "node_error")

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
        child = NodeDoc(id=name, type=node_type, label=label, config=config)
        try:
            resolved = get_node_type(node_type)
            in_sig, out_sig = node_ports(child)
        except GraphValidationError as exc:
            raise NodeError(f"child {name!r}: {exc}", code="invalid_config") from None
        assert resolved is not None  # node_ports would have raised
        spec = StepSpec(
            node_id=f"{self.node_id}.{name}",
            label=label,
            node_type=resolved,
            config=resolved.parse_config(config),
            iteration=join_iteration(self.iteration, key),
            inputs=inputs,
            input_signature=in_sig,
            output_signature=out_sig,
            parent_holds_slot=self.holds_slot,
        )
        outcome = await execute_step(self._run, spec)
        self._raise_for(outcome, spec.node_id)
        return outcome.outputs

    async def run_subgraph(self, name: str, key: str, graph: dict[str, Any], inputs: dict[str, Any]) -> dict[str, Any]:
        try:
            doc = check_graph(graph)
            values = check_inputs(doc, inputs)
        except GraphValidationError as exc:
            raise NodeError(f"invalid sub-graph: {exc}", code="invalid_graph") from None
        except InputValidationError as exc:
            raise NodeError(f"sub-graph inputs: {exc}", code="invalid_inputs") from None
        prefix = f"{self.node_id}.{name}." if name else f"{self.node_id}."
        from agents.engine.scheduler import GraphExecution  # the scheduler runs steps: import late

        execution = GraphExecution(
            self._run,
            doc,
            id_prefix=prefix,
            iteration=join_iteration(self.iteration, key),
            inputs=values,
            parent_holds_slot=self.holds_slot,
        )
        outcome = await execution.execute()
        self._raise_for(outcome, prefix)
        return outcome.outputs


async def _invoke(run: RunState, spec: StepSpec, ctx: StepContext, inputs: dict[str, Any]) -> NodeOutput:
    call: Awaitable[NodeOutput] = spec.node_type.run(ctx, inputs)
    limit = spec.config.timeout_s
    if limit is None:
        return await call
    scope = asyncio.timeout(limit)
    try:
        async with scope:
            return await call
    except TimeoutError:
        if scope.expired():
            raise TimeoutError(f"after {limit:g} s (the node's timeout_s)") from None
        raise  # a time limit of the node's own (an HTTP call's), with its own message


def _check_output_size(outputs: dict[str, Any], limit: int) -> None:
    """Raise ``NodeError(code="output_too_large")`` when ``outputs`` as UTF-8
    JSON is larger than ``limit`` bytes (nothing of it is stored then)."""
    size = len(json.dumps(outputs, ensure_ascii=False, default=str).encode("utf-8", "surrogatepass"))
    if size > limit:
        raise NodeError(
            f"the outputs are {size:,} bytes; a step may store at most {limit:,} bytes (STUDIO_MAX_STEP_OUTPUT_BYTES)",
            code="output_too_large",
        )


async def execute_step(run: RunState, spec: StepSpec) -> StepOutcome:
    """Run one step with reuse, retries, timeout, ``on_error`` and
    checkpointing. Returns its outcome; raises :class:`RunStop` (budget,
    cancel) and ``asyncio.CancelledError`` after recording the step.

    A step that takes a ``max_concurrency`` slot waits for it *before* it is
    recorded as started, so a step shown ``running`` is really running and
    its duration excludes the wait."""
    if spec.acquires_slot:
        async with run.slots:
            return await _execute_step(run, spec)
    return await _execute_step(run, spec)


async def _execute_step(run: RunState, spec: StepSpec) -> StepOutcome:
    steps = run.runtime.steps
    clock = run.runtime.clock
    record = StepRecord(
        node_id=spec.node_id,
        node_type=spec.node_type.type,
        iteration=spec.iteration,
        status="running",
        inputs=spec.inputs,
    )
    inputs = spec.inputs
    input_error: SignatureError | None = None
    if spec.validate_inputs:
        try:
            inputs = spec.input_signature.validate(spec.inputs)
            record.inputs = inputs
        except SignatureError as exc:
            input_error = exc
    if input_error is None:
        stored = await steps.load_finished(spec.node_id, spec.iteration)
        if stored is not None and stored.status == "succeeded" and _canonical(stored.inputs) == _canonical(inputs):
            await run.runtime.events.emit("step.reused", {"node_id": spec.node_id, "iteration": spec.iteration})
            return StepOutcome("succeeded", spec.node_id, dict(stored.outputs))
    if await run.runtime.control.is_cancelled():
        run.cancel_requested = True
        raise RunCancelled("The run was cancelled.", spec.node_id)

    record.started_at = clock.now()
    started = clock.monotonic()
    await steps.step_started(dataclasses.replace(record))
    usage = Usage()

    async def finish(status: StepStatus, outputs: dict[str, Any], error: str = "", code: str = "") -> None:
        record.status = status
        record.outputs = outputs
        record.error = error
        record.error_code = code
        record.input_tokens = usage.input_tokens
        record.output_tokens = usage.output_tokens
        record.cost_usd = usage.recorded_cost
        record.finished_at = clock.now()
        record.duration_ms = (clock.monotonic() - started) * 1000
        await steps.step_finished(dataclasses.replace(record))

    if input_error is not None:
        message = "inputs do not fit the signature: " + "; ".join(input_error.messages)
        return await _handle_failure(spec, finish, NodeError(message, code="invalid_inputs"))

    attempt = 1
    while True:
        ctx = StepContext(run, spec, usage)
        try:
            output = await _invoke(run, spec, ctx, inputs)
            if spec.node_type.checks_outputs:
                try:
                    output.outputs = spec.output_signature.validate_partial(output.outputs)
                except SignatureError as exc:
                    raise NodeError(
                        "outputs do not fit the signature: " + "; ".join(exc.messages),
                        code="invalid_output",
                    ) from None
            _check_output_size(output.outputs, run.runtime.max_step_output_bytes)
            break
        except RunStop as exc:
            await finish("failed", {}, exc.message, exc.code)
            raise
        except asyncio.CancelledError:
            await finish("failed", {}, "Cancelled while running.", "cancelled")
            raise
        except StepWaiting:
            output = NodeOutput({}, status="waiting")
            break
        except Exception as exc:  # noqa: BLE001 - any node error fails (or retries) the step
            policy = spec.config.retry
            if policy is not None and attempt < policy.attempts and _is_transient(exc):
                await asyncio.sleep(policy.backoff_ms * 2 ** (attempt - 1) / 1000)
                attempt += 1
                record.attempt = attempt
                continue
            return await _handle_failure(spec, finish, exc)

    extra_in = max(0, output.input_tokens - usage.input_tokens)
    extra_out = max(0, output.output_tokens - usage.output_tokens)
    if extra_in or extra_out:
        usage.add(extra_in, extra_out, Decimal("0"))
        run.usage.add(extra_in, extra_out, Decimal("0"))
    record.meta.update(output.meta)
    if output.status == "waiting":
        await finish("waiting", output.outputs)
        return StepOutcome("waiting", spec.node_id)
    await finish("succeeded", output.outputs)
    run.check_budget(spec.node_id, spec.describe())
    return StepOutcome("succeeded", spec.node_id, output.outputs)


async def _handle_failure(spec: StepSpec, finish: Any, exc: BaseException) -> StepOutcome:
    message, code = _describe_error(exc)
    on_error = spec.config.on_error
    if on_error == "default" and spec.config.default_outputs is not None:
        outputs = dict(spec.config.default_outputs)
        await finish("succeeded", outputs, message, code)
        return StepOutcome("succeeded", spec.node_id, outputs)
    if on_error == "branch":
        outputs = {ERROR_PORT: message}
        await finish("succeeded", outputs, message, code)
        return StepOutcome("succeeded", spec.node_id, outputs)
    await finish("failed", {}, message, code)
    return StepOutcome("failed", spec.node_id, error=f"{spec.describe()} failed: {message}", error_code=code)
