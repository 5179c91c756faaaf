"""The body of a container node (loop, parallel): one inline node or a whole
sub-graph with its own input and output nodes."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from agents.engine.nodes.base import ConfigProblem, NodeContext
from agents.engine.signature import Signature


class InlineNode(BaseModel):
    """A node given by type and config; recorded as step ``{container}.{id}``."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(default="body", pattern=r"^[A-Za-z0-9_-]{1,64}$")
    type: str
    label: str = ""
    config: dict[str, Any] = Field(default_factory=dict)


class Body(BaseModel):
    """Exactly one of ``node`` (an inline node) or ``graph`` (a graph
    document; its input node's fields are the body's inputs, its output
    node's fields the body's outputs)."""

    model_config = ConfigDict(extra="forbid")

    node: InlineNode | None = None
    graph: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Body:
        if (self.node is None) == (self.graph is None):
            raise ValueError("a body is either a node or a graph")
        return self


def _node_doc(body: Body) -> Any:
    from agents.engine.graph import NodeDoc

    assert body.node is not None
    return NodeDoc(id=body.node.id, type=body.node.type, label=body.node.label, config=body.node.config)


def body_ports(body: Body) -> tuple[Signature, Signature]:
    """(inputs, outputs) of the body. Raises
    :class:`~agents.engine.errors.GraphValidationError` when it is invalid."""
    from agents.engine.graph import input_signature, node_ports, output_signature, parse_graph

    if body.node is not None:
        return node_ports(_node_doc(body))
    assert body.graph is not None
    doc = parse_graph(body.graph)
    return input_signature(doc), output_signature(doc)


def body_problems(body: Body | None, what: str = "body") -> list[ConfigProblem]:
    """Static problems of the body (every issue of its node or sub-graph)."""
    from agents.engine.graph import GraphIssue, validate_graph

    if body is None:
        return [ConfigProblem(f"the {what} is missing")]
    issues: list[GraphIssue]
    if body.graph is not None:
        issues = validate_graph(body.graph)
    else:
        assert body.node is not None
        doc = {
            "schema": 1,
            "nodes": [
                {"id": "_body_input", "type": "input", "config": {"fields": []}},
                {"id": body.node.id, "type": body.node.type, "label": body.node.label, "config": body.node.config},
                {"id": "_body_output", "type": "output", "config": {"fields": []}},
            ],
            "edges": [],
        }
        issues = [i for i in validate_graph(doc) if i.code != "missing_input"]
    return [ConfigProblem(f"{what}: {issue.message.rstrip('.')}", code=issue.code) for issue in issues]


async def run_body(ctx: NodeContext, body: Body, key: str, inputs: dict[str, Any]) -> dict[str, Any]:
    """Run the body once as child steps at iteration key ``key``."""
    if body.node is not None:
        return await ctx.run_child(body.node.id, key, body.node.type, body.node.config, inputs, label=body.node.label)
    assert body.graph is not None
    return await ctx.run_subgraph("", key, body.graph, inputs)
