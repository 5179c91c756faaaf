"""The ready-queue scheduler of a (sub-)graph.

A node becomes ready when every node it has an incoming edge from is
finished. Ready nodes run as asyncio tasks; leaf nodes take one of the run's
``max_concurrency`` slots while they run (containers don't, their children
do). See ``README.md`` for the skip rules.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, Literal

from agents.engine.graph import (
    EdgeDoc,
    GraphDoc,
    NodeDoc,
    describe_node,
    node_ports,
    topological_order,
)
from agents.engine.nodes import get_node_type
from agents.engine.protocols import StepRecord
from agents.engine.runstate import RunState
from agents.engine.steps import StepOutcome, StepSpec, execute_step


@dataclass
class _Plan:
    action: Literal["run", "skip", "fail"]
    inputs: dict[str, Any] = field(default_factory=dict)
    error: str = ""


class GraphExecution:
    """Runs one (sub-)graph to the end: ``execute()`` returns a
    :class:`StepOutcome` for the whole graph whose outputs are the output
    node's values. Node ids are prefixed with ``id_prefix`` and iterations
    set to ``iteration`` for every step."""

    def __init__(
        self,
        run: RunState,
        graph: GraphDoc,
        *,
        id_prefix: str,
        iteration: str,
        inputs: dict[str, Any],
        parent_holds_slot: bool,
    ):
        self.run = run
        self.graph = graph
        self.prefix = id_prefix
        self.iteration = iteration
        self.inputs = inputs
        self.parent_holds_slot = parent_holds_slot
        self.nodes = {n.id: n for n in graph.nodes}
        self.order = topological_order(graph)
        self.incoming: dict[str, list[EdgeDoc]] = {n: [] for n in self.nodes}
        for edge in graph.edges:
            self.incoming[edge.target].append(edge)
        self.outcomes: dict[str, StepOutcome] = {}

    def _spec(self, node: NodeDoc, inputs: dict[str, Any]) -> StepSpec:
        node_type = get_node_type(node.type)
        assert node_type is not None  # the graph was checked
        in_sig, out_sig = node_ports(node)
        return StepSpec(
            node_id=self.prefix + node.id,
            label=node.label,
            node_type=node_type,
            config=node_type.parse_config(node.config),
            iteration=self.iteration,
            inputs=inputs,
            input_signature=in_sig,
            output_signature=out_sig,
            parent_holds_slot=self.parent_holds_slot,
            validate_inputs=node.type != "input",
        )

    def _plan(self, node: NodeDoc) -> _Plan:
        if node.type == "input":
            return _Plan("run", dict(self.inputs))
        edges = self.incoming[node.id]
        inputs: dict[str, Any] = {}
        inactive: list[str] = []
        for edge in edges:
            source = self.outcomes[edge.source]
            if source.status == "succeeded" and edge.source_port in source.outputs:
                inputs[edge.target_port] = source.outputs[edge.source_port]
            else:
                inactive.append(edge.target_port)
        if not edges or not inactive:
            return _Plan("run", inputs)
        node_type = get_node_type(node.type)
        assert node_type is not None
        if node_type.runs_on_any_input:
            return _Plan("skip") if len(inactive) == len(edges) else _Plan("run", inputs)
        required = set(node_ports(node)[0].required_names())
        starved = [port for port in inactive if port in required]
        if node.type == "output" and starved:
            names = ", ".join(f'"{p}"' for p in starved)
            return _Plan(
                "fail",
                error=f"Node {describe_node(node)} received no value for {names}: "
                "the branch feeding it was skipped. Merge branches with a join node.",
            )
        if len(inactive) == len(edges) or starved:
            return _Plan("skip")
        return _Plan("run", inputs)

    async def _skip(self, node: NodeDoc) -> StepOutcome:
        node_id = self.prefix + node.id
        steps = self.run.runtime.steps
        stored = await steps.load_finished(node_id, self.iteration)
        if stored is None or stored.status != "skipped":
            now = self.run.runtime.clock.now()
            await steps.step_finished(
                StepRecord(
                    node_id=node_id,
                    node_type=node.type,
                    iteration=self.iteration,
                    status="skipped",
                    started_at=now,
                    finished_at=now,
                )
            )
        return StepOutcome("skipped", node_id)

    async def execute(self) -> StepOutcome:
        """Run the graph. Raises :class:`RunStop` and ``CancelledError``."""
        remaining = list(self.order)
        blocked: set[str] = set()
        waiting = False
        running: dict[asyncio.Task[StepOutcome], str] = {}
        try:
            while True:
                progressed = True
                while progressed:
                    progressed = False
                    for node_id in list(remaining):
                        upstream = {e.source for e in self.incoming[node_id]}
                        if upstream & blocked:
                            blocked.add(node_id)
                            remaining.remove(node_id)
                            progressed = True
                            continue
                        if not upstream <= self.outcomes.keys():
                            continue
                        remaining.remove(node_id)
                        progressed = True
                        node = self.nodes[node_id]
                        plan = self._plan(node)
                        if plan.action == "fail":
                            return StepOutcome(
                                "failed", self.prefix + node_id, error=plan.error, error_code="missing_output"
                            )
                        if plan.action == "skip":
                            self.outcomes[node_id] = await self._skip(node)
                            continue
                        task = asyncio.create_task(execute_step(self.run, self._spec(node, plan.inputs)))
                        running[task] = node_id
                if not running:
                    break
                done, _ = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
                for task in sorted(done, key=lambda t: self.order.index(running[t])):
                    node_id = running.pop(task)
                    outcome = task.result()
                    if outcome.status == "failed":
                        return outcome
                    if outcome.status == "waiting":
                        waiting = True
                        blocked.add(node_id)
                    else:
                        self.outcomes[node_id] = outcome
        finally:
            for task in running:
                task.cancel()
            if running:
                await asyncio.gather(*running, return_exceptions=True)
        if waiting:
            return StepOutcome("waiting", self.prefix.rstrip("."))
        output = next((n for n in self.graph.nodes if n.type == "output"), None)
        outputs = self.outcomes[output.id].outputs if output is not None else {}
        return StepOutcome("succeeded", self.prefix.rstrip("."), dict(outputs))
