"""``/api/v1/`` routes of workflows and runs."""

from django.urls import path

from agents.api import deploy, effects, mcp, runs, workflows

urlpatterns = [
    path("projects/<slug:project_slug>/workflows/<slug:workflow_slug>/runs", runs.run_create, name="api-run-create"),
    path("projects/<slug:project_slug>/runs", runs.run_list, name="api-run-list"),
    path("runs/<int:run_id>", runs.run_detail, name="api-run-detail"),
    path("runs/<int:run_id>/cancel", runs.run_cancel_view, name="api-run-cancel"),
    path("runs/<int:run_id>/rerun", runs.run_rerun, name="api-run-rerun"),
    path("runs/<int:run_id>/events", runs.run_events, name="api-run-events"),
    path("workflows/<int:pk>/deploy", deploy.workflow_deploy, name="api-workflow-deploy"),
    path("workflows/<int:pk>/deployments", deploy.workflow_deployments, name="api-workflow-deployments"),
    path("projects/<slug:project_slug>/workflows/<slug:workflow_slug>/invoke", deploy.workflow_invoke,
         name="api-workflow-invoke"),
    path("projects/<slug:project_slug>/workflows/<slug:workflow_slug>/openapi.json",
         deploy.workflow_openapi_document, name="api-workflow-openapi"),
    path("workflows/<int:pk>/webhooks", deploy.workflow_webhooks, name="api-workflow-webhooks"),
    path("workflows/<int:pk>/webhooks/<int:hook_id>", deploy.workflow_webhook, name="api-workflow-webhook"),
    path("workflows/<int:pk>/webhooks/<int:hook_id>/deliveries", deploy.workflow_webhook_deliveries,
         name="api-workflow-webhook-deliveries"),
    path("hooks/<str:token>", deploy.webhook_receive_view, name="api-webhook-receive"),
    path("workflows/<int:pk>/schedules", deploy.workflow_schedules, name="api-workflow-schedules"),
    path("workflows/<int:pk>/schedules/<int:schedule_id>", deploy.workflow_schedule, name="api-workflow-schedule"),
    path("workflows/<int:pk>/callbacks", deploy.workflow_callbacks, name="api-workflow-callbacks"),
    path("workflows/<int:pk>/callbacks/<int:callback_id>", deploy.workflow_callback, name="api-workflow-callback"),
    path("workflows/<int:pk>/callbacks/<int:callback_id>/deliveries", deploy.workflow_callback_deliveries,
         name="api-workflow-callback-deliveries"),
    path("workflows/<int:pk>/callbacks/<int:callback_id>/deliveries/<int:delivery_id>/resend",
         deploy.workflow_callback_resend, name="api-workflow-callback-resend"),
]

urlpatterns += effects.urlpatterns  # approvals, run diff
urlpatterns += workflows.urlpatterns  # workflows, drafts, versions, catalog, templates, import/export, trace ingest
urlpatterns += mcp.urlpatterns  # a project's MCP servers
