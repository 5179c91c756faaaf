"""Endpoint services and selectors: the local endpoint, access by role, usage totals per run and project."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.utils import timezone
from guardian.shortcuts import assign_perm

from studio.models import AuditEvent
from traces.models import ModelEndpoint, Span, SpanStatus, StructuredOutput
from traces.selectors import access_endpoint, endpoints_visible, spans_for_run, usage_for_project, usage_for_run
from traces.services import endpoint_ensure_local, trace_finish, trace_start

pytestmark = pytest.mark.django_db


def test_endpoint_ensure_local_creates_the_free_local_endpoint_once(project):
    first = endpoint_ensure_local(project=project)
    first.name = "Renamed by an admin"
    first.save()

    second = endpoint_ensure_local(project=project)

    assert second.pk == first.pk and second.name == "Renamed by an admin"
    assert (second.slug, second.model, second.api_base) == ("local", "openai/smollm2", settings.STUDIO_LOCAL_MODEL_URL)
    assert second.structured_output == StructuredOutput.JSON_OBJECT_SCHEMA
    assert second.input_price_per_mtok == 0 and second.output_price_per_mtok == 0 and second.has_price
    assert second.context_window == 2048
    assert AuditEvent.objects.filter(verb="endpoint.create", object_id=str(first.pk)).count() == 1


def test_access_endpoint_by_role(project, alice, bob, charlie):
    endpoint = endpoint_ensure_local(project=project)

    assert access_endpoint(user=alice, project=project, slug="local", perm="change") == endpoint
    assert access_endpoint(user=bob, project=project, pk=endpoint.pk) == endpoint
    with pytest.raises(PermissionDenied):
        access_endpoint(user=bob, project=project, slug="local", perm="change")
    with pytest.raises(Http404):
        access_endpoint(user=charlie, project=project, slug="local")
    with pytest.raises(Http404):
        access_endpoint(user=alice, project=project, slug="missing")


def test_a_guardian_object_permission_grants_one_endpoint(project, charlie):
    endpoint = endpoint_ensure_local(project=project)
    hidden = ModelEndpoint.objects.create(project=project, slug="other", name="Other", model="openai/x")
    assign_perm("traces.view_modelendpoint", charlie, endpoint)

    assert access_endpoint(user=charlie, project=project, slug="local") == endpoint
    assert list(endpoints_visible(user=charlie, project=project)) == [endpoint]
    assert hidden not in endpoints_visible(user=charlie)


def _span(trace, **fields):  # type: ignore[no-untyped-def]
    defaults = {"project_id": trace.project_id, "run_id": trace.run_id, "started_at": timezone.now()}
    return Span.objects.create(trace=trace, **{**defaults, **fields})


def test_usage_totals_sum_known_costs_and_count_unknown_ones(project):
    trace = trace_start(project_id=project.pk, run_id=5, name="run 5")
    _span(trace, input_tokens=100, output_tokens=10, cost_usd=Decimal("0.001"))
    _span(trace, input_tokens=30, output_tokens=5, cache_read_tokens=20, cost_usd=None, price_source="unknown")
    _span(trace, status=SpanStatus.ERROR, error="down")
    other = trace_start(project_id=project.pk, run_id=6)
    _span(other, input_tokens=1, output_tokens=1, cost_usd=Decimal("0.5"))

    run = usage_for_run(5, project_id=project.pk)

    assert (run.spans, run.errors, run.input_tokens, run.output_tokens, run.cached_tokens) == (3, 1, 130, 15, 20)
    assert run.prompt_tokens == 150  # fresh 130 + cache read 20: each token once
    assert run.cost_usd == Decimal("0.001") and run.unknown_cost_spans == 1 and not run.cost_is_complete
    assert [s.run_id for s in spans_for_run(5)] == [5, 5, 5]
    assert usage_for_project(project.pk).cost_usd == Decimal("0.501")


def test_usage_of_a_run_without_spans_is_zero(project):
    totals = usage_for_run(12345)

    assert totals.spans == 0 and totals.cost_usd == Decimal("0") and totals.cost_is_complete


def test_trace_finish_stamps_the_end_once(project):
    trace = trace_start(project_id=project.pk, run_id=None, name="adhoc")

    first = trace_finish(trace).ended_at
    second = trace_finish(trace).ended_at

    assert first is not None and first == second
