"""Where a graph reads a project variable: every ``vars.NAME`` in a node's config.

Any string of a node's config (at any depth: nested agents, tools, sub-graphs
of containers) that is a template is searched, and the conditions of routers
(``when``) and loops (``until``), which are expressions. The caller checks the
names against the project's variables (like ports: an unknown one is a
validation error naming the node).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agents.engine.templating import variable_names

#: Config keys whose strings are expressions, not templates.
EXPRESSION_KEYS = frozenset({"when", "until"})


@dataclass(frozen=True)
class VariableRef:
    """One ``vars.name`` in node ``node_id`` (its top-level node), at ``where`` in its config."""

    node_id: str
    label: str
    name: str
    where: str

    def describe_node(self) -> str:
        """``Node "Call API" (call)`` — or ``Node "call"`` without a label."""
        return f'Node "{self.label}" ({self.node_id})' if self.label else f'Node "{self.node_id}"'


def node_variable_refs(node: dict[str, Any]) -> list[VariableRef]:
    """Every project variable reference inside one graph node (a dict with ``id``, ``config``)."""
    node_id, label = str(node.get("id", "")), str(node.get("label") or "")
    found: list[VariableRef] = []

    def walk(value: Any, where: str, key: str) -> None:
        if isinstance(value, str):
            if "vars" in value:
                names, _problems = variable_names(value, expression=key in EXPRESSION_KEYS)
                found.extend(VariableRef(node_id, label, name, where or "config") for name in sorted(names))
            return
        if isinstance(value, dict):
            for k, item in value.items():
                walk(item, f"{where}.{k}" if where else str(k), str(k))
        elif isinstance(value, list):
            for index, item in enumerate(value):
                walk(item, f"{where}[{index}]", key)

    walk(node.get("config"), "", "")
    return found


def graph_variable_refs(graph: Any) -> list[VariableRef]:
    """Every project variable reference of a graph document, node by node (malformed parts are skipped)."""
    nodes = graph.get("nodes") if isinstance(graph, dict) else None
    if not isinstance(nodes, list):
        return []
    return [ref for node in nodes if isinstance(node, dict) for ref in node_variable_refs(node)]


def graph_variable_names(graph: Any) -> list[str]:
    """The sorted names of the project variables a graph reads (for exports)."""
    return sorted({ref.name for ref in graph_variable_refs(graph)})
