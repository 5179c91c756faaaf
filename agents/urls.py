"""HTML pages of projects, workflows and runs (mounted at the site root).

``pages`` are the read/run pages; ``editor`` is the canvas builder and its
HTMX panels (``agents/views/editor.py``).
"""

from django.urls import include, path

from agents import views
from agents.metrics import metrics_view
from agents.views import deploy, editor, mcp_servers, runs_page, workflow_settings

urlpatterns = [
    path("", views.home, name="home"),
    path("metrics", metrics_view, name="metrics"),  # Prometheus (agents/metrics.py), bearer token
    path("templates/", editor.template_gallery, name="template-gallery"),
    path("templates/<slug:template_slug>/use/", editor.template_use, name="template-use"),
    path("p/<slug:project_slug>/", views.project_home, name="project-home"),
    path("p/<slug:project_slug>/new/", editor.workflow_new, name="workflow-new"),
    path("p/<slug:project_slug>/runs/", runs_page.project_runs, name="project-runs"),
    path("p/<slug:project_slug>/settings/mcp/", mcp_servers.project_mcp, name="project-mcp"),
    path("p/<slug:project_slug>/settings/mcp/<int:server_id>/", mcp_servers.mcp_edit, name="mcp-edit"),
    path("p/<slug:project_slug>/settings/mcp/<int:server_id>/delete/", mcp_servers.mcp_delete, name="mcp-delete"),
    path("p/<slug:project_slug>/settings/mcp/<int:server_id>/tools/", mcp_servers.mcp_tools, name="mcp-tools"),
    path("p/<slug:project_slug>/settings/mcp/<int:server_id>/test/", mcp_servers.mcp_test_tool, name="mcp-test-tool"),
    path("p/<slug:project_slug>/import/", workflow_settings.workflow_import_page, name="workflow-import-page"),
    path(
        "p/<slug:project_slug>/w/<slug:workflow_slug>/settings/",
        workflow_settings.workflow_settings,
        name="workflow-settings",
    ),
    path(
        "p/<slug:project_slug>/w/<slug:workflow_slug>/duplicate/",
        workflow_settings.workflow_duplicate_view,
        name="workflow-duplicate",
    ),
    path(
        "p/<slug:project_slug>/w/<slug:workflow_slug>/delete/",
        workflow_settings.workflow_delete_view,
        name="workflow-delete",
    ),
    path("p/<slug:project_slug>/w/<slug:workflow_slug>/", views.workflow_detail, name="workflow-detail"),
    path("p/<slug:project_slug>/w/<slug:workflow_slug>/run/", views.workflow_run, name="workflow-run"),
    path("p/<slug:project_slug>/w/<slug:workflow_slug>/deploy/", deploy.workflow_deploy, name="workflow-deploy"),
    path("p/<slug:project_slug>/w/<slug:workflow_slug>/api/", deploy.workflow_api, name="workflow-api"),
    path("p/<slug:project_slug>/w/<slug:workflow_slug>/share/", deploy.workflow_share_create, name="workflow-share"),
    path(
        "p/<slug:project_slug>/w/<slug:workflow_slug>/share/<int:link_id>/revoke/",
        deploy.workflow_share_revoke,
        name="workflow-share-revoke",
    ),
    path("s/<str:token>/", deploy.share_page, name="share-page"),
    path("s/<str:token>/r/<str:run_token>/", deploy.share_answer, name="share-answer"),
    path("p/<slug:project_slug>/w/<slug:workflow_slug>/edit/", editor.workflow_editor, name="workflow-editor"),
    path(
        "p/<slug:project_slug>/w/<slug:workflow_slug>/edit/inspector/", editor.editor_inspector, name="editor-inspector"
    ),
    path("p/<slug:project_slug>/w/<slug:workflow_slug>/edit/run/", editor.editor_run, name="editor-run"),
    path("p/<slug:project_slug>/w/<slug:workflow_slug>/edit/runs/", editor.editor_runs, name="editor-runs"),
    path("p/<slug:project_slug>/w/<slug:workflow_slug>/edit/diff/", editor.editor_run_diff, name="editor-run-diff"),
    path("p/<slug:project_slug>/w/<slug:workflow_slug>/history/", editor.workflow_history, name="workflow-history"),
    path("p/<slug:project_slug>/w/<slug:workflow_slug>/restore/", editor.workflow_restore, name="workflow-restore"),
    path("", include("agents.observability.urls")),
    path("runs/<int:run_id>/", views.run_detail, name="run-detail"),
    path("runs/<int:run_id>/cancel/", views.run_cancel, name="run-cancel"),
    path("runs/<int:run_id>/retry/", views.run_retry, name="run-retry"),
    path("runs/<int:run_id>/live/", editor.editor_run_live, name="editor-run-live"),
    path("runs/<int:run_id>/steps/<str:node_id>/", editor.editor_step, name="editor-step"),
    path("runs/<int:run_id>/steps/<str:node_id>/rerun/", editor.editor_rerun, name="editor-rerun"),
    path("runs/<int:run_id>/steps/<str:node_id>/approval/", editor.editor_approval, name="editor-approval"),
]
