"""Authorization matrix: every route, method, principal and own/foreign project.

The routes come from the URL configuration (``get_resolver()``: pages,
``/api/v1/``, the admin console) and from ``studio.routing`` (websockets).
Each route must have an entry in :data:`ROUTES` (or :data:`WS_ROUTES`); a
route without one FAILS ``test_every_route_has_an_entry``, so a new route
cannot ship without saying who may use it. The methods a route serves are
found by asking it (a superuser's request that is not answered 405), and
each of them must have a level.

Levels (the least a principal needs):

=============  ===============================================================
``public``     everyone, anonymous included
``login``      any signed-in user (session or API key), no project involved
``read``       the project role viewer (perm ``view``) on the route's object
``run``        runner (``run``: start, cancel, rerun, approve)
``edit``       editor (``change``: drafts, publish, create workflows)
``delete``     admin (``delete``: delete workflows)
``admin``      admin (``manage``: members, keys, secrets, endpoints, settings, audit log)
``owner``      owner only (``own``: delete, archive or transfer a project)
``superuser``  site operators only (the admin console)
=============  ===============================================================

Expected statuses: allowed → anything below 500 but 401/403/404 and a
redirect to a login page; anonymous → 302 to ``/login/`` on pages, 401 on
the API, 302 to ``/admin/login/`` in the admin; a principal with no role in
the object's project → 404 (existence is not revealed); a role too low → 403;
a non-superuser in the admin console → 302 to ``/admin/login/``.

Principals: anonymous; ``outsider`` (signed in, no role); ``viewer``,
``runner``, ``editor``, ``admin`` (also ``is_staff``, not superuser) and
``owner`` of the own project; ``superuser``; an API key of each role held by
the owner (``key-<role>``: the key caps the role); a viewer key of a
superuser (``superkey-viewer``). Sessions do not work on the API with a key
and keys do not work on pages: a key on a page is anonymous. Every principal
runs against the own project's objects and the foreign project's (where
only the superuser has a role).

How to add a route (another helper's new page or endpoint)::

    ROUTES["prompt-detail"] = "read"                          # every method it serves
    ROUTES["api-prompts"] = {"GET": "read", "POST": "edit"}   # per method
    ROUTES["api-secret"] = Route({"DELETE": "admin"}, kwargs={"pk": "secret"})
    ROUTES["settings-invite"] = Route("admin", data={"project": "{project}"})

``kwargs`` maps a URL keyword to an attribute of :class:`Side` (``pk`` is the
workflow's unless said otherwise); a new keyword name gets a default in
:data:`KWARG_DEFAULTS`, and a new kind of object an attribute on
:class:`Side` built in :func:`build_side`. ``data`` (request body) and
``query`` (query string) values may use ``{project}``, ``{workflow}``,
``{run}``, ``{run2}``, ``{node}`` placeholders, filled per side. Pass
``ok_also`` when an allowed principal legitimately gets a 404 (an object the
route looks up that the fixtures lack).

Speed: the fixtures are built once per module in a transaction that is
rolled back at the end; each request runs in a savepoint that is rolled
back, so a DELETE or a publish never changes what the next request sees.
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from agents.deploy.models import (
    CallbackDelivery,
    CallbackEndpoint,
    Deployment,
    Schedule,
    SharedRun,
    ShareLink,
    WebhookTrigger,
)
from agents.evaluations.models import SuiteRun, SuiteRunStatus
from agents.evaluations.services import dataset_create, dataset_rows_add, graph_hash, suite_case_add, suite_check_add
from agents.models import McpServer, Run, RunEvent, RunStatus, SavedFilter, Step, StepStatus, Workflow, WorkflowVersion
from prompts.services import prompt_create, prompt_label_move, prompt_version_commit
from studio.crypto import secret_create
from studio.models import ROLE_RANK, ApiKey, Membership, Project, Role, Variable, role_allows
from studio.workspace.services import invitation_create
from tests.conftest import demo_graph
from traces.models import Span, Trace
from traces.services import endpoint_ensure_local

# ------------------------------------------------------------------ the table


@dataclass(frozen=True)
class Route:
    """A route's levels (one for every method, or per method) and how to call it."""

    levels: str | dict[str, str]
    kwargs: dict[str, str] = field(default_factory=dict)
    data: dict[str, Any] | None = None
    query: dict[str, Any] | None = None
    ok_also: frozenset[int] = frozenset()

    def level(self, method: str) -> str | None:
        return self.levels if isinstance(self.levels, str) else self.levels.get(method)


ROUTES: dict[str, str | dict[str, str] | Route] = {
    # platform
    "login": "public",
    "logout": "public",
    "healthz": "public",
    "readyz": "public",
    # Outside the role model: a bearer token (STUDIO_METRICS_TOKEN), unset in tests → 404 for everyone.
    "metrics": Route("public", ok_also=frozenset({404})),
    "api-schema": "public",  # the OpenAPI document is the same for every studio
    "api-docs": "public",
    "password_reset": "public",
    "password_reset_done": "public",
    "password_reset_confirm": Route("public", kwargs={"token": "reset_token"}),
    "password_reset_complete": "public",
    # OpenID Connect sign-in: public; 404 while SSO is not configured (as in these tests)
    "oidc_authentication_init": Route("public", ok_also=frozenset({404})),
    "oidc_authentication_callback": Route("public", ok_also=frozenset({404})),
    # project administration (studio.workspace, traces.endpoints)
    "project-new": "login",
    "invitation-accept": "public",  # anonymous visitors create an account there
    "project-settings": "admin",
    "project-archive": "owner",
    "project-delete": "owner",
    "project-members": "admin",
    "member-role": Route("admin", data={"role": "runner"}),
    "member-remove": "admin",
    "project-transfer": Route("owner", data={"member": "{member}"}),
    "invitation-create": Route("admin", data={"role": "viewer"}),
    "invitation-revoke": "admin",
    "project-leave": "read",
    "project-keys": "admin",
    "key-revoke": "admin",
    "project-secrets": "admin",
    "secret-replace": Route("admin", data={"value": "new-value"}),
    "secret-delete": "admin",
    "secret-grant": Route("admin", data={"member": "{member}"}),
    "secret-revoke": "admin",
    "project-variables": Route({"GET": "admin", "POST": "admin"}, data={"name": "matrix", "type": "str", "value": "x"}),
    "variable-edit": Route("admin", data={"type": "int", "value": "7"}),
    "variable-delete": "admin",
    "audit-log": "admin",
    "audit-export": "admin",
    "project-endpoints": "admin",
    "endpoint-new": "admin",
    "endpoint-edit": "admin",
    "endpoint-delete": "admin",
    "endpoint-test": "admin",
    "project-mcp": "admin",
    "mcp-edit": "admin",
    "mcp-delete": "admin",
    "mcp-tools": "admin",
    "mcp-test-tool": "admin",
    "api-members": Route({"GET": "admin", "POST": "admin"}, data={"user": "nobody", "role": "viewer"}),
    "api-member": Route({"PATCH": "admin", "DELETE": "admin"}, data={"role": "runner"}),
    "api-keys": Route({"GET": "admin", "POST": "admin"}, data={"name": "matrix", "role": "viewer"}),
    "api-key": Route({"DELETE": "admin"}),
    "api-project": Route({"GET": "read", "PATCH": "admin"}, data={"description": "matrix"}),
    "api-variables": Route({"GET": "read", "POST": "admin"}, data={"name": "matrix", "type": "str", "value": "x"}),
    "api-secrets": Route({"GET": "read", "POST": "admin"}, data={"name": "MATRIX", "value": "matrix-value"}),
    "api-secret": Route({"GET": "read", "PUT": "admin", "DELETE": "admin"}, data={"value": "new-value"}),
    # an endpoint's POST with the name taken is a 400 (duplicate): the route still answers by level
    "api-endpoints": Route({"GET": "read", "POST": "admin"}, data={"name": "Matrix", "model": "openai/matrix"}),
    "api-endpoint": Route({"GET": "read", "PATCH": "admin", "DELETE": "admin"}, data={"name": "Matrix endpoint"}),
    "api-endpoint-test": "admin",
    # a loopback URL is refused by the egress guard (400): the route still answers by level
    "api-mcp-servers": Route({"GET": "read", "POST": "admin"}, data={"name": "Matrix", "url": "http://127.0.0.1:9/mcp"}),
    "api-mcp-server": Route({"GET": "read", "DELETE": "admin"}),
    "api-mcp-server-tools": "admin",
    "api-variable": Route({"GET": "read", "PATCH": "admin", "DELETE": "admin"}, data={"value": "changed"}),
    # pages
    "home": "login",
    "workflow-import-page": "edit",
    "workflow-settings": "edit",
    "workflow-duplicate": "edit",
    "workflow-delete": "delete",
    "template-gallery": "login",
    "template-use": Route("edit", kwargs={"template_slug": "template"}, data={"project": "{project}"}),
    "project-home": "read",
    "workflow-new": Route("edit", data={"name": "New one"}),
    "workflow-detail": "read",
    "workflow-run": Route("run", data={"question": "Why?"}),
    "workflow-editor": "read",
    "editor-inspector": Route("read", data={"node_id": "{node}"}),
    "editor-run": Route({"GET": "read", "POST": "run"}, data={"question": "Why?"}),
    "editor-runs": "read",
    "editor-run-diff": Route("read", query={"run": ["{run}", "{run2}"]}),
    "workflow-history": "read",
    "workflow-restore": Route("edit", data={"version": "1"}),
    "run-detail": "read",
    "run-cancel": "run",
    "run-retry": "run",
    "project-runs": "read",
    "editor-run-live": "read",
    "editor-step": "read",
    "editor-rerun": "run",
    "editor-approval": Route("run", data={"approved": "on"}),
    "trace-explorer": "read",
    "saved-filter-create": Route("read", data={"name": "matrix", "status": "failed"}),
    "saved-filter-delete": Route("read", ok_also=frozenset({404})),  # someone else's saved filter: 404
    "trace-detail": "read",
    "trace-span": "read",
    "trace-step": "read",
    "trace-rerun": "run",
    "external-trace-detail": "read",
    "external-trace-span": Route("read", kwargs={"span_id": "external_span_pk"}),
    "usage": "read",
    "usage-export": "read",
    "prompt-list": Route({"GET": "read", "POST": "edit"}, data={"name": "New one"}),
    "prompt-detail": "read",
    "prompt-diff": Route("read", query={"a": "1", "b": "1"}),
    "prompt-version-new": Route("edit", data={"role": "user", "content": "Hi {{ name }}", "var_name": "name"}),
    "prompt-variables-detect": Route("edit", data={"content": "Hi {{ name }}"}),
    "prompt-version": "read",
    "prompt-promote": Route("edit", query={"label": "staging", "version": "1"}),
    "prompt-protected-labels": Route("admin", data={"labels": "production"}),
    "prompt-usage": "read",
    "prompt-preview": Route("read", query={"cfg-prompt-slug": "greeting"}),
    # a POST calls the project's endpoint (none in the fixtures: the page answers 200 with its empty state)
    "prompt-playground": Route("run", data={"a_version": "1", "var.name": "Ada"}),
    "prompt-label-move": Route("edit", data={"label": "staging", "version": "1", "expected_version": "1"}),
    # REST API (JSON bodies)
    "api-run-create": Route("run", data={"inputs": {"question": "Why?"}}),
    "api-run-list": "read",
    "api-run-detail": "read",
    "api-run-cancel": "run",
    "api-run-rerun": Route("run", data={"node_id": "{node}"}),
    "api-run-events": "read",
    # deploy and integrate (agents.deploy)
    "workflow-deploy": Route("edit", data={"version": "1"}),
    "api-workflow-deploy": Route("edit", data={"version": 1}),
    "api-workflow-deployments": "read",
    "api-workflow-invoke": Route("run", data={"inputs": {"question": "Why?"}, "wait_s": 0}),
    "api-workflow-openapi": "read",
    "api-workflow-webhooks": Route({"GET": "edit", "POST": "edit"}, data={"name": "matrix"}),
    "api-workflow-webhook": Route({"DELETE": "edit"}),
    "api-workflow-webhook-deliveries": "edit",
    "api-workflow-schedules": Route({"GET": "read", "POST": "edit"}, data={"name": "matrix", "cron": "*/5 * * * *"}),
    "api-workflow-schedule": Route({"PATCH": "edit", "DELETE": "edit"}, data={"paused": True}),
    # a POST with a loopback URL is refused by the egress guard (400): the route still answers by level
    "api-workflow-callbacks": Route({"GET": "edit", "POST": "edit"}, data={"url": "http://127.0.0.1:9/hook"}),
    "api-workflow-callback": Route({"DELETE": "edit"}),
    "api-workflow-callback-deliveries": "edit",
    "api-workflow-callback-resend": "edit",
    "workflow-share": "edit",
    "workflow-share-revoke": "edit",
    # public share pages: anyone with the link (no sign-in); the POST starts a run of the live version
    "share-page": Route({"GET": "public", "POST": "public"}, kwargs={"token": "share_token"}, data={"input-question": "Why?"}),
    "share-answer": Route("public", kwargs={"token": "share_token"}),
    # public: the HMAC signature is the authentication, so an unsigned request is a 401 for everyone
    "api-webhook-receive": Route("public", kwargs={"token": "webhook_token"}, ok_also=frozenset({401})),
    "workflow-api": "read",
    "api-run-approvals": "read",
    "api-run-approval-decide": Route("run", data={"approved": True}),
    "api-run-diff": "read",
    "api-workflows": Route({"GET": "read", "POST": "edit"}, data={"name": "New one"}),
    "api-workflow-import": "edit",
    "api-workflow": "read",
    "api-workflow-draft": Route({"PUT": "edit"}, data={"graph": "{graph}", "base_revision": 1}),
    "api-workflow-validate": "read",
    "api-workflow-publish": Route("edit", data={"note": "matrix"}),
    "api-workflow-versions": "read",
    "api-workflow-version": "read",
    "api-workflow-diff": "read",
    "api-workflow-restore": Route("edit", data={"version": 1}),
    "api-workflow-export": "read",
    "api-node-catalog": "login",
    "api-node-ports": "login",
    "api-templates": "login",
    "api-template-use": Route("edit", kwargs={"slug": "template"}, data={"project": "{project}"}),
    "api-traces-ingest": Route(
        "run", data={"workflow": {"project": "{project}", "slug": "{workflow}"}, "status": "succeeded"}
    ),
    # The OTLP receiver: the project is the one the batch names (studio.project), else the key's own.
    "api-otlp-traces": Route(
        "run",
        data={
            "resourceSpans": [
                {
                    "resource": {"attributes": [{"key": "studio.project", "value": {"stringValue": "{project}"}}]},
                    "scopeSpans": [],
                }
            ]
        },
    ),
    "api-prompts": Route({"GET": "read", "POST": "edit"}, data={"name": "New one"}),
    "api-prompt": Route("read", query={"label": "production"}),
    "api-prompt-versions": Route(
        {"GET": "read", "POST": "edit"},
        data={"messages": [{"role": "user", "content": "Hi {{ name }}"}], "variables": ["name"]},
    ),
    "api-prompt-label": Route({"PUT": "edit"}, data={"version": 1}),  # staging; production needs admin (below)
    "api-prompt-label-history": "read",
    "api-prompt-render": Route("read", data={"label": "production", "variables": {"name": "Ada"}}),
    # evaluations (agents.evaluations): datasets, a workflow's suite, suite runs, scores and feedback
    "dataset-list": Route({"GET": "read", "POST": "edit"}, data={"name": "Matrix", "workflow": "{workflow}"}),
    "dataset-detail": Route({"GET": "read", "POST": "edit"}, data={"input-question": "Why?"}),
    "dataset-upload": "edit",
    "workflow-suite": Route(
        {"GET": "read", "POST": "edit"}, data={"action": "add_case", "name": "matrix", "input-question": "Why?"}
    ),
    "workflow-suite-run": "run",
    "workflow-suite-publish": Route("edit", data={"note": "matrix"}),
    "suite-run-detail": "read",
    "run-feedback": Route("run", data={"thumbs": "up"}),
    "run-add-to-dataset": Route("edit", data={"dataset": "{dataset}"}),
    "api-datasets": Route({"GET": "read", "POST": "edit"}, data={"name": "Matrix", "workflow": "{workflow}"}),
    "api-dataset": "read",
    "api-dataset-rows": Route("edit", data={"rows": [{"inputs": {"question": "Why?"}}]}),
    "api-dataset-upload": "edit",
    "api-suite": Route({"GET": "read", "PUT": "edit"}, data={"cases": [], "checks": []}),
    "api-suite-runs": Route({"GET": "read", "POST": "run"}, data={}),
    "api-suite-run": "read",
    "api-run-scores": Route({"GET": "read", "POST": "run"}, data={"name": "quality", "value": 1}),
    "api-run-feedback": Route("run", data={"thumbs": "up"}),
    # the admin console: site operators only (patterns match route names with fnmatch)
    # (a superuser may get 403 where a model is read-only, 404 where nothing is to be found)
    "admin:login": "public",
    "admin:autocomplete": Route(
        "superuser", query={"app_label": "studio", "model_name": "apikey", "field_name": "user", "term": "o"}
    ),
    "admin:*": Route("superuser", ok_also=frozenset({403, 404})),
}

# Websocket routes, by their pattern (they have no names).
WS_ROUTES: dict[str, str] = {
    "ws/runs/<int:run_id>/": "read",
}

# URL keyword → attribute of Side, when the route's Route(kwargs=…) does not say.
KWARG_DEFAULTS = {
    "project_slug": "project_slug",
    "project": "project_slug",
    "workflow_slug": "workflow_slug",
    "pk": "workflow_pk",
    "run_id": "run_pk",
    "other_id": "run2_pk",
    "node_id": "node",
    "version": "version",
    "template_slug": "template",
    "slug": "template",
    "app_label": "app_label",
    "content_type_id": "project_content_type",
    "object_id": "admin_object",
    "object_pk": "admin_object",
    "id": "owner_pk",
    "user_id": "owner_pk",
    "group_id": "group_pk",
    "url": "missing_page",
    "member_id": "member_pk",
    "key_id": "key_pk",
    "secret_id": "secret_pk",
    "endpoint_id": "endpoint_pk",
    "prompt_slug": "prompt_slug",
    "label_name": "label_name",
    "number": "prompt_version_number",
    "server_id": "mcp_server_pk",
    "invitation_id": "invitation_pk",
    "token": "invitation_token",
    "fmt": "audit_format",
    "uidb64": "reset_uid",
    "hook_id": "webhook_pk",
    "schedule_id": "schedule_pk",
    "callback_id": "callback_pk",
    "link_id": "share_link_pk",
    "run_token": "shared_run_token",
    "delivery_id": "callback_delivery_pk",
    "step_id": "step_pk",
    "span_id": "span_pk",
    "filter_id": "saved_filter_pk",
    "trace_id": "external_trace_pk",
    "name": "variable_name",
    "secret_name": "secret_name",
    "dataset_id": "dataset_pk",
    "suite_run_id": "suite_run_pk",
}

LEVEL_PERM = {"read": "view", "run": "run", "edit": "change", "delete": "delete", "admin": "manage", "owner": "own"}
PROBED_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


def route_entry(name: str) -> Route | None:
    """The table's entry for a route name: exact name first, then the first matching pattern."""
    entry = ROUTES.get(name)
    if entry is None:
        entry = next((v for k, v in ROUTES.items() if "*" in k and fnmatch.fnmatchcase(name, k)), None)
    if entry is None or isinstance(entry, Route):
        return entry
    return Route(entry)


# ------------------------------------------------------------------ routes


@dataclass(frozen=True)
class UrlRoute:
    name: str
    pattern: str
    keywords: tuple[str, ...]
    named: bool = True

    @property
    def surface(self) -> str:
        if self.name.startswith("admin:"):
            return "admin"
        return "api" if self.pattern.startswith("api/") else "page"


def _walk(patterns: list[Any], prefix: str = "", namespace: str = "") -> Iterator[UrlRoute]:
    for entry in patterns:
        if isinstance(entry, URLResolver):
            inner = f"{namespace}:{entry.namespace}" if namespace and entry.namespace else entry.namespace or namespace
            yield from _walk(entry.url_patterns, prefix + str(entry.pattern), inner or "")
        elif isinstance(entry, URLPattern):
            pattern = entry.pattern
            keywords = tuple(getattr(pattern, "converters", {}) or pattern.regex.groupindex)
            local = entry.name or f"<{prefix}{pattern}>"  # unnamed: the full pattern stands for the name
            name = f"{namespace}:{local}" if namespace else local
            yield UrlRoute(name=name, pattern=prefix + str(pattern), keywords=keywords, named=entry.name is not None)


def url_routes() -> list[UrlRoute]:
    """Every named HTTP route of the URL configuration."""
    return list(_walk(get_resolver().url_patterns))


# ------------------------------------------------------------------ the world


@dataclass
class Side:
    """The objects of one project the requests point at (own or foreign)."""

    project: Project
    workflow: Workflow
    run: Run
    run2: Run
    node: str = "answerer"
    version: int = 1
    template: str = "question-answering"
    app_label: str = "studio"
    owner_pk: int = 0
    group_pk: int = 0
    missing_page: str = "no-such-page/"
    member_pk: int = 0  # a viewer's membership
    key_pk: int = 0
    secret_pk: int = 0
    endpoint_pk: int = 0
    mcp_server_pk: int = 0
    prompt_slug: str = "greeting"  # version 1, labels production and staging
    label_name: str = "staging"
    prompt_version_number: int = 1
    invitation_pk: int = 0
    variable_name: str = "team"
    secret_name: str = "TOKEN"
    invitation_token: str = ""
    audit_format: str = "csv"
    reset_uid: str = "MQ"
    reset_token: str = "set-password"
    webhook_pk: int = 0
    webhook_token: str = ""
    schedule_pk: int = 0
    callback_pk: int = 0
    share_link_pk: int = 0
    share_token: str = ""
    shared_run_token: str = ""
    callback_delivery_pk: int = 0
    step_pk: int = 0
    span_pk: int = 0
    saved_filter_pk: int = 0
    dataset_pk: int = 0
    suite_run_pk: int = 0
    external_trace_pk: int = 0
    external_span_pk: int = 0

    @property
    def project_slug(self) -> str:
        return self.project.slug

    @property
    def workflow_slug(self) -> str:
        return self.workflow.slug

    @property
    def workflow_pk(self) -> int:
        return self.workflow.pk

    @property
    def run_pk(self) -> int:
        return self.run.pk

    @property
    def run2_pk(self) -> int:
        return self.run2.pk

    @property
    def project_content_type(self) -> int:
        return ContentType.objects.get_for_model(Project).pk

    def placeholders(self) -> dict[str, Any]:
        return {
            "project": self.project.slug,
            "workflow": self.workflow.slug,
            "run": self.run.pk,
            "run2": self.run2.pk,
            "node": self.node,
            "member": self.member_pk,
            "dataset": self.dataset_pk,
        }


@dataclass(frozen=True)
class Principal:
    """Who makes the request: ``kind`` anon/session/key; ``role`` in the own project; the key's role."""

    name: str
    kind: str
    role: str | None = None
    superuser: bool = False
    key_role: str | None = None


PRINCIPALS = [
    Principal("anonymous", "anon"),
    Principal("outsider", "session"),
    *[Principal(role, "session", role=role) for role in ("viewer", "runner", "editor", "admin", "owner")],
    Principal("superuser", "session", superuser=True),
    *[
        Principal(f"key-{role}", "key", role="owner", key_role=role)
        for role in ("viewer", "runner", "editor", "admin", "owner")
    ],
    Principal("superkey-viewer", "key", superuser=True, key_role="viewer"),
]
# The admin console answers every non-superuser the same way: a few stand for all.
ADMIN_PRINCIPALS = ("anonymous", "admin", "owner", "superuser", "superkey-viewer")


@dataclass
class World:
    own: Side
    foreign: Side
    sessions: dict[str, str]  # principal name -> session key
    keys: dict[str, str]  # principal name -> raw API key
    # One client for every request: a new Client loads the middleware again (WhiteNoise scans the static files).
    client: Client = field(default_factory=lambda: Client(raise_request_exception=False))


def build_side(slug: str, owner: Any) -> Side:
    """A project with a published workflow and two finished runs (with steps and events)."""
    project = Project.objects.create(slug=slug, name=slug.title())
    Membership.objects.create(project=project, user=owner, role=Role.OWNER)
    graph = demo_graph("question-answering")
    workflow = Workflow.objects.create(project=project, slug="qa", name="QA", draft_graph=graph)
    version = WorkflowVersion.objects.create(workflow=workflow, version=1, graph=graph)
    Deployment.objects.create(workflow=workflow, version=version)
    hook = WebhookTrigger.objects.create(workflow=workflow, name="hook", token=f"hook-{slug}", secret_ciphertext="x")
    runs = []
    for _ in range(2):
        run = Run.objects.create(
            project=project,
            workflow=workflow,
            graph=graph,
            status=RunStatus.SUCCEEDED,
            inputs={"question": "Why?"},
            outputs={"answer": "Because."},
        )
        Step.objects.create(
            run=run, node_id="answerer", node_type="agent", status=StepStatus.SUCCEEDED, outputs={"answer": "Because."}
        )
        RunEvent.objects.create(run=run, seq=1, type="run.finished", payload={"status": "succeeded"})
        runs.append(run)
    side = Side(project=project, workflow=workflow, run=runs[0], run2=runs[1], owner_pk=owner.pk)
    side.webhook_pk, side.webhook_token = hook.pk, hook.token
    side.schedule_pk = Schedule.objects.create(workflow=workflow, name="nightly", cron="0 3 * * *").pk
    callback = CallbackEndpoint.objects.create(workflow=workflow, url="https://hooks.example/studio", secret_ciphertext="x")
    side.callback_pk = callback.pk
    link = ShareLink.objects.create(workflow=workflow, token=f"share-{slug}")
    side.share_link_pk, side.share_token = link.pk, link.token
    side.shared_run_token = SharedRun.objects.create(link=link, run=runs[1], token=f"run-{slug}").token
    side.callback_delivery_pk = CallbackDelivery.objects.create(endpoint=callback, run=runs[0], status="failed").pk
    side.step_pk = runs[0].steps.get().pk
    trace = Trace.objects.create(project=project, run_id=runs[0].pk)
    side.span_pk = Span.objects.create(
        trace=trace,
        project=project,
        run_id=runs[0].pk,
        step_id=side.step_pk,
        model="openai/smollm2",
        started_at=timezone.now(),
    ).pk
    external = Trace.objects.create(project=project, source="external", name="outside")
    side.external_trace_pk = external.pk
    side.external_span_pk = Span.objects.create(
        trace=external, project=project, model="gpt-4o", started_at=timezone.now()
    ).pk
    side.saved_filter_pk = SavedFilter.objects.create(
        project=project, user=owner, name="mine", query="status=failed"
    ).pk
    member = get_user_model().objects.create_user(f"{slug}-member")
    side.member_pk = Membership.objects.create(project=project, user=member, role=Role.VIEWER).pk
    side.key_pk = ApiKey.objects.create(
        project=project,
        name="side key",
        prefix=f"sk_{slug}"[:10],
        hashed_key=ApiKey.hash(f"side-{slug}"),
        role=Role.VIEWER,
        user=owner,
    ).pk
    side.secret_pk = secret_create(project=project, name="TOKEN", value=f"value-of-{slug}").pk
    Variable.objects.create(project=project, name=side.variable_name, type="str", value=f"team-of-{slug}")
    side.endpoint_pk = endpoint_ensure_local(project=project).pk
    invitation, side.invitation_token = invitation_create(project=project, actor=owner, role=Role.VIEWER)
    side.invitation_pk = invitation.pk
    # Loopback: the egress guard refuses it at once, so listing its tools never leaves the machine.
    side.mcp_server_pk = McpServer.objects.create(
        project=project, slug="tools", name="Tools", url="http://127.0.0.1:9/mcp", timeout_s=1
    ).pk
    prompt = prompt_create(project=project, user=owner, name="Greeting", slug=side.prompt_slug)
    greeting = prompt_version_commit(
        prompt=prompt, user=owner, messages=[{"role": "user", "content": "Hi {{ name }}"}], variables=["name"]
    )
    for label in ("production", side.label_name):
        prompt_label_move(prompt=prompt, label=label, version=greeting, user=owner)
    dataset = dataset_create(project=project, user=owner, name="Questions", workflow=workflow)
    dataset_rows_add(dataset=dataset, user=owner, rows=[{"inputs": {"question": "Why?"}}])
    side.dataset_pk = dataset.pk
    suite_check_add(workflow=workflow, user=owner, name="says-because", kind="contains", config={"value": "because"})
    suite_case_add(workflow=workflow, user=owner, name="why", inputs={"question": "Why?"})
    side.suite_run_pk = SuiteRun.objects.create(
        suite=workflow.suite, workflow=workflow, graph_hash=graph_hash(graph), status=SuiteRunStatus.PASSED
    ).pk
    return side


def build_world() -> World:
    User = get_user_model()
    users = {
        p.name: User.objects.create_user(p.name, password="pw-for-tests-only", is_staff=p.name == "admin")
        for p in PRINCIPALS
        if p.kind == "session" and not p.superuser
    }
    users["superuser"] = User.objects.create_superuser("superuser", "root@example.test", "pw-for-tests-only")
    own = build_side("own", users["owner"])
    foreign = build_side("foreign", User.objects.create_user("foreign-owner"))
    own.group_pk = foreign.group_pk = Group.objects.create(name="operators").pk
    for role in ("viewer", "runner", "editor", "admin"):
        Membership.objects.create(project=own.project, user=users[role], role=role)
    sessions = {}
    for name, user in users.items():
        client = Client()
        client.force_login(user)
        sessions[name] = client.cookies[settings.SESSION_COOKIE_NAME].value
    keys = {}
    for principal in PRINCIPALS:
        if principal.kind == "key":
            raw = ApiKey.generate()
            holder = users["superuser"] if principal.superuser else users["owner"]
            ApiKey.objects.create(
                project=own.project,
                name=principal.name,
                prefix=raw[:10],
                hashed_key=ApiKey.hash(raw),
                role=principal.key_role,
                user=holder,
            )
            keys[principal.name] = raw
    return World(own=own, foreign=foreign, sessions=sessions, keys=keys)


# ------------------------------------------------------------------ expectations


def effective_role(principal: Principal, side: str, surface: str) -> tuple[bool, str | None]:
    """(authenticated, role in the side's project) as the studio should see this principal."""
    if principal.kind == "anon" or (principal.kind == "key" and surface != "api"):
        return False, None
    if principal.kind == "session":
        if principal.superuser:
            return True, Role.OWNER
        return True, principal.role if side == "own" else None
    if side != "own":
        return True, None
    held = Role.OWNER if principal.superuser else Role(principal.role)
    capped = min(held, Role(principal.key_role), key=lambda r: ROLE_RANK[r])
    return True, capped


def expected(level: str, principal: Principal, side: str, surface: str) -> str:
    """``ok``, ``login`` (redirect to a login page), or a status code as text."""
    authenticated, role = effective_role(principal, side, surface)
    if level == "public":
        return "ok"
    if surface == "admin" or level == "superuser":
        return "ok" if principal.kind == "session" and principal.superuser else "admin-login"
    if not authenticated:
        return "401" if surface == "api" else "login"
    if level == "login":
        return "ok"
    if role is None:
        return "404"
    return "ok" if role_allows(role, LEVEL_PERM[level]) else "403"


def outcome(response: Any) -> str:
    status = response.status_code
    location = response.get("Location", "") if status in (301, 302, 303) else ""
    if location.startswith("/admin/login/"):
        return "admin-login"
    if location.startswith(settings.LOGIN_URL if settings.LOGIN_URL.startswith("/") else "/login/"):
        return "login"
    if status >= 500:
        return str(status)
    if status in (401, 403, 404):
        return str(status)
    return "ok"


# ------------------------------------------------------------------ requests


def _fill(value: Any, side: Side) -> Any:
    if isinstance(value, str):
        if value == "{graph}":
            return side.workflow.draft_graph
        return value.format(**side.placeholders())
    if isinstance(value, list):
        return [_fill(v, side) for v in value]
    if isinstance(value, dict):
        return {k: _fill(v, side) for k, v in value.items()}
    return value


def _kwarg(route: UrlRoute, entry: Route, keyword: str, side: Side) -> Any:
    attribute = entry.kwargs.get(keyword) or KWARG_DEFAULTS.get(keyword)
    if attribute is None:
        pytest.fail(f"{route.name}: no value for URL keyword {keyword!r}: add it to KWARG_DEFAULTS or Route(kwargs=)")
    if attribute == "admin_object":
        if route.name == "admin:view_on_site":
            return side.project.pk
        local = route.name.split(":", 1)[1]
        for app_label, model_name in ContentType.objects.values_list("app_label", "model"):
            if local.startswith(f"{app_label}_{model_name}_"):
                found = ContentType.objects.get_by_natural_key(app_label, model_name).model_class()
                first = found._default_manager.order_by("pk").first() if found else None
                return first.pk if first else 0
        return 0
    return getattr(side, attribute)


def route_url(route: UrlRoute, kwargs: dict[str, Any]) -> str:
    """``reverse()`` for a named route; the pattern with its keywords filled in for an unnamed one."""
    if route.named:
        return reverse(route.name, kwargs=kwargs)
    path = re.sub(r"<(?:\w+:)?(\w+)>", lambda m: str(kwargs[m.group(1)]), route.pattern)
    path = re.sub(r"\(\?P<(\w+)>[^)]*\)", lambda m: str(kwargs[m.group(1)]), path)
    return "/" + path.replace("^", "").replace("$", "")


def send(world: World, route: UrlRoute, entry: Route, method: str, principal: Principal, side_name: str) -> Any:
    """One request, in a savepoint that is rolled back."""
    side = world.own if side_name == "own" else world.foreign
    url = route_url(route, {k: _kwarg(route, entry, k, side) for k in route.keywords})
    client = world.client
    client.cookies.clear()
    extra: dict[str, Any] = {}
    if principal.kind == "session":
        client.cookies[settings.SESSION_COOKIE_NAME] = world.sessions[principal.name]
    elif principal.kind == "key":
        extra["HTTP_AUTHORIZATION"] = f"Bearer {world.keys[principal.name]}"
    data = _fill(entry.data, side) if entry.data is not None and method != "GET" else None
    query = _fill(entry.query, side) if entry.query is not None else None
    if method == "GET":  # reads change nothing the next request depends on (API keys' last_used_at aside)
        response = client.get(url, query, **extra)
    else:
        with transaction.atomic():
            if route.surface == "api":
                response = client.generic(method, url, json.dumps(data or {}), content_type="application/json", **extra)
            else:
                response = getattr(client, method.lower())(url, data or {}, **extra)
            transaction.set_rollback(True)
    if getattr(response, "streaming", False) and not getattr(response, "is_async", False):
        # Consume through the test client's wrapper (which keeps the database connection open);
        # response.close() would fire request_finished and close it. The runs are finished: it ends.
        # An async stream (SSE) is left unread: access was decided before it started, and its reads
        # run on another connection that cannot see this transaction's rows.
        response.consumed = b"".join(response.streaming_content)
    return response


# ------------------------------------------------------------------ tests

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="class")
def world(django_db_setup: Any, django_db_blocker: Any) -> Iterator[World]:
    """Built once for the HTTP tests (a class, so it is gone before the transactional websocket test)
    inside a transaction rolled back at the end."""
    with django_db_blocker.unblock():
        atomic = transaction.atomic()
        atomic.__enter__()
        try:
            yield build_world()
        finally:
            transaction.set_rollback(True)
            atomic.__exit__(None, None, None)


ALL_ROUTES = url_routes()


def test_every_route_has_an_entry() -> None:
    missing = [f"{r.name} ({r.pattern})" for r in ALL_ROUTES if route_entry(r.name) is None]
    assert not missing, f"Add these routes to ROUTES in {__file__}: {missing}"

    from studio.routing import websocket_urlpatterns

    ws_missing = [str(p.pattern) for p in websocket_urlpatterns if str(p.pattern) not in WS_ROUTES]
    assert not ws_missing, f"Add these websocket routes to WS_ROUTES: {ws_missing}"


def test_no_entry_is_stale() -> None:
    names = {r.name for r in ALL_ROUTES}
    stale = [k for k in ROUTES if "*" not in k and k not in names]
    assert not stale, f"ROUTES names routes that no longer exist: {stale}"


def served_methods(world: World, route: UrlRoute, entry: Route) -> dict[str, Any]:
    """The methods the route serves, each with the superuser's own-project response.

    DRF views say which methods they have; other views are asked (a superuser
    request not answered 405). The admin console: GET only.
    """
    superuser = next(p for p in PRINCIPALS if p.name == "superuser")
    if route.surface == "admin":
        probed: tuple[str, ...] = ("GET",)
    else:
        view_class = getattr(resolve_callback(route), "cls", None)
        probed = tuple(m for m in PROBED_METHODS if view_class is None or hasattr(view_class, m.lower()))
    answers = {m: send(world, route, entry, m, superuser, "own") for m in probed}
    return {m: response for m, response in answers.items() if response.status_code != 405}


def resolve_callback(route: UrlRoute) -> Any:
    if not route.named:
        return None
    return next(p.callback for p in _patterns() if p.name == route.name.rsplit(":", 1)[-1])


def _patterns() -> Iterator[URLPattern]:
    def walk(entries: list[Any]) -> Iterator[URLPattern]:
        for entry in entries:
            if isinstance(entry, URLResolver):
                yield from walk(entry.url_patterns)
            else:
                yield entry

    return walk(get_resolver().url_patterns)


def principals_for(route: UrlRoute, level: str, side: str) -> list[Principal]:
    """Who is asked. Cases that must answer alike are asked once: a key on a page or in the admin
    is anonymous (one key stands for all), the admin console treats every non-superuser alike, a
    route outside any project (public, login) cares about the kind of principal, not its role, and
    on the foreign project every member of the own one has no role at all: the strongest of them
    (owner, the staff admin, an owner's key, a superuser's key) and the superuser stand for all."""
    if route.surface == "admin" or level == "superuser":
        return [p for p in PRINCIPALS if p.name in ADMIN_PRINCIPALS]
    if level in ("public", "login"):
        return [p for p in PRINCIPALS if p.name in ("anonymous", "outsider", "viewer", "superkey-viewer")]
    chosen = [p for p in PRINCIPALS if route.surface == "api" or p.kind != "key" or p.name == "key-owner"]
    if side == "foreign":
        strongest = ("admin", "owner", "superuser", "key-owner", "superkey-viewer")
        chosen = [p for p in chosen if p.name in strongest and (route.surface == "api" or p.kind != "key")]
    return chosen


class TestHttpRoutes:
    @pytest.mark.parametrize("route", ALL_ROUTES, ids=[r.name for r in ALL_ROUTES])
    def test_route_answers_each_principal_as_its_level_says(self, world: World, route: UrlRoute) -> None:
        entry = route_entry(route.name)
        if entry is None:
            pytest.fail(f"{route.name} has no entry in ROUTES")
        served = served_methods(world, route, entry)
        if isinstance(entry.levels, dict):
            assert set(entry.levels) == set(served), (
                f"{route.name} serves {sorted(served)}; ROUTES says {sorted(entry.levels)}"
            )
        wrong = []
        for method, superuser_answer in served.items():
            level = entry.level(method)
            assert level is not None, f"{route.name} {method} has no level"
            sides = ("own", "foreign") if level in LEVEL_PERM else ("own",)
            for side in sides:
                for principal in principals_for(route, level, side):
                    want = expected(level, principal, side, route.surface)
                    if principal.name == "superuser" and side == "own":
                        response = superuser_answer
                    else:
                        response = send(world, route, entry, method, principal, side)
                    got = outcome(response)
                    if want == "ok" and (
                        response.status_code in entry.ok_also or (level == "public" and got == "login")
                    ):
                        got = "ok"  # a legitimate answer for this route; logout sends everyone to the login page
                    if got != want:
                        wrong.append(
                            f"{method} {principal.name} {side}: expected {want}, got {response.status_code} "
                            f"{response.get('Location', '')} {getattr(response, 'content', b'')[:120]!r}"
                        )
        assert not wrong, f"{route.name} ({route.pattern}, level {entry.levels}):\n" + "\n".join(wrong)


# ------------------------------------------------------------------ websockets


async def _ws_answer(path: str, session_key: str | None) -> str:
    """``ok`` when the socket replays the run's stored event, else the close code."""
    from channels.testing import WebsocketCommunicator

    from studio.asgi import application

    headers = [(b"origin", b"http://testserver"), (b"host", b"testserver")]
    if session_key is not None:
        headers.append((b"cookie", f"{settings.SESSION_COOKIE_NAME}={session_key}".encode()))
    communicator = WebsocketCommunicator(application, path, headers=headers)
    connected, _ = await communicator.connect(timeout=5)
    assert connected
    message = await communicator.receive_output(timeout=5)
    await communicator.disconnect()
    if message["type"] == "websocket.close":
        return str(message.get("code"))
    return "ok"


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("pattern", list(WS_ROUTES))
def test_websocket_route_answers_each_principal_as_its_level_says(pattern: str) -> None:
    """Sessions only (API keys do not open websockets): allowed → the stored event; refused → close 4403."""
    from asgiref.sync import async_to_sync

    world = build_world()
    wrong = []
    for side_name, side in (("own", world.own), ("foreign", world.foreign)):
        path = "/" + re.sub(
            r"<(?:\w+:)?(\w+)>", lambda m, side=side: str(getattr(side, KWARG_DEFAULTS[m.group(1)])), pattern
        )
        for principal in PRINCIPALS:
            if principal.kind == "key":
                continue
            want = expected(WS_ROUTES[pattern], principal, side_name, "ws")
            want = "ok" if want == "ok" else "4403"
            got = async_to_sync(_ws_answer)(f"{path}?format=json", world.sessions.get(principal.name))
            if got != want:
                wrong.append(f"{principal.name} {side_name}: expected {want}, got {got}")
    assert not wrong, f"{pattern}:\n" + "\n".join(wrong)
