"""REST API of project secrets: ``/api/v1/projects/<project>/secrets``.

``GET …/secrets`` lists names, creator, dates, where each is used (endpoints,
MCP servers, workflows) and who holds a ``use_secret`` grant — every member
reads it (the role table: viewers read secret names); ``POST`` creates one
``{"name", "value"}``; ``PUT …/secrets/<name>`` ``{"value"}`` replaces the
value; ``DELETE …/secrets/<name>`` deletes it when unused (409 ``in_use``
naming the users otherwise). Writes by admins and owners, through
:mod:`studio.workspace.services` (audited without the value). A value is
never returned, logged or audited: no response has a ``value`` field.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import api_view
from rest_framework.request import Request
from rest_framework.response import Response

from studio.models import Project, Secret
from studio.selectors import access_project, secret_use_grantees
from studio.workspace import selectors as sel
from studio.workspace import services as svc
from studio.workspace.api import _raise, _valid
from studio.workspace.usage import secret_usages


class SecretUsageOut(serializers.Serializer[Any]):
    kind = serializers.CharField(help_text="endpoint, mcp server or workflow.")
    label = serializers.CharField()
    url = serializers.CharField(help_text="The page of the user (may be empty).")


class SecretOut(serializers.Serializer[Any]):
    """A secret without its value: name, creator, dates, users and grantees."""

    id = serializers.IntegerField()
    name = serializers.CharField()
    created_by = serializers.CharField(allow_null=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    used_by = SecretUsageOut(many=True)
    grantees = serializers.ListField(
        child=serializers.CharField(), help_text="Usernames below admin granted its use (owners and admins need none)."
    )


class SecretIn(serializers.Serializer[Any]):
    name = serializers.CharField(max_length=100, help_text="Letters, digits and underscores (e.g. OPENAI_API_KEY).")
    value = serializers.CharField(
        max_length=10_000, write_only=True, trim_whitespace=False, help_text="Never returned."
    )


class SecretValueIn(serializers.Serializer[Any]):
    value = serializers.CharField(
        max_length=10_000, write_only=True, trim_whitespace=False, help_text="The new value; never returned."
    )


def _out(secret: Secret) -> dict[str, Any]:
    return {
        "id": secret.pk,
        "name": secret.name,
        "created_by": secret.created_by.get_username() if secret.created_by else None,
        "created_at": secret.created_at,
        "updated_at": secret.updated_at,
        "used_by": [{"kind": u.kind, "label": u.label, "url": u.url} for u in secret_usages(secret)],
        "grantees": [user.get_username() for user in secret_use_grantees(secret=secret)],
    }


def _body(secret: Secret) -> Any:
    return SecretOut(_out(secret)).data


def _project(request: Request, slug: str, *, write: bool) -> Project:
    return access_project(user=request.user, slug=slug, perm="manage" if write else "view")


@extend_schema(methods=["GET"], responses={200: SecretOut(many=True)}, tags=["secrets"], operation_id="secrets_list")
@extend_schema(
    methods=["POST"], request=SecretIn, responses={201: SecretOut}, tags=["secrets"], operation_id="secrets_create"
)
@api_view(["GET", "POST"])
def secrets(request: Request, project_slug: str) -> Response:
    """List the project's secrets without values (every member), or create one (admins and owners)."""
    project = _project(request, project_slug, write=request.method == "POST")
    if request.method == "GET":
        return Response([_body(secret) for secret in sel.project_secrets(project=project)])
    data = _valid(SecretIn, request.data)
    try:
        secret = svc.secret_create(project=project, actor=request.user, name=data["name"], value=data["value"])
    except svc.WorkspaceError as exc:
        _raise(exc)
    return Response(_body(secret), status=status.HTTP_201_CREATED)


@extend_schema(methods=["GET"], responses={200: SecretOut}, tags=["secrets"], operation_id="secrets_get")
@extend_schema(
    methods=["PUT"], request=SecretValueIn, responses={200: SecretOut}, tags=["secrets"], operation_id="secrets_replace"
)
@extend_schema(methods=["DELETE"], responses={204: None}, tags=["secrets"], operation_id="secrets_delete")
@api_view(["GET", "PUT", "DELETE"])
def secret(request: Request, project_slug: str, secret_name: str) -> Response:
    """One secret (no value): read it (every member), replace its value, or delete it when unused."""
    project = _project(request, project_slug, write=request.method != "GET")
    found = sel.access_secret_named(project=project, name=secret_name)
    if request.method == "GET":
        return Response(_body(found))
    try:
        if request.method == "DELETE":
            svc.secret_delete(secret=found, actor=request.user)
            return Response(status=status.HTTP_204_NO_CONTENT)
        data = _valid(SecretValueIn, request.data)
        found = svc.secret_replace(secret=found, actor=request.user, value=data["value"])
    except svc.WorkspaceError as exc:
        _raise(exc)
    return Response(_body(found))
