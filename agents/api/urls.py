"""``/api/v1/`` routes of workflows and runs."""

from django.urls import path

from agents.api import effects, runs, workflows

urlpatterns = [
    path("projects/<slug:project_slug>/workflows/<slug:workflow_slug>/runs", runs.run_create, name="api-run-create"),
    path("projects/<slug:project_slug>/runs", runs.run_list, name="api-run-list"),
    path("runs/<int:run_id>", runs.run_detail, name="api-run-detail"),
    path("runs/<int:run_id>/cancel", runs.run_cancel_view, name="api-run-cancel"),
    path("runs/<int:run_id>/rerun", runs.run_rerun, name="api-run-rerun"),
    path("runs/<int:run_id>/events", runs.run_events, name="api-run-events"),
]

urlpatterns += effects.urlpatterns  # approvals, run diff
urlpatterns += workflows.urlpatterns  # workflows, drafts, versions, catalog, templates, import/export, trace ingest
