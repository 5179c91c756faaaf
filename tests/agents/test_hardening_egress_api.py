"""Validate, publish and run apply one egress rule (issue 7, items 10 and 15).

Publishing refused a host an admin allowed while running the draft accepted
it, and an allowed host was open on every port. Now the three answer alike,
an allow-list entry may name a port, and a malformed URL is a clear 400.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from agents.models import Workflow
from studio.models import EgressAllowedHost, Project

pytestmark = pytest.mark.django_db


def http_graph(url: str) -> dict[str, Any]:
    def node(node_id: str, node_type: str, label: str, **config: Any) -> dict[str, Any]:
        return {"id": node_id, "type": node_type, "label": label, "config": config, "position": {"x": 0, "y": 0}}

    def edge(n: int, source: str, source_port: str, target: str, target_port: str) -> dict[str, Any]:
        return {
            "id": f"e{n}",
            "source": source,
            "source_port": source_port,
            "target": target,
            "target_port": target_port,
        }

    return {
        "schema": 1,
        "nodes": [
            node("in", "input", "In", fields=[{"name": "q"}]),
            node("hook", "http", "Hook", method="GET", url=url, inputs=[{"name": "q"}]),
            node("out", "output", "Out", fields=[{"name": "status", "type": "int"}]),
        ],
        "edges": [edge(1, "in", "q", "hook", "q"), edge(2, "hook", "status", "out", "status")],
    }


def _client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _answers(client: Client, workflow: Workflow) -> dict[str, Any]:
    """What validate, publish and run start say about the draft."""
    validate = client.post(f"/api/v1/workflows/{workflow.pk}/validate/", "{}", content_type="application/json")
    run = client.post(
        f"/api/v1/projects/acme/workflows/{workflow.slug}/runs",
        json.dumps({"inputs": {"q": "x"}, "draft": True}),
        content_type="application/json",
    )
    publish = client.post(f"/api/v1/workflows/{workflow.pk}/publish/", "{}", content_type="application/json")
    return {"valid": validate.json()["valid"], "run": run.status_code, "publish": publish.status_code,
            "validate_issues": validate.json()["issues"], "run_body": run.json(), "publish_body": publish.json()}  # fmt: skip


@pytest.mark.parametrize(
    ("entry", "accepted"),
    [
        ("10.0.0.5:8080", True),
        ("10.0.0.5", False),  # no port: 80 and 443 only
        ("10.0.0.5:9090", False),
        (None, False),
    ],
)
def test_validate_publish_and_run_agree_on_an_allowed_host_and_port(
    project: Project, alice: Any, entry: str | None, accepted: bool
) -> None:
    if entry is not None:
        EgressAllowedHost.objects.create(project=project, host=entry, note="the intranet hook")
    workflow = Workflow.objects.create(
        project=project, slug="hook", name="Hook", draft_graph=http_graph("http://10.0.0.5:8080/hook")
    )

    answers = _answers(_client(alice), workflow)

    if accepted:
        assert (answers["valid"], answers["run"], answers["publish"]) == (True, 201, 201), answers
    else:
        assert (answers["valid"], answers["run"], answers["publish"]) == (False, 400, 400), answers
        assert [i["code"] for i in answers["validate_issues"]] == ["forbidden_host"]
        assert answers["validate_issues"][0]["node_id"] == "hook"


def test_another_projects_entry_does_not_count(project: Project, alice: Any) -> None:
    other = Project.objects.create(slug="other", name="Other")
    EgressAllowedHost.objects.create(project=other, host="10.0.0.5:8080")
    workflow = Workflow.objects.create(
        project=project, slug="hook", name="Hook", draft_graph=http_graph("http://10.0.0.5:8080/hook")
    )

    answers = _answers(_client(alice), workflow)

    assert (answers["valid"], answers["run"], answers["publish"]) == (False, 400, 400)


@pytest.mark.parametrize("url", ["http:/x", "https:/hook/x", "http:hook"])
def test_a_url_like_http_slash_x_is_a_clear_400_everywhere(project: Project, alice: Any, url: str) -> None:
    client = _client(alice)
    workflow = Workflow.objects.create(project=project, slug="hook", name="Hook", draft_graph=http_graph(url))

    answers = _answers(client, workflow)
    document = {"studio_export": 1, "kind": "workflow", "workflow": {"name": "Imported"}, "graph": http_graph(url)}
    imported = client.post(
        "/api/v1/projects/acme/workflows/import/", json.dumps(document), content_type="application/json"
    )

    assert (answers["valid"], answers["run"], answers["publish"]) == (False, 400, 400)
    issue = answers["validate_issues"][0]
    assert issue["node_id"] == "hook" and "must look like http" in issue["message"]
    assert imported.status_code == 201  # a draft may be incomplete: imported, with the problem as a warning
    assert any("must look like" in warning for warning in imported.json()["warnings"])
