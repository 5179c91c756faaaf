"""Platform core: projects, membership and roles, audit events, secrets, API keys."""

from __future__ import annotations

import datetime
import hashlib
import secrets as pysecrets

from django.conf import settings
from django.db import models


class Role(models.TextChoices):
    """Project roles, from most to least powerful; each role can do everything
    the roles below it can (see :data:`ROLE_TABLE`)."""

    OWNER = "owner", "Owner"
    ADMIN = "admin", "Admin"
    EDITOR = "editor", "Editor"
    RUNNER = "runner", "Runner"
    VIEWER = "viewer", "Viewer"


ROLE_RANK = {Role.VIEWER: 1, Role.RUNNER: 2, Role.EDITOR: 3, Role.ADMIN: 4, Role.OWNER: 5}

#: The role table — the one place that says what a role means (the README copies it).
#: Each row: role, the permission it adds, what that covers. Every page, API route,
#: websocket and admin action asks ``role_allows(role, perm)`` through the selectors.
ROLE_TABLE: tuple[tuple[Role, str, str], ...] = (
    (Role.VIEWER, "view", "reads workflows, runs, prompts, traces, endpoints and secret names"),
    (Role.RUNNER, "run", "also starts, approves, cancels and reruns runs"),
    (Role.EDITOR, "change", "also edits, imports and publishes workflows and prompts"),
    (Role.ADMIN, "manage", "also manages members below admin, API keys, secrets, endpoints, "
                           "settings, the audit log; deletes workflows"),
    (Role.OWNER, "own", "also deletes or archives the project, transfers ownership, manages admins and owners"),
)

# The least role that grants each action on a project's objects.
PERM_MIN_ROLE = {
    "view": Role.VIEWER,
    "run": Role.RUNNER,
    "change": Role.EDITOR,
    "delete": Role.ADMIN,
    "manage": Role.ADMIN,
    "own": Role.OWNER,
}


def role_rank(role: str | None) -> int:
    """1 (viewer) … 5 (owner); 0 for no role. Raises ``ValueError`` for an unknown role."""
    return ROLE_RANK[Role(role)] if role else 0


def role_allows(role: str | None, perm: str) -> bool:
    """True when ``role`` grants ``perm`` (one of PERM_MIN_ROLE's keys).

    Raises ``KeyError`` for an unknown permission name.
    """
    if role is None:
        return False
    return ROLE_RANK[Role(role)] >= ROLE_RANK[PERM_MIN_ROLE[perm]]


class Project(models.Model):
    """A workspace: owns workflows, prompts, endpoints, secrets and runs."""

    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    max_running_runs = models.PositiveIntegerField(
        default=8, help_text="Runs of this project executing at once; more wait their turn."
    )
    default_budget_tokens = models.PositiveIntegerField(
        null=True, blank=True, help_text="Token budget (input + output) of a run whose workflow sets none."
    )
    default_budget_usd = models.DecimalField(
        max_digits=12, decimal_places=6, null=True, blank=True, help_text="USD budget of a run whose workflow sets none."
    )
    default_timeout_s = models.PositiveIntegerField(
        null=True, blank=True, help_text="Wall-clock limit (s) of a run whose workflow sets none."
    )
    archived_at = models.DateTimeField(null=True, blank=True, help_text="Archived: read-only, no new runs.")
    trace_retention_days = models.PositiveIntegerField(
        null=True, blank=True,
        help_text="Delete traces and spans older than this many days (a beat task, in batches); empty: keep all.",
    )
    budget_monthly_usd = models.DecimalField(
        max_digits=12, decimal_places=2, null=True, blank=True,
        help_text="Monthly budget in USD (calendar month, the runs' known costs); empty: none.",
    )
    budget_warn_at = models.CharField(
        max_length=40, default="80,100", blank=True,
        help_text="Warn when the month's spend reaches these percents of the budget (comma-separated, 1-100).",
    )
    budget_hard_stop = models.BooleanField(
        default=False, help_text="Refuse new runs once the month's spend reaches 100 % of the budget."
    )
    budget_webhook_url = models.CharField(
        max_length=1000, blank=True, help_text="POSTed a signed JSON alert at each threshold (egress-guarded)."
    )
    budget_webhook_secret = models.CharField(
        max_length=100, blank=True, help_text="Name of the project secret that signs the webhook (HMAC-SHA256)."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def is_archived(self) -> bool:
        return self.archived_at is not None


class Membership(models.Model):
    """A user's role in a project."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.VIEWER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "user"], name="membership_unique_user")]

    def __str__(self) -> str:
        return f"{self.user} is {self.role} of {self.project}"

    def allows(self, perm: str) -> bool:
        return role_allows(self.role, perm)


class AuditEvent(models.Model):
    """An append-only record of a change or a run: who did what to which object.

    Written only by ``studio.services.audit_record``. The database refuses
    UPDATE and DELETE of these rows (triggers from ``studio.db_triggers``);
    the one update it lets through is ON DELETE SET NULL of ``actor`` or
    ``project``, so deleting a user keeps "who did what" in
    ``actor_username``. ``object_type`` is the object's ``app_label.model``
    (e.g. ``agents.workflow``), ``object_id`` its primary key as text.
    """

    project = models.ForeignKey(Project, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_username = models.CharField(
        max_length=150, blank=True, help_text="The actor's username when the event was recorded (kept if the user is deleted)."
    )
    verb = models.CharField(max_length=64, help_text="e.g. workflow.publish, run.start")
    object_type = models.CharField(max_length=64, blank=True, help_text="app_label.model, e.g. agents.workflow")
    object_id = models.CharField(max_length=64, blank=True)
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["project", "-created_at"], name="audit_project_recent")]

    def __str__(self) -> str:
        who = self.actor_username or "system"
        return f"{self.created_at:%Y-%m-%d %H:%M} {who} {self.verb} {self.object_type}:{self.object_id}"

    def save(self, *args: object, **kwargs: object) -> None:
        if self.pk is not None:
            raise ValueError("Audit events are append-only.")
        super().save(*args, **kwargs)  # type: ignore[arg-type]


class Secret(models.Model):
    """A project secret, Fernet-encrypted at rest; its value is never shown again."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="secrets")
    name = models.CharField(max_length=100)
    ciphertext = models.TextField(editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "name"], name="secret_unique_name")]
        permissions = [("use_secret", "Can use secret in nodes and endpoints")]

    def __str__(self) -> str:
        return f"{self.project.slug}/{self.name}"


class ApiKey(models.Model):
    """A bearer key for the REST API, scoped to one project and role.

    Only the SHA-256 of the key is stored; the key is shown once at creation.
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=12, db_index=True)
    hashed_key = models.CharField(max_length=64, unique=True, editable=False)
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.RUNNER)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_keys",
        help_text="The account the key acts as (its role is capped by the key's role).",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True, help_text="Refused from this moment on; empty: never.")
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    def is_usable(self, now: datetime.datetime) -> bool:
        """Not revoked and not expired at ``now``."""
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)

    @staticmethod
    def hash(raw: str) -> str:
        return hashlib.sha256(raw.encode()).hexdigest()

    @staticmethod
    def generate() -> str:
        """A new raw key: ``sk_`` + 40 URL-safe characters."""
        return "sk_" + pysecrets.token_urlsafe(30)


class EgressAllowedHost(models.Model):
    """A host the studio may call although it resolves to a refused address.

    The guarded HTTP client and MCP client refuse private, loopback,
    link-local, metadata and other non-public addresses (``studio.lib.ssrf``)
    unless the URL's host is listed here — for the project (``project``
    set) or for every project (``project`` empty). ``host`` is a host,
    compared exactly, case-insensitively, without a trailing dot, optionally
    with a port: ``intranet.example.com`` and ``10.0.0.5`` allow ports 80
    and 443 only; ``10.0.0.5:8080`` and ``[fd00::5]:8443`` allow that port
    only (``studio.lib.ssrf.host_allowed``; validate, publish and run use
    the same rule). No scheme or path. Only administrators manage this list.
    """

    project = models.ForeignKey(
        Project, null=True, blank=True, on_delete=models.CASCADE, related_name="egress_allowed_hosts",
        help_text="Empty: allowed for every project.",
    )
    host = models.CharField(max_length=255, help_text="Hostname or IP address, e.g. intranet.example.com or 10.0.0.5.")
    note = models.CharField(max_length=500, blank=True, help_text="Why this host may be reached.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "host"], name="egress_host_unique_per_project"),
            models.UniqueConstraint(
                fields=["host"], condition=models.Q(project__isnull=True), name="egress_host_unique_global"
            ),
        ]
        ordering = ["host"]

    def __str__(self) -> str:
        return f"{self.host} ({self.project.slug if self.project_id else 'all projects'})"

    def save(self, *args: object, **kwargs: object) -> None:
        from studio.lib.ssrf import normalize_allow_entry, normalize_host

        try:
            self.host = normalize_allow_entry(self.host or "")
        except ValueError:
            self.host = normalize_host(self.host or "")  # clean() reports it; a malformed entry allows nothing
        super().save(*args, **kwargs)  # type: ignore[arg-type]

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        from studio.lib.ssrf import normalize_allow_entry

        try:
            self.host = normalize_allow_entry(self.host or "")
        except ValueError:
            raise ValidationError(
                {
                    "host": "Enter a bare hostname or IP address, optionally with a port "
                    "(intranet.example, 10.0.0.5:8080, [fd00::5]:8443) — no scheme or path."
                }
            ) from None


class Invitation(models.Model):
    """A single-use link that makes whoever opens it (signed in) a member with ``role``.

    Only the SHA-256 of the token is stored; the link is shown once. Used once
    (``used_at``), refused after ``expires_at`` or once revoked.
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="invitations")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.VIEWER)
    email = models.EmailField(blank=True, help_text="Who it is for (a note; the link works for whoever opens it).")
    hashed_token = models.CharField(max_length=64, unique=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    used_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"invitation to {self.project} as {self.role}"

    def state(self, now: datetime.datetime) -> str:
        """``pending``, ``used``, ``revoked`` or ``expired`` at ``now``."""
        if self.used_at is not None:
            return "used"
        if self.revoked_at is not None:
            return "revoked"
        return "expired" if self.expires_at <= now else "pending"


class VariableType(models.TextChoices):
    """The type of a project variable's value."""

    STR = "str", "text"
    INT = "int", "whole number"
    FLOAT = "float", "number"
    BOOL = "bool", "true/false"
    OBJECT = "object", "JSON object"


class Variable(models.Model):
    """A project-level named value that is not secret (a base URL, a threshold, a team name).

    Read in templates and node configs as ``{{ vars.<name> }}`` at run time;
    ``value`` is JSON of ``type`` (checked by ``studio.workspace.variables``).
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="variables")
    name = models.CharField(max_length=64)
    type = models.CharField(max_length=8, choices=VariableType.choices, default=VariableType.STR)
    value = models.JSONField()
    description = models.CharField(max_length=500, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["project", "name"], name="variable_unique_name")]

    def __str__(self) -> str:
        return f"{self.project.slug}/{self.name}"
