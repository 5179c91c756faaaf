"""Run states on the run page, in Chromium at 1280x800 (issue 12).

A failure shows the failing node apart from the nodes it stopped ("not run"), a sentence for its error
code with the raw details folded, and Retry / Rerun from here; a cancel is its own grey state naming who
cancelled; a waiting approval is approved (with edited data) from the run page itself.
Screenshots go to ``test-artifacts/``.
"""

from __future__ import annotations

from typing import Any

import pytest

from agents.fragments import error_sentence
from agents.models import Run, RunStatus, Workflow
from agents.services.runs import run_start, run_wait
from tests.fixtures.browser import screenshot, wait_js
from tests.fixtures.services import free_port

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e, pytest.mark.worker]

PASSWORD = "pw-for-tests-only"


def log_in(page: Any, base: str, username: str = "alice") -> None:
    page.goto(f"{base}/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")


def field(name: str, type_: str = "str") -> dict[str, Any]:
    return {"name": name, "type": type_}


def chain(*middle: dict[str, Any], first: str = "topic", last: str = "text") -> dict[str, Any]:
    """input(first) → middle nodes in a row → output(last); each middle node maps its first input port."""
    nodes: list[dict[str, Any]] = [
        {"id": "input", "type": "input", "label": "Topic", "config": {"fields": [field(first)]}},
        *middle,
        {"id": "output", "type": "output", "label": "Result", "config": {"fields": [field(last)]}},
    ]
    for i, node in enumerate(nodes):
        node["position"] = {"x": i * 280, "y": 0}
    edges = []
    ports = [first] + [(n["config"].get("outputs") or n["config"].get("inputs"))[0]["name"] for n in middle]
    for i in range(len(nodes) - 1):
        target = nodes[i + 1]
        target_port = last if target["id"] == "output" else target["config"]["inputs"][0]["name"]
        edges.append(
            {
                "id": f"e{i}",
                "source": nodes[i]["id"],
                "source_port": ports[i],
                "target": target["id"],
                "target_port": target_port,
            }
        )
    return {"schema": 1, "nodes": nodes, "edges": edges}


def agent(node_id: str, label: str, endpoint: str, output: str) -> dict[str, Any]:
    return {
        "id": node_id,
        "type": "agent",
        "label": label,
        "config": {
            "endpoint": endpoint,
            "instructions": "Write one sentence about the topic.",
            "inputs": [field("topic")],
            "outputs": [field(output)],
            "params": {"max_tokens": 20},
        },
    }


def approval(node_id: str = "review") -> dict[str, Any]:
    return {
        "id": node_id,
        "type": "approval",
        "label": "Review",
        "config": {"inputs": [field("topic")], "instructions": "Check the topic: {{ topic }}"},
    }


def badge(page: Any, node_id: str) -> str:
    return page.locator(f"#node-status-{node_id}").inner_text().strip().lower()


def test_a_failure_shows_the_failing_node_apart_a_sentence_and_retry(
    page: Any, live_asgi_server: str, project: Any, alice: Any, local_endpoint: Any, celery_worker_proc: Any
) -> None:
    broken = local_endpoint.__class__.objects.get(pk=local_endpoint.pk)
    broken.pk = None
    broken.slug, broken.name = "broken", "Broken"
    broken.api_base = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there
    broken.save()
    graph = chain(agent("outliner", "Outliner", "broken", "outline"), agent("writer", "Writer", "local", "text"))
    graph["nodes"][2]["config"]["inputs"] = [field("outline")]
    graph["edges"][1]["target_port"] = "outline"
    workflow = Workflow.objects.create(project=project, slug="broken", name="Broken", draft_graph=graph)
    run = run_wait(run_start(workflow=workflow, user=alice, inputs={"topic": "tea"}).pk, timeout_s=300)
    # Nothing listens there (or the egress guard refuses the address first): either way a failure with a code.
    assert run.status == RunStatus.FAILED and run.error_code in ("unreachable", "egress_refused")
    sentence = error_sentence(run.error_code)

    log_in(page, live_asgi_server)
    page.goto(f"{live_asgi_server}/runs/{run.pk}/")
    assert badge(page, "outliner") == "failed"
    assert badge(page, "writer") == "not run"
    assert badge(page, "output") == "not run"
    error = page.locator(f"#run-outputs-{run.pk} .run-error")
    assert sentence in error.locator(".run-error__title").inner_text()
    assert "Outliner" in error.inner_text() and "did not run" in error.inner_text()
    details = error.locator("details")
    assert details.get_attribute("open") is None  # the raw code and message are folded
    assert not details.locator("code").is_visible()
    details.locator("summary").click()
    assert details.locator("code").inner_text() == run.error_code
    step = page.locator("#step-card-outliner")
    assert sentence in step.locator(".step-error strong").inner_text()
    assert step.locator(".step-card__rerun button").is_visible()
    screenshot(page, "run-failed-states")

    page.click(".run-retry button")
    page.wait_for_url(f"{live_asgi_server}/runs/**")
    retry = Run.objects.exclude(pk=run.pk).get(workflow=workflow)
    assert page.url.endswith(f"/runs/{retry.pk}/")
    assert retry.parent_run_id == run.pk and retry.inputs == run.inputs and retry.rerun_from_node == ""
    assert f"run #{run.pk}" in page.locator(".run-header__meta").inner_text()

    # Rerun from here: a new run that starts again at the failed node.
    run_wait(retry.pk, timeout_s=300)
    page.goto(f"{live_asgi_server}/runs/{run.pk}/")
    page.locator("#step-card-outliner .step-card__rerun button").click()
    page.wait_for_url(lambda url: url.rstrip("/").split("/")[-1] not in (str(run.pk), str(retry.pk)))
    rerun = Run.objects.get(workflow=workflow, rerun_from_node="outliner")
    assert page.url.endswith(f"/runs/{rerun.pk}/") and rerun.parent_run_id == run.pk
    assert "rerun" in page.locator(".run-header__meta").inner_text()


def test_a_cancel_is_grey_and_names_who_cancelled(
    page: Any, live_asgi_server: str, project: Any, alice: Any, celery_worker_proc: Any
) -> None:
    workflow = Workflow.objects.create(project=project, slug="gate", name="Gate", draft_graph=chain(approval()))
    run = run_wait(run_start(workflow=workflow, user=alice, inputs={"topic": "tea"}).pk, timeout_s=120)
    assert run.status == RunStatus.WAITING

    log_in(page, live_asgi_server)
    page.goto(f"{live_asgi_server}/runs/{run.pk}/")
    page.click(f"#run-actions-{run.pk} button")
    page.wait_for_load_state("networkidle")
    run.refresh_from_db()
    assert run.status == RunStatus.CANCELLED
    header = page.locator(f"#run-header-{run.pk}")
    assert header.locator(".badge").first.inner_text().strip().lower() == "cancelled"
    assert "badge--cancelled" in (header.locator(".badge").first.get_attribute("class") or "")
    assert "by alice" in header.inner_text()
    assert badge(page, "output") == "not run"
    assert badge(page, "review") == "cancelled"  # the waiting approval the cancel stopped
    outputs = page.locator(f"#run-outputs-{run.pk}")
    assert "alert--neutral" in (outputs.locator(".run-error").get_attribute("class") or "")
    assert "Cancelled by alice." in outputs.inner_text()
    assert "The run was cancelled." in outputs.inner_text()
    screenshot(page, "run-cancelled")


def test_approve_with_edited_data_from_the_run_page(
    page: Any, live_asgi_server: str, project: Any, alice: Any, bob: Any, celery_worker_proc: Any
) -> None:
    workflow = Workflow.objects.create(project=project, slug="gate", name="Gate", draft_graph=chain(approval()))
    run = run_wait(run_start(workflow=workflow, user=alice, inputs={"topic": "tea"}).pk, timeout_s=120)
    assert run.status == RunStatus.WAITING

    # A viewer sees the run but no decision form.
    log_in(page, live_asgi_server, "bob")
    page.goto(f"{live_asgi_server}/runs/{run.pk}/")
    assert page.locator(".run-approval").count() == 0

    page.context.clear_cookies()
    log_in(page, live_asgi_server)
    page.goto(f"{live_asgi_server}/runs/{run.pk}/")
    form = page.locator("#run-approval-review")
    assert "Check the topic: tea" in form.inner_text()
    screenshot(page, "run-approval-waiting")
    page.fill("#approval-data-review", '{"topic": "green tea"}')
    page.fill("#approval-comment-review", "More precise.")
    form.locator("button[value=approve]").click()
    page.wait_for_url(f"{live_asgi_server}/runs/{run.pk}/")
    page.locator(f"#run-outputs-{run.pk} [data-output=text]").wait_for(timeout=120_000)
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED
    assert run.outputs == {"text": "green tea"}
    assert "green tea" in page.locator(f"#run-outputs-{run.pk}").inner_text()
    assert page.locator(".run-approval").count() == 0
    wait_js(page, "document.querySelector('#node-status-review').textContent.trim() === 'succeeded'")
    screenshot(page, "run-approved")


def test_compare_two_runs_full_width_keyed_by_label_with_the_rerun_marked(
    page: Any, live_asgi_server: str, project: Any, alice: Any, celery_worker_proc: Any
) -> None:
    from agents.services.runs import run_rerun_from

    workflow = Workflow.objects.create(project=project, slug="gate", name="Gate", draft_graph=chain(approval()))
    graph = workflow.draft_graph
    graph["nodes"] = [n for n in graph["nodes"] if n["id"] != "review"]
    graph["edges"] = [{"id": "e", "source": "input", "source_port": "topic", "target": "output", "target_port": "text"}]
    workflow.draft_graph = graph
    workflow.save()
    first = run_wait(run_start(workflow=workflow, user=alice, inputs={"topic": "tea"}).pk, timeout_s=120)
    second = run_wait(run_rerun_from(run=first, node_id="output", user=alice).pk, timeout_s=120)
    assert first.status == second.status == RunStatus.SUCCEEDED

    log_in(page, live_asgi_server)
    page.goto(f"{live_asgi_server}/p/acme/w/gate/edit/")
    wait_js(page, "window.studioEditor && window.studioEditor.ready")
    page.click('.ed-tab[data-tab="runs"]')
    page.locator(f'input[name=run][value="{first.pk}"]').check()
    page.locator(f'input[name=run][value="{second.pk}"]').check()
    assert f"↻ #{first.pk}" in page.locator("#ed-runs").inner_text()
    page.click("#rundiff-form button.btn")
    dialog = page.locator("#dlg-rundiff")
    dialog.locator(".ed-rundiff").wait_for()
    assert dialog.bounding_box()["width"] >= 1200  # full width, not the 320 px side panel
    node = dialog.locator("#rundiff-output b")
    assert node.inner_text() == "Result" and node.get_attribute("title") == "node id: output"
    heads = dialog.locator(".ed-rundiff__heads").inner_text()
    assert "parent of the other" in heads and f"rerun of #{first.pk} from output" in heads
    screenshot(page, "runs-compare-full-width")
