"""Workflows, their immutable versions, runs, steps and run events."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import models

from studio.models import Project
from traces.models import ReplayMode


def empty_graph() -> dict[str, Any]:
    return {"schema": 1, "nodes": [], "edges": []}


class Workflow(models.Model):
    """A workflow: an editable draft graph plus immutable published versions.

    ``draft_revision`` increases on every draft save; a save based on an
    older revision is refused (no silent last-write-wins). Budgets are the
    defaults for its runs: ``budget_tokens`` (input + output tokens) and
    ``budget_usd`` (USD); ``None`` means no limit.
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="workflows")
    slug = models.SlugField(max_length=64)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    draft_graph = models.JSONField(default=empty_graph)
    draft_revision = models.PositiveIntegerField(default=1)
    max_concurrency = models.PositiveIntegerField(default=4, help_text="Nodes of one run executing at once.")
    budget_tokens = models.PositiveIntegerField(null=True, blank=True)
    budget_usd = models.DecimalField(max_digits=12, decimal_places=6, null=True, blank=True)
    timeout_s = models.PositiveIntegerField(
        null=True, blank=True, help_text="Wall-clock limit of a run in seconds (default: STUDIO_RUN_TIMEOUT_S)."
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    deleted_at = models.DateTimeField(
        null=True, blank=True, help_text="Deleted with its runs kept: hidden from lists; its runs stay readable."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "slug"], name="workflow_unique_slug")]
        ordering = ["name"]
        permissions = [("run_workflow", "Can run workflow")]

    def __str__(self) -> str:
        return self.name


class WorkflowVersion(models.Model):
    """An immutable published graph, numbered 1, 2, 3 … per workflow."""

    workflow = models.ForeignKey(Workflow, on_delete=models.CASCADE, related_name="versions")
    version = models.PositiveIntegerField()
    graph = models.JSONField()
    note = models.CharField(max_length=500, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["workflow", "version"], name="workflow_version_unique")]
        ordering = ["workflow", "-version"]

    def __str__(self) -> str:
        return f"{self.workflow.slug} v{self.version}"

    def save(self, *args: object, **kwargs: object) -> None:
        if self.pk is not None:
            raise ValueError("Workflow versions are immutable; publish a new version instead.")
        super().save(*args, **kwargs)  # type: ignore[arg-type]


class RunStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    WAITING = "waiting", "Waiting"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


TERMINAL_RUN_STATUSES = (RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED)


class RunQuerySet(models.QuerySet["Run"]):
    def active(self) -> RunQuerySet:
        return self.filter(status__in=[RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.WAITING])

    def terminal(self) -> RunQuerySet:
        return self.filter(status__in=TERMINAL_RUN_STATUSES)


class Run(models.Model):
    """One execution of a workflow graph (a published version or the draft).

    PostgreSQL is the source of truth: a Celery message only says "advance
    run X". ``attempt`` counts dispatches to a worker and fences zombies;
    ``lease_expires_at`` is renewed by the worker executing the run, and the
    sweeper re-dispatches a run whose lease expired. Tokens are counts, cost
    in USD; ``cost_unknown`` is set when some call had no known price.
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="runs")
    workflow = models.ForeignKey(Workflow, on_delete=models.CASCADE, related_name="runs")
    version = models.ForeignKey(
        WorkflowVersion, null=True, blank=True, on_delete=models.RESTRICT, related_name="runs"
    )
    graph = models.JSONField(help_text="Snapshot of the graph this run executes.")
    status = models.CharField(max_length=16, choices=RunStatus.choices, default=RunStatus.QUEUED, db_index=True)
    inputs = models.JSONField(default=dict, blank=True)
    outputs = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    error_code = models.CharField(max_length=64, blank=True)
    failed_node = models.CharField(max_length=64, blank=True)
    input_tokens = models.PositiveIntegerField(default=0)
    output_tokens = models.PositiveIntegerField(default=0)
    cost_usd = models.DecimalField(max_digits=14, decimal_places=8, default=Decimal("0"))
    cost_unknown = models.BooleanField(default=False)
    max_concurrency = models.PositiveIntegerField(default=4)
    budget_tokens = models.PositiveIntegerField(null=True, blank=True)
    budget_usd = models.DecimalField(max_digits=12, decimal_places=6, null=True, blank=True)
    timeout_s = models.PositiveIntegerField(null=True, blank=True, help_text="Wall-clock limit in seconds.")
    parent_run = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="child_runs"
    )
    rerun_from_node = models.CharField(max_length=64, blank=True)
    cancel_requested = models.BooleanField(default=False)
    attempt = models.PositiveIntegerField(default=0)
    lease_expires_at = models.DateTimeField(null=True, blank=True, db_index=True)
    event_seq = models.PositiveIntegerField(default=0, help_text="Last RunEvent.seq written.")
    trace_id = models.BigIntegerField(null=True, blank=True)
    session_id = models.CharField(
        max_length=200, blank=True, default="", help_text="Groups the runs of one chat-style session (API field)."
    )
    replay = models.CharField(
        max_length=8, blank=True, default="", choices=ReplayMode.choices,
        help_text="How model calls use the project's recordings (suite case runs; traces.replay).",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    api_key = models.ForeignKey(
        "studio.ApiKey", null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        help_text="The API key the run was started with (None: a page, the CLI or a schedule).",
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = RunQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["project", "-created_at"], name="run_project_recent"),
            models.Index(fields=["project", "session_id", "-created_at"], name="run_project_session"),
            models.Index(fields=["project", "status", "-created_at"], name="run_project_status"),
        ]

    def __str__(self) -> str:
        return f"run {self.pk} of {self.workflow.slug} ({self.status})"

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_RUN_STATUSES

    def can_cancel(self) -> bool:
        return not self.is_terminal

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    @property
    def duration_ms(self) -> float | None:
        if self.started_at and self.finished_at:
            return (self.finished_at - self.started_at).total_seconds() * 1000
        return None


class StepStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    SKIPPED = "skipped", "Skipped"
    WAITING = "waiting", "Waiting"


class Step(models.Model):
    """One execution of one node in a run: inputs, outputs, tokens, cost (USD), timing (ms).

    ``iteration`` tells apart repeated executions of a node (loop rounds,
    fan-out items); ``""`` for a node that runs once.
    """

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="steps")
    node_id = models.CharField(max_length=64)
    iteration = models.CharField(max_length=64, blank=True, default="")
    node_type = models.CharField(max_length=32)
    label = models.CharField(max_length=200, blank=True)
    status = models.CharField(max_length=16, choices=StepStatus.choices, default=StepStatus.PENDING)
    inputs = models.JSONField(default=dict, blank=True)
    outputs = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    error_code = models.CharField(max_length=64, blank=True)
    input_tokens = models.PositiveIntegerField(default=0)
    output_tokens = models.PositiveIntegerField(default=0)
    cost_usd = models.DecimalField(max_digits=14, decimal_places=8, null=True, blank=True, default=Decimal("0"))
    reused = models.BooleanField(default=False, help_text="Outputs copied from the parent run; no call made.")
    attempt = models.PositiveIntegerField(default=1)
    meta = models.JSONField(default=dict, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    duration_ms = models.FloatField(default=0.0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["run", "node_id", "iteration"], name="step_unique_node_iteration")
        ]
        ordering = ["run", "started_at", "id"]

    def __str__(self) -> str:
        suffix = f"[{self.iteration}]" if self.iteration else ""
        return f"{self.node_id}{suffix} {self.status}"


class RunEvent(models.Model):
    """An ordered event of a run (``seq`` 1, 2, 3 … per run), replayed to reconnecting clients."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="events")
    seq = models.PositiveIntegerField()
    type = models.CharField(max_length=32)
    payload = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "seq"], name="run_event_unique_seq")]
        ordering = ["run", "seq"]

    def __str__(self) -> str:
        return f"run {self.run_id} #{self.seq} {self.type}"


# ------------------------------------------------------------------ effects (http, approvals, sub-workflows, MCP)


class ApprovalDecision(models.Model):
    """A person's decision on a waiting ``approval`` step (one per run, node and iteration).

    ``data`` (when set) replaces the values under review; it was validated
    against the approval node's input signature when the decision was taken.
    """

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="approval_decisions")
    node_id = models.CharField(max_length=200)
    iteration = models.CharField(max_length=64, blank=True, default="")
    approved = models.BooleanField()
    data = models.JSONField(null=True, blank=True)
    comment = models.TextField(blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["run", "node_id", "iteration"], name="approval_decision_unique_step")
        ]
        ordering = ["run", "decided_at", "id"]

    def __str__(self) -> str:
        verdict = "approved" if self.approved else "rejected"
        suffix = f"[{self.iteration}]" if self.iteration else ""
        return f"run {self.run_id} {self.node_id}{suffix} {verdict}"


class SideEffectStatus(models.TextChoices):
    SENDING = "sending", "Sending (may have reached the server)"
    NOT_SENT = "not_sent", "Not sent (the connection failed)"
    ANSWERED = "answered", "Answered"


class SideEffect(models.Model):
    """The ledger of side-effecting HTTP requests (POST, PUT, PATCH, DELETE) of a run.

    A row is committed *before* the request leaves, keyed by the step's
    idempotency key (``"{node_id}:{iteration}"``), so a resumed or retried
    step knows the request may already have reached the server and refuses
    to send it again unless the request carries an ``Idempotency-Key``
    header. ``url`` is stored without its query string.
    """

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="side_effects")
    key = models.CharField(max_length=300)
    method = models.CharField(max_length=8)
    url = models.TextField()
    status = models.CharField(max_length=16, choices=SideEffectStatus.choices, default=SideEffectStatus.SENDING)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    sends = models.PositiveIntegerField(default=1, help_text="Times sent (more than 1 only with an Idempotency-Key).")
    attempt = models.PositiveIntegerField(default=0, help_text="The run attempt that last sent it.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "key"], name="side_effect_unique_key")]
        ordering = ["run", "created_at", "id"]

    def __str__(self) -> str:
        return f"run {self.run_id} {self.method} {self.url} ({self.status})"


class SubworkflowCall(models.Model):
    """Links a ``subworkflow`` step (parent run, node, iteration) to the child run it started.

    A resumed parent finds its child here instead of starting another.
    ``charged_*`` is the child's usage (tokens; USD) already counted into the
    parent's step, so a resumed parent adds only what is new.
    """

    parent_run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="subworkflow_calls")
    node_id = models.CharField(max_length=200)
    iteration = models.CharField(max_length=64, blank=True, default="")
    child_run = models.OneToOneField(Run, on_delete=models.CASCADE, related_name="subworkflow_call")
    charged_input_tokens = models.PositiveIntegerField(default=0)
    charged_output_tokens = models.PositiveIntegerField(default=0)
    charged_cost_usd = models.DecimalField(max_digits=14, decimal_places=8, default=Decimal("0"))
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["parent_run", "node_id", "iteration"], name="subworkflow_call_unique_step")
        ]

    def __str__(self) -> str:
        return f"run {self.parent_run_id} {self.node_id} → run {self.child_run_id}"


class McpServer(models.Model):
    """An MCP server (streamable HTTP) a project's ``tool`` and ``agent`` nodes may call by ``slug``.

    ``url`` passes the same egress guard as the ``http`` node.
    ``headers_secret`` optionally names a project secret sent as headers: a
    JSON object of header → value, or any other value sent as
    ``Authorization: Bearer <value>``. ``timeout_s`` bounds each call (seconds).
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="mcp_servers")
    slug = models.SlugField(max_length=64)
    name = models.CharField(max_length=200)
    url = models.CharField(max_length=1000, help_text="Streamable HTTP endpoint, e.g. https://mcp.example.com/mcp")
    headers_secret = models.ForeignKey(
        "studio.Secret", null=True, blank=True, on_delete=models.RESTRICT, related_name="+",
        help_text="Optional secret holding the headers (JSON object) or a bearer token.",
    )
    timeout_s = models.FloatField(default=30.0, help_text="Seconds per call.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "slug"], name="mcp_server_unique_slug")]
        ordering = ["project", "slug"]

    def __str__(self) -> str:
        return f"{self.name} ({self.slug})"

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        from studio.lib.ssrf import EgressRefused, parse_url

        try:
            parse_url(self.url)
        except EgressRefused as exc:
            raise ValidationError({"url": str(exc)}) from None
        if self.headers_secret_id and self.headers_secret.project_id != self.project_id:
            raise ValidationError({"headers_secret": "Choose a secret of the same project."})
        if not 0 < self.timeout_s <= 600:
            raise ValidationError({"timeout_s": "Between 0 and 600 seconds."})


# ------------------------------------------------------------------ observability


class SavedFilter(models.Model):
    """A user's named trace-explorer filter in one project: the explorer's query string, kept as typed.

    Private to its user (nobody else lists or uses it); re-validated every time
    it is applied, so a filter saved before a field changed cannot break the page.
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="saved_filters")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=80)
    query = models.CharField(max_length=2000, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "user", "name"], name="saved_filter_unique_name")]
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.query})"


class BudgetAlert(models.Model):
    """A project's monthly budget threshold reached: one row per (project, month, percent), so each
    warning (banner, audit event, webhook) happens once a month.

    ``spent_usd`` and ``budget_usd`` are the figures when it was reached;
    ``webhook_status`` is ``""`` (no webhook), ``pending``, ``sent``, or ``failed: <reason>``.
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="budget_alerts")
    month = models.DateField(help_text="First day of the month.")
    percent = models.PositiveSmallIntegerField()
    spent_usd = models.DecimalField(max_digits=14, decimal_places=8)
    budget_usd = models.DecimalField(max_digits=12, decimal_places=2)
    webhook_status = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "month", "percent"], name="budget_alert_unique_month_percent")
        ]
        ordering = ["-month", "percent"]

    def __str__(self) -> str:
        return f"{self.project_id} {self.month:%Y-%m} {self.percent}%"


class UsageSpanHour(models.Model):
    """Hourly rollup of a project's spans (model calls) per endpoint and model, for the usage page
    (``agents.observability.rollups``). ``hour`` is the UTC hour of ``Span.started_at``; tokens are the
    spans' disjoint parts; ``cost_usd`` sums known prices (None when no call was priced);
    ``unknown_calls`` counts successful calls without a price."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    hour = models.DateTimeField()
    endpoint = models.ForeignKey("traces.ModelEndpoint", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    model = models.CharField(max_length=200, blank=True)
    calls = models.PositiveIntegerField(default=0)
    errors = models.PositiveIntegerField(default=0)
    input_tokens = models.BigIntegerField(default=0)
    cache_read_tokens = models.BigIntegerField(default=0)
    cache_write_tokens = models.BigIntegerField(default=0)
    output_tokens = models.BigIntegerField(default=0)
    reasoning_tokens = models.BigIntegerField(default=0)
    cost_usd = models.DecimalField(max_digits=18, decimal_places=8, null=True, blank=True)
    unknown_calls = models.PositiveIntegerField(default=0)

    class Meta:
        indexes = [models.Index(fields=["project", "hour"], name="usage_span_hour_project")]

    def __str__(self) -> str:
        return f"{self.project_id} {self.hour:%Y-%m-%d %H}h {self.model}"


class UsageRunHour(models.Model):
    """Hourly rollup of a project's runs per workflow, user and API key (``hour``: UTC hour of
    ``Run.created_at``): runs, failed, tokens, cost (USD, known prices), runs with an unknown price,
    and ``latency_hist``, the wall times (ms) of finished runs as ``{bucket index: count}`` with the
    fixed buckets of ``agents.observability.rollups``."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    hour = models.DateTimeField()
    workflow = models.ForeignKey(Workflow, on_delete=models.CASCADE, related_name="+")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    api_key = models.ForeignKey("studio.ApiKey", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    runs = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    tokens = models.BigIntegerField(default=0)
    cost_usd = models.DecimalField(max_digits=18, decimal_places=8, default=Decimal("0"))
    unknown_runs = models.PositiveIntegerField(default=0)
    latency_hist = models.JSONField(default=dict, blank=True)

    class Meta:
        indexes = [models.Index(fields=["project", "hour"], name="usage_run_hour_project")]

    def __str__(self) -> str:
        return f"{self.project_id} {self.hour:%Y-%m-%d %H}h workflow {self.workflow_id}"


class UsageRollupState(models.Model):
    """The one row saying how far the hourly rollups go: hours before ``rolled_until`` are complete
    (as of ``passed_at``); the watermarks are the highest span and run ids seen by the last two passes."""

    rolled_until = models.DateTimeField()
    passed_at = models.DateTimeField()
    span_id_seen = models.BigIntegerField(default=0)
    span_id_seen_before = models.BigIntegerField(default=0)
    run_id_seen = models.BigIntegerField(default=0)
    run_id_seen_before = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"rolled until {self.rolled_until:%Y-%m-%d %H:%M}"
