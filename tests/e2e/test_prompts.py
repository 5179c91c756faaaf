"""The prompt registry in Chromium: create a prompt, write v1 and v2 in the editor (Jinja2 highlighting,
live variable detection, typed variables), diff them, run v2 in the playground on the local model,
promote v2 to production after a confirmation that shows the diff; a viewer sees no promote button and a
forced request is refused."""

from __future__ import annotations

import pytest

from prompts.models import Prompt, PromptLabel
from studio.models import Membership, Project, Role
from tests.conftest import UserFactory
from tests.fixtures.browser import screenshot, wait_js
from traces.models import Span

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e]

FORCED_MOVE = """async ([url, version]) => {
  const headers = JSON.parse(document.body.getAttribute('hx-headers'));
  const body = new URLSearchParams({label: 'production', version: String(version), expected_version: '1'});
  const response = await fetch(url, {method: 'POST', headers, body});
  return response.status;
}"""


def greet_graph() -> dict:
    """input(name, words) → llm "Writer" using greeter@production → output(text)."""
    fields = [
        {"name": "name", "type": "str", "description": "", "required": True},
        {"name": "words", "type": "int", "description": "", "required": True},
    ]
    text = [{"name": "text", "type": "str", "description": "", "required": True}]
    return {
        "schema": 1,
        "nodes": [
            {"id": "input", "type": "input", "label": "In", "position": {"x": 0, "y": 0}, "config": {"fields": fields}},
            {
                "id": "writer",
                "type": "llm",
                "label": "Writer",
                "position": {"x": 260, "y": 0},
                "config": {
                    "endpoint": "local",
                    "prompt": {"slug": "greeter", "label": "production"},
                    "inputs": fields,
                },
            },
            {
                "id": "output",
                "type": "output",
                "label": "Out",
                "position": {"x": 520, "y": 0},
                "config": {"fields": text},
            },
        ],
        "edges": [
            {"id": "e1", "source": "input", "source_port": "name", "target": "writer", "target_port": "name"},
            {"id": "e2", "source": "input", "source_port": "words", "target": "writer", "target_port": "words"},
            {"id": "e3", "source": "writer", "source_port": "text", "target": "output", "target_port": "text"},
        ],
    }


def log_in(page, base: str, username: str) -> None:
    page.goto(f"{base}/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", "pw-for-tests-only")
    page.click("button[type=submit]")
    page.wait_for_load_state()


def type_in_message(page, index: int, text: str) -> None:
    """Replace the text of message ``index`` by typing into its CodeMirror editor."""
    editor = page.locator(".message-row .CodeMirror").nth(index)
    editor.click()
    page.keyboard.press("Control+A")
    page.keyboard.press("Delete")
    page.keyboard.type(text)


def variable_names(page) -> list[str]:
    return page.eval_on_selector_all(
        "#variable-rows tr[data-variable]:not([hidden])", "rows => rows.map(r => r.dataset.variable)"
    )


def test_prompt_editor_diff_playground_and_protected_promotion(browser, live_asgi_server, local_model, charlie):
    from traces.services import endpoint_ensure_local

    base = live_asgi_server
    project = Project.objects.create(slug="demo-p", name="Prompt demo")
    endpoint_ensure_local(project=project)
    Membership.objects.create(project=project, user=charlie, role=Role.OWNER)
    viewer = UserFactory(username="vera")
    Membership.objects.create(project=project, user=viewer, role=Role.VIEWER)

    context = browser.new_context(viewport={"width": 1280, "height": 800})
    violations: list[str] = []
    page = context.new_page()
    page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
    log_in(page, base, "charlie")

    # Create the prompt from the list page: it opens the editor.
    page.goto(f"{base}/p/demo-p/prompts/")
    page.click("summary:has-text('New prompt')")
    page.fill("#new-prompt-name", "Greeter")
    page.click("button:has-text('Create')")
    page.wait_for_url(f"{base}/p/demo-p/prompts/greeter/new/")
    wait_js(page, "document.querySelectorAll('.message-row .CodeMirror').length === 2")

    # v1: a system and a user message; the variable appears as it is typed.
    type_in_message(page, 0, "You greet people politely.")
    type_in_message(page, 1, "Say hello to {{ name }}.")
    wait_js(page, "!!document.querySelector('#variable-rows tr[data-variable=\"name\"]:not([hidden])')")
    assert page.locator(".message-row .cm-variable").count() >= 1  # Jinja2 highlighting is on
    page.fill("#variable-rows tr[data-variable=name] [name=var_description]", "Who to greet")
    page.fill("#v-message", "first")
    page.click("#commit-version")
    page.wait_for_url(f"{base}/p/demo-p/prompts/greeter/v/1/")
    assert "name: str" in page.inner_text("#version-1")

    # v2 from the editor: a bad template is refused inline, then fixed; a typed int variable; a third message.
    page.click("text=New version from this one")
    page.wait_for_url(f"{base}/p/demo-p/prompts/greeter/new/?from=1")
    wait_js(page, "document.querySelectorAll('.message-row .CodeMirror').length === 2")
    type_in_message(page, 1, "Say hello to {{ name }} in {{ words")
    wait_js(
        page,
        "!document.querySelector('.message-row__error').hidden || "
        "!document.querySelectorAll('.message-row__error')[1].hidden",
    )
    assert "Does not parse" in page.inner_text("#message-list")
    type_in_message(page, 1, "Say hello to {{ name }} in {{ words }} words.")
    wait_js(page, "!!document.querySelector('#variable-rows tr[data-variable=\"words\"]')")
    assert variable_names(page) == ["name", "words"]
    page.select_option("#variable-rows tr[data-variable=words] [name=var_type]", "int")
    page.fill("#variable-rows tr[data-variable=words] [name=var_description]", "How many words")
    page.click("[data-editor-action=add-message]")
    wait_js(page, "document.querySelectorAll('.message-row .CodeMirror').length === 3")
    type_in_message(page, 2, "Keep it short.")
    page.locator(".message-row").nth(2).locator("[data-editor-action=up]").click()  # reorder: now second
    page.fill("#v-model-config", '{"temperature": 0, "max_tokens": 24}')
    page.fill("#v-message", "length in words")
    screenshot(page, "prompt-editor")
    page.click("#commit-version")
    page.wait_for_url(f"{base}/p/demo-p/prompts/greeter/v/2/")
    prompt = Prompt.objects.get(project=project, slug="greeter")
    v2 = prompt.versions.get(version=2)
    assert [m["content"] for m in v2.messages] == [
        "You greet people politely.",
        "Keep it short.",
        "Say hello to {{ name }} in {{ words }} words.",
    ]
    assert v2.signature[1] == {"name": "words", "type": "int", "description": "How many words"}
    assert v2.model_config == {"temperature": 0, "max_tokens": 24}
    screenshot(page, "prompt-version")

    # Run v2 in the playground on the local model: output, tokens, cost, latency, and its span.
    page.click("#run-in-playground")
    page.wait_for_url(f"{base}/p/demo-p/prompts/greeter/playground/?a_version=2")
    page.fill("#var-name", "Ada")
    page.fill("#var-words", "5")
    page.click("#run-playground", no_wait_after=True)  # the page answers once the model has
    page.wait_for_selector("#result-a-text", timeout=120_000)
    assert page.inner_text("#result-a-text").strip()
    assert "cost $0.000000" in page.inner_text("#result-a")  # the local endpoint's explicit $0 price
    span = Span.objects.get(prompt_version_id=v2.pk)
    assert f"span {span.pk}" in page.inner_text("#result-a") and span.output_tokens > 0
    page.click("#result-a summary")
    assert "Say hello to Ada in 5 words." in page.locator("#result-a details").inner_text()
    screenshot(page, "prompt-playground")
    page.goto(f"{base}/p/demo-p/prompts/greeter/v/2/")

    # Diff v1 → v2.
    page.click("text=Diff with v1")
    page.wait_for_load_state()
    assert page.locator("del", has_text="Say").count() == 1 and page.locator("ins", has_text="Keep").count() == 1
    assert "Say hello to {{ name }} in {{ words }} words." in page.inner_text("#diff-message-3 ins")
    screenshot(page, "prompt-diff")

    # Put production on v1, then promote v2 after a confirmation that shows the diff.
    page.goto(f"{base}/p/demo-p/prompts/greeter/")
    page.fill("#labels input[name=label]", "production")
    page.select_option("#labels select[name=version] >> nth=-1", "1")
    page.click("button:has-text('Add label')")
    page.wait_for_url(f"{base}/p/demo-p/prompts/greeter/promote/?*")
    page.click("#promote-confirm button[type=submit]")
    page.wait_for_url(f"{base}/p/demo-p/prompts/greeter/")
    assert PromptLabel.objects.get(prompt=prompt, name="production").version.version == 1
    page.select_option("select[aria-label='Version for production']", "2")
    page.click("#label-production button:has-text('Promote')")
    page.wait_for_url(f"{base}/p/demo-p/prompts/greeter/promote/?*")
    assert page.locator("#promote-diff ins").count() > 0
    assert "from v1 to v2" in page.inner_text("h1")
    screenshot(page, "prompt-promote")
    page.click("#promote-confirm button[type=submit]")
    page.wait_for_url(f"{base}/p/demo-p/prompts/greeter/")
    assert PromptLabel.objects.get(prompt=prompt, name="production").version.version == 2
    screenshot(page, "prompt-detail")

    # The canvas inspector of an llm node that uses greeter@production shows v2's text and links to it;
    # pinning version 1 shows v1.
    from agents.services.workflows import workflow_create

    workflow = workflow_create(project=project, user=charlie, name="Greet", graph=greet_graph())
    page.goto(f"{base}/p/demo-p/w/{workflow.slug}/edit/")
    page.locator('.drawflow-node:has(.sn-card[data-node="writer"]) .sn-title').click()
    page.wait_for_selector("#prompt-preview-link")
    preview = page.inner_text("#insp-prompt-preview")
    assert "production → v2" in preview and "Keep it short." in preview and "words: int" in preview
    assert page.get_attribute("#prompt-preview-link", "href") == "/p/demo-p/prompts/greeter/v/2/"
    page.locator("#insp-prompt-preview").scroll_into_view_if_needed()
    screenshot(page, "prompt-inspector")
    page.fill("#cfg-prompt-pointer", "1")
    wait_js(page, "document.querySelector('#insp-prompt-preview').innerText.includes('1 → v1')")
    assert "Keep it short." not in page.inner_text("#insp-prompt-preview")

    # Usage and metrics: v2 has the playground's call; the list counts no published node yet.
    page.goto(f"{base}/p/demo-p/prompts/greeter/usage/")
    assert "1" in page.inner_text("#metrics-v2 td:nth-child(2)")
    screenshot(page, "prompt-usage")
    page.goto(f"{base}/p/demo-p/prompts/")
    assert "production → v2" in page.inner_text("#prompts")
    screenshot(page, "prompt-list")
    assert not violations, violations

    # A viewer sees no promote button, and a forced request is refused.
    viewer_page = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
    log_in(viewer_page, base, "vera")
    viewer_page.goto(f"{base}/p/demo-p/prompts/greeter/")
    assert viewer_page.locator("button:has-text('Promote')").count() == 0
    assert viewer_page.locator("#new-version").count() == 0
    status = viewer_page.evaluate(FORCED_MOVE, [f"{base}/p/demo-p/prompts/greeter/labels/", 1])
    assert status == 403
    assert PromptLabel.objects.get(prompt=prompt, name="production").version.version == 2
    context.close()
