"""Routes of the model endpoints API (``/api/v1/projects/<project>/endpoints``)."""

from django.urls import path

from traces.endpoints import api

urlpatterns = [
    path("projects/<slug:project_slug>/endpoints", api.endpoints, name="api-endpoints"),
    path("projects/<slug:project_slug>/endpoints/<int:endpoint_id>", api.endpoint, name="api-endpoint"),
    path("projects/<slug:project_slug>/endpoints/<int:endpoint_id>/test", api.endpoint_test, name="api-endpoint-test"),
]
