"""The engine's effect protocols implemented with Django (``agents.engine.protocols``).

| protocol | implementation |
|---|---|
| ``HttpClient`` | :class:`~agents.effects.http.GuardedHttpClient` — SSRF-guarded, pinned, capped, at most once |
| ``SecretStore`` | :class:`~agents.effects.secrets.DjangoSecretStore` |
| ``ApprovalGate`` | :class:`~agents.effects.approvals.DjangoApprovalGate` |
| ``SubworkflowRunner`` | :class:`~agents.effects.subworkflows.DjangoSubworkflowRunner` |
| ``McpClient`` | :class:`~agents.effects.mcp.DjangoMcpClient` (official ``mcp`` SDK, streamable HTTP) |

``agents.runtime._build_runtime`` wires them into each run's ``Runtime``.
"""

from agents.effects.approvals import DjangoApprovalGate
from agents.effects.http import GuardedHttpClient
from agents.effects.mcp import DjangoMcpClient
from agents.effects.secrets import DjangoSecretStore
from agents.effects.subworkflows import DjangoSubworkflowRunner, check_subworkflow_cycles

__all__ = [
    "DjangoApprovalGate",
    "DjangoMcpClient",
    "DjangoSecretStore",
    "DjangoSubworkflowRunner",
    "GuardedHttpClient",
    "check_subworkflow_cycles",
]
