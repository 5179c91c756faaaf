"""Typed variables per version: declared with the signature's types, checked at commit and at render;
per-prompt protected labels."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import PermissionDenied
from django.test import Client

from prompts.models import Prompt, PromptLabel, PromptVersion
from prompts.services import (
    PromptError,
    prompt_create,
    prompt_label_move,
    prompt_protected_labels_set,
    prompt_version_commit,
    prompt_version_render,
)
from studio.models import AuditEvent, Membership, Role
from tests.conftest import UserFactory

BASE = "/api/v1/projects/acme/prompts"
TYPED = [
    {"role": "system", "content": "Write {{ words }} words in {{ tone }} tone."},
    {"role": "user", "content": "Topic: {{ topic }}{% if draft %} (draft){% endif %}"},
]
TYPED_VARIABLES = [
    {"name": "topic", "type": "str", "description": "What the brief is about"},
    {"name": "words", "type": "int", "description": "Length"},
    {"name": "tone", "type": "enum", "choices": ["dry", "warm"]},
    {"name": "draft", "type": "bool"},
]


@pytest.fixture
def brief(project: Any, alice: Any) -> Prompt:
    prompt = prompt_create(project=project, user=alice, name="Brief")
    prompt_version_commit(prompt=prompt, user=alice, messages=TYPED, variables=TYPED_VARIABLES)
    return prompt


def test_commit_stores_typed_variables_in_order(brief: Prompt) -> None:
    version = brief.versions.get()
    assert version.variables == ["topic", "words", "tone", "draft"]
    assert version.signature == [
        {"name": "topic", "type": "str", "description": "What the brief is about"},
        {"name": "words", "type": "int", "description": "Length"},
        {"name": "tone", "type": "enum", "description": "", "choices": ["dry", "warm"]},
        {"name": "draft", "type": "bool", "description": ""},
    ]


def test_plain_names_are_typed_str(project: Any, alice: Any) -> None:
    prompt = prompt_create(project=project, user=alice, name="Hi")
    version = prompt_version_commit(
        prompt=prompt, user=alice, messages=[{"role": "user", "content": "Hi {{ who }}"}], variables=["who"]
    )
    assert version.signature == [{"name": "who", "type": "str", "description": ""}]


def test_a_version_without_a_signature_reads_as_str_variables(brief: Prompt) -> None:
    """What the migration's backfill gives versions stored before types existed."""
    version = brief.versions.get()
    PromptVersion.objects.filter(pk=version.pk).update(signature=[])
    version.refresh_from_db()
    assert [f["type"] for f in version.variable_fields()] == ["str", "str", "str", "str"]


@pytest.mark.parametrize(
    ("variables", "field", "fragment"),
    [
        ([{"name": "topic", "type": "date"}], "variables[0]", "type"),
        ([{"name": "topic", "type": "enum"}], "variables[0]", "at least one choice"),
        ([{"name": "topic", "colour": "red"}], "variables[0]", "unknown key"),
        ([{"name": "topic", "type": "str", "required": False}], "variables[0]", "unknown key"),
        ([{"type": "str"}], "variables[0]", "a variable is a name"),
        ([{"name": "1topic"}], "variables[0]", "Invalid variable name"),
        ("topic", "variables", "must be a list"),
    ],
)
def test_commit_refuses_bad_variable_declarations(
    project: Any, alice: Any, variables: Any, field: str, fragment: str
) -> None:
    prompt = prompt_create(project=project, user=alice, name="Bad")
    with pytest.raises(PromptError) as caught:
        prompt_version_commit(
            prompt=prompt, user=alice, messages=[{"role": "user", "content": "{{ topic }}"}], variables=variables
        )
    assert caught.value.code == "invalid_variables"
    assert caught.value.field == field
    assert fragment in caught.value.message
    assert not prompt.versions.exists()


def test_render_checks_types(brief: Prompt) -> None:
    version = brief.versions.get()
    good = {"topic": "tides", "words": 50, "tone": "dry", "draft": True}
    assert prompt_version_render(version=version, variables=good) == [
        {"role": "system", "content": "Write 50 words in dry tone."},
        {"role": "user", "content": "Topic: tides (draft)"},
    ]
    for name, value, expected in [
        ("words", "fifty", "int"),
        ("tone", "loud", "enum(dry|warm)"),
        ("topic", 7, "str"),
        ("draft", [1], "bool"),
    ]:
        with pytest.raises(PromptError) as caught:
            prompt_version_render(version=version, variables={**good, name: value})
        assert caught.value.code == "mistyped_variable"
        assert caught.value.field == f"variables.{name}"
        assert f"'{name}' must be {expected}" in caught.value.message


def test_api_accepts_and_returns_typed_variables(alice: Any, project: Any) -> None:
    client = Client()
    client.force_login(alice)
    created = client.post(
        BASE,
        {"name": "Brief", "messages": TYPED, "variables": TYPED_VARIABLES},
        content_type="application/json",
    )
    assert created.status_code == 201, created.content
    version = created.json()["version"]
    assert version["variables"] == ["topic", "words", "tone", "draft"]
    assert version["signature"][1] == {"name": "words", "type": "int", "description": "Length"}
    assert created.json()["protected_labels"] == ["production"]
    rendered = client.post(
        f"{BASE}/brief/render",
        {"version": 1, "variables": {"topic": "tides", "words": "many", "tone": "dry", "draft": False}},
        content_type="application/json",
    )
    assert rendered.status_code == 400
    assert rendered.json()["code"] == "mistyped_variable"
    assert rendered.json()["errors"] == {"field": "variables.words"}
    bad = client.post(
        f"{BASE}/brief/versions",
        {"messages": TYPED, "variables": [{**TYPED_VARIABLES[0], "type": "datetime"}, *TYPED_VARIABLES[1:]]},
        content_type="application/json",
    )
    assert bad.status_code == 400
    assert bad.json()["code"] == "invalid_variables"
    assert Prompt.objects.get(slug="brief").versions.count() == 1


def test_protected_labels_are_configurable_per_prompt(brief: Prompt, alice: Any, project: Any) -> None:
    editor = UserFactory(username="erin")
    Membership.objects.create(project=project, user=editor, role=Role.EDITOR)
    v1 = brief.versions.get()
    with pytest.raises(PermissionDenied):
        prompt_protected_labels_set(prompt=brief, user=editor, labels=["staging"])
    assert prompt_protected_labels_set(prompt=brief, user=alice, labels=["staging", "production"]) == [
        "production",
        "staging",
    ]
    assert AuditEvent.objects.filter(verb="prompt.protect").exists()
    with pytest.raises(PermissionDenied):
        prompt_label_move(prompt=brief, label="staging", version=v1, user=editor)
    prompt_protected_labels_set(prompt=brief, user=alice, labels=[])
    prompt_label_move(prompt=brief, label="production", version=v1, user=editor)
    assert PromptLabel.objects.get(prompt=brief, name="production").version == v1
    with pytest.raises(PromptError) as caught:
        prompt_protected_labels_set(prompt=brief, user=alice, labels=["Bad Name"])
    assert caught.value.field == "protected_labels"
