"""Shared fixtures: test personas and factories.

alice owns the project, bob is a viewer, charlie has no access (healthchecks' personas).
"""

from __future__ import annotations

import copy
from typing import Any

import factory
import pytest
from django.contrib.auth import get_user_model

from studio.models import Membership, Project, Role


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.PostGenerationMethodCall("set_password", "pw-for-tests-only")

    @classmethod
    def _after_postgeneration(cls, instance, create, results=None):  # type: ignore[no-untyped-def]
        if create:
            instance.save()


class ProjectFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Project
        django_get_or_create = ("slug",)

    slug = factory.Sequence(lambda n: f"project-{n}")
    name = factory.LazyAttribute(lambda o: o.slug.title())


@pytest.fixture
def project(db: Any) -> Project:
    return ProjectFactory(slug="acme", name="Acme")


@pytest.fixture
def alice(project: Project) -> Any:
    user = UserFactory(username="alice")
    Membership.objects.create(project=project, user=user, role=Role.OWNER)
    return user


@pytest.fixture
def bob(project: Project) -> Any:
    user = UserFactory(username="bob")
    Membership.objects.create(project=project, user=user, role=Role.VIEWER)
    return user


@pytest.fixture
def charlie(db: Any) -> Any:
    return UserFactory(username="charlie")


@pytest.fixture
def local_endpoint(project: Project) -> Any:
    from traces.services import endpoint_ensure_local

    return endpoint_ensure_local(project=project)


def demo_graph(name: str) -> dict[str, Any]:
    """A deep copy of one of the demo graphs (``question-answering`` or ``research-brief``)."""
    from agents.management.commands import seed_demo

    graphs = {"question-answering": seed_demo.QUESTION_ANSWERING, "research-brief": seed_demo.RESEARCH_BRIEF}
    return copy.deepcopy(graphs[name])


@pytest.fixture
def seeded_prompt(project: Project) -> Any:
    """The demo's brief-writer prompt (two versions, production → v2) in ``project``."""
    from agents.management.commands.seed_demo import BRIEF_VARIABLES, BRIEF_WRITER_V1, BRIEF_WRITER_V2
    from prompts.models import Prompt
    from prompts.services import prompt_label_move, prompt_version_commit

    prompt = Prompt.objects.create(project=project, slug="brief-writer", name="Brief writer")
    prompt_version_commit(prompt=prompt, user=None, messages=BRIEF_WRITER_V1, variables=BRIEF_VARIABLES)
    v2 = prompt_version_commit(prompt=prompt, user=None, messages=BRIEF_WRITER_V2, variables=BRIEF_VARIABLES)
    prompt_label_move(prompt=prompt, label="production", version=v2, user=None)
    return prompt
