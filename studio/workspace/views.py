"""Project administration pages: create a project, settings, members, API keys, secrets, audit log.

Typed function views: validate → selector/service → render. The project is
fetched with ``access_project`` and the permission each page needs
(``manage``: admins and owners; ``own``: owners); rows with the workspace
``access_*`` selectors, scoped to that project. Forms post through htmx
(``hx-boost`` on the settings pages): success redirects with a toast; a
refused request re-renders the page with 400 and the message under its field.
A key or an invitation link is rendered once, in the response to its creation,
and never again.
"""

from __future__ import annotations

import csv
import datetime
import json
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import UserCreationForm
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from studio.models import ROLE_TABLE, Project, Role, role_rank
from studio.selectors import access_project, has_project_perm, projects_visible, user_role
from studio.workspace import selectors as sel
from studio.workspace import services as svc
from studio.workspace.usage import secret_usages

SETTINGS_TABS = [
    ("project-settings", "Project"),
    ("project-members", "Members"),
    ("project-keys", "API keys"),
    ("project-secrets", "Secrets"),
    ("project-variables", "Variables"),
    ("project-endpoints", "Model endpoints"),
    ("project-mcp", "MCP servers"),  # agents/views/mcp_servers.py
]


def page(request: HttpRequest, template: str, context: dict[str, Any], *, status: int = 200) -> HttpResponse:
    """Render a full page with the sidebar's context (projects, current project, the user's role, tabs)."""
    project = context.get("project")
    context = {
        "nav_projects": projects_visible(request.user),
        "role": user_role(request.user, project) if project else None,
        "settings_tabs": SETTINGS_TABS,
        **context,
    }
    return render(request, template, context, status=status)


def _error_context(exc: svc.WorkspaceError) -> dict[str, Any]:
    return {"errors": {exc.field or "form": exc.message}}


def _grantable_roles(project: Project, user: Any) -> list[str]:
    """Roles the user may give: at most their own; admin and owner only by owners."""
    mine = user_role(user, project)
    limit = role_rank(mine) if mine == Role.OWNER else min(role_rank(mine), role_rank(Role.EDITOR))
    return [role.value for role in reversed(Role) if role_rank(role) <= limit]


# ------------------------------------------------------------------ create a project


@login_required
@require_http_methods(["GET", "POST"])
def project_new(request: HttpRequest) -> HttpResponse:
    """Create a project (any signed-in user unless ``STUDIO_PROJECT_CREATORS=staff``); the creator owns it."""
    try:
        svc.check_may_create_project(request.user)
    except svc.WorkspaceError as exc:
        return page(request, "studio/project_new.html", {"refused": exc.message}, status=403)
    values = {"name": "", "slug": "", "description": ""}
    if request.method == "POST":
        values = {key: request.POST.get(key, "") for key in values}
        try:
            project = svc.project_create(user=request.user, **values)
        except svc.WorkspaceError as exc:
            return page(request, "studio/project_new.html", {"values": values, **_error_context(exc)}, status=400)
        messages.success(request, f"Project {project.name} created. You are its owner.")
        return redirect("project-home", project_slug=project.slug)
    return page(request, "studio/project_new.html", {"values": values})


# ------------------------------------------------------------------ project settings


def _settings_page(request: HttpRequest, project: Project, *, status: int = 200, **extra: Any) -> HttpResponse:
    values = {key: getattr(project, key) for key in svc.PROJECT_SETTINGS}
    values.update(extra.pop("values", {}))
    context = {
        "project": project,
        "tab": "project-settings",
        "values": values,
        "is_owner": has_project_perm(request.user, project, "own"),
        **extra,
    }
    return page(request, "studio/settings_project.html", context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def project_settings(request: HttpRequest, project_slug: str) -> HttpResponse:
    """Name, description, running-runs cap, default budgets and timeout (admins and owners)."""
    project = access_project(user=request.user, slug=project_slug, perm="manage")
    if request.method == "GET":
        return _settings_page(request, project)
    changes = {key: request.POST.get(key, "") for key in svc.PROJECT_SETTINGS}
    try:
        svc.project_update(project=project, actor=request.user, **changes)
    except svc.WorkspaceError as exc:
        return _settings_page(request, project, status=400, values=changes, **_error_context(exc))
    messages.success(request, "Project settings saved.")
    return redirect("project-settings", project_slug=project.slug)


@login_required
@require_POST
def project_archive(request: HttpRequest, project_slug: str) -> HttpResponse:
    """Archive or unarchive (``archived=1|0``): an archived project is read-only. Owners only."""
    project = access_project(user=request.user, slug=project_slug, perm="own")
    archived = request.POST.get("archived") == "1"
    svc.project_archive(project=project, actor=request.user, archived=archived)
    messages.success(request, "Project archived: it is read-only now." if archived else "Project unarchived.")
    return redirect("project-settings", project_slug=project.slug)


@login_required
@require_POST
def project_delete(request: HttpRequest, project_slug: str) -> HttpResponse:
    """Delete the project and everything in it once its slug is typed. Owners only."""
    project = access_project(user=request.user, slug=project_slug, perm="own")
    try:
        svc.project_delete(project=project, actor=request.user, confirm=request.POST.get("confirm", ""))
    except svc.WorkspaceError as exc:
        return _settings_page(request, project, status=400, **_error_context(exc))
    messages.success(request, f"Project {project.name} deleted.")
    return redirect("home")


# ------------------------------------------------------------------ members


def _members_page(request: HttpRequest, project: Project, *, status: int = 200, **extra: Any) -> HttpResponse:
    now = timezone.now()
    invitations = [(inv, inv.state(now)) for inv in sel.project_invitations(project=project)[:50]]
    context = {
        "project": project,
        "tab": "project-members",
        "members": sel.project_members(project=project),
        "invitations": invitations,
        "grantable": _grantable_roles(project, request.user),
        "is_owner": has_project_perm(request.user, project, "own"),
        "role_table": ROLE_TABLE,
        "values": {},
        **extra,
    }
    return page(request, "studio/settings_members.html", context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def project_members(request: HttpRequest, project_slug: str) -> HttpResponse:
    """The member list; POST adds an existing user by username or e-mail."""
    project = access_project(user=request.user, slug=project_slug, perm="manage")
    if request.method == "GET":
        return _members_page(request, project)
    values = {"user": request.POST.get("user", ""), "role": request.POST.get("role", "viewer")}
    try:
        membership = svc.membership_add(
            project=project, actor=request.user, identifier=values["user"], role=values["role"]
        )
    except svc.WorkspaceError as exc:
        return _members_page(request, project, status=400, values=values, **_error_context(exc))
    messages.success(request, f"{membership.user.get_username()} added as {membership.role}.")
    return redirect("project-members", project_slug=project.slug)


@login_required
@require_POST
def member_role(request: HttpRequest, project_slug: str, member_id: int) -> HttpResponse:
    """Change a member's role."""
    project = access_project(user=request.user, slug=project_slug, perm="manage")
    membership = sel.access_membership(project=project, pk=member_id)
    try:
        membership = svc.membership_change_role(
            membership=membership, actor=request.user, role=request.POST.get("role", "")
        )
    except svc.WorkspaceError as exc:
        return _members_page(request, project, status=400, **_error_context(exc))
    messages.success(request, f"{membership.user.get_username()} is now {membership.role}.")
    return redirect("project-members", project_slug=project.slug)


@login_required
@require_POST
def member_remove(request: HttpRequest, project_slug: str, member_id: int) -> HttpResponse:
    """Remove a member."""
    project = access_project(user=request.user, slug=project_slug, perm="manage")
    membership = sel.access_membership(project=project, pk=member_id)
    try:
        svc.membership_remove(membership=membership, actor=request.user)
    except svc.WorkspaceError as exc:
        return _members_page(request, project, status=400, **_error_context(exc))
    messages.success(request, f"{membership.user.get_username()} removed from {project.name}.")
    if membership.user_id == request.user.pk:
        return redirect("home")
    return redirect("project-members", project_slug=project.slug)


@login_required
@require_POST
def project_leave(request: HttpRequest, project_slug: str) -> HttpResponse:
    """Leave the project (any member; not the last owner)."""
    project = access_project(user=request.user, slug=project_slug)
    membership = sel.project_members(project=project).filter(user=request.user).first()
    if membership is None:  # a superuser who is not a member
        messages.info(request, "You are not a member of this project.")
        return redirect("project-home", project_slug=project.slug)
    try:
        svc.membership_remove(membership=membership, actor=request.user)
    except svc.WorkspaceError as exc:
        messages.error(request, exc.message)
        return redirect("project-home", project_slug=project.slug)
    messages.success(request, f"You left {project.name}.")
    return redirect("home")


@login_required
@require_POST
def project_transfer(request: HttpRequest, project_slug: str) -> HttpResponse:
    """Make another member an owner; you become an admin. Owners only."""
    project = access_project(user=request.user, slug=project_slug, perm="own")
    target = sel.access_membership(project=project, pk=request.POST.get("member"))
    try:
        svc.ownership_transfer(project=project, actor=request.user, to=target)
    except svc.WorkspaceError as exc:
        return _members_page(request, project, status=400, **_error_context(exc))
    messages.success(request, f"{target.user.get_username()} is now an owner; you are an admin.")
    return redirect("project-members", project_slug=project.slug)


@login_required
@require_POST
def invitation_create(request: HttpRequest, project_slug: str) -> HttpResponse:
    """Create an invitation link; the page shows it this once."""
    project = access_project(user=request.user, slug=project_slug, perm="manage")
    values = {key: request.POST.get(key, "") for key in ("role", "email", "days")}
    try:
        invitation, token = svc.invitation_create(
            project=project, actor=request.user, role=values["role"], email=values["email"], days=values["days"] or 7
        )
    except svc.WorkspaceError as exc:
        return _members_page(request, project, status=400, invite_values=values, **_error_context(exc))
    link = request.build_absolute_uri(reverse("invitation-accept", args=[token]))
    emailed = svc.invitation_send(invitation=invitation, link=link, actor=request.user) if invitation.email else None
    return _members_page(request, project, new_invitation=invitation, new_link=link, emailed=emailed)


@login_required
@require_POST
def invitation_revoke(request: HttpRequest, project_slug: str, invitation_id: int) -> HttpResponse:
    project = access_project(user=request.user, slug=project_slug, perm="manage")
    invitation = sel.access_invitation(project=project, pk=invitation_id)
    svc.invitation_revoke(invitation=invitation, actor=request.user)
    messages.success(request, "Invitation revoked.")
    return redirect("project-members", project_slug=project.slug)


class InvitationSignupForm(UserCreationForm):  # type: ignore[type-arg]
    """A new account from an invitation link: username, optional e-mail, password twice (Django's validators)."""

    email = forms.EmailField(required=False, max_length=254, help_text="For password resets.")

    class Meta(UserCreationForm.Meta):
        fields = ("username", "email")


def _invitation_signup(request: HttpRequest, token: str, invitation: Any, state: str) -> HttpResponse:
    """An anonymous visitor of a pending invitation creates an account and joins in one step
    (nothing is created when the invitation is not pending or the form is invalid)."""
    from django.contrib.auth import login
    from django.db import transaction

    from studio.services import audit_record

    status = 200 if state == "pending" else 410 if invitation else 404
    form = InvitationSignupForm(
        request.POST if request.method == "POST" and state == "pending" else None,
        initial={"email": invitation.email if invitation else ""},
    )
    if form.is_bound:
        if form.is_valid():
            try:
                with transaction.atomic():
                    user = form.save()
                    membership = svc.invitation_accept(token=token, user=user)
                    audit_record(
                        project=membership.project,
                        actor=user,
                        verb="user.signup",
                        obj=user,
                        data={"user": user.get_username(), "invitation": invitation.pk},
                    )
            except svc.WorkspaceError as exc:  # used or revoked meanwhile: no account was kept
                state, status = exc.code, 410
            else:
                login(request, user, backend="django.contrib.auth.backends.ModelBackend")
                messages.success(request, f"Welcome to {membership.project.name}: you are {membership.role}.")
                return redirect("project-home", project_slug=membership.project.slug)
        else:
            status = 400
    context = {"invitation": invitation, "state": state, "form": form, "token": token}
    return render(request, "studio/invitation_signup.html", context, status=status)


@require_http_methods(["GET", "POST"])
def invitation_accept(request: HttpRequest, token: str) -> HttpResponse:
    """Open an invitation link: GET shows what it grants, POST joins the project. A visitor
    without an account creates one here (or signs in first and comes back)."""
    invitation = svc.invitation_lookup(token)
    state = invitation.state(timezone.now()) if invitation else "not_found"
    if not request.user.is_authenticated:
        return _invitation_signup(request, token, invitation, state)
    if request.method == "POST" and invitation is not None:
        try:
            membership = svc.invitation_accept(token=token, user=request.user)
        except svc.WorkspaceError as exc:
            state = exc.code
        else:
            messages.success(request, f"Welcome to {membership.project.name}: you are {membership.role}.")
            return redirect("project-home", project_slug=membership.project.slug)
    status = 200 if state == "pending" else 410 if invitation else 404
    return page(request, "studio/invitation_accept.html", {"invitation": invitation, "state": state}, status=status)


# ------------------------------------------------------------------ API keys


def _keys_page(request: HttpRequest, project: Project, *, status: int = 200, **extra: Any) -> HttpResponse:
    from studio.workspace.usage import project_workflow_choices

    now = timezone.now()
    keys = [
        (key, "revoked" if key.revoked_at else "expired" if not key.is_usable(now) else "active")
        for key in sel.project_api_keys(project=project)
    ]
    mine = user_role(request.user, project)
    context = {
        "project": project,
        "tab": "project-keys",
        "keys": keys,
        "values": {},
        "roles": [r.value for r in reversed(Role) if role_rank(r) <= role_rank(mine)],
        "workflows": project_workflow_choices(project),
        **extra,
    }
    return page(request, "studio/settings_keys.html", context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def project_keys(request: HttpRequest, project_slug: str) -> HttpResponse:
    """API keys: list (prefix, creator, last used, expiry); POST creates one, shown once with a curl line."""
    project = access_project(user=request.user, slug=project_slug, perm="manage")
    if request.method == "GET":
        return _keys_page(request, project)
    values = {key: request.POST.get(key, "") for key in ("name", "role", "expires_at", "workflow")}
    try:
        key, raw = svc.api_key_create(
            project=project,
            actor=request.user,
            name=values["name"],
            role=values["role"],
            expires_at=values["expires_at"],
        )
    except svc.WorkspaceError as exc:
        return _keys_page(request, project, status=400, values=values, **_error_context(exc))
    curl = _curl_line(request, project, values["workflow"], raw)
    return _keys_page(request, project, new_key=key, new_raw=raw, curl=curl)


def _curl_line(request: HttpRequest, project: Project, workflow_slug: str, raw: str) -> str:
    """A ready shell command that starts a run of ``workflow_slug`` with this key.

    The inputs are samples that fit the workflow's input signature (text
    inputs as ``"<name>"`` to replace); an unpublished workflow runs its
    draft (``"draft": true``). Single quotes in the body are escaped
    for the shell.
    """
    from studio.workspace.usage import project_workflow_choices, workflow_example_run_body

    choices = dict(project_workflow_choices(project))
    slug = workflow_slug if workflow_slug in choices else next(iter(choices), "<workflow>")
    url = request.build_absolute_uri(f"/api/v1/projects/{project.slug}/workflows/{slug}/runs")
    body = json.dumps(workflow_example_run_body(project, slug), ensure_ascii=False).replace("'", "'\\''")
    return f"curl -X POST '{url}' -H 'Authorization: Bearer {raw}' -H 'Content-Type: application/json' -d '{body}'"


@login_required
@require_POST
def key_revoke(request: HttpRequest, project_slug: str, key_id: int) -> HttpResponse:
    project = access_project(user=request.user, slug=project_slug, perm="manage")
    key = sel.access_api_key(project=project, pk=key_id)
    svc.api_key_revoke(key=key, actor=request.user)
    messages.success(request, f"Key {key.name} ({key.prefix}…) revoked.")
    return redirect("project-keys", project_slug=project.slug)


# ------------------------------------------------------------------ secrets


def _secrets_page(request: HttpRequest, project: Project, *, status: int = 200, **extra: Any) -> HttpResponse:
    from studio.selectors import secret_use_grantees

    rows = [
        (secret, secret_usages(secret), list(secret_use_grantees(secret=secret)))
        for secret in sel.project_secrets(project=project)
    ]
    grantable = [m for m in sel.project_members(project=project) if m.role in (Role.VIEWER, Role.RUNNER, Role.EDITOR)]
    context = {
        "project": project,
        "tab": "project-secrets",
        "secrets": rows,
        "values": {},
        "grantable_members": grantable,
        **extra,
    }
    return page(request, "studio/settings_secrets.html", context, status=status)


@login_required
@require_POST
def secret_grant(request: HttpRequest, project_slug: str, secret_id: int) -> HttpResponse:
    """Let a member below admin use this secret in nodes, endpoints and MCP servers (``use_secret``)."""
    from studio.services import secret_grant_use

    project = access_project(user=request.user, slug=project_slug, perm="manage")
    secret = sel.access_secret(project=project, pk=secret_id)
    membership = sel.access_membership(project=project, pk=request.POST.get("member"))
    try:
        secret_grant_use(secret=secret, user=membership.user, actor=request.user)
    except ValueError as exc:
        return _secrets_page(request, project, status=400, errors={"form": str(exc)})
    messages.success(request, f"{membership.user.get_username()} may now use {secret.name}.")
    return redirect("project-secrets", project_slug=project.slug)


@login_required
@require_POST
def secret_revoke(request: HttpRequest, project_slug: str, secret_id: int, user_id: int) -> HttpResponse:
    """Withdraw a member's grant to use this secret."""
    from django.contrib.auth import get_user_model

    from studio.services import secret_revoke_use

    project = access_project(user=request.user, slug=project_slug, perm="manage")
    secret = sel.access_secret(project=project, pk=secret_id)
    grantee = get_user_model().objects.filter(pk=user_id).first()
    if grantee is None:
        raise Http404("User not found.")
    secret_revoke_use(secret=secret, user=grantee, actor=request.user)
    messages.success(request, f"{grantee.get_username()} may no longer use {secret.name}.")
    return redirect("project-secrets", project_slug=project.slug)


@login_required
@require_http_methods(["GET", "POST"])
def project_secrets(request: HttpRequest, project_slug: str) -> HttpResponse:
    """Secrets: names, who created them, where they are used; POST creates one (the value is never shown)."""
    project = access_project(user=request.user, slug=project_slug, perm="manage")
    if request.method == "GET":
        return _secrets_page(request, project)
    name = request.POST.get("name", "")
    try:
        secret = svc.secret_create(project=project, actor=request.user, name=name, value=request.POST.get("value", ""))
    except svc.WorkspaceError as exc:
        return _secrets_page(request, project, status=400, values={"name": name}, **_error_context(exc))
    messages.success(request, f"Secret {secret.name} saved. Its value will not be shown again.")
    return redirect("project-secrets", project_slug=project.slug)


@login_required
@require_POST
def secret_replace(request: HttpRequest, project_slug: str, secret_id: int) -> HttpResponse:
    project = access_project(user=request.user, slug=project_slug, perm="manage")
    secret = sel.access_secret(project=project, pk=secret_id)
    try:
        svc.secret_replace(secret=secret, actor=request.user, value=request.POST.get("value", ""))
    except svc.WorkspaceError as exc:
        return _secrets_page(request, project, status=400, replace_id=secret.pk, **_error_context(exc))
    messages.success(request, f"The value of {secret.name} was replaced.")
    return redirect("project-secrets", project_slug=project.slug)


@login_required
@require_POST
def secret_delete(request: HttpRequest, project_slug: str, secret_id: int) -> HttpResponse:
    project = access_project(user=request.user, slug=project_slug, perm="manage")
    secret = sel.access_secret(project=project, pk=secret_id)
    try:
        svc.secret_delete(secret=secret, actor=request.user)
    except svc.WorkspaceError as exc:
        # 400, not 409: the htmx config swaps a 400 page in (the message shows), not other 4xx.
        return _secrets_page(request, project, status=400, **_error_context(exc))
    messages.success(request, f"Secret {secret.name} deleted.")
    return redirect("project-secrets", project_slug=project.slug)


# ------------------------------------------------------------------ variables


def _value_text(value: Any) -> str:
    """A variable's value as typed in the form: text as is, the rest as JSON (``true``, ``0.5``, ``{…}``)."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _variables_page(request: HttpRequest, project: Project, *, status: int = 200, **extra: Any) -> HttpResponse:
    from studio.models import VariableType
    from studio.workspace.variables import variable_usages

    rows = [
        (variable, variable_usages(variable), _value_text(variable.value))
        for variable in sel.project_variables(project=project)
    ]
    context = {
        "project": project,
        "tab": "project-variables",
        "variables": rows,
        "types": VariableType.choices,
        "values": {"type": "str"},
        **extra,
    }
    return page(request, "studio/settings_variables.html", context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def project_variables(request: HttpRequest, project_slug: str) -> HttpResponse:
    """Variables: name, type, value, where each is read; POST creates one (value parsed by its type)."""
    from studio.workspace import variables as var_svc

    project = access_project(user=request.user, slug=project_slug, perm="manage")
    if request.method == "GET":
        return _variables_page(request, project)
    values = {key: request.POST.get(key, "") for key in ("name", "type", "value", "description")}
    try:
        variable = var_svc.variable_create(project=project, actor=request.user, text=True, **values)
    except svc.WorkspaceError as exc:
        return _variables_page(request, project, status=400, values=values, **_error_context(exc))
    messages.success(request, f"Variable {variable.name} saved: use it as {{{{ vars.{variable.name} }}}}.")
    return redirect("project-variables", project_slug=project.slug)


@login_required
@require_POST
def variable_edit(request: HttpRequest, project_slug: str, name: str) -> HttpResponse:
    """Change a variable's type, value and description (the value is parsed by the type)."""
    from studio.workspace import variables as var_svc

    project = access_project(user=request.user, slug=project_slug, perm="manage")
    variable = sel.access_variable(project=project, name=name)
    values = {key: request.POST.get(key, "") for key in ("type", "value", "description")}
    try:
        var_svc.variable_update(variable=variable, actor=request.user, text=True, **values)
    except svc.WorkspaceError as exc:
        return _variables_page(
            request, project, status=400, edit_name=variable.name, edit_values=values, **_error_context(exc)
        )
    messages.success(request, f"Variable {variable.name} saved.")
    return redirect("project-variables", project_slug=project.slug)


@login_required
@require_POST
def variable_delete(request: HttpRequest, project_slug: str, name: str) -> HttpResponse:
    """Delete a variable no workflow reads."""
    from studio.workspace import variables as var_svc

    project = access_project(user=request.user, slug=project_slug, perm="manage")
    variable = sel.access_variable(project=project, name=name)
    try:
        var_svc.variable_delete(variable=variable, actor=request.user)
    except svc.WorkspaceError as exc:
        return _variables_page(request, project, status=400, **_error_context(exc))
    messages.success(request, f"Variable {variable.name} deleted.")
    return redirect("project-variables", project_slug=project.slug)


# ------------------------------------------------------------------ audit log


def _audit_filters(request: HttpRequest) -> tuple[sel.AuditFilters, dict[str, str]]:
    values = {key: request.GET.get(key, "").strip()[:100] for key in ("actor", "verb", "object", "since", "until")}
    errors: dict[str, str] = {}
    dates: dict[str, datetime.date | None] = {}
    for key in ("since", "until"):
        try:
            dates[key] = datetime.date.fromisoformat(values[key]) if values[key] else None
        except ValueError:
            errors[key] = "Enter a date like 2026-01-31."
            dates[key] = None
    filters = sel.AuditFilters(actor=values["actor"], verb=values["verb"], object=values["object"], **dates)
    return filters, errors


@login_required
@require_GET
def audit_log(request: HttpRequest, project_slug: str) -> HttpResponse:
    """Every change and run of the project, newest first, filtered and paged (admins and owners)."""
    project = access_project(user=request.user, slug=project_slug, perm="manage")
    filters, errors = _audit_filters(request)
    paginator = Paginator(sel.audit_events(project=project, filters=filters), sel.AUDIT_PAGE_SIZE)
    events = paginator.get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "project": project,
        "events": events,
        "filters": request.GET,
        "errors": errors,
        "query": query.urlencode(),
        "verbs": sel.audit_verbs(project=project),
    }
    return page(request, "studio/audit_log.html", context, status=400 if errors else 200)


def _audit_row(event: Any) -> dict[str, Any]:
    return {
        "id": event.pk,
        "at": event.created_at.isoformat(),
        "actor": event.actor_username,
        "verb": event.verb,
        "object_type": event.object_type,
        "object_id": event.object_id,
        "data": event.data,
    }


@login_required
@require_GET
def audit_export(request: HttpRequest, project_slug: str, fmt: str) -> HttpResponse:
    """The filtered audit log as CSV or JSON (``fmt``), streamed."""
    project = access_project(user=request.user, slug=project_slug, perm="manage")
    if fmt not in ("csv", "json"):
        raise Http404("Export as .csv or .json.")
    filters, errors = _audit_filters(request)
    if errors:
        return HttpResponse("; ".join(f"{k}: {v}" for k, v in errors.items()), status=400, content_type="text/plain")
    events = sel.audit_events(project=project, filters=filters).iterator(chunk_size=500)
    name = f"audit-{project.slug}-{timezone.now():%Y%m%d-%H%M%S}.{fmt}"
    if fmt == "json":
        body = json.dumps([_audit_row(event) for event in events], ensure_ascii=False, indent=1)
        response = HttpResponse(body, content_type="application/json")
    else:
        response = StreamingHttpResponse(_csv_lines(events), content_type="text/csv")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


class _Echo:
    def write(self, value: str) -> str:
        return value


def _csv_lines(events: Any) -> Any:
    writer = csv.writer(_Echo())
    yield writer.writerow(["id", "at", "actor", "verb", "object_type", "object_id", "data"])
    for event in events:
        row = _audit_row(event)
        cells = [
            row["id"],
            row["at"],
            row["actor"],
            row["verb"],
            row["object_type"],
            row["object_id"],
            json.dumps(row["data"], ensure_ascii=False),
        ]
        # A spreadsheet runs cells starting with = + - @: prefix them so an export never becomes a formula.
        yield writer.writerow([f"'{c}" if isinstance(c, str) and c[:1] in "=+-@\t\r" else c for c in cells])
