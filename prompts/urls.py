"""Routes of the prompt registry pages (``/p/<project>/prompts/``)."""

from django.urls import path

from prompts import editor_views, playground_views, views

P = "p/<slug:project_slug>/prompts/<slug:prompt_slug>"

urlpatterns = [
    path("p/<slug:project_slug>/prompts/", views.prompt_list, name="prompt-list"),
    path("p/<slug:project_slug>/prompt-preview/", views.prompt_preview, name="prompt-preview"),
    path(f"{P}/", views.prompt_detail, name="prompt-detail"),
    path(f"{P}/diff/", views.prompt_diff, name="prompt-diff"),
    path(f"{P}/new/", editor_views.prompt_version_new, name="prompt-version-new"),
    path(f"{P}/new/variables/", editor_views.prompt_variables_detect, name="prompt-variables-detect"),
    path(f"{P}/v/<int:number>/", editor_views.prompt_version, name="prompt-version"),
    path(f"{P}/promote/", editor_views.prompt_promote, name="prompt-promote"),
    path(f"{P}/protected/", editor_views.prompt_protected_labels, name="prompt-protected-labels"),
    path(f"{P}/usage/", views.prompt_usage, name="prompt-usage"),
    path(f"{P}/playground/", playground_views.prompt_playground, name="prompt-playground"),
    path(f"{P}/labels/", views.prompt_label_move, name="prompt-label-move"),
]
