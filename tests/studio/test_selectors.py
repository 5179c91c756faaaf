"""Access rules: role per project, guardian object permissions, API-key caps, 404 before 403."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied
from django.http import Http404
from guardian.shortcuts import assign_perm

from agents.models import Workflow
from agents.selectors import access_workflow, workflows_visible
from studio.models import ApiKey, Role, role_allows
from studio.selectors import access_project, projects_visible, user_role


@pytest.fixture
def workflow(project):
    return Workflow.objects.create(project=project, slug="wf", name="WF")


@pytest.mark.parametrize(
    ("role", "perm", "allowed"),
    [
        (Role.VIEWER, "view", True), (Role.VIEWER, "run", False), (Role.RUNNER, "run", True),
        (Role.RUNNER, "change", False), (Role.EDITOR, "change", True), (Role.EDITOR, "manage", False),
        (Role.ADMIN, "manage", True), (Role.OWNER, "delete", True), (None, "view", False),
    ],
)
def test_role_allows_follows_the_role_ladder(role, perm, allowed):
    assert role_allows(role, perm) is allowed


def test_owner_gets_workflow_viewer_is_refused_change_stranger_gets_404(workflow, alice, bob, charlie):
    assert access_workflow(user=alice, pk=workflow.pk, perm="change") == workflow
    assert access_workflow(user=bob, pk=workflow.pk) == workflow
    with pytest.raises(PermissionDenied):
        access_workflow(user=bob, pk=workflow.pk, perm="run")
    with pytest.raises(Http404):
        access_workflow(user=charlie, pk=workflow.pk)
    with pytest.raises(Http404):
        access_project(user=charlie, slug=workflow.project.slug)


def test_guardian_object_permission_grants_one_workflow_only(workflow, project, charlie):
    other = Workflow.objects.create(project=project, slug="other", name="Other")
    assign_perm("agents.view_workflow", charlie, workflow)
    assert access_workflow(user=charlie, pk=workflow.pk) == workflow
    with pytest.raises(Http404):
        access_workflow(user=charlie, pk=other.pk)
    assert list(workflows_visible(user=charlie)) == [workflow]


def test_api_key_caps_role_and_project(workflow, alice, project):
    from tests.conftest import ProjectFactory

    elsewhere = ProjectFactory(slug="elsewhere")
    key = ApiKey.objects.create(project=project, name="ci", prefix="sk_x", hashed_key=ApiKey.hash("sk_x"),
                                role=Role.VIEWER, user=alice)
    alice._studio_api_key = key
    assert user_role(alice, project) == Role.VIEWER
    assert user_role(alice, elsewhere) is None
    assert list(projects_visible(alice)) == [project]
    with pytest.raises(PermissionDenied):
        access_workflow(user=alice, pk=workflow.pk, perm="change")
