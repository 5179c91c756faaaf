"""Routes of the prompt registry pages (``/p/<project>/prompts/``)."""

from django.urls import path

from prompts import views

urlpatterns = [
    path("p/<slug:project_slug>/prompts/", views.prompt_list, name="prompt-list"),
    path("p/<slug:project_slug>/prompts/<slug:prompt_slug>/", views.prompt_detail, name="prompt-detail"),
    path("p/<slug:project_slug>/prompts/<slug:prompt_slug>/diff/", views.prompt_diff, name="prompt-diff"),
    path(
        "p/<slug:project_slug>/prompts/<slug:prompt_slug>/versions/",
        views.prompt_version_new,
        name="prompt-version-new",
    ),
    path("p/<slug:project_slug>/prompts/<slug:prompt_slug>/labels/", views.prompt_label_move, name="prompt-label-move"),
]
