"""Writes of project administration: projects, members, invitations, API keys, secrets.

Every service is keyword-only, atomic and writes one audit event through
``audit_record``. The caller has fetched the project with ``access_project``
and the permission the page needs (``manage`` or ``own``); the services then
enforce the rules that depend on *who* acts on *whom*:

- nobody gives a role above their own; only owners give or take admin and
  owner (an admin manages the members below admin);
- the last owner cannot leave, be removed or be demoted;
- an API key's role is at most its creator's role.

Errors are :class:`WorkspaceError` with the form field they concern and a
stable ``code``; nothing is written when one is raised.
"""

from __future__ import annotations

import datetime
import logging
import re
import secrets as pysecrets
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models import ProtectedError, RestrictedError
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.text import slugify

from studio.crypto import encrypt, secret_set_value
from studio.models import ApiKey, Invitation, Membership, Project, Role, Secret, role_rank
from studio.services import audit_record

log = logging.getLogger(__name__)

API_KEY_PREFIX_LENGTH = 10  # "sk_" + 7 characters: enough to recognise a key, useless to guess it
INVITATION_DAYS_DEFAULT = 7
INVITATION_DAYS_MAX = 30
NAME_MAX = 100
SECRET_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,99}$")
MAX_BUDGET_USD = Decimal("1000000")
MAX_TOKENS = 2_000_000_000
MAX_TIMEOUT_S = 7 * 24 * 3600
MAX_RUNNING_RUNS = 1000


class WorkspaceError(Exception):
    """A refused administration request: ``message`` for people, ``field`` it concerns, stable ``code``."""

    def __init__(self, message: str, *, field: str | None = None, code: str = "invalid", status: int = 400):
        super().__init__(message)
        self.message = message
        self.field = field
        self.code = code
        self.status = status


def _now() -> datetime.datetime:
    return timezone.now()


def _role(value: Any, *, field: str = "role") -> Role:
    try:
        return Role(value)
    except ValueError:
        choices = ", ".join(r.value for r in Role)
        raise WorkspaceError(f"Unknown role {value!r}: choose one of {choices}.", field=field) from None


def actor_role(project: Project, actor: Any) -> Role | None:
    """The actor's effective role in ``project`` (superusers act as owners; API keys are capped)."""
    from studio.selectors import user_role

    role = user_role(actor, project)
    return Role(role) if role else None


def check_may_grant(*, project: Project, actor: Any, role: str, field: str = "role") -> Role:
    """Validate that ``actor`` may give ``role`` in ``project``; returns the role.

    Nobody gives a role above their own; only owners give admin or owner.
    Raises :class:`WorkspaceError` (code ``role_too_high``).
    """
    wanted = _role(role, field=field)
    mine = actor_role(project, actor)
    if role_rank(wanted) > role_rank(mine):
        raise WorkspaceError(
            f"You cannot give the role {wanted.value}: it is above your own ({mine.value if mine else 'none'}).",
            field=field,
            code="role_too_high",
            status=403,
        )
    if wanted in (Role.ADMIN, Role.OWNER) and mine != Role.OWNER:
        raise WorkspaceError(
            f"Only an owner can give the role {wanted.value}.", field=field, code="role_too_high", status=403
        )
    return wanted


def check_may_manage(*, membership: Membership, actor: Any) -> None:
    """Only owners change or remove admins and owners. Raises :class:`WorkspaceError` (``role_too_high``)."""
    mine = actor_role(membership.project, actor)
    if membership.role in (Role.ADMIN, Role.OWNER) and mine != Role.OWNER:
        raise WorkspaceError(
            f"Only an owner can change or remove an {membership.role}.", code="role_too_high", status=403
        )


def _other_owners(membership: Membership) -> int:
    return (
        Membership.objects.select_for_update()
        .filter(project_id=membership.project_id, role=Role.OWNER)
        .exclude(pk=membership.pk)
        .count()
    )


# ------------------------------------------------------------------ projects


def check_may_create_project(user: Any) -> None:
    """``STUDIO_PROJECT_CREATORS``: ``anyone`` (default: any signed-in user) or ``staff``.

    Raises :class:`WorkspaceError` (code ``forbidden``, status 403).
    """
    if not getattr(user, "is_authenticated", False):
        raise WorkspaceError("Sign in to create a project.", code="forbidden", status=403)
    if getattr(settings, "STUDIO_PROJECT_CREATORS", "anyone") == "staff" and not user.is_staff:
        raise WorkspaceError("Only staff can create projects on this site.", code="forbidden", status=403)


def _positive_int(value: Any, *, field: str, maximum: int, allow_none: bool = True) -> int | None:
    if value in (None, ""):
        if allow_none:
            return None
        raise WorkspaceError("This field is required.", field=field)
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise WorkspaceError("Enter a whole number.", field=field) from None
    if number < 1 or number > maximum:
        raise WorkspaceError(f"Enter a number from 1 to {maximum}.", field=field)
    return number


def _usd(value: Any, *, field: str) -> Decimal | None:
    if value in (None, ""):
        return None
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise WorkspaceError("Enter an amount in USD, like 0.50.", field=field) from None
    if not amount.is_finite() or amount <= 0 or amount > MAX_BUDGET_USD:
        raise WorkspaceError(f"Enter an amount above 0 and at most {MAX_BUDGET_USD} USD.", field=field)
    return amount.quantize(Decimal("0.000001"))


def _name(value: Any, *, field: str = "name", max_length: int = 200) -> str:
    name = str(value or "").strip()
    if not name:
        raise WorkspaceError("Enter a name.", field=field)
    if len(name) > max_length:
        raise WorkspaceError(f"At most {max_length} characters.", field=field)
    return name


@transaction.atomic
def project_create(*, user: Any, name: str, slug: str = "", description: str = "") -> Project:
    """Create a project with ``user`` as its owner.

    ``slug`` defaults to ``slugify(name)``. Raises :class:`WorkspaceError`
    when the user may not create projects (``STUDIO_PROJECT_CREATORS``), for
    an empty name or a slug already taken (code ``duplicate``).
    """
    check_may_create_project(user)
    name = _name(name)
    slug = slugify(slug or name)[:64]
    if not slug:
        raise WorkspaceError("Enter a slug of letters, digits and hyphens.", field="slug")
    if Project.objects.filter(slug=slug).exists():
        raise WorkspaceError(f"A project with the slug {slug!r} already exists.", field="slug", code="duplicate")
    try:
        with transaction.atomic():
            project = Project.objects.create(slug=slug, name=name, description=str(description or "").strip())
    except IntegrityError:
        raise WorkspaceError(
            f"A project with the slug {slug!r} already exists.", field="slug", code="duplicate"
        ) from None
    membership = Membership.objects.create(project=project, user=user, role=Role.OWNER)
    audit_record(project=project, actor=user, verb="project.create", obj=project, data={"slug": slug, "name": name})
    audit_record(
        project=project,
        actor=user,
        verb="membership.add",
        obj=membership,
        data={"user": user.get_username(), "role": Role.OWNER.value},
    )
    return project


MAX_RETENTION_DAYS = 36_500

PROJECT_SETTINGS = (
    "name",
    "description",
    "max_running_runs",
    "default_budget_tokens",
    "default_budget_usd",
    "default_timeout_s",
    "budget_monthly_usd",
    "budget_warn_at",
    "budget_hard_stop",
    "budget_webhook_url",
    "budget_webhook_secret",
    "trace_retention_days",
)


@transaction.atomic
def project_update(*, project: Project, actor: Any, **changes: Any) -> Project:
    """Change a project's name, description, running-runs cap, default budgets (tokens, USD) or timeout (s).

    Values are validated first (an empty optional number clears it);
    nothing is written on a :class:`WorkspaceError`. Unknown keys raise ``TypeError``.
    """
    unknown = set(changes) - set(PROJECT_SETTINGS)
    if unknown:
        raise TypeError(f"Unknown project settings: {sorted(unknown)}")
    clean: dict[str, Any] = {}
    if "name" in changes:
        clean["name"] = _name(changes["name"])
    if "description" in changes:
        clean["description"] = str(changes["description"] or "").strip()[:5000]
    if "max_running_runs" in changes:
        clean["max_running_runs"] = _positive_int(
            changes["max_running_runs"], field="max_running_runs", maximum=MAX_RUNNING_RUNS, allow_none=False
        )
    if "default_budget_tokens" in changes:
        clean["default_budget_tokens"] = _positive_int(
            changes["default_budget_tokens"], field="default_budget_tokens", maximum=MAX_TOKENS
        )
    if "default_budget_usd" in changes:
        clean["default_budget_usd"] = _usd(changes["default_budget_usd"], field="default_budget_usd")
    if "default_timeout_s" in changes:
        clean["default_timeout_s"] = _positive_int(
            changes["default_timeout_s"], field="default_timeout_s", maximum=MAX_TIMEOUT_S
        )
    if "trace_retention_days" in changes:  # traces.services.retention_enforce deletes older traces hourly
        clean["trace_retention_days"] = _positive_int(
            changes["trace_retention_days"], field="trace_retention_days", maximum=MAX_RETENTION_DAYS
        )
    clean.update(_budget_settings(project, changes))
    locked = Project.objects.select_for_update().get(pk=project.pk)
    changed = {k: v for k, v in clean.items() if getattr(locked, k) != v}
    for key, value in changed.items():
        setattr(locked, key, value)
    if changed:
        locked.save(update_fields=list(changed))
        audit_record(
            project=locked,
            actor=actor,
            verb="project.update",
            obj=locked,
            data={"fields": sorted(changed), **{k: str(v) for k, v in changed.items() if k != "description"}},
        )
    return locked


def _budget_settings(project: Project, changes: dict[str, Any]) -> dict[str, Any]:
    """Validate the monthly budget settings present in ``changes`` (see :class:`Project`).

    Warning thresholds: whole percents 1-100, comma-separated (stored sorted,
    duplicates dropped). The webhook URL must be http(s) and pass the egress
    guard's URL checks (its address is checked again when it is called); the
    signing secret must name a secret of the project. Raises :class:`WorkspaceError`.
    """
    from studio.lib.ssrf import EgressRefused, parse_url

    clean: dict[str, Any] = {}
    if "budget_monthly_usd" in changes:
        amount = _usd(changes["budget_monthly_usd"], field="budget_monthly_usd")
        clean["budget_monthly_usd"] = amount.quantize(Decimal("0.01")) if amount is not None else None
    if "budget_warn_at" in changes:
        parts = [p.strip().rstrip("%").strip() for p in str(changes["budget_warn_at"] or "").split(",") if p.strip()]
        try:
            percents = sorted({int(p) for p in parts})
        except ValueError:
            raise WorkspaceError(
                "Enter whole percents separated by commas, like 50, 80, 100.", field="budget_warn_at"
            ) from None
        if any(not 1 <= p <= 100 for p in percents) or len(percents) > 10:
            raise WorkspaceError("Use up to 10 percents from 1 to 100.", field="budget_warn_at")
        clean["budget_warn_at"] = ",".join(str(p) for p in percents)
    if "budget_hard_stop" in changes:
        clean["budget_hard_stop"] = str(changes["budget_hard_stop"]).lower() in ("1", "on", "true", "yes")
    if "budget_webhook_url" in changes:
        url = str(changes["budget_webhook_url"] or "").strip()
        if url:
            if len(url) > 1000:
                raise WorkspaceError("At most 1,000 characters.", field="budget_webhook_url")
            try:
                parse_url(url)
            except EgressRefused as exc:
                raise WorkspaceError(str(exc), field="budget_webhook_url") from None
        clean["budget_webhook_url"] = url
    if "budget_webhook_secret" in changes:
        name = str(changes["budget_webhook_secret"] or "").strip()
        if name and not Secret.objects.filter(project=project, name=name).exists():
            raise WorkspaceError(f"This project has no secret named {name}.", field="budget_webhook_secret")
        clean["budget_webhook_secret"] = name
    return clean


@transaction.atomic
def project_archive(*, project: Project, actor: Any, archived: bool) -> Project:
    """Archive (read-only: no runs, no edits) or unarchive a project; audited."""
    locked = Project.objects.select_for_update().get(pk=project.pk)
    if archived == locked.is_archived:
        return locked
    locked.archived_at = _now() if archived else None
    locked.save(update_fields=["archived_at"])
    audit_record(project=locked, actor=actor, verb="project.archive" if archived else "project.unarchive", obj=locked)
    return locked


@transaction.atomic
def project_delete(*, project: Project, actor: Any, confirm: str) -> None:
    """Delete a project and everything it owns, when ``confirm`` equals its slug.

    The caller checked the ``own`` permission. The audit event outlives the
    project (its ``project`` becomes empty; the slug is in its data).
    Raises :class:`WorkspaceError` (field ``confirm``) on a wrong confirmation.
    """
    if (confirm or "").strip() != project.slug:
        raise WorkspaceError(
            f"Type the project's slug, {project.slug}, to confirm.", field="confirm", code="confirmation_mismatch"
        )
    audit_record(
        project=None, actor=actor, verb="project.delete", obj=project, data={"slug": project.slug, "name": project.name}
    )
    project.delete()


# ------------------------------------------------------------------ members


def find_user(identifier: str) -> Any:
    """The active user whose username (exact, case-insensitive) or e-mail is ``identifier``.

    Raises :class:`WorkspaceError` (field ``user``, code ``unknown_user``)
    when none or several match.
    """
    ident = (identifier or "").strip()
    if not ident:
        raise WorkspaceError("Enter a username or an e-mail address.", field="user")
    users = get_user_model().objects.filter(is_active=True)
    found = list(users.filter(username__iexact=ident)[:2])
    if not found and "@" in ident:
        found = list(users.filter(email__iexact=ident)[:2])
    if len(found) != 1:
        why = "No account has" if not found else "Several accounts have"
        raise WorkspaceError(
            f"{why} the username or e-mail {ident!r}. Send an invitation link instead.",
            field="user",
            code="unknown_user",
        )
    return found[0]


@transaction.atomic
def membership_add(*, project: Project, actor: Any, identifier: str, role: str) -> Membership:
    """Add an existing user (by username or e-mail) with ``role``.

    Raises :class:`WorkspaceError`: unknown user, already a member
    (``duplicate``), role above the actor's (``role_too_high``).
    """
    wanted = check_may_grant(project=project, actor=actor, role=role)
    user = find_user(identifier)
    if Membership.objects.filter(project=project, user=user).exists():
        raise WorkspaceError(f"{user.get_username()} is already a member.", field="user", code="duplicate")
    membership = Membership.objects.create(project=project, user=user, role=wanted)
    audit_record(
        project=project,
        actor=actor,
        verb="membership.add",
        obj=membership,
        data={"user": user.get_username(), "role": wanted.value},
    )
    return membership


@transaction.atomic
def membership_change_role(*, membership: Membership, actor: Any, role: str) -> Membership:
    """Give ``membership`` a new role (rules: see the module docstring); audited with from/to."""
    locked = Membership.objects.select_for_update().select_related("user", "project").get(pk=membership.pk)
    check_may_manage(membership=locked, actor=actor)
    wanted = check_may_grant(project=locked.project, actor=actor, role=role)
    if locked.role == wanted:
        return locked
    if locked.role == Role.OWNER and _other_owners(locked) == 0:
        raise WorkspaceError(
            "The last owner cannot be demoted: make someone else owner first.",
            field="role",
            code="last_owner",
            status=409,
        )
    before = locked.role
    locked.role = wanted
    locked.save(update_fields=["role"])
    audit_record(
        project=locked.project,
        actor=actor,
        verb="membership.change_role",
        obj=locked,
        data={"user": locked.user.get_username(), "from": before, "to": wanted.value},
    )
    return locked


@transaction.atomic
def membership_remove(*, membership: Membership, actor: Any) -> None:
    """Remove a member (or leave, when it is the actor's own membership).

    Raises :class:`WorkspaceError`: the last owner (``last_owner``); an admin
    or owner removed by a non-owner (``role_too_high``).
    """
    locked = Membership.objects.select_for_update().select_related("user", "project").get(pk=membership.pk)
    leaving = locked.user_id == getattr(actor, "pk", None)
    if not leaving:
        check_may_manage(membership=locked, actor=actor)
    if locked.role == Role.OWNER and _other_owners(locked) == 0:
        raise WorkspaceError("The last owner cannot leave: transfer ownership first.", code="last_owner", status=409)
    audit_record(
        project=locked.project,
        actor=actor,
        verb="membership.leave" if leaving else "membership.remove",
        obj=locked,
        data={"user": locked.user.get_username(), "role": locked.role},
    )
    locked.delete()


@transaction.atomic
def ownership_transfer(*, project: Project, actor: Any, to: Membership) -> Membership:
    """Make ``to`` an owner and the actor an admin (the caller checked ``own``).

    Raises :class:`WorkspaceError` when ``to`` is the actor or not in the project.
    """
    target = Membership.objects.select_for_update().select_related("user").get(pk=to.pk)
    if target.project_id != project.pk:
        raise WorkspaceError("That person is not a member of this project.", field="member")
    if target.user_id == getattr(actor, "pk", None):
        raise WorkspaceError("Choose another member to transfer ownership to.", field="member")
    before = target.role
    target.role = Role.OWNER
    target.save(update_fields=["role"])
    mine = Membership.objects.select_for_update().filter(project=project, user=actor).first()
    if mine is not None and mine.role == Role.OWNER:
        mine.role = Role.ADMIN
        mine.save(update_fields=["role"])
    audit_record(
        project=project,
        actor=actor,
        verb="project.transfer",
        obj=target,
        data={"to": target.user.get_username(), "from_role": before},
    )
    return target


# ------------------------------------------------------------------ invitations


@transaction.atomic
def invitation_create(
    *, project: Project, actor: Any, role: str, email: str = "", days: Any = INVITATION_DAYS_DEFAULT
) -> tuple[Invitation, str]:
    """An invitation link token for ``role``, valid ``days`` days (1 to 30), single use.

    Returns ``(invitation, token)``: the token is shown once and only its
    SHA-256 is stored. Raises :class:`WorkspaceError` for a role above the
    actor's or a bad number of days.
    """
    wanted = check_may_grant(project=project, actor=actor, role=role)
    valid_days = _positive_int(days, field="days", maximum=INVITATION_DAYS_MAX, allow_none=False)
    assert valid_days is not None
    email = (email or "").strip()
    if email:
        try:
            validate_email(email)
        except ValidationError:
            raise WorkspaceError("Enter an e-mail address, or leave it empty.", field="email") from None
    token = pysecrets.token_urlsafe(32)
    invitation = Invitation.objects.create(
        project=project,
        role=wanted,
        email=email,
        hashed_token=ApiKey.hash(token),
        created_by=actor if getattr(actor, "pk", None) else None,
        expires_at=_now() + datetime.timedelta(days=valid_days),
    )
    audit_record(
        project=project,
        actor=actor,
        verb="invitation.create",
        obj=invitation,
        data={"role": wanted.value, "email": email, "expires_at": invitation.expires_at.isoformat()},
    )
    return invitation, token


def invitation_send(*, invitation: Invitation, link: str, actor: Any) -> bool:
    """E-mail the single-use ``link`` to the invitation's address (Django's ``EMAIL_BACKEND``:
    the console by default). Returns whether the mail was handed to the backend; a failure
    (SMTP down …) is logged and audited, never raised — the page still shows the link.
    The link is never audited or logged."""
    if not invitation.email:
        return False
    project = invitation.project
    inviter = getattr(actor, "get_username", lambda: "")() or "A project owner"
    context = {"invitation": invitation, "project": project, "link": link, "inviter": inviter}
    subject = " ".join(render_to_string("studio/invitation_subject.txt", context).split())
    body = render_to_string("studio/invitation_email.txt", context)
    try:
        send_mail(subject, body, None, [invitation.email])
    except Exception as exc:  # noqa: BLE001 - any backend failure: the person gets the link another way
        log.warning("invitation %s: e-mail to its address failed (%s)", invitation.pk, type(exc).__name__)
        sent = False
    else:
        sent = True
    audit_record(
        project=project,
        actor=actor,
        verb="invitation.email",
        obj=invitation,
        data={"email": invitation.email, "sent": sent},
    )
    return sent


def invitation_lookup(token: str) -> Invitation | None:
    """The invitation of a raw ``token`` (any state), or None."""
    if not token or len(token) > 200:
        return None
    return Invitation.objects.select_related("project", "created_by").filter(hashed_token=ApiKey.hash(token)).first()


@transaction.atomic
def invitation_accept(*, token: str, user: Any) -> Membership:
    """Make ``user`` a member with the invitation's role; the invitation is then used.

    An existing member keeps the higher of both roles. Raises
    :class:`WorkspaceError` for an unknown token (``not_found``), an invitation
    already used (``used``), revoked (``revoked``) or expired (``expired``).
    """
    found = invitation_lookup(token)
    if found is None:
        raise WorkspaceError("This invitation link is not valid.", code="not_found", status=404)
    invitation = Invitation.objects.select_for_update().select_related("project").get(pk=found.pk)
    state = invitation.state(_now())
    if state != "pending":
        messages = {
            "used": "This invitation has already been used.",
            "revoked": "This invitation was revoked.",
            "expired": "This invitation has expired. Ask for a new one.",
        }
        raise WorkspaceError(messages[state], code=state, status=410)
    membership = Membership.objects.select_for_update().filter(project=invitation.project, user=user).first()
    if membership is None:
        membership = Membership.objects.create(project=invitation.project, user=user, role=invitation.role)
    elif role_rank(invitation.role) > role_rank(membership.role):
        membership.role = invitation.role
        membership.save(update_fields=["role"])
    invitation.used_at = _now()
    invitation.used_by = user
    invitation.save(update_fields=["used_at", "used_by"])
    audit_record(
        project=invitation.project,
        actor=user,
        verb="invitation.accept",
        obj=invitation,
        data={"user": user.get_username(), "role": membership.role},
    )
    return membership


@transaction.atomic
def invitation_revoke(*, invitation: Invitation, actor: Any) -> Invitation:
    """Revoke a pending invitation (used ones stay as they are); audited."""
    locked = Invitation.objects.select_for_update().get(pk=invitation.pk)
    if locked.used_at is None and locked.revoked_at is None:
        locked.revoked_at = _now()
        locked.save(update_fields=["revoked_at"])
        audit_record(project=locked.project, actor=actor, verb="invitation.revoke", obj=locked)
    return locked


# ------------------------------------------------------------------ API keys


def _expiry(value: Any, *, field: str = "expires_at") -> datetime.datetime | None:
    if value in (None, ""):
        return None
    if isinstance(value, datetime.datetime):
        moment = value
    elif isinstance(value, datetime.date):
        moment = datetime.datetime.combine(value, datetime.time.max)
    else:
        try:
            moment = datetime.datetime.fromisoformat(str(value))
        except ValueError:
            raise WorkspaceError("Enter a date like 2027-01-31.", field=field) from None
        if len(str(value)) <= 10:  # a bare date: valid through that day
            moment = datetime.datetime.combine(moment.date(), datetime.time.max)
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment, datetime.UTC)
    if moment <= _now():
        raise WorkspaceError("The expiry must be in the future.", field=field)
    if moment.year > 9000:
        raise WorkspaceError("Enter a year before 9000.", field=field)
    return moment


@transaction.atomic
def api_key_create(*, project: Project, actor: Any, name: str, role: str, expires_at: Any = None) -> tuple[ApiKey, str]:
    """A new API key acting as ``actor`` with ``role`` (at most the actor's role).

    Returns ``(key, raw)``: ``raw`` (``sk_…``) is shown once, only its SHA-256
    is stored. Raises :class:`WorkspaceError`: empty or duplicate name
    (``duplicate``), role above the actor's (``role_too_high``), expiry not
    in the future.
    """
    name = _name(name, max_length=NAME_MAX)
    wanted = _role(role)
    mine = actor_role(project, actor)
    if role_rank(wanted) > role_rank(mine):
        raise WorkspaceError(
            f"A key's role cannot be above your own ({mine.value if mine else 'none'}).",
            field="role",
            code="role_too_high",
            status=403,
        )
    expiry = _expiry(expires_at)
    if ApiKey.objects.filter(project=project, name__iexact=name, revoked_at__isnull=True).exists():
        raise WorkspaceError(f"An active key named {name!r} already exists.", field="name", code="duplicate")
    raw = ApiKey.generate()
    key = ApiKey.objects.create(
        project=project,
        name=name,
        prefix=raw[:API_KEY_PREFIX_LENGTH],
        hashed_key=ApiKey.hash(raw),
        role=wanted,
        user=actor,
        expires_at=expiry,
    )
    audit_record(
        project=project,
        actor=actor,
        verb="api_key.create",
        obj=key,
        data={
            "name": name,
            "role": wanted.value,
            "prefix": key.prefix,
            "expires_at": expiry.isoformat() if expiry else None,
        },
    )
    return key, raw


@transaction.atomic
def api_key_revoke(*, key: ApiKey, actor: Any) -> ApiKey:
    """Revoke a key (refused from now on); revoking twice is harmless. Audited."""
    locked = ApiKey.objects.select_for_update().get(pk=key.pk)
    if locked.revoked_at is None:
        locked.revoked_at = _now()
        locked.save(update_fields=["revoked_at"])
        audit_record(
            project=locked.project,
            actor=actor,
            verb="api_key.revoke",
            obj=locked,
            data={"name": locked.name, "prefix": locked.prefix},
        )
    return locked


# ------------------------------------------------------------------ secrets


def _secret_name(value: Any) -> str:
    name = str(value or "").strip()
    if not SECRET_NAME.match(name):
        raise WorkspaceError(
            "Use letters, digits and underscores, starting with a letter (e.g. OPENAI_API_KEY).", field="name"
        )
    return name


def _secret_value(value: Any) -> str:
    text = str(value or "")
    if not text.strip():
        raise WorkspaceError("Enter the secret's value.", field="value")
    if len(text) > 10_000:
        raise WorkspaceError("At most 10,000 characters.", field="value")
    return text


@transaction.atomic
def secret_create(*, project: Project, actor: Any, name: str, value: str) -> Secret:
    """Create a Fernet-encrypted secret. The value is never stored in plaintext, logged or audited.

    Raises :class:`WorkspaceError`: bad or duplicate name, empty value.
    """
    name = _secret_name(name)
    value = _secret_value(value)
    if Secret.objects.filter(project=project, name=name).exists():
        raise WorkspaceError(
            f"A secret named {name} already exists: replace its value instead.", field="name", code="duplicate"
        )
    secret = Secret(project=project, name=name, created_by=actor if getattr(actor, "pk", None) else None)
    secret_set_value(secret=secret, value=value)
    secret.save()
    audit_record(project=project, actor=actor, verb="secret.create", obj=secret, data={"name": name})
    return secret


@transaction.atomic
def secret_replace(*, secret: Secret, actor: Any, value: str) -> Secret:
    """Replace a secret's value (encrypted with the current key); audited without the value."""
    value = _secret_value(value)
    locked = Secret.objects.select_for_update().get(pk=secret.pk)
    locked.ciphertext = encrypt(value)
    locked.save(update_fields=["ciphertext", "updated_at"])
    audit_record(project=locked.project, actor=actor, verb="secret.replace", obj=locked, data={"name": locked.name})
    return locked


@transaction.atomic
def secret_delete(*, secret: Secret, actor: Any) -> None:
    """Delete a secret no endpoint, MCP server or workflow uses.

    Raises :class:`WorkspaceError` (code ``in_use``, status 409) naming the users.
    """
    from studio.workspace.usage import secret_usages

    usages = secret_usages(secret)
    if usages:
        where = ", ".join(usage.label for usage in usages[:5])
        raise WorkspaceError(f"{secret.name} is used by {where}: remove it there first.", code="in_use", status=409)
    audit_record(project=secret.project, actor=actor, verb="secret.delete", obj=secret, data={"name": secret.name})
    try:
        with transaction.atomic():
            secret.delete()
    except (ProtectedError, RestrictedError):
        raise WorkspaceError(
            f"{secret.name} is still in use: remove it there first.", code="in_use", status=409
        ) from None
