"""Bearer API keys: ``last_used_at`` is kept to the minute, not written on every request."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from studio.models import ApiKey, Role

pytestmark = [pytest.mark.django_db]


def test_last_used_at_is_written_at_most_once_a_minute(alice, project):
    raw = ApiKey.generate()
    key = ApiKey.objects.create(
        project=project, name="ci", prefix=raw[:8], hashed_key=ApiKey.hash(raw), role=Role.VIEWER, user=alice
    )
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")

    assert client.get("/api/v1/projects/acme/runs").status_code == 200
    first = ApiKey.objects.get(pk=key.pk).last_used_at
    assert first is not None
    assert client.get("/api/v1/projects/acme/runs").status_code == 200
    assert ApiKey.objects.get(pk=key.pk).last_used_at == first  # within the minute: no write

    earlier = timezone.now() - dt.timedelta(minutes=2)
    ApiKey.objects.filter(pk=key.pk).update(last_used_at=earlier)
    assert client.get("/api/v1/projects/acme/runs").status_code == 200
    assert ApiKey.objects.get(pk=key.pk).last_used_at > earlier
