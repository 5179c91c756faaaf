"""The workflow engine: signatures, graph documents, node types and the
executor. Pure Python — effects come through :mod:`agents.engine.protocols`.
See ``agents/engine/README.md``."""

from agents.engine.errors import (
    EngineError,
    GraphValidationError,
    InputValidationError,
    SignatureError,
    TemplateError,
)
from agents.engine.executor import execute_graph
from agents.engine.graph import (
    EdgeDoc,
    GraphDoc,
    GraphIssue,
    NodeDoc,
    check_graph,
    check_inputs,
    input_signature,
    node_ports,
    not_downstream,
    output_signature,
    parse_graph,
    validate_graph,
)
from agents.engine.nodes import (
    NodeContext,
    NodeError,
    NodeOutput,
    NodeType,
    get_node_type,
    node_catalog,
)
from agents.engine.run import Budget, RunResult, Runtime
from agents.engine.signature import FieldSpec, Signature, is_compatible
from agents.engine.subworkflows import find_subworkflow_cycle, subworkflow_refs

__all__ = [
    "Budget",
    "EdgeDoc",
    "EngineError",
    "FieldSpec",
    "GraphDoc",
    "GraphIssue",
    "GraphValidationError",
    "InputValidationError",
    "NodeContext",
    "NodeDoc",
    "NodeError",
    "NodeOutput",
    "NodeType",
    "RunResult",
    "Runtime",
    "Signature",
    "SignatureError",
    "TemplateError",
    "check_graph",
    "check_inputs",
    "execute_graph",
    "find_subworkflow_cycle",
    "get_node_type",
    "input_signature",
    "is_compatible",
    "node_catalog",
    "node_ports",
    "not_downstream",
    "output_signature",
    "parse_graph",
    "subworkflow_refs",
    "validate_graph",
]
