"""The engine's protocols implemented with Django, the traces gateway and Channels.

``run_execute(run_id)`` is what a Celery task (queue mode) or the in-process
executor (quickstart) calls. PostgreSQL is the source of truth:

* the run is *claimed* by one atomic UPDATE that bumps ``attempt`` (queued,
  or running with an expired lease) — a duplicate message finds nothing to
  claim and returns;
* while it executes, the worker renews ``lease_expires_at``; the beat
  sweeper re-dispatches runs whose lease expired (dead worker);
* every step write and the final state are fenced by ``attempt``: a zombie
  worker whose run was re-dispatched can no longer write;
* each finished step is committed together with its RunEvent, and a resumed
  run reuses every finished step instead of running it again.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime as dt
import functools
import logging
import queue
import threading
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connections, router, transaction
from django.db.models import F, Q
from django.utils import timezone

from agents.dispatch import run_dispatch
from agents.effects import (
    DjangoApprovalGate,
    DjangoMcpClient,
    DjangoSecretStore,
    DjangoSubworkflowRunner,
    GuardedHttpClient,
)
from agents.effects.transport import egress_allowed_hosts
from agents.engine import Budget, RunResult, Runtime, execute_graph, not_downstream
from agents.engine.protocols import (
    LLMError,
    LLMRequest,
    LLMResponse,
    PromptRef,
    PromptSpec,
    StepRecord,
    ToolCall,
)
from agents.events import Fenced, abroadcast, alistening, event_append, event_record, event_seq_next
from agents.models import Run, RunStatus, Step, StepStatus
from agents.redaction import redact_step_record, run_redactor, wrap_effects
from agents.services.budgets import budget_alerts_after_run
from agents.trace_tree import export_run_tree
from prompts.cache import label_cache, prompt_label_resolve
from prompts.selectors import prompt_version_resolve
from studio.models import Project
from studio.workspace.selectors import variable_values
from traces import gateway
from traces.models import ModelEndpoint
from traces.otel.export import export_enabled
from traces.redaction import Redactor
from traces.services import trace_start

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 3  # dispatches of one run before it fails as worker_lost
MAX_EXTRA_DB_THREADS = 4  # per executing run: threads (and connections) for the writes of parallel branches
LISTENER_CHECK_S = 0.5  # how often a run asks whether anyone listens (to decide whether to stream tokens)


def _money(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _lease_until() -> dt.datetime:
    return timezone.now() + dt.timedelta(seconds=settings.STUDIO_RUN_LEASE_SECONDS)


class _DbThreadPool(concurrent.futures.Executor):
    """Up to ``size`` threads, started on demand; each closes its database connections when the pool shuts down.

    Like ``ThreadPoolExecutor``, but a thread's Django connections (one per
    thread) are closed by that thread when it leaves, instead of lingering
    until garbage collection.
    """

    def __init__(self, size: int) -> None:
        self._size = size
        self._jobs: queue.SimpleQueue[tuple[concurrent.futures.Future[Any], Any] | None] = queue.SimpleQueue()
        self._idle = threading.Semaphore(0)
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._closed = False

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> concurrent.futures.Future[Any]:
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        with self._lock:
            if self._closed:
                raise RuntimeError("cannot schedule new futures after shutdown")
            self._jobs.put((future, functools.partial(fn, *args, **kwargs)))
            if not self._idle.acquire(blocking=False) and len(self._threads) < self._size:
                thread = threading.Thread(target=self._work, name=f"run-db-{len(self._threads)}", daemon=True)
                self._threads.append(thread)
                thread.start()
        return future

    def _work(self) -> None:
        try:
            while (job := self._jobs.get()) is not None:
                future, call = job
                if future.set_running_or_notify_cancel():
                    try:
                        future.set_result(call())
                    except BaseException as exc:  # noqa: BLE001 - handed to the awaiting caller, as ThreadPoolExecutor does
                        future.set_exception(exc)
                del job, future, call
                self._idle.release()
        finally:
            connections.close_all()

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._lock:
            self._closed = True
            for _ in self._threads:
                self._jobs.put(None)  # after the queued jobs: each thread finishes those, then leaves
        if wait:
            for thread in self._threads:
                thread.join()


class RunDbThreads:
    """Where one run's step and span writes run.

    By default on ``sync_to_async``'s thread-sensitive thread (one persistent
    connection). While that thread is busy with another write of the run —
    parallel branches — a write goes to one of up to ``extra`` more threads
    instead of queueing behind it (PostgreSQL only: SQLite takes one writer
    at a time). The extra threads, and their connections, live until
    :meth:`close` (the end of the run's execution).
    """

    def __init__(self, extra: int) -> None:
        self.extra = extra
        self._busy = 0
        self._pool: _DbThreadPool | None = None

    @classmethod
    def for_run(cls, run: Run) -> RunDbThreads:
        parallel = connections[router.db_for_write(Step)].vendor == "postgresql"
        return cls(extra=min(max(run.max_concurrency - 1, 0), MAX_EXTRA_DB_THREADS) if parallel else 0)

    async def call(self, fn: Any, *args: Any) -> Any:
        """``await fn(*args)`` in a thread, as described above."""
        if self._busy == 0 or self.extra == 0:
            self._busy += 1
            try:
                return await sync_to_async(fn)(*args)
            finally:
                self._busy -= 1
        if self._pool is None:
            self._pool = _DbThreadPool(self.extra)
        return await sync_to_async(fn, thread_sensitive=False, executor=self._pool)(*args)  # type: ignore[arg-type]

    def close(self) -> None:
        """Let the extra threads finish their queued writes, close their connections and end (no wait)."""
        self.extra = 0  # a late write (none is expected) takes the thread-sensitive thread
        if self._pool is not None:
            self._pool.shutdown(wait=False)
            self._pool = None


@dataclass
class DjangoStepStore:
    """Checkpoints in the ``Step`` table, fenced by the run's attempt.

    Each write is one transaction of three statements: an ``UPDATE`` of the
    run row that checks the fence and allocates the event's seq (and, for a
    finished step, adds its tokens and cost), an upsert of the step row, and
    the event's ``INSERT``. The run's finished steps are read once
    (:meth:`load_existing`, at the start of an attempt) and then kept up to
    date by this store's own writes — it is the run's only writer while its
    attempt holds the fence — so :meth:`load_finished` needs no query.
    """

    run_id: int
    attempt: int
    labels: dict[str, str]
    step_ids: dict[tuple[str, str], int] = field(default_factory=dict)
    reuse_from_run_id: int | None = None
    reuse_nodes: frozenset[str] = frozenset()
    db: RunDbThreads | None = field(default=None, repr=False)
    redactor: Redactor | None = field(default=None, repr=False)  # secrets never reach a step row or event
    _finished: dict[tuple[str, str], StepRecord] | None = field(default=None, repr=False)
    _reused: set[tuple[str, str]] = field(default_factory=set, repr=False)

    async def _in_thread(self, fn: Any, *args: Any) -> Any:
        if self.db is None:
            return await sync_to_async(fn)(*args)
        return await self.db.call(fn, *args)

    def load_existing(self) -> None:
        """Read the run's finished steps (and which rows hold reused outputs): one query."""
        done = (StepStatus.SUCCEEDED, StepStatus.SKIPPED)
        finished: dict[tuple[str, str], StepRecord] = {}
        reused: set[tuple[str, str]] = set()
        for step in Step.objects.filter(Q(status__in=done) | Q(reused=True), run_id=self.run_id):
            key = (step.node_id, step.iteration)
            if step.status in done:
                finished[key] = _record_of(step)
            if step.reused:
                reused.add(key)
        self._finished, self._reused = finished, reused

    async def load_finished(self, node_id: str, iteration: str) -> StepRecord | None:
        if self._finished is None:
            await self._in_thread(self.load_existing)
        assert self._finished is not None
        found = self._finished.get((node_id, iteration))
        if found is not None:
            return found
        if self.reuse_from_run_id and node_id in self.reuse_nodes:
            return await self._in_thread(self._load_reused, node_id, iteration)  # type: ignore[no-any-return]
        return None

    def _load_reused(self, node_id: str, iteration: str) -> StepRecord | None:
        done = (StepStatus.SUCCEEDED, StepStatus.SKIPPED)
        source = Step.objects.filter(
            run_id=self.reuse_from_run_id, node_id=node_id, iteration=iteration, status__in=done
        ).first()
        return None if source is None else self._copy_reused(source)

    def _copy_reused(self, source: Step) -> StepRecord:
        """Copy a parent run's finished step into this run (rerun from a node): no call is made."""
        key = (source.node_id, source.iteration)
        with transaction.atomic():
            seq = self._fence_and_next_seq()
            step = self._upsert(source.node_id, source.iteration, {
                "node_type": source.node_type, "label": source.label, "status": source.status,
                "inputs": source.inputs, "outputs": source.outputs, "reused": True,
                "input_tokens": 0, "output_tokens": 0, "cost_usd": Decimal("0"),
                "started_at": timezone.now(), "finished_at": timezone.now(), "duration_ms": 0.0,
                "attempt": self.attempt, "meta": {"reused_from_step": source.pk},
            })
            event_record(run_id=self.run_id, seq=seq, type="step.finished", payload=_finished_payload(step))
        record = _record_of(step)
        self._reused.add(key)
        self._remember(step)
        return record

    async def step_started(self, record: StepRecord) -> None:
        await self._in_thread(self._step_started, self._redacted(record))

    def _step_started(self, record: StepRecord) -> None:
        with transaction.atomic():
            seq = self._fence_and_next_seq()
            step = self._upsert(record.node_id, record.iteration, {
                "node_type": record.node_type, "label": self.labels.get(record.node_id, record.node_id),
                "status": StepStatus.RUNNING, "inputs": _jsonable(record.inputs), "outputs": {},
                "error": "", "error_code": "", "started_at": record.started_at or timezone.now(),
                "finished_at": None, "attempt": self.attempt, "meta": _jsonable(record.meta),
            })
            self.step_ids[(record.node_id, record.iteration)] = step.pk
            event_record(
                run_id=self.run_id, seq=seq, type="step.started",
                payload={"step_id": step.pk, "node_id": step.node_id, "iteration": step.iteration,
                         "node_type": step.node_type, "label": step.label, "status": "running",
                         "inputs": step.inputs},
            )
        self._remember(step)

    async def step_finished(self, record: StepRecord) -> None:
        await self._in_thread(self._step_finished, self._redacted(record))

    def _redacted(self, record: StepRecord) -> StepRecord:
        return record if self.redactor is None else redact_step_record(self.redactor, record)

    def _step_finished(self, record: StepRecord) -> None:
        with transaction.atomic():
            seq = self._fence_and_next_seq(
                input_tokens=record.input_tokens, output_tokens=record.output_tokens,
                cost_usd=record.cost_usd, count_usage=True,
            )
            step = self._upsert(record.node_id, record.iteration, {
                "node_type": record.node_type, "label": self.labels.get(record.node_id, record.node_id),
                "status": record.status, "inputs": _jsonable(record.inputs), "outputs": _jsonable(record.outputs),
                "error": record.error, "error_code": record.error_code,
                "input_tokens": record.input_tokens, "output_tokens": record.output_tokens,
                "cost_usd": record.cost_usd, "started_at": record.started_at or timezone.now(),
                "finished_at": record.finished_at or timezone.now(), "duration_ms": record.duration_ms,
                "attempt": self.attempt, "meta": _jsonable(record.meta),
            })
            self.step_ids[(record.node_id, record.iteration)] = step.pk
            event_record(run_id=self.run_id, seq=seq, type="step.finished", payload=_finished_payload(step))
        self._remember(step)

    def _upsert(self, node_id: str, iteration: str, values: dict[str, Any]) -> Step:
        """Insert or update the (run, node, iteration) row with ``values`` in one statement.

        Columns not in ``values`` keep their stored value (a new row gets the
        model defaults), as ``update_or_create`` would; the returned instance
        has its pk and, from this store's knowledge, ``reused``.
        """
        step = Step(run_id=self.run_id, node_id=node_id, iteration=iteration, **values)
        Step.objects.bulk_create(
            [step], update_conflicts=True, unique_fields=["run", "node_id", "iteration"], update_fields=list(values)
        )
        if "reused" not in values:
            step.reused = (node_id, iteration) in self._reused
        return step

    def _remember(self, step: Step) -> None:
        """Keep :meth:`load_finished`'s view equal to the committed row."""
        if self._finished is None:
            return
        key = (step.node_id, step.iteration)
        if step.status in (StepStatus.SUCCEEDED, StepStatus.SKIPPED):
            self._finished[key] = _record_of(step)
        else:
            self._finished.pop(key, None)

    def _fence_and_next_seq(self, *, input_tokens: int = 0, output_tokens: int = 0,
                            cost_usd: Decimal | None = Decimal("0"), count_usage: bool = False) -> int:
        """Check the fence, allocate the next event seq and (``count_usage``) add a step's usage to the run
        — one statement, :func:`agents.events.event_seq_next`. Raises :class:`Fenced`."""
        usage = (input_tokens, output_tokens, cost_usd) if count_usage else None
        return event_seq_next(self.run_id, attempt=self.attempt, usage=usage)


def _finished_payload(step: Step) -> dict[str, Any]:
    return {
        "step_id": step.pk, "node_id": step.node_id, "iteration": step.iteration, "node_type": step.node_type,
        "label": step.label, "status": step.status, "outputs": step.outputs, "error": step.error,
        "input_tokens": step.input_tokens, "output_tokens": step.output_tokens,
        "cost_usd": _money(step.cost_usd), "duration_ms": round(step.duration_ms, 1), "reused": step.reused,
    }


def _record_of(step: Step) -> StepRecord:
    return StepRecord(
        node_id=step.node_id, node_type=step.node_type, iteration=step.iteration, status=step.status,  # type: ignore[arg-type]
        inputs=step.inputs, outputs=step.outputs, error=step.error, error_code=step.error_code,
        input_tokens=step.input_tokens, output_tokens=step.output_tokens, cost_usd=step.cost_usd,
        started_at=step.started_at, finished_at=step.finished_at, duration_ms=step.duration_ms,
        attempt=step.attempt, meta=step.meta,
    )


def _jsonable(value: Any) -> Any:
    """Make engine values JSON-storable (Decimals → str, tuples → lists)."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return value


@dataclass
class GatewayLLMClient:
    """``LLMClient`` over ``traces.gateway``: resolves endpoint slugs in the run's project."""

    project_id: int
    run_id: int
    trace_id: int | None
    steps: DjangoStepStore
    endpoints: dict[str, ModelEndpoint] = field(default_factory=dict)
    replay: str = ""  # the run's ReplayMode: passed to every call (suite case runs; traces.replay)
    _listening: bool = False
    _listening_checked_at: float = float("-inf")

    async def _someone_listens(self) -> bool:
        """Whether the run has live listeners (asked at most every :data:`LISTENER_CHECK_S` seconds)."""
        now = time.monotonic()
        if now - self._listening_checked_at >= LISTENER_CHECK_S:
            self._listening_checked_at = now
            self._listening = await alistening(self.run_id)
        return self._listening

    async def complete(self, request: LLMRequest) -> LLMResponse:
        """Call the model through the gateway; streamed (token events) only while someone watches the run.

        Streaming costs CPU per chunk for nothing when no page or SSE client
        listens; the answer is the same either way.
        """
        on_token = request.on_token if request.on_token is not None and await self._someone_listens() else None
        endpoint = await self._endpoint(request.endpoint)
        context = gateway.SpanContext(
            project_id=self.project_id, trace_id=self.trace_id, run_id=self.run_id,
            step_id=self.steps.step_ids.get((request.node_id, request.iteration)),
            node_id=request.node_id, name=request.node_id, replay=self.replay,
        )
        try:
            result = await gateway.complete(
                endpoint=endpoint, messages=request.messages, schema=request.schema, tools=request.tools,
                params=request.params, context=context, prompt_version_id=request.prompt_version_id,
                on_token=on_token,
            )
        except gateway.GatewayError as exc:
            raise LLMError(str(exc), transient=exc.transient, code=exc.code) from exc
        return LLMResponse(
            text=result.text, input_tokens=result.input_tokens, output_tokens=result.output_tokens,
            cached_tokens=result.cached_tokens, cost_usd=result.cost_usd, latency_ms=result.latency_ms,
            tool_calls=[ToolCall(id=c.id, name=c.name, arguments=c.arguments) for c in result.tool_calls],
            span_id=result.span_id,
        )

    async def _endpoint(self, slug: str) -> ModelEndpoint:
        if slug not in self.endpoints:
            found = await ModelEndpoint.objects.select_related("api_key_secret").filter(
                project_id=self.project_id, slug=slug, is_active=True
            ).afirst()
            if found is None:
                raise LLMError(f'Model endpoint "{slug}" does not exist in this project.', code="unknown_endpoint")
            self.endpoints[slug] = found
        return self.endpoints[slug]


@dataclass
class DjangoPromptStore:
    project_id: int

    async def get_prompt(self, ref: PromptRef) -> PromptSpec:
        """A label goes through ``prompts.cache`` (in-process, Redis, PostgreSQL; pushed invalidation);
        a pinned version (immutable) is read from PostgreSQL."""
        if ref.version is None:
            label = ref.label or "production"
            found = label_cache().get_local(self.project_id, ref.slug, label)
            if found is None:
                found = await sync_to_async(prompt_label_resolve)(
                    project_id=self.project_id, slug=ref.slug, label=label
                )
            return PromptSpec(
                version_id=found.version_id, version=found.version, messages=list(found.messages),
                variables=list(found.variables), model_config=dict(found.model_config),
            )
        version = await sync_to_async(prompt_version_resolve)(
            project_id=self.project_id, slug=ref.slug, version=ref.version
        )
        return PromptSpec(
            version_id=version.pk, version=version.version, messages=list(version.messages),
            variables=list(version.variables), model_config=dict(version.model_config),
        )


@dataclass
class ChannelEventSink:
    """Ephemeral events (token deltas) straight to the run's group, not stored."""

    run_id: int

    async def emit(self, type: str, payload: dict[str, Any]) -> None:
        if type == "step.token" and isinstance(payload.get("tokens"), list):
            # The engine batches deltas of every step; clients get one message per step.
            for delta in payload["tokens"]:
                await abroadcast(self.run_id, {"run_id": self.run_id, "seq": None, "type": type, "payload": delta})
            return
        await abroadcast(self.run_id, {"run_id": self.run_id, "seq": None, "type": type, "payload": payload})


class SystemClock:
    def now(self) -> dt.datetime:
        return timezone.now()

    def monotonic(self) -> float:
        return time.monotonic()


@dataclass
class DbRunControl:
    """Cancel flag and fence, read from the run row (at most every 0.25 s)."""

    run_id: int
    attempt: int
    _checked_at: float = 0.0
    _cancelled: bool = False

    async def is_cancelled(self) -> bool:
        now = time.monotonic()
        if not self._cancelled and now - self._checked_at >= 0.25:
            self._checked_at = now
            row = await Run.objects.filter(pk=self.run_id).values_list("cancel_requested", "attempt").afirst()
            self._cancelled = row is None or bool(row[0]) or row[1] != self.attempt
        return self._cancelled


# --------------------------------------------------------------------------- the run


def run_claim(run_id: int, *, respect_cap: bool = True) -> Run | None:
    """Atomically take a run for execution; None if it is not claimable.

    Claimable: ``queued``, or ``running`` with an expired lease (its worker
    died). Bumps ``attempt`` (the fence) and sets a fresh lease.
    ``respect_cap=False`` skips the project's running-runs cap (a child
    sub-workflow runs in its parent's place; waiting there could deadlock).
    """
    now = timezone.now()
    with transaction.atomic():
        claimable = Q(status=RunStatus.QUEUED) | Q(status=RunStatus.RUNNING, lease_expires_at__lt=now)
        # The run row first, then the project's (the cap): the order every writer uses (approval_decide,
        # run_cancel lock the run, then touch the project) — the other order deadlocks with them.
        candidate = (
            Run.objects.select_for_update().filter(claimable, pk=run_id).values_list("project_id", "status").first()
        )
        if candidate is None:
            return None
        project_id, status = candidate
        if respect_cap and status == RunStatus.QUEUED and not _project_has_room(project_id):
            return None  # over the project's cap: it is dispatched again when one of its runs ends
        updated = Run.objects.filter(claimable, pk=run_id).update(
            status=RunStatus.RUNNING, attempt=F("attempt") + 1, lease_expires_at=_lease_until(),
        )
        if not updated:
            return None
        run = Run.objects.select_related("workflow").get(pk=run_id)
        if run.started_at is None:
            run.started_at = now
            run.save(update_fields=["started_at"])
        if run.attempt > MAX_ATTEMPTS:
            _finish(run, status=RunStatus.FAILED, error=f"The run's worker was lost {MAX_ATTEMPTS} times; giving up.",
                    error_code="worker_lost")
            return None
        event_append(run_id=run.pk, type="run.started", payload={"status": "running", "attempt": run.attempt})
        return run


def _close_open_steps(run: Run, *, status: str) -> None:
    """Steps still ``running`` when the run ends were interrupted (cancel, budget, a failed sibling)."""
    reason = "cancelled" if status == RunStatus.CANCELLED else "interrupted"
    for step in Step.objects.filter(run=run, status=StepStatus.RUNNING):
        step.status = StepStatus.FAILED
        step.error = f"The step was {reason} when the run ended ({status})."
        step.error_code = reason
        step.finished_at = timezone.now()
        if step.started_at:
            step.duration_ms = (step.finished_at - step.started_at).total_seconds() * 1000
        step.save(update_fields=["status", "error", "error_code", "finished_at", "duration_ms"])
        event_append(run_id=run.pk, type="step.finished", payload=_finished_payload(step))


def _project_has_room(project_id: int) -> bool:
    """Whether the project runs fewer runs than its cap (locks the project row: no two claims race)."""
    cap = Project.objects.select_for_update().filter(pk=project_id).values_list("max_running_runs", flat=True).first()
    running = Run.objects.filter(project_id=project_id, status=RunStatus.RUNNING).count()
    return cap is None or running < cap


def _dispatch_next_queued(project_id: int) -> None:
    """After a run of the project ends, hand its oldest queued run to a worker (fair per-project queues)."""
    next_id = (
        Run.objects.filter(project_id=project_id, status=RunStatus.QUEUED).order_by("created_at", "id")
        .values_list("pk", flat=True).first()
    )
    if next_id is not None:
        transaction.on_commit(lambda: run_dispatch(next_id))


def _finish(run: Run, *, status: str, outputs: dict[str, Any] | None = None, error: str = "",
            error_code: str = "", failed_node: str = "") -> bool:
    """Write the terminal (or waiting) state, fenced by attempt. Returns False if fenced out."""
    redactor = run_redactor(run_id=run.pk, project_id=run.project_id)
    outputs, error = redactor.value(outputs or {}), redactor.text(error)
    now = timezone.now()
    updated = Run.objects.filter(pk=run.pk, attempt=run.attempt, status=RunStatus.RUNNING).update(
        status=status, outputs=_jsonable(outputs or {}), error=error, error_code=error_code,
        failed_node=failed_node or "", finished_at=now if status != RunStatus.WAITING else None,
        lease_expires_at=None,
    )
    if not updated:
        return False
    run.refresh_from_db()
    if status != RunStatus.WAITING:
        _close_open_steps(run, status=status)
    _dispatch_next_queued(run.project_id)
    if status != RunStatus.WAITING and run.cost_usd:
        project_id = run.project_id
        transaction.on_commit(lambda: budget_alerts_after_run(project_id))
    if status != RunStatus.WAITING and export_enabled():  # OTLP export: off unless configured
        finished_id = run.pk
        transaction.on_commit(lambda: export_run_tree(finished_id))
    event_append(
        run_id=run.pk, type="run.finished" if status != RunStatus.WAITING else "run.waiting",
        payload={"status": status, "outputs": run.outputs, "error": error, "error_code": error_code,
                 "failed_node": failed_node, "input_tokens": run.input_tokens, "output_tokens": run.output_tokens,
                 "cost_usd": _money(run.cost_usd), "cost_unknown": run.cost_unknown,
                 "duration_ms": run.duration_ms},
    )
    return True


def run_finish(run: Run, result: RunResult) -> bool:
    """Record an engine result on the run (atomic, fenced)."""
    with transaction.atomic():
        return _finish(run, status=result.status, outputs=result.outputs, error=result.error,
                       error_code=result.error_code, failed_node=result.failed_node or "")


def run_fail(run: Run, *, error: str, error_code: str) -> bool:
    with transaction.atomic():
        return _finish(run, status=RunStatus.FAILED, error=error, error_code=error_code)


async def _renew_lease(run_id: int, attempt: int) -> None:
    interval = max(1.0, settings.STUDIO_RUN_LEASE_SECONDS / 3)
    while True:
        await asyncio.sleep(interval)
        await Run.objects.filter(pk=run_id, attempt=attempt, status=RunStatus.RUNNING).aupdate(
            lease_expires_at=_lease_until()
        )


async def run_execute(run_id: int, *, child: bool = False) -> str | None:
    """Claim run ``run_id`` and execute it to a terminal (or waiting) state — what a Celery task,
    the quickstart executor and a ``subworkflow`` step (``child=True``) call.

    Idempotent: returns None without doing anything when the run is not
    claimable (already running elsewhere, finished, or unknown). A child run
    is claimed without the project's running-runs cap (it runs in its
    parent's place; waiting there could deadlock). Otherwise see
    :func:`execute_claimed`.
    """
    run = await sync_to_async(run_claim)(run_id, respect_cap=not child)
    if run is None:
        return None
    return await execute_claimed(run, child=child)


async def execute_claimed(run: Run, *, child: bool = False) -> str | None:
    """Execute a run this worker has claimed (:func:`run_claim`): the one owner of a run's execution.

    Renews the lease while it works, writes steps from extra database threads
    for parallel branches, bounds the run by its time limit (``timeout_s``,
    counted from its first start: ``run_timeout``) and by its budget less
    what earlier attempts spent. Returns the status written, or None when a
    newer attempt fenced this one out. Never leaves the run in ``running``
    on an error of ours: it is recorded as ``failed`` with code
    ``engine_error``. Cancelled (``asyncio.CancelledError``): a child run is
    cancelled with its calling step; a top-level run is left to its lease
    (the process is going away: the sweeper resumes it).
    """
    runtime = await sync_to_async(_build_runtime)(run)
    renew = asyncio.create_task(_renew_lease(run.pk, run.attempt))
    threads = RunDbThreads.for_run(run)
    assert isinstance(runtime.steps, DjangoStepStore)
    runtime.steps.db = threads
    db_runner = gateway.db_runner.set(threads.call)
    try:
        try:
            result = await asyncio.wait_for(
                execute_graph(run.graph, run.inputs, runtime, max_concurrency=run.max_concurrency,
                              budget=_remaining_budget(run),
                              allowed_hosts=await sync_to_async(egress_allowed_hosts)(run.project_id),
                              variables=await sync_to_async(variable_values)(run.project_id)),
                timeout=_seconds_left(run),
            )
        except TimeoutError:
            written = await sync_to_async(run_fail)(
                run, error=f"The run exceeded its time limit of {run.timeout_s} s.", error_code="run_timeout"
            )
            return RunStatus.FAILED if written else None
        written = await sync_to_async(run_finish)(run, result)
        return result.status if written else None
    except Fenced:
        log.warning("run %s: attempt %s superseded; stopping", run.pk, run.attempt)
        return None
    except asyncio.CancelledError:
        if child:
            await asyncio.shield(sync_to_async(_cancel_child)(run))
        raise
    except Exception as exc:
        log.exception("run %s failed inside the runtime", run.pk)
        await sync_to_async(run_fail)(run, error=f"Internal error: {type(exc).__name__}: {exc}",
                                      error_code="engine_error")
        return RunStatus.FAILED
    finally:
        renew.cancel()
        gateway.db_runner.reset(db_runner)
        threads.close()


def _cancel_child(run: Run) -> None:
    """The step that called child run ``run`` was cancelled (its parent stopped): cancel the child."""
    with transaction.atomic():
        Run.objects.filter(pk=run.pk).update(cancel_requested=True)
        _finish(run, status=RunStatus.CANCELLED, error="The calling run stopped.", error_code="cancelled")


def _seconds_left(run: Run) -> float | None:
    """Seconds the run may still take (its limit counts from its first start), None for no limit."""
    if not run.timeout_s:
        return None
    elapsed = (timezone.now() - (run.started_at or timezone.now())).total_seconds()
    return max(0.0, run.timeout_s - elapsed)


def _remaining_budget(run: Run) -> Budget:
    """The run's budget less what earlier attempts already spent (the engine counts one execution)."""
    spent_tokens = run.input_tokens + run.output_tokens
    return Budget(
        max_tokens=None if run.budget_tokens is None else max(0, run.budget_tokens - spent_tokens),
        max_cost_usd=None if run.budget_usd is None else max(Decimal("0"), run.budget_usd - run.cost_usd),
    )


def _build_runtime(run: Run) -> Runtime:
    if run.trace_id is None:
        trace = trace_start(project_id=run.project_id, run_id=run.pk, name=f"{run.workflow.slug} run {run.pk}",
                            session_id=run.session_id)
        Run.objects.filter(pk=run.pk).update(trace_id=trace.pk)
        run.trace_id = trace.pk
    labels = {node.get("id", ""): node.get("label") or node.get("id", "") for node in run.graph.get("nodes", [])}
    reuse_nodes: frozenset[str] = frozenset()
    if run.parent_run_id and run.rerun_from_node:
        reuse_nodes = frozenset(not_downstream(run.graph, run.rerun_from_node))
    redactor = run_redactor(run_id=run.pk, project_id=run.project_id)
    steps = DjangoStepStore(run_id=run.pk, attempt=run.attempt, labels=labels,
                            reuse_from_run_id=run.parent_run_id, reuse_nodes=reuse_nodes, redactor=redactor)
    steps.load_existing()
    return wrap_effects(redactor, Runtime(
        llm=GatewayLLMClient(project_id=run.project_id, run_id=run.pk, trace_id=run.trace_id, steps=steps,
                             replay=run.replay),
        steps=steps,
        events=ChannelEventSink(run_id=run.pk),
        prompts=DjangoPromptStore(project_id=run.project_id),
        clock=SystemClock(),
        control=DbRunControl(run_id=run.pk, attempt=run.attempt),
        http=GuardedHttpClient(project_id=run.project_id, run_id=run.pk, attempt=run.attempt),
        secrets=DjangoSecretStore(project_id=run.project_id, run_id=run.pk),
        approvals=DjangoApprovalGate(run_id=run.pk),
        subworkflows=DjangoSubworkflowRunner(run_id=run.pk, project_id=run.project_id, attempt=run.attempt,
                                             execute=_execute_child),
        mcp=DjangoMcpClient(project_id=run.project_id),
        max_step_output_bytes=settings.STUDIO_MAX_STEP_OUTPUT_BYTES,
    ))


async def _execute_child(run_id: int) -> str | None:
    """How a ``subworkflow`` step executes its child run: :func:`run_execute` with ``child=True``."""
    return await run_execute(run_id, child=True)
