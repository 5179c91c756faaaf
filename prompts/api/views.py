"""Prompt registry REST API: list, create, read by label or version, commit, move labels, history, render.

One view per resource; every object is fetched through ``access_*``
selectors (404 when not viewable, 403 when the permission is missing):
viewers read and render, editors create prompts, commit versions and move
labels, admins and owners move protected labels (``production``). Errors
are ``{"detail", "code", "errors"?: {"field": ...}}``.
"""

from __future__ import annotations

from typing import Any, NoReturn

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Q
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from prompts import services as svc
from prompts.api import serializers as s
from prompts.models import Prompt, PromptVersion
from prompts.selectors import access_prompt, prompt_version_get, prompts_visible
from studio.api.errors import ApiError
from studio.selectors import access_project

ERROR = OpenApiResponse(
    inline_serializer(
        "PromptApiErrorBody",
        {
            "detail": serializers.CharField(),
            "code": serializers.CharField(),
            "errors": serializers.JSONField(required=False),
        },
    ),
    description="Error: {detail, code, errors?}",
)
TAGS = ["prompts"]


def raise_prompt_error(exc: svc.PromptError) -> NoReturn:
    """Translate a service error into the API's error shape (400, or 409 for a conflict)."""
    errors: dict[str, Any] | None = {"field": exc.field} if exc.field else None
    if isinstance(exc, svc.PromptContractError):
        errors = {"field": exc.field, "affected": exc.affected}
    raise ApiError(exc.message, code=exc.code, status_code=exc.status_code, errors=errors)


def _valid(serializer_class: type[serializers.Serializer], data: Any) -> dict[str, Any]:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


def _prompt(request: Request, project: str, prompt_slug: str, perm: str = "view") -> Prompt:
    proj = access_project(user=request.user, slug=project)
    return access_prompt(user=request.user, project=proj, slug=prompt_slug, perm=perm)


def _version(prompt: Prompt, *, version: int | None = None, label: str | None = None) -> PromptVersion:
    try:
        return prompt_version_get(prompt=prompt, version=version, label=label)
    except LookupError as exc:
        raise ApiError(
            str(exc), code="version_not_found" if label is None else "label_not_found", status_code=404
        ) from None


class PromptsView(APIView):
    @extend_schema(
        operation_id="prompts_list",
        responses={200: s.PromptOut(many=True), 404: ERROR},
        tags=TAGS,
        parameters=[OpenApiParameter("q", OpenApiTypes.STR, description="Search in name and slug")],
    )
    def get(self, request: Request, project: str) -> Response:
        """Prompts of a project, with their labels; ``?q=`` filters by name or slug."""
        proj = access_project(user=request.user, slug=project)
        qs = prompts_visible(user=request.user, project=proj).order_by("name")
        if q := request.query_params.get("q", "").strip():
            qs = qs.filter(Q(name__icontains=q) | Q(slug__icontains=q))
        return Response(s.PromptOut(qs, many=True).data)

    @extend_schema(
        operation_id="prompts_create",
        request=s.PromptCreateIn,
        responses={201: s.PromptDetailOut, 400: ERROR, 403: ERROR, 404: ERROR, 409: ERROR},
        tags=TAGS,
    )
    def post(self, request: Request, project: str) -> Response:
        """Create a prompt (and its version 1 when ``messages`` are given). Needs 'change'."""
        proj = access_project(user=request.user, slug=project, perm="change")
        data = _valid(s.PromptCreateIn, request.data)
        try:
            with transaction.atomic():
                prompt = svc.prompt_create(
                    project=proj,
                    user=request.user,
                    name=data["name"],
                    slug=data.get("slug") or None,
                    description=data["description"],
                )
                version = None
                if "messages" in data:
                    version = svc.prompt_version_commit(
                        prompt=prompt,
                        user=request.user,
                        messages=data["messages"],
                        variables=data["variables"],
                        model_config=data["model_config"],
                        commit_message=data["commit_message"],
                    )
        except svc.PromptError as exc:
            raise_prompt_error(exc)
        return Response(s.PromptDetailOut(prompt, context={"version": version}).data, status=201)


class PromptDetailView(APIView):
    @extend_schema(
        operation_id="prompts_get",
        responses={200: s.PromptDetailOut, 400: ERROR, 404: ERROR},
        tags=TAGS,
        parameters=[OpenApiParameter("label", OpenApiTypes.STR), OpenApiParameter("version", OpenApiTypes.INT)],
    )
    def get(self, request: Request, project: str, prompt_slug: str) -> Response:
        """The prompt and one version: ``?label=`` or ``?version=`` (not both), else the latest.
        An unknown label or version is a 404, never a fallback."""
        prompt = _prompt(request, project, prompt_slug)
        label, number = request.query_params.get("label"), request.query_params.get("version")
        if label is not None and number is not None:
            raise ApiError("Give either label or version, not both.", code="label_and_version")
        if number is not None and not number.isdigit():
            raise ApiError("version must be a positive integer.", code="invalid", errors={"field": "version"})
        version = _version(prompt, version=int(number) if number else None, label=label)
        return Response(s.PromptDetailOut(prompt, context={"version": version}).data)


class VersionsView(APIView):
    @extend_schema(
        operation_id="prompts_versions_list", responses={200: s.VersionOut(many=True), 404: ERROR}, tags=TAGS
    )
    def get(self, request: Request, project: str, prompt_slug: str) -> Response:
        """Every version, newest first."""
        prompt = _prompt(request, project, prompt_slug)
        return Response(s.VersionOut(prompt.versions.select_related("created_by"), many=True).data)

    @extend_schema(
        operation_id="prompts_versions_commit",
        request=s.VersionIn,
        responses={201: s.VersionOut, 400: ERROR, 403: ERROR, 404: ERROR},
        tags=TAGS,
    )
    def post(self, request: Request, project: str, prompt_slug: str) -> Response:
        """Commit the next version. Needs 'change'. A template that does not parse, an undeclared or
        unused variable is a 400 naming the field."""
        prompt = _prompt(request, project, prompt_slug, perm="change")
        data = _valid(s.VersionIn, request.data)
        try:
            version = svc.prompt_version_commit(prompt=prompt, user=request.user, **data)
        except svc.PromptError as exc:
            raise_prompt_error(exc)
        return Response(s.VersionOut(version).data, status=201)


class LabelView(APIView):
    @extend_schema(
        operation_id="prompts_labels_move",
        request=s.LabelMoveIn,
        responses={200: s.LabelOut, 400: ERROR, 403: ERROR, 404: ERROR, 409: ERROR},
        tags=TAGS,
    )
    def put(self, request: Request, project: str, prompt_slug: str, label_name: str) -> Response:
        """Point a label at a version (creating the label). Needs 'change'; a protected label
        (``production``) needs 'manage'. A stale ``expected_version`` is a 409."""
        prompt = _prompt(request, project, prompt_slug, perm="change")
        data = _valid(s.LabelMoveIn, request.data)
        target = prompt.versions.filter(version=data["version"]).first()
        if target is None:
            raise ApiError(
                f'Prompt "{prompt.slug}" has no version {data["version"]}.',
                code="version_not_found",
                errors={"field": "version"},
            )
        try:
            pointer = svc.prompt_label_move(
                prompt=prompt,
                label=label_name,
                version=target,
                user=request.user,
                expected_version=data.get("expected_version"),
            )
        except svc.PromptError as exc:
            raise_prompt_error(exc)
        except PermissionDenied as exc:
            raise ApiError(str(exc), code="protected_label", status_code=status.HTTP_403_FORBIDDEN) from None
        return Response(s.LabelOut(pointer).data)


class LabelHistoryView(APIView):
    @extend_schema(
        operation_id="prompts_labels_history", responses={200: s.LabelMoveOut(many=True), 404: ERROR}, tags=TAGS
    )
    def get(self, request: Request, project: str, prompt_slug: str, label_name: str) -> Response:
        """Every move of the label, newest first; 404 for a label that never existed."""
        prompt = _prompt(request, project, prompt_slug)
        moves = prompt.label_moves.filter(label=label_name).select_related("from_version", "to_version", "moved_by")
        if not moves.exists():
            raise ApiError(
                f'Prompt "{prompt.slug}" has no label "{label_name}".', code="label_not_found", status_code=404
            )
        return Response(s.LabelMoveOut(moves, many=True).data)


class RenderView(APIView):
    @extend_schema(
        operation_id="prompts_render",
        request=s.RenderIn,
        responses={200: s.RenderOut, 400: ERROR, 404: ERROR},
        tags=TAGS,
    )
    def post(self, request: Request, project: str, prompt_slug: str) -> Response:
        """Render one version (by ``version`` or ``label``, exactly one) with ``variables``; strict:
        a missing or undeclared variable is a 400. Changes nothing."""
        prompt = _prompt(request, project, prompt_slug)
        data = _valid(s.RenderIn, request.data)
        if ("version" in data) == ("label" in data):
            raise ApiError("Give exactly one of version and label.", code="label_and_version")
        version = _version(prompt, version=data.get("version"), label=data.get("label"))
        try:
            messages = svc.prompt_version_render(version=version, variables=data["variables"])
        except svc.PromptError as exc:
            raise_prompt_error(exc)
        return Response(s.RenderOut({"version": version.version, "messages": messages}).data)
