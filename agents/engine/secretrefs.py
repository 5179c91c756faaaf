"""Where a graph names a project secret: every ``secret("NAME")`` in a node's config.

Only http headers resolve secrets — an ``http`` node's ``headers`` and the
``request.headers`` of an agent's http tool, at any depth (nested agents,
sub-graphs of containers). A ``secret(...)`` anywhere else is still found
(:attr:`SecretRef.in_header` False): it would fail at run time, and its use is
refused just the same. Model endpoints and MCP servers carry their own secret
(chosen by the project's admins): a node naming an endpoint or a server does
not name a secret.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agents.engine.templating import secret_names


@dataclass(frozen=True)
class SecretRef:
    """One ``secret("name")`` in node ``node_id`` (its top-level node), at ``where`` in its config."""

    node_id: str
    label: str
    name: str
    where: str
    in_header: bool

    def describe_node(self) -> str:
        """``Node "Call API" (call)`` — or ``Node "call"`` without a label."""
        return f'Node "{self.label}" ({self.node_id})' if self.label else f'Node "{self.node_id}"'


def node_secret_refs(node: dict[str, Any]) -> list[SecretRef]:
    """Every secret reference inside one graph node (a dict with ``id``, ``type``, ``config``)."""
    node_id, label = str(node.get("id", "")), str(node.get("label") or "")
    found: list[SecretRef] = []
    header_dicts: set[int] = set()

    def walk(value: Any, where: str, in_header: bool) -> None:
        if isinstance(value, str):
            if "secret" in value:
                for name in sorted(secret_names(value)[0]):
                    found.append(SecretRef(node_id, label, name, where or "config", in_header))
            return
        if isinstance(value, dict):
            if value.get("type") == "http" and isinstance(value.get("config"), dict):
                header_dicts.add(id(value["config"].get("headers")))
            if value.get("kind") == "http" and isinstance(value.get("request"), dict):
                header_dicts.add(id(value["request"].get("headers")))
            headers_here = id(value) in header_dicts
            for key, item in value.items():
                walk(item, f"{where}.{key}" if where else str(key), headers_here)
        elif isinstance(value, list):
            for index, item in enumerate(value):
                walk(item, f"{where}[{index}]", False)

    config = node.get("config")
    if node.get("type") == "http" and isinstance(config, dict):
        header_dicts.add(id(config.get("headers")))
    walk(config, "", False)
    return found


def graph_secret_refs(graph: Any) -> list[SecretRef]:
    """Every secret reference of a graph document, node by node (malformed parts are skipped)."""
    nodes = graph.get("nodes") if isinstance(graph, dict) else None
    if not isinstance(nodes, list):
        return []
    return [ref for node in nodes if isinstance(node, dict) for ref in node_secret_refs(node)]
