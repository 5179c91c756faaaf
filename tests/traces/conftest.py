"""Fixtures for the traces tests: endpoints on the real local model and a dead one."""

from __future__ import annotations

import pytest

from studio.models import EgressAllowedHost, Project
from tests.traces.helpers import unused_port
from traces.models import ModelEndpoint, StructuredOutput


@pytest.fixture
def endpoint(project: Project, local_model: str) -> ModelEndpoint:
    """The project's local SmolLM2 endpoint, with the model server running."""
    from traces.services import endpoint_ensure_local

    return endpoint_ensure_local(project=project)


@pytest.fixture
def dead_endpoint(project: Project) -> ModelEndpoint:
    """An endpoint whose api_base points at a port nothing listens on (allowed for the project:
    loopback needs a superuser's allow-list entry, checked at every call)."""
    port = unused_port()
    EgressAllowedHost.objects.create(project=project, host=f"127.0.0.1:{port}", note="dead endpoint")
    return ModelEndpoint.objects.create(
        project=project,
        slug="dead",
        name="Dead",
        model="openai/smollm2",
        api_base=f"http://127.0.0.1:{port}/v1",
        structured_output=StructuredOutput.JSON_OBJECT_SCHEMA,
        input_price_per_mtok=0,
        output_price_per_mtok=0,
        timeout_s=10,
    )
