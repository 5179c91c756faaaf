"""An API key's role caps every permission check, object-level included.

A "viewer" key reads and nothing else — even when its user is a superuser or
holds guardian grants on the very workflow (issue 7, item 3).
"""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from guardian.shortcuts import assign_perm
from rest_framework.test import APIClient

from agents.models import Run, RunStatus, Workflow, WorkflowVersion
from studio.models import ApiKey, Project, Role
from studio.selectors import has_object_perm
from tests.conftest import UserFactory, demo_graph

pytestmark = pytest.mark.django_db


@pytest.fixture
def workflow(project: Project) -> Workflow:
    graph = demo_graph("question-answering")
    workflow = Workflow.objects.create(project=project, slug="qa", name="QA", draft_graph=graph)
    WorkflowVersion.objects.create(workflow=workflow, version=1, graph=graph)
    return workflow


@pytest.fixture
def run(workflow: Workflow) -> Run:
    return Run.objects.create(
        project=workflow.project,
        workflow=workflow,
        graph=workflow.draft_graph,
        status=RunStatus.RUNNING,
        inputs={"question": "q"},
    )


def key_client(user: Any, project: Project, role: str) -> APIClient:
    raw = ApiKey.generate()
    ApiKey.objects.create(
        project=project, name=f"{role}-key", prefix=raw[:10], hashed_key=ApiKey.hash(raw), role=role, user=user
    )
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


@pytest.fixture
def superuser() -> Any:
    return get_user_model().objects.create_superuser("root", "root@example.test", "pw-for-tests-only")


@pytest.fixture
def grantee(workflow: Workflow) -> Any:
    """No project role, but guardian grants to view, change and run this workflow."""
    user = UserFactory(username="grantee")
    for codename in ("view_workflow", "change_workflow", "run_workflow"):
        assign_perm(f"agents.{codename}", user, workflow)
    return user


WRITES = [
    ("draft_save", "put", "/api/v1/workflows/{wf}/draft/", {"graph": None, "base_revision": 1}),
    ("publish", "post", "/api/v1/workflows/{wf}/publish/", {"note": "v2"}),
    ("run_start", "post", "/api/v1/projects/{project}/workflows/qa/runs", {"inputs": {"question": "q"}}),
    ("rerun", "post", "/api/v1/runs/{run}/rerun", {"node_id": "answerer"}),
    ("cancel", "post", "/api/v1/runs/{run}/cancel", {}),
]


@pytest.mark.parametrize("holder", ["superuser", "grantee"])
@pytest.mark.parametrize(("action", "method", "url", "body"), WRITES, ids=[w[0] for w in WRITES])
def test_a_viewer_key_cannot_write_whoever_holds_it(request, workflow, run, holder, action, method, url, body):
    user = request.getfixturevalue(holder)
    client = key_client(user, workflow.project, Role.VIEWER)
    if body.get("graph", "") is None:
        body = {**body, "graph": workflow.draft_graph}
    path = url.format(wf=workflow.pk, run=run.pk, project=workflow.project.slug)

    response = getattr(client, method)(path, body, format="json")

    # The grantee has no project role: the project-scoped start route hides the project (404).
    expected = 404 if (holder, action) == ("grantee", "run_start") else 403
    assert response.status_code == expected, (action, response.status_code, response.content[:300])
    workflow.refresh_from_db()
    run.refresh_from_db()
    assert workflow.draft_revision == 1 and workflow.versions.count() == 1
    assert Run.objects.count() == 1 and run.status == RunStatus.RUNNING


@pytest.mark.parametrize("holder", ["superuser", "grantee"])
def test_a_viewer_key_still_reads(request, workflow, run, holder):
    client = key_client(request.getfixturevalue(holder), workflow.project, Role.VIEWER)

    assert client.get(f"/api/v1/workflows/{workflow.pk}/").status_code == 200
    assert client.get(f"/api/v1/runs/{run.pk}").status_code == 200


def test_a_runner_key_of_a_superuser_runs_but_does_not_edit(workflow, run, superuser):
    client = key_client(superuser, workflow.project, Role.RUNNER)

    assert client.post(f"/api/v1/runs/{run.pk}/cancel", {}, format="json").status_code == 202
    assert client.post(f"/api/v1/workflows/{workflow.pk}/publish/", {"note": "x"}, format="json").status_code == 403


def test_a_key_caps_object_permissions_in_the_selector(workflow, grantee, superuser):
    for user in (grantee, superuser):
        assert has_object_perm(user, workflow, workflow.project, "change")
        key = ApiKey.objects.create(
            project=workflow.project,
            name="k",
            prefix=f"sk_{user.pk}",
            hashed_key=ApiKey.hash(f"sk_{user.pk}"),
            role=Role.VIEWER,
            user=user,
        )
        user._studio_api_key = key
        assert has_object_perm(user, workflow, workflow.project, "view")
        assert not has_object_perm(user, workflow, workflow.project, "run")
        assert not has_object_perm(user, workflow, workflow.project, "change")
