"""REST API of approvals and run diffs (included by the lead under ``/api/v1/``).

* ``GET  runs/<id>/approvals`` — approval steps waiting for a decision (view).
* ``POST runs/<id>/approvals/<node_id>`` — approve, edit or reject (runner role).
* ``GET  runs/<a>/diff/<b>`` — compare two runs step by step (view on both).

Every run is fetched through ``agents.selectors.access_run``; errors have the
shape ``{"detail", "code", "errors"?}``.
"""

from __future__ import annotations

from typing import Any

from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import api_view
from rest_framework.request import Request
from rest_framework.response import Response

from agents.effects.approvals import approvals_pending
from agents.models import ApprovalDecision
from agents.selectors import access_run
from agents.services.approvals import ApprovalDataError, approval_decide
from agents.services.diff import run_diff
from agents.services.runs import RunStateError
from studio.api.errors import ApiError


class PendingApprovalOut(serializers.Serializer[Any]):
    run_id = serializers.IntegerField(help_text="Decide on this run (a sub-workflow's run may differ from the URL's)")
    node_id = serializers.CharField()
    iteration = serializers.CharField(allow_blank=True)
    label = serializers.CharField(allow_blank=True)
    inputs = serializers.JSONField(help_text="The values under review")
    instructions = serializers.CharField(allow_blank=True)
    fields = serializers.ListField(child=serializers.DictField(), help_text="The reviewed signature's fields")
    waiting_since = serializers.DateTimeField(allow_null=True)


class ApprovalDecideIn(serializers.Serializer[Any]):
    approved = serializers.BooleanField()
    data = serializers.DictField(
        required=False, allow_null=True, help_text="Edited values of reviewed fields (used when approving)"
    )
    comment = serializers.CharField(required=False, allow_blank=True, default="", max_length=10_000)
    iteration = serializers.CharField(required=False, allow_blank=True, default="", max_length=64)


class ApprovalDecisionOut(serializers.ModelSerializer[ApprovalDecision]):
    decided_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = ApprovalDecision
        fields = ["id", "run", "node_id", "iteration", "approved", "data", "comment", "decided_by", "decided_at"]


class FieldDiffOut(serializers.Serializer[Any]):
    a = serializers.JSONField(allow_null=True)
    b = serializers.JSONField(allow_null=True)
    changed = serializers.BooleanField()
    delta = serializers.JSONField(required=False, help_text="b - a for numbers (cost as a decimal string)")
    keys_changed = serializers.ListField(child=serializers.CharField(), required=False)


class StepDiffOut(serializers.Serializer[Any]):
    node_id = serializers.CharField()
    iteration = serializers.CharField(allow_blank=True)
    node_type = serializers.CharField()
    label = serializers.CharField(allow_blank=True)
    presence = serializers.ChoiceField(choices=["both", "only_a", "only_b"])
    state = serializers.ChoiceField(
        choices=["unchanged", "changed", "reused", "only_a", "only_b"],
        help_text="reused: a side's outputs were copied from an earlier run and only usage (tokens, cost, "
        "duration) differs",
    )
    reused = serializers.DictField(child=serializers.BooleanField(), help_text='{"a": bool, "b": bool}')
    changed = serializers.BooleanField(help_text="state is changed, only_a or only_b")
    changed_fields = serializers.ListField(child=serializers.CharField())
    fields = serializers.DictField(child=FieldDiffOut())


class RunRefOut(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    workflow = serializers.CharField()
    version = serializers.IntegerField(allow_null=True)


class DiffSummaryOut(serializers.Serializer[Any]):
    steps = serializers.IntegerField()
    changed = serializers.IntegerField()
    unchanged = serializers.IntegerField()
    reused = serializers.IntegerField()
    only_a = serializers.IntegerField()
    only_b = serializers.IntegerField()


class RunDiffOut(serializers.Serializer[Any]):
    a = RunRefOut()
    b = RunRefOut()
    run = serializers.DictField(child=FieldDiffOut())
    steps = StepDiffOut(many=True)
    summary = DiffSummaryOut()


@extend_schema(responses={200: PendingApprovalOut(many=True)}, summary="Approval steps waiting for a decision")
@api_view(["GET"])
def approval_list(request: Request, run_id: int) -> Response:
    run = access_run(user=request.user, pk=run_id)
    return Response(PendingApprovalOut(approvals_pending(run=run), many=True).data)


@extend_schema(
    request=ApprovalDecideIn,
    responses={201: ApprovalDecisionOut},
    summary="Approve (optionally with edited data) or reject a waiting approval step; the run resumes",
)
@api_view(["POST"])
def approval_decide_view(request: Request, run_id: int, node_id: str) -> Response:
    run = access_run(user=request.user, pk=run_id, perm="run")
    body = ApprovalDecideIn(data=request.data)
    body.is_valid(raise_exception=True)
    data = body.validated_data
    try:
        decision = approval_decide(
            run=run,
            node_id=node_id,
            iteration=data["iteration"],
            approved=data["approved"],
            data=data.get("data"),
            comment=data["comment"],
            user=request.user,
        )
    except RunStateError as exc:
        raise ApiError(str(exc), code="not_waiting", status_code=409) from exc
    except ApprovalDataError as exc:
        raise ApiError(
            "The edited data does not fit the approval's fields.", code="invalid_data", errors=exc.errors
        ) from exc
    return Response(ApprovalDecisionOut(decision).data, status=status.HTTP_201_CREATED)


@extend_schema(responses={200: RunDiffOut}, summary="Compare two runs step by step")
@api_view(["GET"])
def run_diff_view(request: Request, run_id: int, other_id: int) -> Response:
    a = access_run(user=request.user, pk=run_id)
    b = access_run(user=request.user, pk=other_id)
    return Response(run_diff(a, b))


urlpatterns = [
    path("runs/<int:run_id>/approvals", approval_list, name="api-run-approvals"),
    path("runs/<int:run_id>/approvals/<str:node_id>", approval_decide_view, name="api-run-approval-decide"),
    path("runs/<int:run_id>/diff/<int:other_id>", run_diff_view, name="api-run-diff"),
]
