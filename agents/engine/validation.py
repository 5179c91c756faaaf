"""Static validation of graph documents: :func:`validate_graph` lists every
problem in plain English before anything runs; :func:`check_graph` raises."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from agents.engine.errors import GraphValidationError, SignatureError
from agents.engine.graph import (
    EdgeDoc,
    GraphDoc,
    GraphIssue,
    NodeDoc,
    describe_node,
    parse_graph,
    resolve_node,
    resolved_ports,
)
from agents.engine.nodes import ERROR_PORT, ConfigProblem, NodeConfig, netguard
from agents.engine.nodes.base import NodeType
from agents.engine.signature import Signature, is_compatible


def _node_problems(node: NodeDoc, node_type: NodeType, config: NodeConfig, outputs: Signature) -> list[ConfigProblem]:
    problems = list(node_type.check(config))
    if config.on_error == "default":
        if config.default_outputs is None:
            problems.append(ConfigProblem("on_error 'default' needs default_outputs"))
        else:
            plain = Signature([f for f in outputs.fields if f.name != ERROR_PORT])
            try:
                plain.validate(config.default_outputs)
            except SignatureError as exc:
                problems += [ConfigProblem(f"default_outputs {m}") for m in exc.messages]
    return problems


#: Most validated graph documents remembered per process (cleared when full).
MAX_CACHED_GRAPHS = 256
_validated: dict[str, tuple[GraphIssue, ...]] = {}


def validate_graph(doc: dict[str, Any] | GraphDoc, *, allowed_hosts: Iterable[str] = ()) -> list[GraphIssue]:
    """Every problem of a graph document, in document order; empty when it
    can run. Never raises for a bad document: a wrong shape is reported as
    ``invalid_document``. ``allowed_hosts``: private hosts an admin allowed
    (not reported as ``forbidden_host``).

    A document (a dict) is validated once per process and allow-list: the
    result is remembered under its canonical JSON, so starting a run and
    executing it — and every later run of the same version — do not check
    every node and compile every template again."""
    hosts = tuple(sorted(allowed_hosts))
    key = _cache_key(doc, hosts) if isinstance(doc, dict) else None
    if key is not None and key in _validated:
        return list(_validated[key])
    with netguard.allowed_hosts(hosts):
        issues = _validate_graph(doc)
    if key is not None:
        if len(_validated) >= MAX_CACHED_GRAPHS:
            _validated.clear()
        _validated[key] = tuple(issues)
    return issues


def _cache_key(doc: dict[str, Any], hosts: tuple[str, ...]) -> str | None:
    try:
        return json.dumps([doc, hosts], sort_keys=True, separators=(",", ":"))
    except (TypeError, ValueError):  # not JSON (a caller's odd value): validate it every time
        return None


def _validate_graph(doc: dict[str, Any] | GraphDoc) -> list[GraphIssue]:
    try:
        graph = parse_graph(doc)
    except GraphValidationError as exc:
        return exc.issues
    issues: list[GraphIssue] = []
    nodes: dict[str, NodeDoc] = {}
    ports: dict[str, tuple[Signature, Signature]] = {}
    for node in graph.nodes:
        if node.id in nodes:
            issues.append(
                GraphIssue(
                    "duplicate_id",
                    f"Node {describe_node(node)}: another node already has the id {node.id!r}.",
                    node_id=node.id,
                )
            )
            continue
        nodes[node.id] = node
        try:
            node_type, config = resolve_node(node)
            inputs, outputs = resolved_ports(node, node_type, config)
        except GraphValidationError as exc:
            issues += exc.issues
            continue
        ports[node.id] = (inputs, outputs)
        for problem in _node_problems(node, node_type, config, outputs):
            issues.append(GraphIssue(problem.code, f"Node {describe_node(node)}: {problem.message}.", node_id=node.id))
    issues += _io_issues(graph)
    issues += _edge_issues(graph, nodes, ports)
    # An edge with a wrong port or type still "connects": report it once.
    attached = [e for e in graph.edges if e.source in nodes and e.target in nodes]
    issues += _missing_inputs(nodes, ports, attached)
    issues += _cycle_issues(nodes, attached)
    return issues


def _io_issues(graph: GraphDoc) -> list[GraphIssue]:
    issues = []
    for node_type, noun in (("input", "input"), ("output", "output")):
        found = [n for n in graph.nodes if n.type == node_type]
        if not found:
            issues.append(GraphIssue(f"no_{noun}_node", f"The graph has no {noun} node; add one."))
        for extra in found[1:]:
            issues.append(
                GraphIssue(
                    f"multiple_{noun}_nodes",
                    f"Node {describe_node(extra)}: a graph has exactly one {noun} node.",
                    node_id=extra.id,
                )
            )
    return issues


def _q(name: str) -> str:
    return f'"{name}"'


def _edge_issues(
    graph: GraphDoc, nodes: dict[str, NodeDoc], ports: dict[str, tuple[Signature, Signature]]
) -> list[GraphIssue]:
    issues: list[GraphIssue] = []
    edge_ids: set[str] = set()
    fed: dict[tuple[str, str], EdgeDoc] = {}
    for edge in graph.edges:
        if edge.id in edge_ids:
            issues.append(
                GraphIssue(
                    "duplicate_id",
                    f"Edge {edge.id!r}: another edge already has this id.",
                    edge_id=edge.id,
                )
            )
            continue
        edge_ids.add(edge.id)
        missing = [end for end in (edge.source, edge.target) if end not in nodes]
        if missing:
            issues.append(
                GraphIssue(
                    "dangling_edge",
                    f"Edge {edge.id!r} connects to a node that does not exist: "
                    + ", ".join(repr(m) for m in missing)
                    + ".",
                    edge_id=edge.id,
                )
            )
            continue
        source, target = nodes[edge.source], nodes[edge.target]
        if edge.source not in ports or edge.target not in ports:
            continue  # the node's own issue is already reported
        source_spec = ports[edge.source][1].get(edge.source_port)
        target_spec = ports[edge.target][0].get(edge.target_port)
        if source_spec is None:
            issues.append(
                GraphIssue(
                    "unknown_port",
                    f"Node {describe_node(source)} has no output {_q(edge.source_port)} (edge {edge.id!r}).",
                    node_id=source.id,
                    edge_id=edge.id,
                )
            )
        if target_spec is None:
            issues.append(
                GraphIssue(
                    "unknown_port",
                    f"Node {describe_node(target)} has no input {_q(edge.target_port)} (edge {edge.id!r}).",
                    node_id=target.id,
                    edge_id=edge.id,
                )
            )
        if source_spec is None or target_spec is None:
            continue
        key = (edge.target, edge.target_port)
        if key in fed:
            issues.append(
                GraphIssue(
                    "duplicate_edge_into_port",
                    f"Node {describe_node(target)}: input {_q(edge.target_port)} already has an "
                    f"incoming edge ({fed[key].id!r}); merge branches with a join node.",
                    node_id=target.id,
                    edge_id=edge.id,
                )
            )
            continue
        fed[key] = edge
        if not is_compatible(source_spec, target_spec):
            issues.append(
                GraphIssue(
                    "type_mismatch",
                    f"Node {describe_node(target)}: input {_q(edge.target_port)} expects "
                    f"{target_spec.type_label()} but {describe_node(source)} gives "
                    f"{source_spec.type_label()}.",
                    node_id=target.id,
                    edge_id=edge.id,
                )
            )
    return issues


def _missing_inputs(
    nodes: dict[str, NodeDoc],
    ports: dict[str, tuple[Signature, Signature]],
    edges: list[EdgeDoc],
) -> list[GraphIssue]:
    fed = {(e.target, e.target_port) for e in edges}
    issues = []
    for node_id, (inputs, _outputs) in ports.items():
        for spec in inputs.fields:
            if spec.required and (node_id, spec.name) not in fed:
                issues.append(
                    GraphIssue(
                        "missing_input",
                        f"Node {describe_node(nodes[node_id])}: required input {_q(spec.name)} has no incoming edge.",
                        node_id=node_id,
                    )
                )
    return issues


def _cycle_issues(nodes: dict[str, NodeDoc], edges: list[EdgeDoc]) -> list[GraphIssue]:
    successors: dict[str, list[str]] = {node_id: [] for node_id in nodes}
    for edge in edges:
        successors[edge.source].append(edge.target)
    state: dict[str, int] = {}  # 1 = on the DFS stack, 2 = done
    issues: list[GraphIssue] = []

    def visit(start: str) -> None:
        stack: list[tuple[str, int]] = [(start, 0)]
        path: list[str] = [start]
        state[start] = 1
        while stack:
            node_id, index = stack[-1]
            nexts = successors[node_id]
            if index == len(nexts):
                stack.pop()
                path.pop()
                state[node_id] = 2
                continue
            stack[-1] = (node_id, index + 1)
            child = nexts[index]
            if state.get(child) == 1:
                cycle = [*path[path.index(child) :], child]
                names = " → ".join(describe_node(nodes[c]) for c in cycle)
                issues.append(
                    GraphIssue(
                        "cycle",
                        f"Edges form a cycle: {names}. Use a loop node to repeat steps.",
                        node_id=child,
                    )
                )
            elif child not in state:
                state[child] = 1
                stack.append((child, 0))
                path.append(child)

    for node_id in nodes:
        if node_id not in state:
            visit(node_id)
    return issues


def check_graph(doc: dict[str, Any] | GraphDoc, *, allowed_hosts: Iterable[str] = ()) -> GraphDoc:
    """The parsed document when it is valid; raises
    :class:`GraphValidationError` carrying every :class:`GraphIssue`."""
    issues = validate_graph(doc, allowed_hosts=allowed_hosts)
    if issues:
        raise GraphValidationError(issues)
    return parse_graph(doc)
