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
    assert "v2 · alice ·" in body  # the last version and who committed it
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
    assert "Promote" not in body and "Commit a new version" not in body
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
    assert "Commit a new version" in body
    assert 'name="expected_version" value="1"' not in body  # production's move form is not offered


def test_commit_from_the_page_refuses_an_undeclared_variable(greeting: Prompt, alice: Any) -> None:
    client = client_for(alice)
    bad = client.post("/p/acme/prompts/greeting/versions/", {"user": "Hi {{ who }}", "variables": "name"})
    assert bad.status_code == 400 and "undeclared variable" in bad.content.decode()
    ok = client.post(
        "/p/acme/prompts/greeting/versions/", {"user": "Hi {{ who }}", "variables": "who", "commit_message": "who"}
    )
    assert ok.status_code == 302
    assert greeting.versions.count() == 3
