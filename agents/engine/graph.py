"""The graph document and its static validation.

A graph document (stored as JSON on each workflow version)::

    {"schema": 1,
     "nodes": [{"id", "type", "label", "config", "position": {"x", "y"}}],
     "edges": [{"id", "source", "source_port", "target", "target_port"}]}

Node ids are 1 to 64 letters, digits, ``_`` or ``-``. Edges connect an output
port of ``source`` to an input port of ``target``. :func:`validate_graph`
lists every problem in plain English before anything runs.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agents.engine.errors import GraphValidationError, InputValidationError, SignatureError
from agents.engine.nodes import ERROR_PORT, NodeConfig, get_node_type
from agents.engine.nodes.base import NodeType
from agents.engine.signature import FieldSpec, Signature

NODE_ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"


class Position(BaseModel):
    """Where the node sits on the canvas (pixels); the engine ignores it."""

    model_config = ConfigDict(extra="allow")

    x: float = 0
    y: float = 0


class NodeDoc(BaseModel):
    """One node: ``type`` names a registered node type, ``config`` is that
    type's config (validated by :func:`validate_graph`)."""

    model_config = ConfigDict(extra="allow")

    id: str = Field(pattern=NODE_ID_PATTERN)
    type: str
    label: str = ""
    config: dict[str, Any] = Field(default_factory=dict)
    position: Position = Field(default_factory=Position)


class EdgeDoc(BaseModel):
    """An edge from ``source``'s output port to ``target``'s input port."""

    model_config = ConfigDict(extra="allow")

    id: str = Field(min_length=1)
    source: str
    source_port: str
    target: str
    target_port: str


class GraphDoc(BaseModel):
    """A whole graph document; ``schema`` (here ``schema_version``) is 1."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    schema_version: Literal[1] = Field(alias="schema")
    nodes: list[NodeDoc] = Field(default_factory=list)
    edges: list[EdgeDoc] = Field(default_factory=list)

    def node(self, node_id: str) -> NodeDoc | None:
        """The node with id ``node_id`` (the first, if duplicated) or ``None``."""
        return next((n for n in self.nodes if n.id == node_id), None)

    def to_json(self) -> dict[str, Any]:
        """The document as JSON-ready data (``schema`` key restored)."""
        return self.model_dump(mode="json", by_alias=True)


@dataclass(frozen=True)
class GraphIssue:
    """One problem of a graph document.

    ``code``: ``invalid_document``, ``duplicate_id``, ``unknown_node_type``,
    ``invalid_config``, ``invalid_expression``, ``forbidden_host``,
    ``dangling_edge``, ``unknown_port``, ``type_mismatch``,
    ``duplicate_edge_into_port``, ``missing_input``, ``cycle``,
    ``no_input_node``, ``no_output_node``, ``multiple_input_nodes``,
    ``multiple_output_nodes``. ``message`` is plain English naming the node
    by label and id.
    """

    code: str
    message: str
    node_id: str | None = None
    edge_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form for the API and the editor."""
        return asdict(self)


def describe_node(node: NodeDoc) -> str:
    """``"Writer" (writer)`` — or ``"writer"`` for a node without a label."""
    return f'"{node.label}" ({node.id})' if node.label else f'"{node.id}"'


def parse_graph(doc: dict[str, Any] | GraphDoc) -> GraphDoc:
    """The document as a :class:`GraphDoc`; raises
    :class:`GraphValidationError` (``invalid_document``) when its shape is
    wrong. Does not check node configs or edges: see :func:`check_graph`."""
    if isinstance(doc, GraphDoc):
        return doc
    try:
        return GraphDoc.model_validate(doc)
    except ValidationError as exc:
        issues = [
            GraphIssue(
                "invalid_document",
                "The graph document is invalid: "
                + (".".join(str(p) for p in e["loc"]) + ": " if e["loc"] else "")
                + e["msg"]
                + ".",
            )
            for e in exc.errors()
        ]
        raise GraphValidationError(issues) from None


def _config_errors(exc: ValidationError) -> list[str]:
    out = []
    for e in exc.errors():
        where = ".".join(str(p) for p in e["loc"])
        out.append(f"{where}: {e['msg']}" if where else e["msg"])
    return out


def resolve_node(node: NodeDoc) -> tuple[NodeType, NodeConfig]:
    """The node's type and parsed config. Raises
    :class:`GraphValidationError` (``unknown_node_type``, ``invalid_config``)."""
    node_type = get_node_type(node.type)
    if node_type is None:
        raise GraphValidationError(
            [
                GraphIssue(
                    "unknown_node_type",
                    f"Node {describe_node(node)}: unknown node type {node.type!r}.",
                    node_id=node.id,
                )
            ]
        )
    try:
        return node_type, node_type.parse_config(node.config)
    except ValidationError as exc:
        issues = [
            GraphIssue("invalid_config", f"Node {describe_node(node)}: config {m}.", node_id=node.id)
            for m in _config_errors(exc)
        ]
        raise GraphValidationError(issues) from None


def resolved_ports(node: NodeDoc, node_type: NodeType, config: NodeConfig) -> tuple[Signature, Signature]:
    """Like :func:`node_ports` for an already resolved node."""
    try:
        inputs, outputs = node_type.ports(config)
    except SignatureError as exc:
        raise GraphValidationError(
            [GraphIssue("invalid_config", f"Node {describe_node(node)}: {m}.", node_id=node.id) for m in exc.messages]
        ) from None
    if config.on_error == "branch":
        if ERROR_PORT in outputs:
            message = f"on_error 'branch' needs the output name {ERROR_PORT!r} free"
            raise GraphValidationError(
                [GraphIssue("invalid_config", f"Node {describe_node(node)}: {message}.", node.id)]
            )
        outputs = Signature([*outputs.fields, FieldSpec(name=ERROR_PORT, description="The error message")])
    return inputs, outputs


def node_ports(node: NodeDoc) -> tuple[Signature, Signature]:
    """(input signature, output signature) of ``node``; a node with
    ``on_error: branch`` gets an extra ``error: str`` output port. Raises
    :class:`GraphValidationError` for an unknown type or an invalid config."""
    node_type, config = resolve_node(node)
    return resolved_ports(node, node_type, config)


def _io_fields(doc: dict[str, Any] | GraphDoc, node_type: str) -> Signature:
    graph = parse_graph(doc)
    node = next((n for n in graph.nodes if n.type == node_type), None)
    if node is None:
        return Signature()
    inputs, outputs = node_ports(node)
    return outputs if node_type == "input" else inputs


def input_signature(doc: dict[str, Any] | GraphDoc) -> Signature:
    """The workflow's inputs: the ``input`` node's fields (empty without one).
    Raises :class:`GraphValidationError` when the document or that node's
    config is invalid."""
    return _io_fields(doc, "input")


def output_signature(doc: dict[str, Any] | GraphDoc) -> Signature:
    """The workflow's outputs: the ``output`` node's fields (empty without
    one). Raises like :func:`input_signature`."""
    return _io_fields(doc, "output")


def check_inputs(doc: dict[str, Any] | GraphDoc, inputs: dict[str, Any]) -> dict[str, Any]:
    """``inputs`` validated and coerced against the workflow's input
    signature (defaults filled in). Raises :class:`InputValidationError`
    (with per-field messages) or :class:`GraphValidationError`."""
    try:
        return input_signature(doc).validate(inputs)
    except SignatureError as exc:
        raise InputValidationError(exc.field_errors) from None


def topological_order(graph: GraphDoc) -> list[str]:
    """Node ids so that every edge goes forward; ties keep document order.
    Assumes an acyclic graph (nodes on a cycle are left out)."""
    indegree = {n.id: 0 for n in graph.nodes}
    successors: dict[str, list[str]] = {n.id: [] for n in graph.nodes}
    for edge in graph.edges:
        if edge.source in indegree and edge.target in indegree:
            successors[edge.source].append(edge.target)
            indegree[edge.target] += 1
    position = {n.id: i for i, n in enumerate(graph.nodes)}
    ready = sorted((n for n, d in indegree.items() if d == 0), key=position.__getitem__)
    order: list[str] = []
    while ready:
        current = ready.pop(0)
        order.append(current)
        for child in successors[current]:
            indegree[child] -= 1
            if indegree[child] == 0:
                ready.append(child)
                ready.sort(key=position.__getitem__)
    return order



def not_downstream(doc: dict[str, Any] | GraphDoc, start: str) -> set[str]:
    """Node ids that are neither ``start`` nor reachable from it by edges.

    These are the nodes whose finished steps a "rerun from ``start``" may
    reuse. Works on a raw graph document (edges to unknown nodes are
    followed harmlessly) or a parsed :class:`GraphDoc`.
    """
    if isinstance(doc, GraphDoc):
        node_ids = [n.id for n in doc.nodes]
        pairs = [(e.source, e.target) for e in doc.edges]
    else:
        node_ids = [str(n.get("id", "")) for n in doc.get("nodes", []) if isinstance(n, dict)]
        pairs = [(str(e.get("source", "")), str(e.get("target", ""))) for e in doc.get("edges", [])
                 if isinstance(e, dict)]
    children: dict[str, list[str]] = {}
    for source, target in pairs:
        children.setdefault(source, []).append(target)
    downstream, frontier = {start}, [start]
    while frontier:
        for child in children.get(frontier.pop(), []):
            if child not in downstream:
                downstream.add(child)
                frontier.append(child)
    return set(node_ids) - downstream


# Validation lives in its own module; re-exported here for callers that
# think of it as part of the graph API. Imported last: it needs the above.
from agents.engine.validation import check_graph, validate_graph  # noqa: E402

__all__ = [
    "EdgeDoc",
    "GraphDoc",
    "GraphIssue",
    "NodeDoc",
    "Position",
    "check_graph",
    "check_inputs",
    "describe_node",
    "input_signature",
    "node_ports",
    "not_downstream",
    "output_signature",
    "parse_graph",
    "topological_order",
    "validate_graph",
]
