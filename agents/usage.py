"""What ``agents`` tells the platform pages: where a secret is used, which workflows a project has.

Registered in :meth:`agents.apps.AgentsConfig.ready` (``studio`` cannot import ``agents``).
"""

from __future__ import annotations

import json
import re

from django.urls import reverse

from agents.models import McpServer, Workflow
from studio.models import Project, Secret
from studio.workspace.usage import SecretUsage


def secret_usages_in_agents(secret: Secret) -> list[SecretUsage]:
    """MCP servers whose headers come from ``secret``, and workflows whose draft or a
    published version reads it with ``secret("NAME")``."""
    found = [
        SecretUsage(kind="mcp server", label=f"MCP server {server.name}")
        for server in McpServer.objects.filter(headers_secret=secret).order_by("slug")
    ]
    # In the stored JSON the quotes around the name are escaped: secret(\"NAME\").
    pattern = re.compile(r"secret\(\s*\\?[\"']" + re.escape(secret.name) + r"\\?[\"']\s*\)")
    for workflow in Workflow.objects.filter(project_id=secret.project_id).prefetch_related("versions"):
        graphs = [workflow.draft_graph, *(version.graph for version in workflow.versions.all())]
        if any(pattern.search(json.dumps(graph)) for graph in graphs):
            url = reverse("workflow-detail", args=[workflow.project.slug, workflow.slug])
            found.append(SecretUsage(kind="workflow", label=f"workflow {workflow.name}", url=url))
    return found


def workflow_choices(project: Project) -> list[tuple[str, str]]:
    """``[(slug, name)]`` of the project's workflows."""
    return list(Workflow.objects.filter(project=project).order_by("name").values_list("slug", "name"))
