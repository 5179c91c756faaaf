"""Prompt services: create, commit a version, move a label — bad input changes nothing."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import PermissionDenied

from prompts.models import Prompt, PromptLabel, PromptLabelMove, PromptVersion
from prompts.services import (
    PromptConflictError,
    PromptError,
    prompt_create,
    prompt_label_move,
    prompt_version_commit,
    prompt_version_render,
)
from studio.models import AuditEvent, Membership, Role
from tests.conftest import UserFactory

GREETING = [{"role": "user", "content": "Hello {{ name }}"}]


@pytest.fixture
def editor(project: Any) -> Any:
    user = UserFactory(username="erin")
    Membership.objects.create(project=project, user=user, role=Role.EDITOR)
    return user


@pytest.fixture
def greeting(project: Any, alice: Any) -> Prompt:
    prompt = prompt_create(project=project, user=alice, name="Greeting")
    prompt_version_commit(prompt=prompt, user=alice, messages=GREETING, variables=["name"], commit_message="v1")
    return prompt


def test_commit_numbers_versions_and_audits(greeting: Prompt, alice: Any) -> None:
    v2 = prompt_version_commit(
        prompt=greeting,
        user=alice,
        messages=[{"role": "system", "content": "Hi {{ name }}!"}],
        variables=["name"],
        model_config={"temperature": 0.2},
        commit_message="shorter",
    )
    assert v2.version == 2
    assert v2.created_by == alice
    assert AuditEvent.objects.filter(verb="prompt.commit", object_id=str(v2.pk)).exists()
    assert AuditEvent.objects.filter(verb="prompt.create").count() == 1


@pytest.mark.parametrize(
    ("messages", "variables", "code", "field"),
    [
        ([{"role": "user", "content": "Hello {{ name "}], ["name"], "invalid_template", "messages[0].content"),
        ([{"role": "user", "content": "Hello {{ name }} {{ age }}"}], ["name"], "undeclared_variable", "variables"),
        ([{"role": "user", "content": "Hello"}], ["name"], "unused_variable", "variables"),
        ([{"role": "robot", "content": "Hello"}], [], "invalid_messages", "messages[0].role"),
        ([], [], "invalid_messages", "messages"),
        ([{"role": "user", "content": "{{ 1 | nosuchfilter }}"}], [], "invalid_template", "messages[0].content"),
    ],
)
def test_commit_refuses_bad_content_and_stores_nothing(
    greeting: Prompt, alice: Any, messages: Any, variables: Any, code: str, field: str
) -> None:
    with pytest.raises(PromptError) as caught:
        prompt_version_commit(prompt=greeting, user=alice, messages=messages, variables=variables)
    assert (caught.value.code, caught.value.field) == (code, field)
    assert greeting.versions.count() == 1


def test_create_refuses_a_taken_slug(greeting: Prompt, alice: Any) -> None:
    with pytest.raises(PromptConflictError) as caught:
        prompt_create(project=greeting.project, user=alice, name="Other", slug="greeting")
    assert caught.value.code == "slug_taken"
    assert Prompt.objects.count() == 1


def test_label_move_records_history(greeting: Prompt, alice: Any) -> None:
    v1 = greeting.versions.get()
    v2 = prompt_version_commit(prompt=greeting, user=alice, messages=GREETING, variables=["name"])
    prompt_label_move(prompt=greeting, label="staging", version=v1, user=alice, expected_version=0)
    prompt_label_move(prompt=greeting, label="staging", version=v2, user=alice, expected_version=1)
    moves = list(PromptLabelMove.objects.filter(prompt=greeting, label="staging"))
    assert [(m.from_version and m.from_version.version, m.to_version.version) for m in moves] == [(1, 2), (None, 1)]
    assert PromptLabel.objects.get(prompt=greeting, name="staging").version == v2


def test_stale_label_move_is_a_conflict_and_moves_nothing(greeting: Prompt, alice: Any) -> None:
    v1 = greeting.versions.get()
    v2 = prompt_version_commit(prompt=greeting, user=alice, messages=GREETING, variables=["name"])
    prompt_label_move(prompt=greeting, label="staging", version=v2, user=alice)
    with pytest.raises(PromptConflictError) as caught:
        prompt_label_move(prompt=greeting, label="staging", version=v1, user=alice, expected_version=1)
    assert caught.value.code == "stale_label"
    assert PromptLabel.objects.get(prompt=greeting, name="staging").version == v2
    assert PromptLabelMove.objects.filter(prompt=greeting).count() == 1


@pytest.mark.parametrize("label", ["Production", "", "a" * 37, "with space", "ü"])
def test_label_move_refuses_bad_names(greeting: Prompt, alice: Any, label: str) -> None:
    with pytest.raises(PromptError) as caught:
        prompt_label_move(prompt=greeting, label=label, version=greeting.versions.get(), user=alice)
    assert caught.value.code == "invalid_label"
    assert not PromptLabel.objects.exists()


def test_label_move_refuses_a_version_of_another_prompt(greeting: Prompt, alice: Any) -> None:
    other = prompt_create(project=greeting.project, user=alice, name="Other")
    foreign = prompt_version_commit(prompt=other, user=alice, messages=GREETING, variables=["name"])
    with pytest.raises(PromptError) as caught:
        prompt_label_move(prompt=greeting, label="staging", version=foreign, user=alice)
    assert caught.value.code == "foreign_version"
    assert not PromptLabel.objects.exists() and not PromptLabelMove.objects.exists()


def test_production_is_moved_by_owners_not_editors(greeting: Prompt, alice: Any, editor: Any) -> None:
    v1 = greeting.versions.get()
    with pytest.raises(PermissionDenied):
        prompt_label_move(prompt=greeting, label="production", version=v1, user=editor)
    assert not PromptLabel.objects.exists()
    prompt_label_move(prompt=greeting, label="staging", version=v1, user=editor)
    prompt_label_move(prompt=greeting, label="production", version=v1, user=alice)
    assert set(PromptLabel.objects.values_list("name", flat=True)) == {"staging", "production"}


def test_render_is_strict(greeting: Prompt) -> None:
    version: PromptVersion = greeting.versions.get()
    assert prompt_version_render(version=version, variables={"name": "Ada"}) == [
        {"role": "user", "content": "Hello Ada"}
    ]
    for variables, code in [({}, "missing_variable"), ({"name": "A", "x": 1}, "unknown_variable")]:
        with pytest.raises(PromptError) as caught:
            prompt_version_render(version=version, variables=variables)
        assert caught.value.code == code
