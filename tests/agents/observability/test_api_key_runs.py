"""Runs remember the API key that started them: the explorer filters by key, usage groups by user and key."""

from __future__ import annotations

import re
from typing import Any

from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from agents.models import Run, Workflow
from studio.models import ApiKey, Project, Role


def test_a_run_started_with_a_key_is_found_and_counted_by_that_key(
    research: Workflow, project: Project, alice: Any
) -> None:
    raw = ApiKey.generate()
    key = ApiKey.objects.create(project=project, name="ci", prefix=raw[:10], hashed_key=ApiKey.hash(raw),
                                role=Role.RUNNER, user=alice)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    response = api.post("/api/v1/projects/acme/workflows/research-brief/runs", {"inputs": {"topic": "tides"}},
                        format="json")
    assert response.status_code == 201, response.content
    by_key = Run.objects.get(pk=response.json()["id"])
    assert by_key.api_key_id == key.pk and by_key.created_by == alice
    page = Client()
    page.force_login(alice)
    from agents.services.runs import run_start

    by_page = run_start(workflow=research, user=alice, inputs={"topic": "moons"}, version=research.versions.get())
    assert by_page.api_key_id is None
    body = page.get(reverse("trace-explorer", args=["acme"]), {"key": key.prefix}).content.decode()
    assert re.findall(r'class="row-link__a mono" href="/p/acme/traces/(\d+)/"', body) == [str(by_key.pk)]
    assert f">{key.prefix}</span>" in body
    usage = page.get(reverse("usage", args=["acme"])).content.decode()
    assert f"ci · {key.prefix}" in usage and "By user and API key" in usage
