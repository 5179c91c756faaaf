"""A newcomer's first hour in the builder, in Debian's Chromium at 1280x800 (issue 12).

A template opens at a readable zoom with SVG icons in the palette; the palette and the inspector fold
away; ports have a 12 px+ target; choosing the ``enum`` type shows the choices box and the choices are
saved; a viewer sees a clicked node's configuration read-only; every template in the gallery has a
category, the approval template among them. Screenshots go to ``test-artifacts/``.
"""

from __future__ import annotations

from typing import Any

import pytest

from agents.models import Workflow
from agents.services import workflows as svc
from tests.e2e.test_editor import editor_server, log_in, node, wait_inspector, wait_saved  # noqa: F401
from tests.fixtures.browser import screenshot, wait_js

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e]


def open_editor(page: Any, base: str, workflow: Workflow) -> None:
    page.goto(f"{base}/p/{workflow.project.slug}/w/{workflow.slug}/edit/")
    wait_js(page, "window.studioEditor && window.studioEditor.ready")


def test_a_template_opens_readable_with_svg_icons_folding_panels_and_big_ports(
    page: Any,
    editor_server: str,  # noqa: F811
    project: Any,
    alice: Any,
) -> None:
    workflow = svc.workflow_from_template(project=project, user=alice, template_slug="debate", name="")
    log_in(page, editor_server)
    open_editor(page, editor_server, workflow)

    zoom = page.evaluate("window.studioEditor.canvas.viewport().zoom")
    assert zoom >= 0.75
    # The label as rendered on screen (CSS size x canvas zoom).
    title = node(page, "judge").locator(".sn-title")
    assert title.inner_text() == "Judge"
    size = title.evaluate(
        "el => parseFloat(getComputedStyle(el).fontSize) * window.studioEditor.canvas.viewport().zoom"
    )
    assert size >= 11, f"node labels render at {size:.1f} px"
    assert page.locator("#zoom-value").inner_text() == f"{round(zoom * 100)}%"

    # Every palette entry, node head and the inspector icon is an SVG (no font glyphs).
    icons = page.locator(".ed-pitem__ico")
    assert icons.count() >= 15
    assert page.locator(".ed-pitem__ico svg").count() == icons.count()
    for kind in ("guardrail", "subworkflow", "tool", "approval"):
        assert page.locator(f'.ed-pitem[data-type="{kind}"] .ed-pitem__ico svg path').count() >= 1
        content = page.evaluate(
            "k => getComputedStyle(document.querySelector(`.ed-pitem[data-type=\"${k}\"] .ed-pitem__ico`), '::after').content",
            kind,
        )
        assert content in ("none", "normal", '""'), content
    assert page.locator(".sn-ico svg").count() == page.locator(".drawflow-node").count()
    screenshot(page, "builder-template-opened")

    # A port's target is at least 12 px on screen: the point 5 px off the dot's centre still hits it.
    port = node(page, "pro").locator(".outputs .output_1")
    box = port.bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    for dx, dy in ((6, 0), (-6, 0), (0, 6), (0, -6)):
        hit = page.evaluate(
            "([x, y]) => { const el = document.elementFromPoint(x, y); return el && el.classList.contains('output'); }",
            [cx + dx, cy + dy],
        )
        assert hit, f"({dx}, {dy}) off the port's centre misses it"

    # Fold the palette and the inspector away; Fit then uses the room.
    page.click("#btn-toggle-palette")
    page.click("#btn-toggle-side")
    wait_js(page, "document.querySelector('#ed-stage').getBoundingClientRect().width > 1200")
    assert page.locator("#btn-toggle-palette").get_attribute("aria-pressed") == "false"
    page.click("#btn-fit")
    assert page.evaluate("window.studioEditor.canvas.viewport().zoom") >= zoom
    screenshot(page, "builder-panels-folded")
    # Opening a node brings the inspector back.
    node(page, "judge").locator(".sn-title").click()
    wait_inspector(page, "judge")
    assert page.locator("#btn-toggle-side").get_attribute("aria-pressed") == "true"
    # Remembered on the next visit.
    open_editor(page, editor_server, workflow)
    assert page.locator(".ed-body.is-palette-closed").count() == 1


def test_choosing_enum_shows_the_choices_box_and_saves_the_choices(
    page: Any,
    editor_server: str,  # noqa: F811
    project: Any,
    alice: Any,
) -> None:
    graph = {
        "schema": 1,
        "nodes": [
            {
                "id": "input",
                "type": "input",
                "label": "Ticket",
                "config": {"fields": [{"name": "priority", "type": "str"}]},
                "position": {"x": 0, "y": 0},
            }
        ],
        "edges": [],
    }
    workflow = svc.workflow_create(project=project, user=alice, name="Enum", graph=graph)
    log_in(page, editor_server)
    open_editor(page, editor_server, workflow)
    node(page, "input").locator(".sn-title").click()
    wait_inspector(page, "input")
    choices = page.locator("#cfg-fields-0-choices")
    assert choices.is_hidden()
    page.select_option("#cfg-fields-0-type", "enum")
    assert choices.is_visible()
    choices.fill("low, medium, high")
    node(page, "input").locator(".sn-out", has_text="enum").wait_for(timeout=15_000)
    wait_saved(page)
    screenshot(page, "builder-enum-choices")
    workflow.refresh_from_db()
    field = workflow.draft_graph["nodes"][0]["config"]["fields"][0]
    assert field["type"] == "enum"
    assert field["choices"] == ["low", "medium", "high"]
    # Reopened, the box is there with the choices.
    open_editor(page, editor_server, workflow)
    node(page, "input").locator(".sn-title").click()
    wait_inspector(page, "input")
    assert page.locator("#cfg-fields-0-choices").input_value() == "low, medium, high"


def test_a_viewer_sees_a_clicked_nodes_configuration_read_only(
    page: Any,
    editor_server: str,  # noqa: F811
    project: Any,
    alice: Any,
    bob: Any,
) -> None:
    workflow = svc.workflow_from_template(project=project, user=alice, template_slug="sequential", name="")
    log_in(page, editor_server, "bob")
    open_editor(page, editor_server, workflow)
    assert "see its configuration" in page.locator("#inspector").inner_text()
    node(page, "writer").locator(".sn-title").click()
    wait_inspector(page, "writer")
    assert page.locator("#insp-label").input_value() == "Writer"
    assert page.locator("#insp-form fieldset").get_attribute("disabled") is not None
    assert "following the outline" in page.locator("#cfg-instructions").input_value()
    screenshot(page, "builder-viewer-inspector")
    workflow.refresh_from_db()
    assert workflow.draft_revision == 1


def test_every_template_has_a_category_and_human_in_the_loop_has_one(
    page: Any,
    editor_server: str,  # noqa: F811
    project: Any,
    alice: Any,
) -> None:
    templates = svc.workflow_templates()
    assert all(t.category for t in templates)
    approval = next(t for t in templates if t.slug == "approval")
    types = [n["type"] for n in approval.graph["nodes"]]
    assert types.index("agent") < types.index("approval") < types.index("http")
    log_in(page, editor_server)
    page.goto(f"{editor_server}/templates/")
    cards = page.locator(".tpl-card")
    assert cards.count() == len(templates)
    for i in range(cards.count()):
        assert cards.nth(i).locator(".chip").first.inner_text().strip() != ""
    assert page.locator("#tpl-approval").inner_text().count("Human in the loop") >= 1
    screenshot(page, "builder-template-gallery")


def test_history_restore_buttons_fit_and_the_live_version_is_named(
    page: Any,
    editor_server: str,  # noqa: F811
    project: Any,
    alice: Any,
) -> None:
    workflow = svc.workflow_from_template(project=project, user=alice, template_slug="sequential", name="")
    for note in ("First", "Second, with a longer note about what changed", "Third"):
        svc.workflow_publish(workflow=workflow, user=alice, note=note)
    log_in(page, editor_server)
    page.goto(f"{editor_server}/p/acme/w/{workflow.slug}/history/")
    card = page.locator(".hist section.card").first.bounding_box()
    buttons = page.locator(".hist-version__actions button", has_text="Restore")
    assert buttons.count() == 3
    for i in range(3):
        box = buttons.nth(i).bounding_box()
        assert box["x"] + box["width"] <= card["x"] + card["width"], "Restore is clipped"
    assert page.locator("#version-3 .hist-version__live").inner_text() == "live"
    assert page.locator(".hist-version__live").count() == 1
    screenshot(page, "builder-history")
    open_editor(page, editor_server, workflow)
    assert page.locator("#ed-live").inner_text() == "live: v3"


def test_router_routes_and_a_retry_policy_through_forms_only(
    page: Any,
    editor_server: str,  # noqa: F811
    project: Any,
    alice: Any,
) -> None:
    workflow = svc.workflow_from_template(project=project, user=alice, template_slug="conditional", name="")
    log_in(page, editor_server)
    open_editor(page, editor_server, workflow)
    node(page, "router").locator(".sn-title").click()
    wait_inspector(page, "router")
    assert page.locator("#cfg-routes-0-name").input_value() == "complaint"
    assert page.locator("#cfg-routes").count() == 0  # no raw JSON box in the way
    page.click("#insp-f-routes .insp-add")
    page.wait_for_selector("#cfg-routes-2-name")
    page.fill("#cfg-routes-2-name", "refund")
    page.fill("#cfg-routes-2-description", "the customer wants their money back")
    node(page, "router").locator(".sn-out", has_text="refund").wait_for(timeout=15_000)
    page.locator("#insp-form .insp-adv > summary").click()
    page.check("#cfg-retry-on")
    page.fill("#cfg-retry-attempts", "4")
    page.locator("#cfg-retry-backoff_ms").fill("250")
    wait_js(page, "window.studioEditor.canvas.nodes.get('router').config.retry?.attempts === 4")
    wait_js(page, "window.studioEditor.canvas.nodes.get('router').config.retry?.backoff_ms === 250")
    wait_saved(page)
    screenshot(page, "builder-router-routes-form")
    workflow.refresh_from_db()
    router = next(n for n in workflow.draft_graph["nodes"] if n["id"] == "router")
    assert router["config"]["routes"][2] == {
        "name": "refund",
        "when": "",
        "description": "the customer wants their money back",
    }
    assert router["config"]["retry"] == {"attempts": 4, "backoff_ms": 250}
    # The JSON view is there for power users.
    page.locator("#insp-f-routes .insp-json summary").click()
    # The view is filled by the <details> "toggle" event, which fires after the click returns.
    wait_js(page, "document.querySelector('#cfg-routes-json').value.includes('\"refund\"')", timeout=10_000)
    assert '"refund"' in page.locator("#cfg-routes-json").input_value()
