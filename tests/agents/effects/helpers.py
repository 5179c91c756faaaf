"""Graph builders and run helpers of the effects' tests."""

from __future__ import annotations

from typing import Any


def graph(nodes: list[dict[str, Any]], edges: list[tuple[str, str, str, str]]) -> dict[str, Any]:
    """A graph document from nodes and (source, source_port, target, target_port) edges."""
    return {
        "schema": 1,
        "nodes": [{"label": "", "position": {"x": 0, "y": 0}, **node} for node in nodes],
        "edges": [
            {"id": f"e{i}", "source": s, "source_port": sp, "target": t, "target_port": tp}
            for i, (s, sp, t, tp) in enumerate(edges)
        ],
    }


def text_field(name: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "type": "str", **extra}


def review_graph() -> dict[str, Any]:
    """input(draft) → review (approval) → publish (template) → output(text?, comment, rejected?)."""
    return graph(
        [
            {"id": "input", "type": "input", "config": {"fields": [text_field("draft")]}},
            {"id": "review", "type": "approval",
             "config": {"inputs": [text_field("draft")], "instructions": "Please review: {{ draft }}"}},
            {"id": "publish", "type": "template",
             "config": {"template": "PUBLISHED: {{ draft }}", "inputs": [text_field("draft")]}},
            {"id": "output", "type": "output",
             "config": {"fields": [text_field("text", required=False, default=""), text_field("comment"),
                                   text_field("rejected", required=False, default="")]}},
        ],
        [("input", "draft", "review", "draft"), ("review", "draft", "publish", "draft"),
         ("publish", "text", "output", "text"), ("review", "comment", "output", "comment"),
         ("review", "rejected", "output", "rejected")],
    )


def template_graph(template: str = "Hello {{ name }}!") -> dict[str, Any]:
    """input(name) → greet (template) → output(text): no model needed."""
    return graph(
        [
            {"id": "input", "type": "input", "config": {"fields": [text_field("name")]}},
            {"id": "greet", "type": "template", "config": {"template": template, "inputs": [text_field("name")]}},
            {"id": "output", "type": "output", "config": {"fields": [text_field("text")]}},
        ],
        [("input", "name", "greet", "name"), ("greet", "text", "output", "text")],
    )


def subworkflow_graph(child: str, *, child_input: str = "name", child_output: str = "text") -> dict[str, Any]:
    """input(name) → sub (subworkflow ``child``) → output(text)."""
    return graph(
        [
            {"id": "input", "type": "input", "config": {"fields": [text_field("name")]}},
            {"id": "sub", "type": "subworkflow",
             "config": {"workflow": child, "inputs": [text_field(child_input)], "outputs": [text_field(child_output)]}},
            {"id": "output", "type": "output", "config": {"fields": [text_field("text")]}},
        ],
        [("input", "name", "sub", child_input), ("sub", child_output, "output", "text")],
    )


def publish(project: Any, slug: str, graph_doc: dict[str, Any], *, version: int = 1) -> Any:
    """A workflow whose draft and published version ``version`` are ``graph_doc``."""
    from agents.models import Workflow, WorkflowVersion

    workflow, _ = Workflow.objects.get_or_create(project=project, slug=slug,
                                                 defaults={"name": slug.title(), "draft_graph": graph_doc})
    WorkflowVersion.objects.create(workflow=workflow, version=version, graph=graph_doc)
    return workflow


def start_run(workflow: Any, inputs: dict[str, Any], *, user: Any = None, graph_doc: dict[str, Any] | None = None,
              version: Any = None) -> Any:
    """A queued run created without dispatching it (the test executes it in this process)."""
    from agents.models import Run

    graph_doc = graph_doc or (version.graph if version is not None else workflow.draft_graph)
    return Run.objects.create(project=workflow.project, workflow=workflow, version=version, graph=graph_doc,
                              inputs=inputs, status="queued", created_by=user)


def execute(run_id: int) -> Any:
    """Execute a run in this process (the same code a worker runs) and return it reloaded."""
    from asgiref.sync import async_to_sync

    from agents.models import Run
    from agents.runtime import run_execute

    async_to_sync(run_execute)(run_id)
    return Run.objects.get(pk=run_id)
