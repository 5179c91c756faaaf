"""Prompt API: roles, bad input (a clear 4xx, nothing changed), strict label and version reads."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from prompts.models import Prompt, PromptLabel, PromptLabelMove, PromptVersion
from prompts.services import prompt_create, prompt_label_move, prompt_version_commit
from studio.models import Membership, Role
from tests.conftest import UserFactory

BASE = "/api/v1/projects/acme/prompts"
GREETING = [{"role": "user", "content": "Hello {{ name }}"}]


def client_for(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def editor(project: Any) -> Any:
    user = UserFactory(username="erin")
    Membership.objects.create(project=project, user=user, role=Role.EDITOR)
    return user


@pytest.fixture
def greeting(project: Any, alice: Any) -> Prompt:
    prompt = prompt_create(project=project, user=alice, name="Greeting")
    v1 = prompt_version_commit(prompt=prompt, user=alice, messages=GREETING, variables=["name"])
    prompt_label_move(prompt=prompt, label="production", version=v1, user=alice)
    return prompt


def test_create_with_first_version_then_list_and_search(alice: Any, project: Any) -> None:
    client = client_for(alice)
    created = client.post(
        BASE,
        {"name": "Summary", "messages": GREETING, "variables": ["name"], "commit_message": "first"},
        content_type="application/json",
    )
    assert created.status_code == 201, created.content
    assert created.json()["slug"] == "summary"
    assert created.json()["version"]["version"] == 1
    assert created.json()["version"]["created_by"] == "alice"
    assert [p["slug"] for p in client.get(BASE, {"q": "summ"}).json()] == ["summary"]
    assert client.get(BASE, {"q": "nothing"}).json() == []


def test_create_with_a_bad_template_stores_no_prompt(alice: Any, project: Any) -> None:
    response = client_for(alice).post(
        BASE, {"name": "Broken", "messages": [{"role": "user", "content": "{% if %}"}]}, content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_template"
    assert not Prompt.objects.filter(slug="broken").exists()


def test_get_by_label_or_version_never_falls_back(greeting: Prompt, bob: Any) -> None:
    client = client_for(bob)  # a viewer reads
    assert client.get(f"{BASE}/greeting", {"label": "production"}).json()["version"]["version"] == 1
    labels = client.get(f"{BASE}/greeting", {"version": 1}).json()["labels"]
    assert [(label["name"], label["version"]) for label in labels] == [("production", 1)]
    missing = client.get(f"{BASE}/greeting", {"label": "staging"})
    assert (missing.status_code, missing.json()["code"]) == (404, "label_not_found")
    assert client.get(f"{BASE}/greeting", {"version": 9}).status_code == 404
    both = client.get(f"{BASE}/greeting", {"label": "production", "version": 1})
    assert (both.status_code, both.json()["code"]) == (400, "label_and_version")


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"messages": [{"role": "user", "content": "Hi {{ name"}], "variables": ["name"]}, "invalid_template"),
        (
            {"messages": [{"role": "user", "content": "Hi {{ name }} {{ age }}"}], "variables": ["name"]},
            "undeclared_variable",
        ),
        ({"messages": "not a list"}, "invalid_messages"),
    ],
)
def test_commit_refuses_bad_input(greeting: Prompt, editor: Any, body: dict[str, Any], code: str) -> None:
    response = client_for(editor).post(f"{BASE}/greeting/versions", body, content_type="application/json")
    assert (response.status_code, response.json()["code"]) == (400, code)
    assert "detail" in response.json()
    assert greeting.versions.count() == 1


def test_editor_commits_and_moves_staging_but_not_production(greeting: Prompt, editor: Any) -> None:
    client = client_for(editor)
    committed = client.post(
        f"{BASE}/greeting/versions",
        {"messages": GREETING, "variables": ["name"], "commit_message": "again"},
        content_type="application/json",
    )
    assert committed.status_code == 201 and committed.json()["version"] == 2
    moved = client.put(
        f"{BASE}/greeting/labels/staging", {"version": 2, "expected_version": 0}, content_type="application/json"
    )
    assert moved.json() == {**moved.json(), "name": "staging", "version": 2}
    refused = client.put(f"{BASE}/greeting/labels/production", {"version": 2}, content_type="application/json")
    assert (refused.status_code, refused.json()["code"]) == (403, "protected_label")
    assert PromptLabel.objects.get(name="production").version.version == 1


def test_owner_promotes_and_history_shows_the_move(greeting: Prompt, alice: Any) -> None:
    prompt_version_commit(prompt=greeting, user=alice, messages=GREETING, variables=["name"])
    client = client_for(alice)
    response = client.put(
        f"{BASE}/greeting/labels/production", {"version": 2, "expected_version": 1}, content_type="application/json"
    )
    assert response.status_code == 200
    history = client.get(f"{BASE}/greeting/labels/production/history").json()
    assert [(h["from_version"], h["to_version"], h["moved_by"]) for h in history] == [
        (1, 2, "alice"),
        (None, 1, "alice"),
    ]
    assert client.get(f"{BASE}/greeting/labels/nolabel/history").status_code == 404


def test_stale_promote_is_409_and_moves_nothing(greeting: Prompt, alice: Any) -> None:
    prompt_version_commit(prompt=greeting, user=alice, messages=GREETING, variables=["name"])
    response = client_for(alice).put(
        f"{BASE}/greeting/labels/production", {"version": 2, "expected_version": 2}, content_type="application/json"
    )
    assert (response.status_code, response.json()["code"]) == (409, "stale_label")
    assert PromptLabel.objects.get(name="production").version.version == 1
    assert PromptLabelMove.objects.count() == 1


@pytest.mark.parametrize(
    ("label", "version", "code"),
    [("Bad Name", 1, "invalid_label"), ("x" * 37, 1, "invalid_label"), ("staging", 99, "version_not_found")],
)
def test_label_move_refuses_bad_input(greeting: Prompt, alice: Any, label: str, version: int, code: str) -> None:
    response = client_for(alice).put(
        f"{BASE}/greeting/labels/{label}", {"version": version}, content_type="application/json"
    )
    assert (response.status_code, response.json()["code"]) == (400, code)
    assert PromptLabel.objects.count() == 1


def test_label_move_to_another_prompts_version_is_refused(greeting: Prompt, alice: Any, project: Any) -> None:
    other = prompt_create(project=project, user=alice, name="Other")
    for _ in range(3):
        prompt_version_commit(prompt=other, user=alice, messages=GREETING, variables=["name"])
    # Version 3 exists only on the other prompt: asked of this one, it is not found, never borrowed.
    response = client_for(alice).put(f"{BASE}/greeting/labels/staging", {"version": 3}, content_type="application/json")
    assert response.status_code == 400
    assert not PromptLabel.objects.filter(name="staging").exists()


def test_viewer_is_refused_writes(greeting: Prompt, bob: Any) -> None:
    client = client_for(bob)
    assert (
        client.post(
            f"{BASE}/greeting/versions", {"messages": GREETING, "variables": ["name"]}, content_type="application/json"
        ).status_code
        == 403
    )
    assert (
        client.put(f"{BASE}/greeting/labels/staging", {"version": 1}, content_type="application/json").status_code
        == 403
    )
    assert client.post(BASE, {"name": "Nope"}, content_type="application/json").status_code == 403
    assert PromptVersion.objects.count() == 1 and Prompt.objects.count() == 1


def test_outsider_sees_nothing(greeting: Prompt, charlie: Any) -> None:
    assert client_for(charlie).get(f"{BASE}/greeting", {"label": "production"}).status_code == 404


def test_render_is_strict(greeting: Prompt, bob: Any) -> None:
    client = client_for(bob)
    ok = client.post(
        f"{BASE}/greeting/render",
        {"label": "production", "variables": {"name": "Ada"}},
        content_type="application/json",
    )
    assert ok.json() == {"version": 1, "messages": [{"role": "user", "content": "Hello Ada"}]}
    missing = client.post(f"{BASE}/greeting/render", {"version": 1, "variables": {}}, content_type="application/json")
    assert (missing.status_code, missing.json()["code"]) == (400, "missing_variable")
    both = client.post(
        f"{BASE}/greeting/render",
        {"version": 1, "label": "production", "variables": {"name": "A"}},
        content_type="application/json",
    )
    assert both.status_code == 400


def test_every_prompt_route_is_in_the_schema(alice: Any) -> None:
    paths = client_for(alice).get("/api/schema/", {"format": "json"}).json()["paths"]
    for suffix in [
        "",
        "/{prompt_slug}",
        "/{prompt_slug}/versions",
        "/{prompt_slug}/labels/{label_name}",
        "/{prompt_slug}/labels/{label_name}/history",
        "/{prompt_slug}/render",
    ]:
        assert f"/api/v1/projects/{{project}}/prompts{suffix}" in paths
