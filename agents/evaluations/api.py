"""REST API of evaluations under ``/api/v1/``: datasets, a workflow's suite, suite runs, scores and feedback.

Objects come through the access selectors; errors are ``{"detail", "code", "errors"?}``.
"""

from __future__ import annotations

from typing import Any

from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import api_view, parser_classes
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from agents.evaluations import selectors as sel
from agents.evaluations import services as svc
from agents.evaluations.models import CaseResult, Dataset, DatasetRow, SuiteCase, SuiteCheck, SuiteRun
from agents.selectors import access_run, access_workflow, access_workflow_version
from studio.api.errors import ApiError
from studio.lib.jsonsafe import MAX_POSITIVE_INT
from studio.selectors import access_project
from traces.models import Score, ScoreSource


def _error(exc: svc.EvaluationError) -> ApiError:
    return ApiError(exc.message, code=exc.code, status_code=exc.status, errors=exc.errors)


# ------------------------------------------------------------------ serializers


class RowOut(serializers.ModelSerializer[DatasetRow]):
    class Meta:
        model = DatasetRow
        fields = ["id", "position", "inputs", "expected", "tags", "source_run_id"]


class DatasetOut(serializers.ModelSerializer[Dataset]):
    workflow = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    version = serializers.SerializerMethodField()

    class Meta:
        model = Dataset
        fields = ["id", "slug", "name", "description", "workflow", "fields", "version", "created_at"]

    def get_version(self, dataset: Dataset) -> int | None:
        latest = dataset.latest_version()
        return latest.number if latest else None


class DatasetCreateIn(serializers.Serializer[Any]):
    name = serializers.CharField(max_length=200)
    workflow = serializers.SlugField(max_length=64, help_text="The workflow whose input signature rows must fit")
    description = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


class RowIn(serializers.Serializer[Any]):
    inputs = serializers.DictField()
    expected = serializers.DictField(required=False)
    tags = serializers.ListField(child=serializers.CharField(max_length=64), required=False, max_length=50)


class RowsIn(serializers.Serializer[Any]):
    rows = RowIn(many=True)


class CheckIO(serializers.ModelSerializer[SuiteCheck]):
    class Meta:
        model = SuiteCheck
        fields = ["name", "kind", "config"]


class CaseIO(serializers.ModelSerializer[SuiteCase]):
    class Meta:
        model = SuiteCase
        fields = ["name", "inputs", "expected", "overrides"]


class SuiteIO(serializers.Serializer[Any]):
    cases = CaseIO(many=True)
    checks = CheckIO(many=True)


class CaseResultOut(serializers.ModelSerializer[CaseResult]):
    class Meta:
        model = CaseResult
        fields = [
            "name",
            "status",
            "run",
            "inputs",
            "expected",
            "outputs",
            "checks",
            "error",
            "cost_usd",
            "duration_ms",
        ]


class SuiteRunOut(serializers.ModelSerializer[SuiteRun]):
    workflow = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    target = serializers.CharField(source="target_label", read_only=True)

    class Meta:
        model = SuiteRun
        fields = [
            "id",
            "workflow",
            "target",
            "status",
            "passed_count",
            "failed_count",
            "cost_usd",
            "cost_unknown",
            "duration_ms",
            "created_at",
            "finished_at",
        ]


class SuiteRunDetailOut(SuiteRunOut):
    results = CaseResultOut(many=True, read_only=True)

    class Meta(SuiteRunOut.Meta):
        fields = [*SuiteRunOut.Meta.fields, "results"]


class SuiteRunIn(serializers.Serializer[Any]):
    version = serializers.IntegerField(
        required=False, min_value=1, max_value=MAX_POSITIVE_INT, help_text="A published version; the draft when omitted"
    )
    replay = serializers.ChoiceField(
        choices=["", "replay", "fill"],
        required=False,
        default="",
        help_text='Model calls: "" calls the model and records; "replay" answers from the recordings; '
        '"fill" replays and records what is missing',
    )


class ScoreOut(serializers.ModelSerializer[Score]):
    class Meta:
        model = Score
        fields = [
            "id",
            "run_id",
            "step_id",
            "span_id",
            "suite_run_id",
            "name",
            "value",
            "label",
            "comment",
            "source",
            "created_at",
        ]


class ScoreIn(serializers.Serializer[Any]):
    name = serializers.CharField(max_length=64)
    value = serializers.FloatField(required=False, allow_null=True, min_value=-1e9, max_value=1e9)
    label = serializers.CharField(max_length=64, required=False, allow_blank=True, default="")
    comment = serializers.CharField(max_length=5000, required=False, allow_blank=True, default="")
    step_id = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=2**63 - 1)


class FeedbackIn(serializers.Serializer[Any]):
    thumbs = serializers.ChoiceField(choices=["up", "down"])
    comment = serializers.CharField(max_length=5000, required=False, allow_blank=True, default="")
    step_id = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=2**63 - 1)


def _valid(serializer_class: type[serializers.Serializer[Any]], data: Any) -> dict[str, Any]:
    body = serializer_class(data=data)
    body.is_valid(raise_exception=True)
    return dict(body.validated_data)


# ------------------------------------------------------------------ datasets


@extend_schema(
    request=DatasetCreateIn,
    responses={200: DatasetOut(many=True), 201: DatasetOut},
    summary="List or create a project's datasets",
    tags=["evaluations"],
)
@api_view(["GET", "POST"])
def datasets(request: Request, project_slug: str) -> Response:
    project = access_project(user=request.user, slug=project_slug, perm="view" if request.method == "GET" else "change")
    if request.method == "GET":
        return Response(DatasetOut(sel.datasets_of(project=project), many=True).data)
    data = _valid(DatasetCreateIn, request.data)
    workflow = access_workflow(user=request.user, project=project, slug=data["workflow"])
    try:
        dataset = svc.dataset_create(
            project=project, user=request.user, name=data["name"], workflow=workflow, description=data["description"]
        )
    except svc.EvaluationError as exc:
        raise _error(exc) from exc
    return Response(DatasetOut(dataset).data, status=status.HTTP_201_CREATED)


@extend_schema(
    responses={200: DatasetOut}, summary="A dataset with the rows of its latest version", tags=["evaluations"]
)
@api_view(["GET"])
def dataset_detail(request: Request, dataset_id: int) -> Response:
    dataset = access_dataset_or_404(request, dataset_id, "view")
    body = DatasetOut(dataset).data
    latest = dataset.latest_version()
    body["rows"] = RowOut(latest.rows.all() if latest else [], many=True).data
    body["locked"] = bool(latest and latest.is_locked)
    return Response(body)


def access_dataset_or_404(request: Request, dataset_id: int, perm: str) -> Dataset:
    return sel.access_dataset(user=request.user, pk=dataset_id, perm=perm)


@extend_schema(request=RowsIn, responses={201: DatasetOut}, summary="Add rows (all or none)", tags=["evaluations"])
@api_view(["POST"])
def dataset_rows(request: Request, dataset_id: int) -> Response:
    dataset = access_dataset_or_404(request, dataset_id, "change")
    data = _valid(RowsIn, request.data)
    try:
        svc.dataset_rows_add(dataset=dataset, user=request.user, rows=data["rows"])
    except svc.EvaluationError as exc:
        raise _error(exc) from exc
    return Response(DatasetOut(dataset).data, status=status.HTTP_201_CREATED)


@extend_schema(
    request={"multipart/form-data": {"type": "object", "properties": {"file": {"type": "string", "format": "binary"}}}},
    responses={201: DatasetOut},
    summary="Upload a CSV or JSONL file of rows (all or none)",
    tags=["evaluations"],
)
@api_view(["POST"])
@parser_classes([MultiPartParser])
def dataset_upload(request: Request, dataset_id: int) -> Response:
    dataset = access_dataset_or_404(request, dataset_id, "change")
    upload = request.FILES.get("file")
    if upload is None:
        raise ApiError("Attach the file as the multipart field 'file'.", code="no_file")
    try:
        svc.dataset_upload(dataset=dataset, user=request.user, filename=upload.name or "", content=upload.read())
    except svc.EvaluationError as exc:
        raise _error(exc) from exc
    return Response(DatasetOut(dataset).data, status=status.HTTP_201_CREATED)


# ------------------------------------------------------------------ suites


@extend_schema(
    request=SuiteIO, responses={200: SuiteIO}, summary="A workflow's test suite (PUT replaces it)", tags=["evaluations"]
)
@api_view(["GET", "PUT"])
def suite(request: Request, project_slug: str, workflow_slug: str) -> Response:
    project = access_project(user=request.user, slug=project_slug)
    workflow = access_workflow(
        user=request.user, project=project, slug=workflow_slug, perm="view" if request.method == "GET" else "change"
    )
    if request.method == "PUT":
        body = request.data if isinstance(request.data, dict) else {}
        try:
            svc.suite_replace(
                workflow=workflow, user=request.user, cases=body.get("cases", []), checks=body.get("checks", [])
            )
        except svc.EvaluationError as exc:
            raise _error(exc) from exc
    found = sel.suite_of(workflow=workflow)
    return Response(
        {
            "cases": CaseIO(found.cases.all() if found else [], many=True).data,
            "checks": CheckIO(found.checks.all() if found else [], many=True).data,
        }
    )


@extend_schema(
    request=SuiteRunIn,
    responses={200: SuiteRunOut(many=True), 201: SuiteRunOut},
    summary="Run the suite (on the draft, or a version) or list its runs",
    tags=["evaluations"],
)
@api_view(["GET", "POST"])
def suite_runs(request: Request, project_slug: str, workflow_slug: str) -> Response:
    project = access_project(user=request.user, slug=project_slug)
    workflow = access_workflow(
        user=request.user, project=project, slug=workflow_slug, perm="view" if request.method == "GET" else "run"
    )
    if request.method == "GET":
        return Response(SuiteRunOut(sel.suite_runs_of(workflow=workflow), many=True).data)
    data = _valid(SuiteRunIn, request.data)
    version = None
    if "version" in data:
        version = access_workflow_version(user=request.user, workflow=workflow, version=data["version"])
    try:
        suite_run = svc.suite_run_start(workflow=workflow, user=request.user, version=version, replay=data["replay"])
    except svc.EvaluationError as exc:
        raise _error(exc) from exc
    return Response(SuiteRunOut(suite_run).data, status=status.HTTP_201_CREATED)


@extend_schema(responses={200: SuiteRunDetailOut}, summary="A suite run with every case's checks", tags=["evaluations"])
@api_view(["GET"])
def suite_run_detail(request: Request, suite_run_id: int) -> Response:
    suite_run = sel.access_suite_run(user=request.user, pk=suite_run_id)
    suite_run = svc.suite_run_refresh(suite_run=suite_run)
    return Response(SuiteRunDetailOut(suite_run).data)


# ------------------------------------------------------------------ scores


@extend_schema(
    request=ScoreIn,
    responses={200: ScoreOut(many=True), 201: ScoreOut},
    summary="A run's scores; POST adds one (source: api)",
    tags=["evaluations"],
)
@api_view(["GET", "POST"])
def run_scores(request: Request, run_id: int) -> Response:
    run = access_run(user=request.user, pk=run_id, perm="view" if request.method == "GET" else "run")
    if request.method == "GET":
        return Response(ScoreOut(sel.scores_for_run(run_id=run.pk, project_id=run.project_id), many=True).data)
    data = _valid(ScoreIn, request.data)
    try:
        score = svc.score_add(
            run=run,
            user=request.user,
            name=data["name"],
            value=data.get("value"),
            label=data["label"],
            comment=data["comment"],
            step_id=data.get("step_id"),
            source=ScoreSource.API,
        )
    except svc.EvaluationError as exc:
        raise _error(exc) from exc
    return Response(ScoreOut(score).data, status=status.HTTP_201_CREATED)


@extend_schema(
    request=FeedbackIn,
    responses={201: ScoreOut},
    summary="Thumbs up/down and a comment on a run or a step (a human score)",
    tags=["evaluations"],
)
@api_view(["POST"])
def run_feedback(request: Request, run_id: int) -> Response:
    run = access_run(user=request.user, pk=run_id, perm="run")
    data = _valid(FeedbackIn, request.data)
    up = data["thumbs"] == "up"
    try:
        score = svc.score_add(
            run=run,
            user=request.user,
            name="thumbs",
            value=1.0 if up else 0.0,
            label=data["thumbs"],
            comment=data["comment"],
            step_id=data.get("step_id"),
            source=ScoreSource.HUMAN,
        )
    except svc.EvaluationError as exc:
        raise _error(exc) from exc
    return Response(ScoreOut(score).data, status=status.HTTP_201_CREATED)


urlpatterns = [
    path("projects/<slug:project_slug>/datasets", datasets, name="api-datasets"),
    path("datasets/<int:dataset_id>", dataset_detail, name="api-dataset"),
    path("datasets/<int:dataset_id>/rows", dataset_rows, name="api-dataset-rows"),
    path("datasets/<int:dataset_id>/upload", dataset_upload, name="api-dataset-upload"),
    path("projects/<slug:project_slug>/workflows/<slug:workflow_slug>/suite", suite, name="api-suite"),
    path("projects/<slug:project_slug>/workflows/<slug:workflow_slug>/suite/runs", suite_runs, name="api-suite-runs"),
    path("suite-runs/<int:suite_run_id>", suite_run_detail, name="api-suite-run"),
    path("runs/<int:run_id>/scores", run_scores, name="api-run-scores"),
    path("runs/<int:run_id>/feedback", run_feedback, name="api-run-feedback"),
]
