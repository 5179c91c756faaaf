"""Datasets (versioned rows of inputs and expected outputs), test suites, suite runs and case results."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import models

from agents.models import Run, Workflow, WorkflowVersion
from studio.models import Project


class Dataset(models.Model):
    """A project's named collection of rows, in immutable-once-used versions.

    ``fields`` is the input signature the rows were validated against (a
    list of field dicts, as in an ``input`` node's config), copied from
    ``workflow`` when the dataset was made for one.
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="datasets")
    slug = models.SlugField(max_length=64)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    workflow = models.ForeignKey(Workflow, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    fields = models.JSONField(default=list, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "slug"], name="dataset_unique_slug")]
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def latest_version(self) -> DatasetVersion | None:
        return self.versions.order_by("-number").first()


class DatasetVersion(models.Model):
    """Version ``number`` (1, 2, 3 …) of a dataset. ``locked_at`` is set when a suite run first used it:
    from then on its rows never change, and adding rows makes the next version (a copy plus the new rows)."""

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    locked_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["dataset", "number"], name="dataset_version_unique")]
        ordering = ["dataset", "-number"]

    def __str__(self) -> str:
        return f"{self.dataset.slug} v{self.number}"

    @property
    def is_locked(self) -> bool:
        return self.locked_at is not None


class DatasetRow(models.Model):
    """One row: ``inputs`` (valid for the dataset's signature), optional ``expected`` outputs
    (field → value) and ``tags``; ``source_run_id`` when it was added from a run."""

    version = models.ForeignKey(DatasetVersion, on_delete=models.CASCADE, related_name="rows")
    position = models.PositiveIntegerField()
    inputs = models.JSONField(default=dict)
    expected = models.JSONField(default=dict, blank=True)
    tags = models.JSONField(default=list, blank=True)
    source_run_id = models.BigIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["version", "position", "id"]

    def __str__(self) -> str:
        return f"row {self.position} of {self.version}"


class Suite(models.Model):
    """A workflow's test suite: cases x checks. One per workflow; it gates publishing."""

    workflow = models.OneToOneField(Workflow, on_delete=models.CASCADE, related_name="suite")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"suite of {self.workflow.slug}"


class CheckKind(models.TextChoices):
    EXACT_MATCH = "exact_match", "Exact match"
    CONTAINS = "contains", "Contains"
    NOT_CONTAINS = "not_contains", "Does not contain"
    REGEX = "regex", "Regular expression"
    JSON_SCHEMA = "json_schema", "JSON Schema"
    NUMERIC = "numeric_tolerance", "Number within tolerance"
    EXPRESSION = "expression", "Expression (sandboxed Jinja)"
    COST_CEILING = "cost_ceiling", "Cost ceiling (USD)"
    LATENCY_CEILING = "latency_ceiling", "Latency ceiling (ms)"
    LLM_JUDGE = "llm_judge", "LLM judge"


class SuiteCheck(models.Model):
    """One check of a suite: a ``kind`` and its ``config`` (validated by ``checks.config_problems``)."""

    suite = models.ForeignKey(Suite, on_delete=models.CASCADE, related_name="checks")
    name = models.SlugField(max_length=64)
    kind = models.CharField(max_length=24, choices=CheckKind.choices)
    config = models.JSONField(default=dict, blank=True)
    position = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["suite", "name"], name="suite_check_unique_name")]
        ordering = ["suite", "position", "id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.kind})"


class SuiteCase(models.Model):
    """One case: ``inputs`` and ``expected`` (copied from ``dataset_row`` when made from one).

    ``overrides`` maps a check name to config keys replacing the check's for
    this case, or to ``{"skip": true}``.
    """

    suite = models.ForeignKey(Suite, on_delete=models.CASCADE, related_name="cases")
    name = models.CharField(max_length=200)
    inputs = models.JSONField(default=dict)
    expected = models.JSONField(default=dict, blank=True)
    overrides = models.JSONField(default=dict, blank=True)
    dataset_row = models.ForeignKey(DatasetRow, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["suite", "position", "id"]

    def __str__(self) -> str:
        return self.name

    def override_for(self, check_name: str) -> dict[str, Any]:
        value = (self.overrides or {}).get(check_name)
        return dict(value) if isinstance(value, dict) else {}


class SuiteRunStatus(models.TextChoices):
    RUNNING = "running", "Running"
    PASSED = "passed", "Passed"
    FAILED = "failed", "Failed"


class SuiteRun(models.Model):
    """One run of a suite against the draft (``version`` None; ``graph_hash`` names the exact draft)
    or a published version. Totals: cost in USD (``cost_unknown`` when some call had no price),
    ``duration_ms`` from start to the last case's end."""

    suite = models.ForeignKey(Suite, on_delete=models.CASCADE, related_name="runs")
    workflow = models.ForeignKey(Workflow, on_delete=models.CASCADE, related_name="+")
    version = models.ForeignKey(WorkflowVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    graph_hash = models.CharField(max_length=64, db_index=True)
    status = models.CharField(max_length=16, choices=SuiteRunStatus.choices, default=SuiteRunStatus.RUNNING)
    passed_count = models.PositiveIntegerField(default=0)
    failed_count = models.PositiveIntegerField(default=0)
    cost_usd = models.DecimalField(max_digits=14, decimal_places=8, default=Decimal("0"))
    cost_unknown = models.BooleanField(default=False)
    duration_ms = models.FloatField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"suite run {self.pk} of {self.workflow.slug} ({self.status})"

    @property
    def target_label(self) -> str:
        return f"v{self.version.version}" if self.version_id else "draft"


class CaseStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    PASSED = "passed", "Passed"
    FAILED = "failed", "Failed"


class CaseResult(models.Model):
    """A case of a suite run: its workflow run and what each check said.

    ``checks`` is ``[{"name", "kind", "passed", "value", "label", "message"}]``
    (``value``: the check's score, 1.0/0.0 or the judge's scale). ``error``
    when the case could not run at all (its inputs do not fit the signature).
    """

    suite_run = models.ForeignKey(SuiteRun, on_delete=models.CASCADE, related_name="results")
    case = models.ForeignKey(SuiteCase, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    name = models.CharField(max_length=200)
    position = models.PositiveIntegerField(default=0)
    inputs = models.JSONField(default=dict)
    expected = models.JSONField(default=dict, blank=True)
    run = models.ForeignKey(Run, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    status = models.CharField(max_length=16, choices=CaseStatus.choices, default=CaseStatus.PENDING)
    outputs = models.JSONField(default=dict, blank=True)
    checks = models.JSONField(default=list, blank=True)
    error = models.TextField(blank=True)
    cost_usd = models.DecimalField(max_digits=14, decimal_places=8, null=True, blank=True)
    duration_ms = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ["suite_run", "position", "id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.status})"

    def failure_messages(self) -> list[str]:
        """One line per failed check (or the case's error)."""
        if self.error:
            return [self.error]
        return [f"{c['name']}: {c.get('message') or 'failed'}" for c in self.checks if not c.get("passed")]
