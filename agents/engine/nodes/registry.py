"""The registry of node types, keyed by their ``type`` name."""

from __future__ import annotations

from typing import Any, TypeVar

from agents.engine.nodes.base import NodeType

_REGISTRY: dict[str, NodeType] = {}

T = TypeVar("T", bound=type[NodeType])


def register(cls: T) -> T:
    """Class decorator: add a node type (one instance) to the registry.
    Raises ``ValueError`` when the type name is taken."""
    if cls.type in _REGISTRY:
        raise ValueError(f"node type {cls.type!r} is already registered")
    _REGISTRY[cls.type] = cls()
    return cls


def get_node_type(name: str) -> NodeType | None:
    """The node type called ``name``, or ``None``."""
    return _REGISTRY.get(name)


_KIND_ORDER = ("io", "llm", "logic", "data", "integration", "human")
_PALETTE_ORDER = ("input", "output", "agent", "llm", "supervisor", "router", "join", "parallel", "loop")


def _palette_key(node_type: NodeType) -> tuple[int, int, str]:
    position = _PALETTE_ORDER.index(node_type.type) if node_type.type in _PALETTE_ORDER else len(_PALETTE_ORDER)
    return _KIND_ORDER.index(node_type.kind), position, node_type.type


def node_types() -> list[NodeType]:
    """All registered node types in palette order (by kind: io, llm, logic,
    data, integration, human)."""
    return sorted(_REGISTRY.values(), key=_palette_key)


def node_catalog() -> list[dict[str, Any]]:
    """The editor palette: one dict per node type with ``type``, ``kind``
    (io, llm, logic, data, integration, human), ``title``, ``description``,
    ``config_schema`` (JSON Schema of the config) and ``default_config``."""
    return [node_type.catalog_entry() for node_type in node_types()]
