"""Hooks for the runtime's sub-workflow checks (the engine cannot load other
workflows itself)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any


def _walk(value: Any) -> Iterator[dict[str, Any]]:
    """Every node dict in a graph document, bodies and branches included."""
    if isinstance(value, dict):
        if "type" in value and "config" in value and isinstance(value.get("config"), dict):
            yield value
        for item in value.values():
            yield from _walk(item)
    elif isinstance(value, list):
        for item in value:
            yield from _walk(item)


def subworkflow_refs(graph: dict[str, Any]) -> list[str]:
    """Slugs of the workflows a graph document calls (``subworkflow`` nodes,
    also inside loop/parallel bodies), sorted, without duplicates."""
    slugs = {
        str(node["config"].get("workflow"))
        for node in _walk(graph.get("nodes", []))
        if node.get("type") == "subworkflow" and node["config"].get("workflow")
    }
    return sorted(slugs)


def find_subworkflow_cycle(
    slug: str, graph: dict[str, Any], load_graph: Callable[[str], dict[str, Any] | None]
) -> list[str] | None:
    """The first chain of workflow slugs that leads back to one already on
    the chain (e.g. ``["a", "b", "a"]``), starting from workflow ``slug``
    whose document is ``graph``; ``None`` when there is no cycle.
    ``load_graph(slug)`` returns the graph the runtime would run for that
    slug (the published version), or ``None`` if unknown (then ignored)."""
    cache: dict[str, dict[str, Any] | None] = {slug: graph}
    done: set[str] = set()

    def visit(current: str, chain: list[str]) -> list[str] | None:
        if current in chain:
            return [*chain, current]
        if current in done:
            return None
        if current not in cache:
            cache[current] = load_graph(current)
        document = cache[current]
        if document is not None:
            for child in subworkflow_refs(document):
                found = visit(child, [*chain, current])
                if found:
                    return found
        done.add(current)
        return None

    return visit(slug, [])
