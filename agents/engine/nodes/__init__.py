"""Node types. Importing this package registers the built-in ones."""

from agents.engine.nodes import (  # noqa: F401  (registration)
    agent,
    agent_tools,
    approval,
    guardrail,
    http,
    io,
    join,
    llm,
    loop,
    parallel,
    router,
    subworkflow,
    supervisor,
    template,
    tool,
)
from agents.engine.nodes.base import (
    ERROR_PORT,
    ConfigProblem,
    NodeConfig,
    NodeContext,
    NodeError,
    NodeOutput,
    NodeType,
    RetryPolicy,
    StepWaiting,
)
from agents.engine.nodes.registry import get_node_type, node_catalog, node_types, register

__all__ = [
    "ERROR_PORT",
    "ConfigProblem",
    "NodeConfig",
    "NodeContext",
    "NodeError",
    "NodeOutput",
    "NodeType",
    "RetryPolicy",
    "StepWaiting",
    "get_node_type",
    "node_catalog",
    "node_types",
    "register",
]
