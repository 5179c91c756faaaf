"""Pages of evaluations (mounted at the site root); the API's routes are in ``agents.evaluations.api``."""

from django.urls import path

from agents.evaluations import views

urlpatterns = [
    path("p/<slug:project_slug>/datasets/", views.dataset_list, name="dataset-list"),
    path("p/<slug:project_slug>/datasets/<int:dataset_id>/", views.dataset_detail, name="dataset-detail"),
    path("p/<slug:project_slug>/datasets/<int:dataset_id>/upload/", views.dataset_upload, name="dataset-upload"),
    path("p/<slug:project_slug>/w/<slug:workflow_slug>/suite/", views.workflow_suite, name="workflow-suite"),
    path(
        "p/<slug:project_slug>/w/<slug:workflow_slug>/suite/run/", views.workflow_suite_run, name="workflow-suite-run"
    ),
    path(
        "p/<slug:project_slug>/w/<slug:workflow_slug>/suite/publish/",
        views.workflow_suite_publish,
        name="workflow-suite-publish",
    ),
    path("suite-runs/<int:suite_run_id>/", views.suite_run_detail, name="suite-run-detail"),
    path("runs/<int:run_id>/feedback/", views.run_feedback, name="run-feedback"),
    path("runs/<int:run_id>/add-to-dataset/", views.run_add_to_dataset, name="run-add-to-dataset"),
]
