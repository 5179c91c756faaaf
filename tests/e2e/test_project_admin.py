"""An owner creates a project and adds a viewer; the viewer cannot run (no button, a forced POST is refused);
the owner promotes them to runner and they can run."""

from __future__ import annotations

import pytest

from agents.models import Run, Workflow
from studio.models import AuditEvent, Membership, Project, Role
from tests.conftest import UserFactory
from tests.fixtures.browser import screenshot

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e]

ECHO_GRAPH = {
    "schema": 1,
    "nodes": [
        {
            "id": "in",
            "type": "input",
            "label": "In",
            "position": {"x": 0, "y": 0},
            "config": {"fields": [{"name": "topic", "type": "str"}]},
        },
        {
            "id": "out",
            "type": "output",
            "label": "Out",
            "position": {"x": 300, "y": 0},
            "config": {"fields": [{"name": "topic", "type": "str"}]},
        },
    ],
    "edges": [{"id": "e1", "source": "in", "source_port": "topic", "target": "out", "target_port": "topic"}],
}
FORCED_POST = """async (url) => {
  const headers = JSON.parse(document.body.getAttribute('hx-headers'));
  const response = await fetch(url, {method: 'POST', headers, body: new URLSearchParams({'input-topic': 'forced'})});
  return response.status;
}"""


def log_in(page, base: str, username: str) -> None:
    page.goto(f"{base}/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", "pw-for-tests-only")
    page.click("button[type=submit]")
    page.wait_for_load_state()


def test_owner_adds_a_viewer_who_cannot_run_until_promoted_to_runner(browser, live_asgi_server, charlie):
    base = live_asgi_server
    UserFactory(username="vera", email="vera@example.com")
    owner = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
    log_in(owner, base, "charlie")
    owner.click("text=New project")
    owner.fill("input[name=name]", "Team space")
    screenshot(owner, "admin-new-project")
    owner.click("button:has-text('Create project')")
    owner.wait_for_url(f"{base}/p/team-space/")
    project = Project.objects.get(slug="team-space")
    assert Membership.objects.get(project=project, user=charlie).role == Role.OWNER
    Workflow.objects.create(project=project, slug="echo", name="Echo", draft_graph=ECHO_GRAPH)

    owner.click(".sidebar >> text=Settings")
    owner.click(".tabs >> text=Members")
    owner.fill("input[name=user]", "vera@example.com")
    owner.select_option("#f-role", "viewer")
    owner.click("button:has-text('Add member')")
    owner.wait_for_selector(".toast:has-text('vera added as viewer')")
    screenshot(owner, "admin-members")
    vera = Membership.objects.get(project=project, user__username="vera")
    assert vera.role == Role.VIEWER

    viewer = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
    log_in(viewer, base, "vera")
    viewer.goto(f"{base}/p/team-space/w/echo/")
    assert viewer.locator("form[id^=run-form] button[type=submit]").count() == 0
    assert "can view this workflow but not run it" in viewer.inner_text("form[id^=run-form]")
    screenshot(viewer, "admin-viewer-cannot-run")
    assert viewer.evaluate(FORCED_POST, f"{base}/p/team-space/w/echo/run/") == 403
    assert viewer.locator("text=Open in editor").count() == 0
    assert viewer.locator("a:has-text('Settings')").count() == 0
    assert viewer.evaluate(FORCED_POST, f"{base}/p/team-space/w/echo/settings/") == 403
    assert viewer.evaluate(FORCED_POST, f"{base}/p/team-space/settings/members/") == 403
    assert viewer.locator(".sidebar >> text=Settings").count() == 0
    assert not Run.objects.filter(workflow__project=project).exists()

    owner.select_option(f"#member-{vera.pk} select[name=role]", "runner")
    owner.click(f"#member-{vera.pk} button:has-text('Change')")
    owner.wait_for_selector(".toast:has-text('vera is now runner')")

    viewer.reload()
    viewer.fill('textarea[name="input-topic"]', "hello from a runner")
    viewer.click("form[id^=run-form] button[type=submit]")
    viewer.wait_for_url(f"{base}/runs/**")
    screenshot(viewer, "admin-runner-ran")
    run = Run.objects.get(workflow__project=project)
    assert run.created_by.username == "vera" and run.inputs == {"topic": "hello from a runner"}

    owner.goto(f"{base}/p/team-space/audit/")
    text = owner.inner_text("main")
    for verb in ("project.create", "membership.add", "membership.change_role", "run.start"):
        assert verb in text
    screenshot(owner, "admin-audit-log")
    assert AuditEvent.objects.filter(project=project, verb="run.start", actor_username="vera").exists()


@pytest.mark.model
def test_admin_creates_a_key_whose_curl_line_starts_a_run_stores_a_secret_never_shown_and_tests_an_endpoint(
    browser, live_asgi_server, project, alice, local_model
):
    import shlex
    import subprocess

    from traces.services import endpoint_ensure_local

    base = live_asgi_server
    Workflow.objects.create(project=project, slug="echo", name="Echo", draft_graph=ECHO_GRAPH)
    endpoint = endpoint_ensure_local(project=project)
    page = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
    log_in(page, base, "alice")

    page.goto(f"{base}/p/acme/settings/keys/")
    page.fill("input[name=name]", "CI pipeline")
    page.select_option("#f-krole", "runner")
    page.select_option("#f-kwf", "echo")
    page.click("button:has-text('Create key')")
    page.wait_for_selector("#new-curl")
    screenshot(page, "admin-key-created")
    curl = page.input_value("#new-curl").replace("<topic>", "from curl")
    assert '"topic": "from curl"' in curl
    answer = subprocess.run(
        [*shlex.split(curl), "-s", "-w", "\\n%{http_code}"], capture_output=True, text=True, timeout=60, check=True
    )
    body, status = answer.stdout.rsplit("\n", 1)
    assert status == "201", body
    run = Run.objects.get(workflow__slug="echo")
    assert run.inputs == {"topic": "from curl"} and run.created_by == alice
    page.goto(f"{base}/p/acme/settings/keys/")
    assert page.input_value("#f-kname") == "" and page.locator("#new-key").count() == 0

    canary = "canary-e2e-4f1d9c"
    page.goto(f"{base}/p/acme/settings/secrets/")
    page.fill("input[name=name]", "PROVIDER_KEY")
    page.fill("#f-svalue", canary)
    page.click("button:has-text('Save secret')")
    page.wait_for_selector(".toast:has-text('PROVIDER_KEY saved')")
    for path in ("/p/acme/settings/secrets/", "/p/acme/audit/", "/p/acme/settings/endpoints/"):
        page.goto(base + path)
        assert canary not in page.content(), path

    page.goto(f"{base}/p/acme/settings/endpoints/")
    page.click(f"#endpoint-{endpoint.pk} button:has-text('Test connection')")
    result = page.wait_for_selector(
        f"#endpoint-test-{endpoint.pk}.endpoint-test--ok, #endpoint-test-{endpoint.pk}.endpoint-test--error",
        timeout=120_000,
    )
    screenshot(page, "admin-endpoint-tested")
    assert "Connected." in result.inner_text(), result.inner_text()
    assert "tokens" in result.inner_text()

    page.goto(f"{base}/p/acme/audit/")
    text = page.inner_text("main")
    for verb in ("api_key.create", "run.start", "secret.create", "endpoint.test"):
        assert verb in text
