"""State shared by every step of one run: usage, budget, token streaming."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from agents.engine.protocols import Clock, EventSink
from agents.engine.run import Budget, Runtime

#: At most one ``step.token`` event per this many seconds per run (~20/s).
TOKEN_EVENT_INTERVAL_S = 0.05


class RunStop(Exception):
    """Stops the whole run at once; never handled by a node's ``on_error``."""

    code = "run_stopped"

    def __init__(self, message: str, node_id: str | None = None):
        super().__init__(message)
        self.message = message
        self.node_id = node_id


class BudgetExceeded(RunStop):
    """The run's tokens or cost went above its :class:`Budget`."""

    code = "budget_exceeded"


class BudgetUnpriced(BudgetExceeded):
    """A model call had no known price while the run has a USD budget: the
    budget could not be enforced, so the run stops at that call."""

    code = "budget_unpriced"


class RunCancelled(RunStop):
    """Somebody cancelled the run (seen between steps)."""

    code = "cancelled"


@dataclass
class Usage:
    """Tokens and cost (USD) of some model calls. ``cost_unknown`` is set as
    soon as one call had no known price; that call adds nothing to
    ``cost_usd``."""

    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: Decimal = Decimal("0")
    cost_unknown: bool = False

    def add(self, input_tokens: int, output_tokens: int, cost_usd: Decimal | None) -> None:
        """Count one call (``cost_usd`` None = unknown price)."""
        self.input_tokens += input_tokens
        self.output_tokens += output_tokens
        if cost_usd is None:
            self.cost_unknown = True
        else:
            self.cost_usd += cost_usd

    @property
    def recorded_cost(self) -> Decimal | None:
        """The cost to store on a step: ``None`` when any part is unknown."""
        return None if self.cost_unknown else self.cost_usd


class TokenStreamer:
    """Coalesces ``on_token`` deltas of all the run's steps into ``step.token``
    events, at most one per :data:`TOKEN_EVENT_INTERVAL_S`. Payload:
    ``{"tokens": [{"node_id", "iteration", "text"}, ...]}``."""

    def __init__(self, events: EventSink, clock: Clock, interval_s: float = TOKEN_EVENT_INTERVAL_S):
        self._events = events
        self._clock = clock
        self._interval = interval_s
        self._buffers: dict[tuple[str, str], list[str]] = {}
        self._last = float("-inf")
        self._pending: asyncio.Task[None] | None = None

    def callback(self, node_id: str, iteration: str) -> Any:
        """An ``on_token`` coroutine function for one step."""

        async def on_token(delta: str) -> None:
            await self.push(node_id, iteration, delta)

        return on_token

    async def push(self, node_id: str, iteration: str, delta: str) -> None:
        """Buffer ``delta``; emit now if the interval has passed, else later."""
        if not delta:
            return
        self._buffers.setdefault((node_id, iteration), []).append(delta)
        wait = self._last + self._interval - self._clock.monotonic()
        if wait <= 0:
            await self.flush()
        elif self._pending is None or self._pending.done():
            self._pending = asyncio.create_task(self._flush_later(wait))

    async def _flush_later(self, wait: float) -> None:
        await asyncio.sleep(wait)
        await self.flush()

    async def flush(self) -> None:
        """Emit everything buffered as one event (nothing if empty)."""
        if not self._buffers:
            return
        buffers, self._buffers = self._buffers, {}
        self._last = self._clock.monotonic()
        tokens = [
            {"node_id": node_id, "iteration": iteration, "text": "".join(parts)}
            for (node_id, iteration), parts in buffers.items()
        ]
        await self._events.emit("step.token", {"tokens": tokens})

    async def close(self) -> None:
        """Cancel a scheduled flush and emit what is left."""
        if self._pending is not None and not self._pending.done():
            self._pending.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pending
        await self.flush()


class RunState:
    """One :func:`execute_graph` call: runtime, concurrency slots, usage,
    budget and the token streamer."""

    def __init__(self, runtime: Runtime, *, max_concurrency: int, budget: Budget | None):
        self.runtime = runtime
        self.budget = budget or Budget()
        self.slots = asyncio.Semaphore(max(1, max_concurrency))
        self.usage = Usage()
        self.streamer = TokenStreamer(runtime.events, runtime.clock)
        self.cancel_requested = False

    def charge(self, input_tokens: int, output_tokens: int, cost_usd: Decimal | None, node_id: str, node: str) -> None:
        """Count usage for the run, then raise :class:`BudgetExceeded` if it
        went above the budget (``node`` describes the step for the message).

        A call with no known price (``cost_usd`` None) under a USD budget
        raises :class:`BudgetUnpriced` (``budget_unpriced``): an unknown cost
        is never counted as $0, so the budget could not be kept."""
        self.usage.add(input_tokens, output_tokens, cost_usd)
        if cost_usd is None and self.budget.max_cost_usd is not None:
            raise BudgetUnpriced(
                f"Cost budget cannot be enforced at {node}: the model call has no known price "
                f"(set the endpoint's prices, or remove the run's USD budget of ${self.budget.max_cost_usd}).",
                node_id,
            )
        self.check_budget(node_id, node)

    def check_budget(self, node_id: str, node: str) -> None:
        """Raise :class:`BudgetExceeded` when the run is above its budget."""
        used = self.usage.input_tokens + self.usage.output_tokens
        limit = self.budget.max_tokens
        if limit is not None and used > limit:
            raise BudgetExceeded(
                f"Token budget exceeded at {node}: {used} tokens used, the limit is {limit}.",
                node_id,
            )
        cost_limit = self.budget.max_cost_usd
        if cost_limit is not None and self.usage.cost_usd > cost_limit:
            raise BudgetExceeded(
                f"Cost budget exceeded at {node}: ${self.usage.cost_usd} used, the limit is ${cost_limit}.",
                node_id,
            )
