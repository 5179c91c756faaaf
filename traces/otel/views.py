"""``POST /api/v1/otel/v1/traces``: the OTLP/HTTP trace receiver."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpResponse, JsonResponse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from rest_framework.request import Request
from rest_framework.views import APIView

from studio.models import ApiKey
from studio.selectors import access_project
from traces.otel.receiver import PROTOBUF, Limits, OtlpRefused, claimed_project, decode_body, ingest

PROJECT_HEADER = "HTTP_X_STUDIO_PROJECT"


def _error(message: str, code: str, status: int) -> JsonResponse:
    return JsonResponse({"detail": message, "code": code}, status=status)


class OtlpTracesView(APIView):
    """OTLP/HTTP ``ExportTraceServiceRequest`` in, ``ExportTraceServiceResponse`` out.

    Authenticated like the rest of the API; meant for a project API key
    (``Authorization: Bearer sk_…``, which OTel exporters send with
    ``OTEL_EXPORTER_OTLP_HEADERS``). The project: the ``X-Studio-Project``
    header, else the ``studio.project`` resource attribute, else the key's
    own project; the principal needs ``run`` there (404 for a project it
    cannot see — a key of another project — 403 for a role too low).
    Errors are JSON ``{"detail", "code"}``: 400 malformed body, bad ids or
    times; 413 too large (body, spans, attributes); 415 unsupported media
    type or encoding. A refused batch stores nothing.
    """

    parser_classes: list[Any] = []  # the body is read raw

    @extend_schema(
        operation_id="otlp_traces_export",
        request={PROTOBUF: bytes, "application/json": dict},
        responses={200: OpenApiResponse(description="ExportTraceServiceResponse (protobuf or JSON)")},
        tags=["traces"],
        summary="OTLP/HTTP trace receiver",
    )
    def post(self, request: Request) -> HttpResponse:
        length = request.META.get("CONTENT_LENGTH") or "0"
        if not length.isdigit() or int(length) > settings.STUDIO_OTLP_MAX_BODY_BYTES:
            return _error(f"The body is larger than {settings.STUDIO_OTLP_MAX_BODY_BYTES} bytes.", "too_large", 413)
        content_type = request.META.get("CONTENT_TYPE", "")
        try:
            message = decode_body(
                request._request.body,
                content_type=content_type,
                content_encoding=request.META.get("HTTP_CONTENT_ENCODING", ""),
                limits=Limits.from_settings(),
            )
            slug = request.META.get(PROJECT_HEADER) or claimed_project(message)
        except OtlpRefused as refused:
            return _error(refused.message, refused.code, refused.status)
        if not slug:
            if not isinstance(request.auth, ApiKey):
                return _error(
                    "Name the project: an X-Studio-Project header or a studio.project resource attribute.",
                    "project_required",
                    400,
                )
            slug = request.auth.project.slug
        project = access_project(user=request.user, slug=slug, perm="run")
        try:
            result = ingest(message, project_id=project.pk, project_slug=project.slug)
        except OtlpRefused as refused:
            return _error(refused.message, refused.code, refused.status)
        if content_type.split(";", 1)[0].strip().lower() == PROTOBUF:
            return HttpResponse(ExportTraceServiceResponse().SerializeToString(), content_type=PROTOBUF)
        return JsonResponse({"partialSuccess": {}, "spans": result.spans, "traces": result.traces})
