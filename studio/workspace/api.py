"""REST API of project administration: members, API keys and variables.

``/api/v1/projects/<project>/members`` (GET list, POST add), ``…/members/<id>``
(PATCH role, DELETE), ``…/api-keys`` (GET list, POST create — the key is in
the response once), ``…/api-keys/<id>`` (DELETE revokes). Admins and owners
only (``manage``); an API key's role caps its caller like everywhere.
``…/variables`` (GET list: every member; POST create) and
``…/variables/<name>`` (GET, PATCH type/value/description, DELETE when no
workflow reads it): writes by admins and owners. Errors:
``{"detail", "code", "errors"?}`` — ``role_too_high`` (403), ``duplicate``,
``unknown_user``, ``invalid`` (400), ``last_owner``, ``in_use`` (409).
"""

from __future__ import annotations

from typing import Any, NoReturn

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import api_view
from rest_framework.request import Request
from rest_framework.response import Response

from studio.api.errors import ApiError
from studio.models import ApiKey, Membership, Project, Role, Variable, VariableType
from studio.selectors import access_project
from studio.workspace import selectors as sel
from studio.workspace import services as svc
from studio.workspace import variables as var_svc

ROLE_CHOICES = Role.choices


def _raise(exc: svc.WorkspaceError) -> NoReturn:
    errors = {exc.field: [exc.message]} if exc.field else None
    raise ApiError(exc.message, code=exc.code, status_code=exc.status, errors=errors)


def _valid(serializer_class: type[serializers.Serializer[Any]], data: Any) -> dict[str, Any]:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


class MemberOut(serializers.ModelSerializer[Membership]):
    username = serializers.CharField(source="user.username", read_only=True)
    email = serializers.CharField(source="user.email", read_only=True)

    class Meta:
        model = Membership
        fields = ["id", "username", "email", "role", "created_at"]


class MemberAddIn(serializers.Serializer[Any]):
    user = serializers.CharField(max_length=254, help_text="Username or e-mail of an existing account.")
    role = serializers.ChoiceField(choices=ROLE_CHOICES, default=Role.VIEWER.value)


class MemberRoleIn(serializers.Serializer[Any]):
    role = serializers.ChoiceField(choices=ROLE_CHOICES)


class ApiKeyOut(serializers.ModelSerializer[ApiKey]):
    created_by = serializers.CharField(source="user.username", read_only=True)

    class Meta:
        model = ApiKey
        fields = [
            "id",
            "name",
            "prefix",
            "role",
            "created_by",
            "created_at",
            "last_used_at",
            "expires_at",
            "revoked_at",
        ]


class ApiKeyCreatedOut(ApiKeyOut):
    key = serializers.CharField(read_only=True, help_text="The key itself: returned once, never again.")

    class Meta(ApiKeyOut.Meta):
        fields = [*ApiKeyOut.Meta.fields, "key"]


class ApiKeyIn(serializers.Serializer[Any]):
    name = serializers.CharField(max_length=100)
    role = serializers.ChoiceField(choices=ROLE_CHOICES, default=Role.RUNNER.value)
    expires_at = serializers.DateTimeField(required=False, allow_null=True)


@extend_schema(methods=["GET"], responses={200: MemberOut(many=True)}, tags=["members"], operation_id="members_list")
@extend_schema(
    methods=["POST"], request=MemberAddIn, responses={201: MemberOut}, tags=["members"], operation_id="members_add"
)
@api_view(["GET", "POST"])
def members(request: Request, project_slug: str) -> Response:
    """List members, or add an existing user by username or e-mail. Admins and owners."""
    project = access_project(user=request.user, slug=project_slug, perm="manage")
    if request.method == "GET":
        return Response(MemberOut(sel.project_members(project=project), many=True).data)
    data = _valid(MemberAddIn, request.data)
    try:
        membership = svc.membership_add(project=project, actor=request.user, identifier=data["user"], role=data["role"])
    except svc.WorkspaceError as exc:
        _raise(exc)
    return Response(MemberOut(membership).data, status=status.HTTP_201_CREATED)


@extend_schema(
    methods=["PATCH"],
    request=MemberRoleIn,
    responses={200: MemberOut},
    tags=["members"],
    operation_id="members_change_role",
)
@extend_schema(methods=["DELETE"], responses={204: None}, tags=["members"], operation_id="members_remove")
@api_view(["PATCH", "DELETE"])
def member(request: Request, project_slug: str, member_id: int) -> Response:
    """Change a member's role, or remove them (the last owner cannot be removed or demoted)."""
    project = access_project(user=request.user, slug=project_slug, perm="manage")
    membership = sel.access_membership(project=project, pk=member_id)
    try:
        if request.method == "DELETE":
            svc.membership_remove(membership=membership, actor=request.user)
            return Response(status=status.HTTP_204_NO_CONTENT)
        data = _valid(MemberRoleIn, request.data)
        membership = svc.membership_change_role(membership=membership, actor=request.user, role=data["role"])
    except svc.WorkspaceError as exc:
        _raise(exc)
    return Response(MemberOut(membership).data)


@extend_schema(methods=["GET"], responses={200: ApiKeyOut(many=True)}, tags=["api keys"], operation_id="api_keys_list")
@extend_schema(
    methods=["POST"],
    request=ApiKeyIn,
    responses={201: ApiKeyCreatedOut},
    tags=["api keys"],
    operation_id="api_keys_create",
)
@api_view(["GET", "POST"])
def api_keys(request: Request, project_slug: str) -> Response:
    """List the project's keys (prefix only), or create one (its ``key`` is in this response only)."""
    project = access_project(user=request.user, slug=project_slug, perm="manage")
    if request.method == "GET":
        return Response(ApiKeyOut(sel.project_api_keys(project=project), many=True).data)
    data = _valid(ApiKeyIn, request.data)
    try:
        key, raw = svc.api_key_create(
            project=project, actor=request.user, name=data["name"], role=data["role"], expires_at=data.get("expires_at")
        )
    except svc.WorkspaceError as exc:
        _raise(exc)
    body = dict(ApiKeyOut(key).data)
    body["key"] = raw
    return Response(body, status=status.HTTP_201_CREATED)


@extend_schema(responses={204: None}, tags=["api keys"], operation_id="api_keys_revoke")
@api_view(["DELETE"])
def api_key(request: Request, project_slug: str, key_id: int) -> Response:
    """Revoke a key: every request with it is refused from now on."""
    project = access_project(user=request.user, slug=project_slug, perm="manage")
    key = sel.access_api_key(project=project, pk=key_id)
    svc.api_key_revoke(key=key, actor=request.user)
    return Response(status=status.HTTP_204_NO_CONTENT)


class VariableOut(serializers.ModelSerializer[Variable]):
    created_by = serializers.CharField(source="created_by.username", read_only=True, default=None)
    value = serializers.JSONField(read_only=True, help_text="A JSON value of the variable's type.")

    class Meta:
        model = Variable
        fields = ["name", "type", "value", "description", "created_by", "created_at", "updated_at"]


class VariableIn(serializers.Serializer[Any]):
    name = serializers.CharField(max_length=200, help_text="Letters, digits and underscores; read as vars.<name>.")
    type = serializers.ChoiceField(choices=VariableType.choices)
    value = serializers.JSONField(help_text="str: a string; int: an integer; float: a number; bool; object: {...}.")
    description = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


class VariablePatchIn(serializers.Serializer[Any]):
    type = serializers.ChoiceField(choices=VariableType.choices, required=False)
    value = serializers.JSONField(required=False)
    description = serializers.CharField(max_length=500, required=False, allow_blank=True)


@extend_schema(
    methods=["GET"], responses={200: VariableOut(many=True)}, tags=["variables"], operation_id="variables_list"
)
@extend_schema(
    methods=["POST"],
    request=VariableIn,
    responses={201: VariableOut},
    tags=["variables"],
    operation_id="variables_create",
)
@api_view(["GET", "POST"])
def variables(request: Request, project_slug: str) -> Response:
    """List the project's variables (every member), or create one (admins and owners)."""
    if request.method == "GET":
        project = access_project(user=request.user, slug=project_slug, perm="view")
        return Response(VariableOut(sel.project_variables(project=project), many=True).data)
    project = access_project(user=request.user, slug=project_slug, perm="manage")
    if not isinstance(request.data, dict) or "value" not in request.data:
        raise ApiError("Give the variable's value.", code="invalid", errors={"value": ["This field is required."]})
    data = _valid(VariableIn, request.data)
    try:
        variable = var_svc.variable_create(
            project=project,
            actor=request.user,
            name=data["name"],
            type=data["type"],
            value=request.data["value"],  # as sent: the serializer's JSONField would accept "3" for 3
            description=data.get("description", ""),
        )
    except svc.WorkspaceError as exc:
        _raise(exc)
    return Response(VariableOut(variable).data, status=status.HTTP_201_CREATED)


@extend_schema(methods=["GET"], responses={200: VariableOut}, tags=["variables"], operation_id="variables_get")
@extend_schema(
    methods=["PATCH"],
    request=VariablePatchIn,
    responses={200: VariableOut},
    tags=["variables"],
    operation_id="variables_update",
)
@extend_schema(methods=["DELETE"], responses={204: None}, tags=["variables"], operation_id="variables_delete")
@api_view(["GET", "PATCH", "DELETE"])
def variable(request: Request, project_slug: str, name: str) -> Response:
    """One variable: read (every member), change its type, value or description, or delete it
    when no workflow reads it (admins and owners)."""
    project = access_project(user=request.user, slug=project_slug, perm="view" if request.method == "GET" else "manage")
    found = sel.access_variable(project=project, name=name)
    if request.method == "GET":
        return Response(VariableOut(found).data)
    try:
        if request.method == "DELETE":
            var_svc.variable_delete(variable=found, actor=request.user)
            return Response(status=status.HTTP_204_NO_CONTENT)
        data = _valid(VariablePatchIn, request.data)
        changes = {key: data[key] for key in ("type", "description") if key in data}
        if isinstance(request.data, dict) and "value" in request.data:
            changes["value"] = request.data["value"]
        found = var_svc.variable_update(variable=found, actor=request.user, **changes)
    except svc.WorkspaceError as exc:
        _raise(exc)
    return Response(VariableOut(found).data)


class ProjectOut(serializers.ModelSerializer[Project]):
    archived = serializers.BooleanField(source="is_archived", read_only=True)

    class Meta:
        model = Project
        fields = [
            "slug",
            "name",
            "description",
            "max_running_runs",
            "default_budget_tokens",
            "default_budget_usd",
            "default_timeout_s",
            "archived",
        ]


class ProjectPatchIn(serializers.Serializer[Any]):
    name = serializers.CharField(max_length=200, required=False)
    description = serializers.CharField(max_length=5000, required=False, allow_blank=True)
    max_running_runs = serializers.IntegerField(required=False, help_text="Runs of the project running at once.")
    default_budget_tokens = serializers.IntegerField(required=False, allow_null=True, help_text="Tokens, in + out.")
    default_budget_usd = serializers.DecimalField(
        max_digits=12, decimal_places=6, required=False, allow_null=True, help_text="USD per run."
    )
    default_timeout_s = serializers.IntegerField(required=False, allow_null=True, help_text="Seconds per run.")


@extend_schema(methods=["GET"], responses={200: ProjectOut}, tags=["projects"], operation_id="project_get")
@extend_schema(
    methods=["PATCH"],
    request=ProjectPatchIn,
    responses={200: ProjectOut},
    tags=["projects"],
    operation_id="project_update",
)
@api_view(["GET", "PATCH"])
def project(request: Request, project_slug: str) -> Response:
    """A project's settings (every member reads them); PATCH changes them (admins and owners):
    name, description, running-runs cap, default run budget (tokens, USD; null clears) and timeout (s)."""
    found = access_project(user=request.user, slug=project_slug, perm="view" if request.method == "GET" else "manage")
    if request.method == "GET":
        return Response(ProjectOut(found).data)
    data = _valid(ProjectPatchIn, request.data)
    try:
        found = svc.project_update(project=found, actor=request.user, **data)
    except svc.WorkspaceError as exc:
        _raise(exc)
    return Response(ProjectOut(found).data)
