"""Deployments (which published version is live) and the invoke API's idempotency keys."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from agents.models import Run, Workflow, WorkflowVersion
from studio.models import Project


class Deployment(models.Model):
    """One deploy of a published version as its workflow's live version.

    Append-only history: the newest row of a workflow (highest ``id``) is its
    live version; a rollback is a new row pointing at an older version. A
    draft is never deployed (only :class:`WorkflowVersion` rows can be).
    """

    workflow = models.ForeignKey(Workflow, on_delete=models.CASCADE, related_name="deployments")
    version = models.ForeignKey(WorkflowVersion, on_delete=models.CASCADE, related_name="deployments")
    note = models.CharField(max_length=500, blank=True)
    deployed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["workflow", "-id"], name="deployment_workflow_recent")]

    def __str__(self) -> str:
        return f"{self.workflow.slug} v{self.version.version} deployed"


class InvokeRequest(models.Model):
    """An ``Idempotency-Key`` the invoke API has seen, with the run it started.

    Scoped per project and key: a retried call with the same key returns the
    same run. ``body_sha256`` is the hash of the canonical JSON of the inputs;
    the same key with other inputs is refused (409).
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    body_sha256 = models.CharField(max_length=64)
    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "key"], name="invoke_request_unique_key")]

    def __str__(self) -> str:
        return f"{self.project.slug} {self.key} → run {self.run_id}"


class WebhookTrigger(models.Model):
    """An inbound webhook: ``POST /api/v1/hooks/<token>`` starts a run of the workflow's live version.

    ``token`` (in the URL, unguessable) finds the trigger; ``secret_ciphertext``
    (Fernet, ``studio.crypto``) signs requests: ``X-Studio-Signature:
    sha256=<hex HMAC-SHA256(secret, "<X-Studio-Timestamp>." + raw body)>``.
    ``input_map`` maps an input field to a sandboxed Jinja2 expression over
    ``body`` (the JSON body), e.g. ``{"question": "body.issue.title"}``; empty:
    the body's ``inputs`` object, else the whole body, is the inputs.
    ``rate_limit_per_minute`` caps accepted deliveries (Redis counter).
    """

    workflow = models.ForeignKey(Workflow, on_delete=models.CASCADE, related_name="webhook_triggers")
    name = models.CharField(max_length=100)
    token = models.CharField(max_length=64, unique=True)
    secret_ciphertext = models.TextField(editable=False)
    input_map = models.JSONField(default=dict, blank=True)
    rate_limit_per_minute = models.PositiveIntegerField(default=60)
    enabled = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["workflow", "name", "id"]

    def __str__(self) -> str:
        return f"{self.workflow.slug} webhook {self.name}"


class WebhookDelivery(models.Model):
    """One request to a webhook trigger: when, the answer's status and code, and the run it started.

    The body is not stored (it may hold personal data); ``detail`` says why a
    delivery was refused.
    """

    trigger = models.ForeignKey(WebhookTrigger, on_delete=models.CASCADE, related_name="deliveries")
    status_code = models.PositiveSmallIntegerField()
    outcome = models.CharField(max_length=32)
    detail = models.CharField(max_length=500, blank=True)
    run = models.ForeignKey(Run, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    received_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"delivery {self.pk} → {self.status_code} {self.outcome}"


class OverlapPolicy(models.TextChoices):
    SKIP = "skip", "Skip while the previous run is still going"
    QUEUE = "queue", "Start anyway (queued behind the running one)"


class Schedule(models.Model):
    """A cron schedule of a workflow's live version with fixed inputs.

    ``cron``: five fields (minute hour day-of-month month day-of-week, as in
    crontab(5); names like ``mon`` accepted), read in ``timezone`` (an IANA
    name). ``next_run_at`` (UTC) is when the tick fires it next; after a fire
    it is computed from *now*, so missed times after downtime fire once, never
    piled up. ``overlap`` decides what happens when the previous run is still
    going. ``last_outcome`` says what the last due time did (``started``,
    ``skipped_overlap``, ``not_deployed``, ``invalid_inputs``…).
    """

    workflow = models.ForeignKey(Workflow, on_delete=models.CASCADE, related_name="schedules")
    name = models.CharField(max_length=100)
    cron = models.CharField(max_length=100)
    timezone = models.CharField(max_length=64, default="UTC")
    inputs = models.JSONField(default=dict, blank=True)
    overlap = models.CharField(max_length=8, choices=OverlapPolicy.choices, default=OverlapPolicy.SKIP)
    paused = models.BooleanField(default=False)
    next_run_at = models.DateTimeField(null=True, blank=True, db_index=True)
    last_fired_at = models.DateTimeField(null=True, blank=True)
    last_outcome = models.CharField(max_length=200, blank=True)
    last_run = models.ForeignKey(Run, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["workflow", "name", "id"]

    def __str__(self) -> str:
        return f"{self.workflow.slug} schedule {self.name} ({self.cron} {self.timezone})"


class CallbackEndpoint(models.Model):
    """An outbound callback: when a run of the workflow finishes (succeeded or failed), a signed JSON
    POST goes to ``url`` (through the egress guard). ``secret_ciphertext`` (Fernet) signs it like an
    inbound webhook: ``X-Studio-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>." + body)>``."""

    workflow = models.ForeignKey(Workflow, on_delete=models.CASCADE, related_name="callback_endpoints")
    url = models.CharField(max_length=1000)
    secret_ciphertext = models.TextField(editable=False)
    enabled = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["workflow", "id"]

    def __str__(self) -> str:
        return f"{self.workflow.slug} callback {self.url}"


class CallbackDelivery(models.Model):
    """One run's callback to one endpoint: ``pending`` (being sent or waiting for a retry),
    ``delivered`` (a 2xx answer) or ``failed`` (retries exhausted, or refused by the egress guard)."""

    endpoint = models.ForeignKey(CallbackEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="+")
    status = models.CharField(max_length=16, default="pending")
    attempts = models.PositiveIntegerField(default=0)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [models.UniqueConstraint(fields=["endpoint", "run"], name="callback_delivery_unique_run")]

    def __str__(self) -> str:
        return f"callback {self.endpoint_id} run {self.run_id}: {self.status}"


class ShareLink(models.Model):
    """Opt-in public access to a workflow's live version: ``/s/<token>/`` shows its inputs form and the
    answer to anyone with the link, without signing in. Revoked links (``revoked_at``) answer 404."""

    workflow = models.ForeignKey(Workflow, on_delete=models.CASCADE, related_name="share_links")
    token = models.CharField(max_length=64, unique=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.workflow.slug} share link {self.pk}"


class SharedRun(models.Model):
    """A run started through a share link; ``token`` lets that visitor (and only them) read its answer."""

    link = models.ForeignKey(ShareLink, on_delete=models.CASCADE, related_name="runs")
    run = models.OneToOneField(Run, on_delete=models.CASCADE, related_name="+")
    token = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"run {self.run_id} via share link {self.link_id}"
