"""Fakes of the engine's protocols and graph builders for the engine's unit
tests (imported by name: pytest puts this directory on ``sys.path``)."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from agents.engine import Runtime
from agents.engine.protocols import (
    Decision,
    HttpRequest,
    HttpResponse,
    LLMRequest,
    LLMResponse,
    McpTool,
    PromptRef,
    PromptSpec,
    StepRecord,
)

Reply = LLMResponse | str | BaseException
Script = Callable[[LLMRequest], Reply | Awaitable[Reply]]


class ScriptedLLM:
    """An LLMClient answering from a script.

    ``replies`` maps a node id (full id, e.g. ``loop.writer``) to a list of
    replies consumed in order (the last one repeats), or is one callable
    ``request -> reply``. A ``str`` reply becomes an LLMResponse with 10 input
    and 5 output tokens costing $0.001; an exception is raised. ``delay_s``
    makes every call sleep first.
    """

    def __init__(self, replies: dict[str, list[Reply]] | Script, *, delay_s: float = 0.0):
        self.replies = replies
        self.delay_s = delay_s
        self.requests: list[LLMRequest] = []
        self.calls: list[tuple[str, float, float]] = []  # node, start, end (monotonic)

    async def complete(self, request: LLMRequest) -> LLMResponse:
        start = time.monotonic()
        self.requests.append(request)
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if callable(self.replies):
            reply = self.replies(request)
            if asyncio.iscoroutine(reply):
                reply = await reply
        else:
            queue = self.replies.get(request.node_id)
            if not queue:
                raise AssertionError(f"no scripted reply for node {request.node_id!r}")
            reply = queue.pop(0) if len(queue) > 1 else queue[0]
        self.calls.append((request.node_id, start, time.monotonic()))
        if isinstance(reply, BaseException):
            raise reply
        if isinstance(reply, str):
            reply = LLMResponse(text=reply, input_tokens=10, output_tokens=5, cost_usd=Decimal("0.001"))
        assert isinstance(reply, LLMResponse)
        return reply

    def nodes_called(self) -> list[str]:
        return [r.node_id for r in self.requests]


class MemoryStepStore:
    """StepStore keeping the last record per (node, iteration)."""

    def __init__(self, preloaded: list[StepRecord] | None = None):
        self.records: dict[tuple[str, str], StepRecord] = {}
        self.started: list[StepRecord] = []
        self.finished: list[StepRecord] = []
        for record in preloaded or []:
            self.records[(record.node_id, record.iteration)] = record

    async def load_finished(self, node_id: str, iteration: str) -> StepRecord | None:
        record = self.records.get((node_id, iteration))
        if record is not None and record.status in ("succeeded", "skipped"):
            return record
        return None

    async def step_started(self, record: StepRecord) -> None:
        self.started.append(record)
        self.records[(record.node_id, record.iteration)] = record

    async def step_finished(self, record: StepRecord) -> None:
        self.finished.append(record)
        self.records[(record.node_id, record.iteration)] = record

    def get(self, node_id: str, iteration: str = "") -> StepRecord:
        return self.records[(node_id, iteration)]

    def status(self, node_id: str, iteration: str = "") -> str:
        record = self.records.get((node_id, iteration))
        return record.status if record else "absent"


class ListEventSink:
    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    async def emit(self, type: str, payload: dict[str, Any]) -> None:
        self.events.append((type, payload))

    def of_type(self, type: str) -> list[dict[str, Any]]:
        return [p for t, p in self.events if t == type]


class DictPromptStore:
    def __init__(self, prompts: dict[tuple[str, str | int], PromptSpec] | None = None):
        self.prompts = prompts or {}

    async def get_prompt(self, ref: PromptRef) -> PromptSpec:
        key: tuple[str, str | int] = (ref.slug, ref.version if ref.version is not None else ref.label or "")
        if key not in self.prompts:
            raise LookupError(f"no prompt {ref.slug!r} at {key[1]!r}")
        return self.prompts[key]


class RealClock:
    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)

    def monotonic(self) -> float:
        return time.monotonic()


class FlagControl:
    """RunControl whose ``cancelled`` flag a test flips."""

    def __init__(self) -> None:
        self.cancelled = False
        self.polls = 0

    async def is_cancelled(self) -> bool:
        self.polls += 1
        return self.cancelled


class MemorySecrets:
    def __init__(self, secrets: dict[str, str] | None = None):
        self.secrets = secrets or {}

    async def get_secret(self, name: str) -> str:
        if name not in self.secrets:
            raise LookupError(name)
        return self.secrets[name]


class ScriptedHttp:
    def __init__(self, handler: Callable[[HttpRequest], HttpResponse | BaseException]):
        self.handler = handler
        self.requests: list[HttpRequest] = []

    async def request(self, request: HttpRequest) -> HttpResponse:
        self.requests.append(request)
        reply = self.handler(request)
        if isinstance(reply, BaseException):
            raise reply
        return reply


class DictApprovals:
    def __init__(self, decisions: dict[tuple[str, str], Decision] | None = None):
        self.decisions = decisions or {}
        self.asked: list[tuple[str, str]] = []

    async def get_decision(self, node_id: str, iteration: str) -> Decision | None:
        self.asked.append((node_id, iteration))
        return self.decisions.get((node_id, iteration))


class ScriptedMcp:
    def __init__(self, tools: dict[str, list[McpTool]], handler: Callable[[str, str, dict[str, Any]], Any]):
        self.tools = tools
        self.handler = handler
        self.calls: list[tuple[str, str, dict[str, Any]]] = []

    async def list_tools(self, server: str) -> list[McpTool]:
        if server not in self.tools:
            raise LookupError(server)
        return self.tools[server]

    async def call_tool(self, server: str, name: str, arguments: dict[str, Any]) -> Any:
        self.calls.append((server, name, arguments))
        return self.handler(server, name, arguments)


@dataclass
class Kit:
    """A Runtime made of fakes, with the fakes at hand."""

    llm: ScriptedLLM
    steps: MemoryStepStore = field(default_factory=MemoryStepStore)
    events: ListEventSink = field(default_factory=ListEventSink)
    prompts: DictPromptStore = field(default_factory=DictPromptStore)
    control: FlagControl = field(default_factory=FlagControl)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def runtime(self) -> Runtime:
        return Runtime(
            llm=self.llm,
            steps=self.steps,
            events=self.events,
            prompts=self.prompts,
            clock=RealClock(),
            control=self.control,
            **self.extra,
        )


# ------------------------------------------------------------ graph builders


def field_(name: str, type: str = "str", **kw: Any) -> dict[str, Any]:
    return {"name": name, "type": type, **kw}


def node(id: str, type: str, label: str = "", **config: Any) -> dict[str, Any]:
    return {"id": id, "type": type, "label": label, "config": config, "position": {"x": 0, "y": 0}}


def edge(source: str, source_port: str, target: str, target_port: str) -> dict[str, Any]:
    return {
        "id": f"{source}.{source_port}->{target}.{target_port}",
        "source": source,
        "source_port": source_port,
        "target": target,
        "target_port": target_port,
    }


def graph(nodes: list[dict[str, Any]], edges: list[dict[str, Any]]) -> dict[str, Any]:
    return {"schema": 1, "nodes": nodes, "edges": edges}


def agent(
    id: str,
    inputs: list[dict[str, Any]],
    outputs: list[dict[str, Any]],
    label: str = "",
    instructions: str = "Do it.",
    **config: Any,
) -> dict[str, Any]:
    return node(
        id,
        "agent",
        label,
        endpoint="local",
        instructions=instructions,
        inputs=inputs,
        outputs=outputs,
        **config,
    )


def io_graph(
    middle: list[dict[str, Any]],
    edges: list[dict[str, Any]],
    inputs: list[dict[str, Any]] | None = None,
    outputs: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A graph with an input node ``in`` and an output node ``out``."""
    return graph(
        [
            node("in", "input", "Input", fields=inputs if inputs is not None else [field_("question")]),
            *middle,
            node("out", "output", "Output", fields=outputs if outputs is not None else [field_("answer")]),
        ],
        edges,
    )
