"""Public share links: run without signing in, see only your answer, rate limit per address, revocation, framing."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.test import Client

from agents.deploy.models import Deployment, SharedRun, ShareLink
from agents.deploy.sharing import share_link_create
from agents.models import Run, Workflow, WorkflowVersion
from studio.models import AuditEvent
from tests.conftest import demo_graph

pytestmark = pytest.mark.django_db


@pytest.fixture
def qa(project):
    graph = demo_graph("question-answering")
    workflow = Workflow.objects.create(project=project, slug="qa", name="QA", draft_graph=graph)
    version = WorkflowVersion.objects.create(workflow=workflow, version=1, graph=graph)
    Deployment.objects.create(workflow=workflow, version=version)
    cache.clear()
    return workflow


def test_an_editor_creates_a_link_that_runs_the_workflow_without_sign_in_until_revoked(qa, alice):
    owner = Client()
    owner.force_login(alice)
    assert owner.post("/p/acme/w/qa/share/").status_code == 302
    link = ShareLink.objects.get()
    page = owner.get("/p/acme/w/qa/").content.decode()
    assert f"http://testserver/s/{link.token}/" in page and "&lt;iframe src=" in page
    visitor = Client()  # not signed in
    form = visitor.get(f"/s/{link.token}/")
    assert form.status_code == 200 and b"question" in form.content
    assert "frame-ancestors *" in form["Content-Security-Policy"]
    assert "X-Frame-Options" not in form
    answer = visitor.post(f"/s/{link.token}/", {"input-question": "Why is the sea salty?"})
    assert answer.status_code == 302
    shared = SharedRun.objects.get()
    assert answer["Location"] == f"/s/{link.token}/r/{shared.token}/"
    assert (shared.run.inputs, shared.run.version.version, shared.run.created_by) == (
        {"question": "Why is the sea salty?"},
        1,
        alice,
    )
    status = visitor.get(answer["Location"], {"format": "json"}).json()
    assert status == {"status": "queued", "finished": False}
    assert b"Working on it" in visitor.get(answer["Location"]).content
    assert visitor.get(f"/s/{link.token}/r/not-this-one/").status_code == 404
    assert owner.post(f"/p/acme/w/qa/share/{link.pk}/revoke/").status_code == 302
    assert visitor.get(f"/s/{link.token}/").status_code == 404
    assert visitor.post(f"/s/{link.token}/", {"input-question": "Again?"}).status_code == 404
    assert visitor.get(answer["Location"]).status_code == 404
    assert Run.objects.count() == 1
    assert {"share.create", "share.revoke"} <= set(AuditEvent.objects.values_list("verb", flat=True))


def test_bad_inputs_show_the_form_again_and_start_nothing(qa, alice):
    link = share_link_create(workflow=qa, user=alice)
    response = Client().post(f"/s/{link.token}/", {"input-question": ""})
    assert response.status_code == 400
    assert Run.objects.count() == 0


def test_runs_are_rate_limited_per_address(qa, alice, settings):
    settings.STUDIO_SHARE_RUNS_PER_MINUTE = 2
    link = share_link_create(workflow=qa, user=alice)
    visitor = Client(REMOTE_ADDR="203.0.113.7")
    codes = [visitor.post(f"/s/{link.token}/", {"input-question": f"q{i}"}).status_code for i in range(3)]
    assert codes == [302, 302, 429]
    assert Client(REMOTE_ADDR="203.0.113.8").post(f"/s/{link.token}/", {"input-question": "other"}).status_code == 302
    assert Run.objects.count() == 3


def test_only_editors_create_links_and_unknown_tokens_are_404(qa, bob):
    viewer = Client()
    viewer.force_login(bob)
    assert viewer.post("/p/acme/w/qa/share/").status_code == 403
    assert b"Public link" not in viewer.get("/p/acme/w/qa/").content
    assert Client().get("/s/no-such-token/").status_code == 404
    assert not ShareLink.objects.exists()
