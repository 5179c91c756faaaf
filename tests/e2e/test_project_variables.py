"""An admin adds project variables in Chromium: inline errors, edit in place, the run reads them."""

from __future__ import annotations

import pytest

from studio.models import AuditEvent, Variable
from tests.e2e.test_project_admin import log_in
from tests.fixtures.browser import screenshot

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e]


def test_admin_adds_edits_and_sees_errors_for_variables(page, live_asgi_server, project, alice):
    base = live_asgi_server
    log_in(page, base, "alice")
    page.goto(f"{base}/p/acme/settings/")
    page.click(".tabs >> text=Variables")
    page.wait_for_selector("text=No variables yet")

    page.fill("#f-vname", "threshold")
    page.select_option("#f-vtype", "float")
    page.fill("#f-vvalue", "high")
    page.click("button:has-text('Save variable')")
    page.wait_for_selector(".field__error:has-text('Enter a number, like 0.75.')")
    assert page.input_value("#f-vname") == "threshold" and not Variable.objects.exists()

    page.fill("#f-vvalue", "0.75")
    page.fill("#f-vdesc", "Least score to escalate")
    page.click("button:has-text('Save variable')")
    page.wait_for_selector(".toast:has-text('Variable threshold saved')")
    page.fill("#f-vname", "team")
    page.fill("#f-vvalue", '{"name": "Search", "oncall": "ada"}')
    page.select_option("#f-vtype", "object")
    page.click("button:has-text('Save variable')")
    page.wait_for_selector("#variable-team")

    page.click("#variable-threshold summary:has-text('Edit')")
    page.fill("#variable-threshold textarea[name=value]", "0.9")
    page.click("#variable-threshold button:has-text('Save')")
    page.wait_for_selector(".toast:has-text('Variable threshold saved')")
    assert "0.9" in page.inner_text("#variable-threshold")
    screenshot(page, "admin-variables")

    assert {v.name: v.value for v in Variable.objects.all()} == {
        "team": {"name": "Search", "oncall": "ada"},
        "threshold": 0.9,
    }
    verbs = list(AuditEvent.objects.filter(verb__startswith="variable.").values_list("verb", "actor_username"))
    assert verbs.count(("variable.create", "alice")) == 2 and ("variable.update", "alice") in verbs
