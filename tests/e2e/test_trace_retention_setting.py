"""An owner sets how long the project keeps traces on the settings page (keyboard and mouse alike)."""

from __future__ import annotations

import pytest

from tests.e2e.test_project_admin import log_in
from tests.fixtures.browser import screenshot

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e]


def test_owner_sets_the_trace_retention(browser, live_asgi_server, project, alice):
    page = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
    log_in(page, live_asgi_server, "alice")
    page.goto(f"{live_asgi_server}/p/acme/settings/")
    field = page.get_by_label("Keep traces")
    field.scroll_into_view_if_needed()
    field.fill("45")
    screenshot(page, "settings-trace-retention")
    with page.expect_navigation():
        page.click("button:has-text('Save settings')")

    project.refresh_from_db()
    assert project.trace_retention_days == 45
    assert page.get_by_label("Keep traces").input_value() == "45"
