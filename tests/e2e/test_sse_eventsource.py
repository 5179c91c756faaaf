"""A browser's own ``EventSource`` follows a run's Server-Sent Events live, from the page's origin."""

from __future__ import annotations

import pytest

from agents.models import Run, RunStatus, Workflow
from agents.services.approvals import approval_decide
from agents.services.runs import run_start, run_wait
from tests.agents.effects.helpers import review_graph
from tests.fixtures.browser import wait_js

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e, pytest.mark.worker]


def test_a_browser_eventsource_receives_the_run_events_as_they_happen(
    page, live_asgi_server, project, alice, celery_worker_proc
):
    workflow = Workflow.objects.create(project=project, slug="review", name="Review", draft_graph=review_graph())
    page.goto(f"{live_asgi_server}/login/")
    page.fill("input[name=username]", "alice")
    page.fill("input[name=password]", "pw-for-tests-only")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_asgi_server}/p/acme/**")

    run = run_start(workflow=workflow, user=alice, inputs={"draft": "first draft"})
    page.evaluate(
        """(url) => {
            window.__sse = [];
            window.__sseErrors = 0;
            const source = new EventSource(url);
            const keep = (e) => {
                window.__sse.push({type: e.type, id: Number(e.lastEventId), data: JSON.parse(e.data)});
                if (e.type === "run.finished") source.close();  // else EventSource reconnects when the stream ends
            };
            for (const type of ["run.queued", "run.started", "step.started", "step.finished", "step.waiting",
                                "run.waiting", "approval.decided", "run.finished"]) {
                source.addEventListener(type, keep);
            }
            source.onerror = () => { window.__sseErrors += 1; };
        }""",
        f"/api/v1/runs/{run.pk}/events",
    )
    # The run waits for an approval: the browser already has its events, while the run is not finished.
    wait_js(page, "window.__sse.some(e => e.type === 'run.waiting')", timeout=120_000)
    waiting = Run.objects.get(pk=run.pk)
    assert waiting.status == RunStatus.WAITING and waiting.finished_at is None

    approval_decide(run=waiting, node_id="review", approved=True, user=alice)
    wait_js(page, "window.__sse.some(e => e.type === 'run.finished')", timeout=120_000)
    events = page.evaluate("window.__sse")
    assert run_wait(run.pk, timeout_s=60).status == RunStatus.SUCCEEDED
    ids = [e["id"] for e in events]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)  # in order, none twice
    assert events[0]["type"] == "run.queued" and events[-1]["type"] == "run.finished"
    assert events[-1]["data"]["payload"]["status"] == "succeeded"
    assert page.evaluate("window.__sseErrors") == 0  # no 406, no dropped stream
