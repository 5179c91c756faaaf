"""Routes of the model endpoint pages (``/p/<project>/settings/endpoints/``)."""

from django.urls import path

from traces.endpoints import views

urlpatterns = [
    path("p/<slug:project_slug>/settings/endpoints/", views.project_endpoints_page, name="project-endpoints"),
    path("p/<slug:project_slug>/settings/endpoints/new/", views.endpoint_new, name="endpoint-new"),
    path("p/<slug:project_slug>/settings/endpoints/<int:endpoint_id>/", views.endpoint_edit, name="endpoint-edit"),
    path(
        "p/<slug:project_slug>/settings/endpoints/<int:endpoint_id>/delete/",
        views.endpoint_delete,
        name="endpoint-delete",
    ),
    path("p/<slug:project_slug>/settings/endpoints/<int:endpoint_id>/test/", views.endpoint_test, name="endpoint-test"),
]
