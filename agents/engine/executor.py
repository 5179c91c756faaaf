"""Run a workflow graph: :func:`execute_graph`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable, Mapping
from typing import Any

from agents.engine.errors import GraphValidationError, InputValidationError
from agents.engine.graph import check_graph, check_inputs
from agents.engine.run import Budget, RunResult, Runtime
from agents.engine.runstate import BudgetExceeded, RunCancelled, RunState
from agents.engine.scheduler import GraphExecution
from agents.engine.templating import project_variables

__all__ = ["Budget", "RunResult", "Runtime", "execute_graph"]

logger = logging.getLogger(__name__)

#: Seconds between two ``RunControl.is_cancelled`` polls while steps run.
CANCEL_POLL_S = 0.25


async def _watch_cancel(run: RunState, main: asyncio.Task[Any]) -> None:
    while not main.done():
        try:
            cancelled = await run.runtime.control.is_cancelled()
        except Exception:  # a flaky control must not kill the run
            logger.exception("RunControl.is_cancelled failed")
            cancelled = False
        if cancelled:
            run.cancel_requested = True
            main.cancel()
            return
        await asyncio.sleep(CANCEL_POLL_S)


def _result(run: RunState, **fields: Any) -> RunResult:
    usage = run.usage
    return RunResult(
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        cost_usd=usage.cost_usd,
        cost_unknown=usage.cost_unknown,
        **fields,
    )


async def execute_graph(
    graph: dict[str, Any],
    inputs: dict[str, Any],
    runtime: Runtime,
    *,
    max_concurrency: int = 4,
    budget: Budget | None = None,
    allowed_hosts: Iterable[str] = (),
    variables: Mapping[str, Any] | None = None,
) -> RunResult:
    """Run ``graph`` (a graph document) on ``inputs`` and return its
    :class:`RunResult`. ``allowed_hosts``: private hosts an admin allowed
    (the static SSRF check lets them through; the HttpClient re-checks).
    ``variables``: the project's variables (name → value), ``{{ vars.<name> }}``
    in every template and condition of the run.

    Nodes run as soon as every node they depend on has finished;
    independent branches run concurrently, at most ``max_concurrency`` model
    or effect steps at a time. A step already finished in ``runtime.steps``
    with the same inputs is reused without running (resume, rerun from a
    node). The first failed step fails the run (other running steps are
    cancelled); ``runtime.control`` is polled every 0.25 s and between steps
    (status ``cancelled``); crossing ``budget`` stops the run at once
    (``failed``/``budget_exceeded``); a step waiting for a human makes the
    run ``waiting`` once every independent branch has finished.

    Never raises except ``asyncio.CancelledError`` when the calling task is
    itself cancelled: an invalid graph is ``failed``/``invalid_graph``,
    invalid inputs ``failed``/``invalid_inputs`` (no step runs), any other
    error ``failed``/``engine_error``.
    """
    run = RunState(runtime, max_concurrency=max_concurrency, budget=budget)
    try:
        doc = check_graph(graph, allowed_hosts=allowed_hosts)
    except GraphValidationError as exc:
        return _result(run, status="failed", error=str(exc), error_code="invalid_graph")
    except Exception as exc:
        logger.exception("graph check failed")
        return _result(run, status="failed", error=f"Engine error: {exc}", error_code="engine_error")
    try:
        values = check_inputs(doc, inputs)
    except InputValidationError as exc:
        return _result(run, status="failed", error="Invalid inputs: " + str(exc), error_code="invalid_inputs")

    execution = GraphExecution(run, doc, id_prefix="", iteration="", inputs=values, parent_holds_slot=False)
    with project_variables(variables):  # the task copies the context: every step of the run sees them
        main = asyncio.create_task(execution.execute())
    watcher = asyncio.create_task(_watch_cancel(run, main))
    try:
        outcome = await main
    except asyncio.CancelledError:
        current = asyncio.current_task()
        if (current is not None and current.cancelling()) or not run.cancel_requested:
            raise
        return _result(run, status="cancelled", error="The run was cancelled.", error_code="cancelled")
    except RunCancelled:
        return _result(run, status="cancelled", error="The run was cancelled.", error_code="cancelled")
    except BudgetExceeded as exc:
        return _result(
            run,
            status="failed",
            error=exc.message,
            error_code=exc.code,
            failed_node=exc.node_id.split(".")[0] if exc.node_id else None,
        )
    except Exception as exc:
        logger.exception("engine error")
        return _result(
            run, status="failed", error=f"Engine error: {type(exc).__name__}: {exc}", error_code="engine_error"
        )
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
        with contextlib.suppress(Exception):
            await run.streamer.close()

    if outcome.status == "failed":
        failed = outcome.node_id.split(".")[0] if outcome.node_id else None
        return _result(
            run,
            status="failed",
            error=outcome.error,
            error_code=outcome.error_code,
            failed_node=failed,
        )
    if outcome.status == "waiting":
        return _result(run, status="waiting")
    return _result(run, status="succeeded", outputs=outcome.outputs)
