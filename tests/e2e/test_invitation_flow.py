"""An owner invites someone without an account by e-mail as viewer; they create an account from the
link, land in the project as a viewer (no run button, a forced run refused) and the link is spent."""

from __future__ import annotations

import pytest

from agents.models import Run, Workflow
from studio.models import AuditEvent, Membership
from tests.e2e.test_project_admin import ECHO_GRAPH, FORCED_POST, log_in
from tests.fixtures.browser import screenshot

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e]


def test_an_invited_newcomer_signs_up_from_the_link_as_a_viewer(page, browser, live_asgi_server, project, alice):
    base = live_asgi_server
    Workflow.objects.create(project=project, slug="echo", name="Echo", draft_graph=ECHO_GRAPH)
    log_in(page, base, "alice")
    page.goto(f"{base}/p/acme/settings/members/")
    page.fill("#f-email", "nora@example.com")
    page.select_option("#f-irole", "viewer")
    page.click("button:has-text('Create invitation link')")
    page.wait_for_selector("text=E-mailed to nora@example.com.")
    link = page.input_value("#invitation-link")
    assert link.startswith(f"{base}/invite/")

    nora = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
    nora.goto(link)
    assert nora.input_value("input[name=email]") == "nora@example.com"
    nora.fill("input[name=username]", "nora")
    nora.fill("input[name=password1]", "short")
    nora.fill("input[name=password2]", "short")
    nora.click("button:has-text('Create account and join')")
    nora.wait_for_selector(".field__error")
    assert "too short" in nora.inner_text("main")
    nora.fill("input[name=password1]", "nora-long-pass-5521")
    nora.fill("input[name=password2]", "nora-long-pass-5521")
    screenshot(nora, "invitation-signup")
    nora.click("button:has-text('Create account and join')")
    nora.wait_for_url(f"{base}/p/acme/")
    assert Membership.objects.get(project=project, user__username="nora").role == "viewer"

    nora.goto(f"{base}/p/acme/w/echo/")
    assert nora.locator("form[id^=run-form] button[type=submit]").count() == 0
    assert nora.evaluate(FORCED_POST, f"{base}/p/acme/w/echo/run/") == 403
    assert not Run.objects.exists()

    reuse = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
    reuse.goto(link)
    assert "It has already been used." in reuse.inner_text("main")

    page.goto(f"{base}/p/acme/audit/")
    audit = page.inner_text("main")
    for verb in ("invitation.create", "invitation.email", "invitation.accept", "user.signup"):
        assert verb in audit
    assert AuditEvent.objects.filter(verb="invitation.accept", actor_username="nora").exists()
