"""Project variables in workflows: ``{{ vars.<name> }}`` checked at design time, like ports.

Every ``vars.NAME`` a graph reads (:mod:`agents.engine.varrefs`) must name a
variable of the workflow's project: validate, publish, import and run start
report an unknown one as ``unknown_variable``, naming the node and where in
its config. At run time the runtime hands the project's values to the engine
(:func:`studio.workspace.selectors.variable_values`).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from django.urls import reverse

from agents.engine.varrefs import graph_variable_refs
from studio.models import Variable

if TYPE_CHECKING:
    from agents.services.workflows import Issue
    from studio.workspace.variables import VariableUsage

UNKNOWN = "unknown_variable"


def variable_graph_issues(*, project_id: int | None, graph: Any) -> list[Issue]:
    """Each ``vars.NAME`` of ``graph`` naming no variable of the project (``project_id`` None:
    nothing is checked — no project, no variables to compare with)."""
    from agents.services.workflows import Issue

    if project_id is None:
        return []
    refs = graph_variable_refs(graph)
    if not refs:
        return []
    known = set(
        Variable.objects.filter(project_id=project_id, name__in={r.name for r in refs}).values_list("name", flat=True)
    )
    return [
        Issue(
            code=UNKNOWN,
            message=(
                f'{ref.describe_node()}: the project has no variable "{ref.name}" ({ref.where}). '
                "Add it under Settings → Variables, or fix the name."
            ),
            path=ref.where,
            node_id=ref.node_id,
        )
        for ref in refs
        if ref.name not in known
    ]


def variable_usages_in_agents(variable: Variable) -> list[VariableUsage]:
    """Workflows (not deleted) whose draft or a published version reads ``variable``."""
    from agents.models import Workflow
    from studio.workspace.variables import VariableUsage

    found: list[VariableUsage] = []
    workflows = Workflow.objects.filter(project_id=variable.project_id, deleted_at__isnull=True)
    for workflow in workflows.select_related("project").prefetch_related("versions").order_by("name"):
        graphs = [workflow.draft_graph, *(version.graph for version in workflow.versions.all())]
        for graph in graphs:
            if variable.name in json.dumps(graph) and any(r.name == variable.name for r in graph_variable_refs(graph)):
                url = reverse("workflow-detail", args=[workflow.project.slug, workflow.slug])
                found.append(VariableUsage(label=f"workflow {workflow.name}", url=url))
                break
    return found
