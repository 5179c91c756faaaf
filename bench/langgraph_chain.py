"""The LangGraph side of ``node_overhead_vs_langgraph_ratio`` (runs in ``var/bench-venv``, never in the app's venv).

``python bench/langgraph_chain.py --port P --nodes N --runs R`` prints one JSON
object: ``floor_ms`` (per call: a raw ``httpx`` POST to the fixture, JSON
decoded) and ``per_node_ms`` (per node: a LangGraph ``StateGraph`` chain of
``N`` nodes, each asking the fixture for the same structured output as a Studio
agent node, through one long-lived ``AsyncOpenAI`` client, and validating the
answer with a pydantic model) — one value per run, so the caller takes
percentiles. The same chain shape as Studio's input → N agents → output.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from typing import Any, TypedDict

SCHEMA = {
    "type": "object",
    "properties": {"text": {"type": "string", "description": "text"}},
    "required": ["text"],
    "additionalProperties": False,
}


def body(text: str) -> dict[str, Any]:
    """The chat request every node sends (as Studio's agent node does: system + user, schema, max_tokens)."""
    return {
        "model": "fixture",
        "messages": [{"role": "system", "content": "Answer."}, {"role": "user", "content": f"text: {text}"}],
        "response_format": {"type": "json_object", "schema": SCHEMA},
        "max_tokens": 16,
    }


async def measure(port: int, nodes: int, runs: int) -> dict[str, Any]:
    import httpx
    import openai
    from langgraph.graph import END, START, StateGraph
    from pydantic import BaseModel

    class Out(BaseModel):
        text: str

    class State(TypedDict):
        text: str

    base = f"http://127.0.0.1:{port}/v1"
    client = openai.AsyncOpenAI(base_url=base, api_key="no-key", max_retries=0)

    def make_node() -> Any:
        async def node(state: State) -> State:
            request = body(state["text"])
            response = await client.chat.completions.create(**request)
            out = Out.model_validate_json(response.choices[0].message.content or "{}")
            return {"text": out.text}

        return node

    builder = StateGraph(State)
    previous = START
    for index in range(nodes):
        builder.add_node(f"a{index}", make_node())
        builder.add_edge(previous, f"a{index}")
        previous = f"a{index}"
    builder.add_edge(previous, END)
    graph = builder.compile()

    floor: list[float] = []
    per_node: list[float] = []
    async with httpx.AsyncClient(base_url=base) as raw:
        for _ in range(20):  # warm both paths (connections, imports, caches)
            (await raw.post("/chat/completions", json=body("warm"))).json()
        await graph.ainvoke({"text": "warm"})
        for _ in range(runs):
            started = time.perf_counter()
            for _ in range(nodes):
                (await raw.post("/chat/completions", json=body("hello"))).json()
            floor.append((time.perf_counter() - started) * 1000 / nodes)
            started = time.perf_counter()
            await graph.ainvoke({"text": "hello"})
            per_node.append((time.perf_counter() - started) * 1000 / nodes)
    await client.close()
    return {"floor_ms": floor, "per_node_ms": per_node}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--nodes", type=int, default=7)
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(measure(args.port, args.nodes, args.runs))))


if __name__ == "__main__":
    main()
