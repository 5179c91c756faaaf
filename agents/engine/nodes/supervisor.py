"""``supervisor``: plan sub-tasks, hand them to worker agents, combine."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from agents.engine.nodes.base import ConfigProblem, NodeConfig, NodeContext, NodeOutput, NodeType
from agents.engine.nodes.concurrency import run_all
from agents.engine.nodes.registry import register
from agents.engine.nodes.structured import check_endpoint, check_template, format_value
from agents.engine.signature import FieldSpec, Signature

_RESERVED = ("planner", "combine")


def _result_field() -> list[FieldSpec]:
    return [FieldSpec(name="result", description="The result")]


class Worker(BaseModel):
    """A worker agent: ``name`` (its child step is ``{supervisor}.{name}``),
    ``description`` (what the planner is told it does), ``instructions``,
    ``outputs`` (default ``result: str``), ``endpoint`` (default: the
    supervisor's) and ``params``. It receives one input, ``task: str``."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
    description: str = ""
    instructions: str = ""
    outputs: list[FieldSpec] = Field(default_factory=_result_field)
    endpoint: str = ""
    params: dict[str, Any] = Field(default_factory=dict)


def _default_inputs() -> list[FieldSpec]:
    return [FieldSpec(name="task", description="What to do")]


class SupervisorConfig(NodeConfig):
    """Each round (at most ``max_rounds``), a planner agent (child step
    ``{id}.planner``, iteration = round) writes one sub-task per worker (or
    none) and says whether it is ``done``; the workers with a sub-task run
    concurrently (child steps ``{id}.{worker}``, iteration = round). The
    rounds end when the planner is done or assigns nothing. Then a combine
    agent (``{id}.combine``) turns all results into ``outputs``."""

    endpoint: str = ""
    instructions: str = ""
    inputs: list[FieldSpec] = Field(default_factory=_default_inputs)
    outputs: list[FieldSpec] = Field(default_factory=_result_field)
    workers: list[Worker] = Field(default_factory=list)
    max_rounds: int = Field(default=2, ge=1, le=10)
    params: dict[str, Any] = Field(default_factory=dict)


def _field_dicts(fields: list[FieldSpec]) -> list[dict[str, Any]]:
    return [f.model_dump() for f in fields]


def _progress(results: list[dict[str, Any]]) -> str:
    if not results:
        return "No work done yet."
    return "\n".join(
        f"[round {r['round']}] {r['worker']} was asked: {r['task']}\nResult: {json.dumps(r['result'], default=str)}"
        for r in results
    )


@register
class SupervisorNode(NodeType):
    type = "supervisor"
    kind = "llm"
    title = "Supervisor"
    description = "Plans sub-tasks, delegates them to worker agents and combines their results."
    Config = SupervisorConfig
    container = True

    def ports(self, config: SupervisorConfig) -> tuple[Signature, Signature]:
        return Signature(config.inputs), Signature(config.outputs)

    def check(self, config: SupervisorConfig) -> list[ConfigProblem]:
        problems = check_endpoint(config.endpoint)
        inputs = Signature(config.inputs)
        problems += check_template("instructions", config.instructions, inputs)
        if not config.workers:
            problems.append(ConfigProblem("add at least one worker"))
        if not config.outputs:
            problems.append(ConfigProblem("declare at least one output field"))
        names = [w.name for w in config.workers]
        if len(set(names)) != len(names):
            problems.append(ConfigProblem("worker names must be unique"))
        for name in names:
            if name in _RESERVED or name == "done":
                problems.append(ConfigProblem(f"a worker may not be called {name!r}"))
        for reserved in ("progress", "results"):
            if reserved in inputs:
                problems.append(ConfigProblem(f"an input may not be called {reserved!r}"))
        task_only = Signature([FieldSpec(name="task")])
        for worker in config.workers:
            if not worker.outputs:
                problems.append(ConfigProblem(f"worker {worker.name!r}: declare at least one output"))
            problems += check_template(
                f"worker {worker.name!r} instructions", worker.instructions or worker.description, task_only
            )
        return problems

    async def run(self, ctx: NodeContext, inputs: dict[str, Any]) -> NodeOutput:
        config: SupervisorConfig = ctx.config
        results: list[dict[str, Any]] = []
        rounds = 0
        for round_ in range(1, config.max_rounds + 1):
            rounds = round_
            plan = await ctx.run_child(
                "planner",
                str(round_),
                "agent",
                self._planner(config),
                {**inputs, "progress": _progress(results)},
                label="Planner",
            )
            tasks = [(w, str(plan.get(w.name) or "").strip()) for w in config.workers]
            tasks = [(w, t) for w, t in tasks if t]
            if not tasks and not results:
                # A planner that assigns nothing at first: everyone gets the whole task.
                whole = "\n".join(f"{name}: {format_value(value)}" for name, value in inputs.items())
                tasks = [(w, whole) for w in config.workers]
            if not tasks:
                break
            outputs = await run_all(
                [
                    ctx.run_child(w.name, str(round_), "agent", self._worker(config, w), {"task": t}, label=w.name)
                    for w, t in tasks
                ]
            )
            results += [
                {"round": round_, "worker": w.name, "task": t, "result": out}
                for (w, t), out in zip(tasks, outputs, strict=True)
            ]
            if plan.get("done"):
                break
        final = await ctx.run_child(
            "combine", "", "agent", self._combiner(config), {**inputs, "results": _progress(results)}, label="Combine"
        )
        return ctx.result(final, rounds=rounds, subtasks=len(results))

    @staticmethod
    def _planner(config: SupervisorConfig) -> dict[str, Any]:
        team = "\n".join(f"- {w.name}: {w.description}" for w in config.workers)
        instructions = (
            (config.instructions.strip() + "\n\n" if config.instructions.strip() else "")
            + "You lead these workers:\n"
            + team.replace("{", "{{ '{' }}")
            + "\nWrite a short sub-task for each worker that is needed (empty if not)."
            " Set done to true when the work so far is enough."
        )
        outputs = [
            FieldSpec(name="done", type="bool", description="true when no more work is needed"),
            # Optional: "nothing for this worker" is an empty string, which a required text field refuses.
            *(
                FieldSpec(name=w.name, description=f"sub-task for {w.name}, or empty", required=False, default="")
                for w in config.workers
            ),
        ]
        return {
            "endpoint": config.endpoint,
            "instructions": instructions,
            "inputs": [*_field_dicts(config.inputs), {"name": "progress", "description": "Work done so far"}],
            "outputs": _field_dicts(outputs),
            "params": config.params,
        }

    @staticmethod
    def _worker(config: SupervisorConfig, worker: Worker) -> dict[str, Any]:
        return {
            "endpoint": worker.endpoint or config.endpoint,
            "instructions": worker.instructions or worker.description,
            "inputs": [{"name": "task", "description": "Your sub-task"}],
            "outputs": _field_dicts(worker.outputs),
            "params": worker.params or config.params,
        }

    @staticmethod
    def _combiner(config: SupervisorConfig) -> dict[str, Any]:
        return {
            "endpoint": config.endpoint,
            "instructions": (config.instructions.strip() + "\n\n" if config.instructions.strip() else "")
            + "Combine the workers' results into the final answer.",
            "inputs": [*_field_dicts(config.inputs), {"name": "results", "description": "The workers' results"}],
            "outputs": _field_dicts(config.outputs),
            "params": config.params,
        }
