"""``parallel``: fan out over the items of a list (or over several bodies) with
a concurrency limit, and collect the results in a defined order."""

from __future__ import annotations

import asyncio
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from agents.engine.errors import GraphValidationError
from agents.engine.nodes.base import (
    ConfigProblem,
    NodeConfig,
    NodeContext,
    NodeError,
    NodeOutput,
    NodeType,
    StepWaiting,
)
from agents.engine.nodes.body import Body, body_ports, body_problems, run_body
from agents.engine.nodes.registry import register
from agents.engine.signature import FieldSpec, Signature, is_compatible

#: Hard cap on the number of items one parallel step fans out to.
MAX_ITEMS = 1000


class Branch(BaseModel):
    """A named body of ``branches`` mode; its outputs leave through the port
    ``name`` as one object."""

    model_config = ConfigDict(extra="forbid")

    name: str
    body: Body


class ParallelConfig(NodeConfig):
    """``items`` mode: input ``items: list`` plus the ``context`` fields; the
    ``body`` runs once per item (``item_input`` receives the item, the
    context fields go along), at most ``max_concurrency`` at a time;
    output ``results: list`` in item order — the body's outputs as objects,
    or, with ``collect`` naming one body output, that field's values.
    ``branches`` mode: every branch body runs on the ``context`` fields at
    once; one output port per branch (an object of its outputs).
    ``on_item_error``: ``fail`` the step, or ``drop`` failed items."""

    mode: Literal["items", "branches"] = "items"
    body: Body | None = None
    item_input: str = "item"
    context: list[FieldSpec] = Field(default_factory=list)
    collect: str | None = None
    branches: list[Branch] = Field(default_factory=list)
    max_concurrency: int = Field(default=4, ge=1, le=64)
    on_item_error: Literal["fail", "drop"] = "fail"


def _item_spec(config: ParallelConfig) -> FieldSpec | None:
    if config.body is None:
        return None
    try:
        body_in, _ = body_ports(config.body)
    except GraphValidationError:
        return None
    return body_in.get(config.item_input)


def _results_spec(config: ParallelConfig) -> FieldSpec:
    if config.collect and config.body is not None:
        try:
            _, body_out = body_ports(config.body)
        except GraphValidationError:
            body_out = Signature()
        spec = body_out.get(config.collect)
        if spec is not None and spec.type in ("str", "int", "float", "bool", "object"):
            return FieldSpec(name="results", type="list", items=spec.type)
        return FieldSpec(name="results", type="list")
    return FieldSpec(name="results", type="list", items="object")


@register
class ParallelNode(NodeType):
    type = "parallel"
    kind = "logic"
    title = "Parallel"
    description = "Run a node or sub-graph for every item of a list (or several at once), then collect."
    Config = ParallelConfig
    container = True

    def ports(self, config: ParallelConfig) -> tuple[Signature, Signature]:
        if config.mode == "branches":
            outputs = [FieldSpec(name=b.name, type="object") for b in config.branches]
            return Signature(config.context), Signature(outputs)
        item = _item_spec(config)
        items_type = item.type if item and item.type in ("str", "int", "float", "bool", "object") else None
        items = FieldSpec(name="items", type="list", items=items_type, description="One run per item")
        return Signature([items, *config.context]), Signature([_results_spec(config)])

    def check(self, config: ParallelConfig) -> list[ConfigProblem]:
        if config.mode == "branches":
            return self._check_branches(config)
        problems = body_problems(config.body)
        if config.branches:
            problems.append(ConfigProblem("branches are only used in 'branches' mode"))
        if config.body is None or problems:
            return problems
        body_in, body_out = body_ports(config.body)
        context = Signature(config.context)
        if "items" in context:
            problems.append(ConfigProblem("a context field may not be called 'items'"))
        if config.item_input not in body_in:
            problems.append(ConfigProblem(f"the body has no input {config.item_input!r} to receive each item"))
        for spec in body_in.fields:
            if spec.name == config.item_input:
                continue
            source = context.get(spec.name)
            if source is None and spec.required:
                problems.append(ConfigProblem(f"body input {spec.name!r} needs a context field of that name"))
            elif source is not None and not is_compatible(source, spec):
                problems.append(
                    ConfigProblem(
                        f"body input {spec.name!r} expects {spec.type_label()}, context gives {source.type_label()}"
                    )
                )
        if config.collect and config.collect not in body_out:
            problems.append(ConfigProblem(f"collect: the body has no output {config.collect!r}"))
        return problems

    def _check_branches(self, config: ParallelConfig) -> list[ConfigProblem]:
        problems: list[ConfigProblem] = []
        if len(config.branches) < 2:
            problems.append(ConfigProblem("add at least two branches"))
        names = [b.name for b in config.branches]
        if len(set(names)) != len(names) or not all(n.isidentifier() for n in names):
            problems.append(ConfigProblem("branch names must be unique identifiers"))
        context = Signature(config.context)
        for branch in config.branches:
            branch_problems = body_problems(branch.body, f"branch {branch.name!r}")
            problems += branch_problems
            if branch_problems:
                continue
            body_in, _ = body_ports(branch.body)
            for spec in body_in.fields:
                if spec.required and spec.name not in context:
                    problems.append(
                        ConfigProblem(f"branch {branch.name!r}: input {spec.name!r} needs a context field of that name")
                    )
        return problems

    async def run(self, ctx: NodeContext, inputs: dict[str, Any]) -> NodeOutput:
        config: ParallelConfig = ctx.config
        limit = asyncio.Semaphore(config.max_concurrency)
        if config.mode == "branches":
            jobs = [(b.name, b.body, self._inputs_for(b.body, inputs)) for b in config.branches]
        else:
            assert config.body is not None
            items = inputs.get("items") or []
            if len(items) > MAX_ITEMS:
                raise NodeError(f"{len(items)} items is more than the limit of {MAX_ITEMS}", code="too_many_items")
            context = {k: v for k, v in inputs.items() if k != "items"}
            jobs = [
                (str(i), config.body, self._inputs_for(config.body, {**context, config.item_input: item}))
                for i, item in enumerate(items, start=1)
            ]
        fail_fast = config.on_item_error == "fail" or config.mode == "branches"
        what = "branch" if config.mode == "branches" else "item"
        outcomes = await self._run_all(ctx, jobs, limit, fail_fast=fail_fast, what=what)
        if any(o is None for _, o in outcomes):
            raise StepWaiting(ctx.node_id)
        failed = [key for key, o in outcomes if isinstance(o, NodeError)]
        done = [(key, o) for key, o in outcomes if isinstance(o, dict)]
        if config.mode == "branches":
            return ctx.result(dict(done))
        results: list[Any] = [o for _, o in done]
        if config.collect:
            results = [r.get(config.collect) for r in results]
        return ctx.result({"results": results}, failed_items=failed)

    @staticmethod
    def _inputs_for(body: Body, values: dict[str, Any]) -> dict[str, Any]:
        body_in, _ = body_ports(body)
        return {name: values[name] for name in body_in.names() if name in values}

    @staticmethod
    async def _run_all(
        ctx: NodeContext,
        jobs: list[tuple[str, Body, dict[str, Any]]],
        limit: asyncio.Semaphore,
        *,
        fail_fast: bool,
        what: str,
    ) -> list[tuple[str, dict[str, Any] | NodeError | None]]:
        """Run every job; a job's outcome is its outputs, its NodeError
        (``fail_fast`` off) or ``None`` when it waits. With ``fail_fast`` the
        first NodeError cancels the other jobs and is raised; budget and
        cancel stops always cancel the others and propagate."""

        async def one(key: str, body: Body, values: dict[str, Any]) -> dict[str, Any] | NodeError | None:
            async with limit:
                try:
                    return await run_body(ctx, body, key, values)
                except NodeError as exc:
                    if fail_fast:
                        raise NodeError(f"{what} {key}: {exc.message}", code=exc.code) from None
                    return exc
                except StepWaiting:
                    return None

        try:
            async with asyncio.TaskGroup() as group:
                tasks = [(key, group.create_task(one(key, body, values))) for key, body, values in jobs]
        except BaseExceptionGroup as group_error:
            # Prefer a run stop (budget, cancel) over an item's own failure.
            errors = list(group_error.exceptions)
            errors.sort(key=lambda e: isinstance(e, NodeError))
            raise errors[0] from None
        return [(key, task.result()) for key, task in tasks]
