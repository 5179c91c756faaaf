"""Routes of the trace explorer and a run's trace (included by ``agents.urls``)."""

from django.urls import path

from agents.observability import usage_views, views

urlpatterns = [
    path("p/<slug:project_slug>/usage/", usage_views.usage_page, name="usage"),
    path("p/<slug:project_slug>/usage/export.csv", usage_views.usage_export, name="usage-export"),
    path("p/<slug:project_slug>/traces/", views.trace_explorer, name="trace-explorer"),
    path("p/<slug:project_slug>/traces/filters/", views.saved_filter_create, name="saved-filter-create"),
    path(
        "p/<slug:project_slug>/traces/filters/<int:filter_id>/delete/",
        views.saved_filter_delete,
        name="saved-filter-delete",
    ),
    path("p/<slug:project_slug>/traces/<int:run_id>/", views.trace_detail, name="trace-detail"),
    path(
        "p/<slug:project_slug>/traces/external/<int:trace_id>/",
        views.external_trace_detail,
        name="external-trace-detail",
    ),
    path(
        "p/<slug:project_slug>/traces/external/<int:trace_id>/spans/<int:span_id>/",
        views.external_trace_span,
        name="external-trace-span",
    ),
    path("p/<slug:project_slug>/traces/<int:run_id>/spans/<int:span_id>/", views.trace_span, name="trace-span"),
    path("p/<slug:project_slug>/traces/<int:run_id>/steps/<int:step_id>/", views.trace_step, name="trace-step"),
    path(
        "p/<slug:project_slug>/traces/<int:run_id>/steps/<int:step_id>/rerun/",
        views.trace_rerun,
        name="trace-rerun",
    ),
]
