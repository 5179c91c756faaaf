"""API routes of the OpenTelemetry receiver (mounted under ``api/v1/``)."""

from django.urls import path

from traces.otel.views import OtlpTracesView

urlpatterns = [
    path("otel/v1/traces", OtlpTracesView.as_view(), name="api-otlp-traces"),
]
