"""Prompt pages: list with labels and search, create, commit, promote with a stale check; viewers see no promote."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from prompts.models import Prompt, PromptLabel
from prompts.services import prompt_create, prompt_label_move, prompt_version_commit
from studio.models import Membership, Role
from tests.conftest import UserFactory

GREETING = [{"role": "user", "content": "Hello {{ name }}"}]


def client_for(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def greeting(project: Any, alice: Any) -> Prompt:
    prompt = prompt_create(project=project, user=alice, name="Greeting")
    v1 = prompt_version_commit(prompt=prompt, user=alice, messages=GREETING, variables=["name"], commit_message="hi")
    prompt_version_commit(prompt=prompt, user=alice, messages=GREETING, variables=["name"])
    prompt_label_move(prompt=prompt, label="production", version=v1, user=alice)
    return prompt


def test_list_shows_labels_and_searches(greeting: Prompt, bob: Any) -> None:
    client = client_for(bob)
    body = client.get("/p/acme/prompts/").content.decode()
    assert "production → v1" in body
    assert "production → v1 · alice ·" in body  # the last change (the move came after v2) and who
    assert 'href="/p/acme/prompts/"' in body  # the sidebar link
    assert "Greeting" not in client.get("/p/acme/prompts/", {"q": "zzz"}).content.decode().split("<main")[-1]


def test_create_from_the_list_then_a_bad_name_is_a_400(alice: Any, project: Any) -> None:
    client = client_for(alice)
    assert client.post("/p/acme/prompts/", {"name": "Brief"}).status_code == 302
    assert Prompt.objects.filter(slug="brief").exists()
    again = client.post("/p/acme/prompts/", {"name": "Brief"})
    assert again.status_code == 400 and "already exists" in again.content.decode()


def test_viewer_sees_no_promote_button_and_a_forced_post_is_refused(greeting: Prompt, bob: Any) -> None:
    client = client_for(bob)
    body = client.get("/p/acme/prompts/greeting/").content.decode()
    assert "Hello {{ name }}" in body and "hi" in body
    assert "Promote" not in body and "New version" not in body
    forced = client.post("/p/acme/prompts/greeting/labels/", {"label": "production", "version": "2"})
    assert forced.status_code == 403
    assert PromptLabel.objects.get(name="production").version.version == 1


def test_owner_promotes_with_the_shown_version_and_a_stale_form_is_a_409(greeting: Prompt, alice: Any) -> None:
    client = client_for(alice)
    assert "Promote" in client.get("/p/acme/prompts/greeting/").content.decode()
    moved = client.post(
        "/p/acme/prompts/greeting/labels/", {"label": "production", "version": "2", "expected_version": "1"}
    )
    assert moved.status_code == 302
    stale = client.post(
        "/p/acme/prompts/greeting/labels/", {"label": "production", "version": "1", "expected_version": "1"}
    )
    assert stale.status_code == 409 and "reload" in stale.content.decode()
    assert PromptLabel.objects.get(name="production").version.version == 2


def test_editor_sees_no_promote_for_production(greeting: Prompt, project: Any) -> None:
    editor = UserFactory(username="erin")
    Membership.objects.create(project=project, user=editor, role=Role.EDITOR)
    body = client_for(editor).get("/p/acme/prompts/greeting/").content.decode()
    assert "New version" in body
    assert 'aria-label="Version for production"' not in body  # production's move form is not offered


def test_editor_commits_typed_variables_and_a_bad_template_stores_nothing(greeting: Prompt, alice: Any) -> None:
    client = client_for(alice)
    page = client.get("/p/acme/prompts/greeting/new/").content.decode()
    assert "Version 3 of Greeting" in page and "Hello {{ name }}" in page
    assert "vendor/codemirror/codemirror.js" in page and "vendor/codemirror/jinja2.js" in page
    form = {
        "role": ["system", "user"],
        "content": ["Be brief.", "Hi {{ who }}, in {{ n }} words"],
        "var_name": ["who", "n", ""],
        "var_type": ["str", "int", "str"],
        "var_description": ["Whom to greet", "Length", ""],
        "var_choices": ["", "", ""],
        "var_items": ["", "", ""],
        "model_config": '{"temperature": 0.2}',
        "commit_message": "typed",
    }
    bad = client.post("/p/acme/prompts/greeting/new/", {**form, "content": ["Be brief.", "Hi {{ who "]})
    assert bad.status_code == 400
    body = bad.content.decode()
    assert "messages[1].content does not parse" in body and "Hi {{ who " in body  # inline, what was typed kept
    assert client.post("/p/acme/prompts/greeting/new/", {**form, "model_config": "{oops"}).status_code == 400
    assert greeting.versions.count() == 2
    ok = client.post("/p/acme/prompts/greeting/new/", form)
    assert ok.status_code == 302 and ok["Location"] == "/p/acme/prompts/greeting/v/3/"
    v3 = greeting.versions.get(version=3)
    assert v3.messages[0] == {"role": "system", "content": "Be brief."}
    assert v3.signature[1] == {"name": "n", "type": "int", "description": "Length"}
    assert v3.model_config == {"temperature": 0.2} and v3.commit_message == "typed"
    version_page = client.get("/p/acme/prompts/greeting/v/3/").content.decode()
    assert "n: int" in version_page and "Whom to greet" in version_page and "temperature=0.2" in version_page
    assert "?a=2&b=3" in version_page


def test_variable_detection_answers_names_in_order_and_parse_errors(greeting: Prompt, alice: Any, bob: Any) -> None:
    url = "/p/acme/prompts/greeting/new/variables/"
    answer = client_for(alice).post(url, {"content": ["{{ b }} {{ a }}", "{% for x in items %}{{ x }}{% endfor %}"]})
    assert answer.json() == {"variables": ["b", "a", "items"], "errors": {}}
    broken = client_for(alice).post(url, {"content": ["fine {{ a }}", "{% if %}"]}).json()
    assert broken["variables"] == ["a"] and "1" in broken["errors"]
    assert client_for(bob).post(url, {"content": ["{{ a }}"]}).status_code == 403


def test_promote_confirmation_shows_the_diff_and_carries_the_shown_version(greeting: Prompt, alice: Any) -> None:
    prompt_version_commit(
        prompt=greeting,
        user=alice,
        messages=[{"role": "user", "content": "Hello there {{ name }}"}],
        variables=["name"],
    )
    client = client_for(alice)
    page = client.get("/p/acme/prompts/greeting/promote/", {"label": "production", "version": "3"}).content.decode()
    assert "<ins> there</ins>" in page
    assert 'name="expected_version" value="1"' in page and "protected" in page


def test_editor_cannot_open_a_protected_promotion_and_admins_set_protected_labels(
    greeting: Prompt, alice: Any, project: Any
) -> None:
    editor = UserFactory(username="erin")
    Membership.objects.create(project=project, user=editor, role=Role.EDITOR)
    query = {"label": "production", "version": "2"}
    assert client_for(editor).get("/p/acme/prompts/greeting/promote/", query).status_code == 403
    assert client_for(editor).post("/p/acme/prompts/greeting/protected/", {"labels": ""}).status_code == 403
    assert client_for(alice).post("/p/acme/prompts/greeting/protected/", {"labels": "Bad Name"}).status_code == 400
    assert client_for(alice).post("/p/acme/prompts/greeting/protected/", {"labels": "staging"}).status_code == 302
    assert client_for(editor).get("/p/acme/prompts/greeting/promote/", query).status_code == 200
    greeting.refresh_from_db()
    assert greeting.protected_labels == ["staging"]


def test_inspector_preview_shows_the_version_a_pointer_gives_and_says_when_there_is_none(
    greeting: Prompt, bob: Any
) -> None:
    client = client_for(bob)  # viewers read it too
    url = "/p/acme/prompt-preview/"
    body = client.get(url, {"cfg-prompt-slug": "greeting", "cfg-prompt-pointer": ""}).content.decode()
    assert "production → v1" in body and "Hello {{ name }}" in body and "name: str" in body
    assert 'href="/p/acme/prompts/greeting/v/1/"' in body
    assert "staging" not in body
    pinned = client.get(url, {"cfg-prompt-slug": "greeting", "cfg-prompt-pointer": "2"}).content.decode()
    assert "2 → v2" in pinned
    nolabel = client.get(url, {"cfg-prompt-slug": "greeting", "cfg-prompt-pointer": "staging"}).content.decode()
    assert "has no label &quot;staging&quot;" in nolabel and "A run would stop here." in nolabel
    assert "No prompt “zzz”" in client.get(url, {"cfg-prompt-slug": "zzz"}).content.decode()
    assert "pick a stored prompt" in client.get(url).content.decode()
