"""``/api/v1/`` routes of the prompt registry."""

from django.urls import path

from prompts.api import views

BASE = "projects/<slug:project>/prompts"

urlpatterns = [
    path(BASE, views.PromptsView.as_view(), name="api-prompts"),
    path(f"{BASE}/<slug:prompt_slug>", views.PromptDetailView.as_view(), name="api-prompt"),
    path(f"{BASE}/<slug:prompt_slug>/versions", views.VersionsView.as_view(), name="api-prompt-versions"),
    path(f"{BASE}/<slug:prompt_slug>/labels/<str:label_name>", views.LabelView.as_view(), name="api-prompt-label"),
    path(
        f"{BASE}/<slug:prompt_slug>/labels/<str:label_name>/history",
        views.LabelHistoryView.as_view(),
        name="api-prompt-label-history",
    ),
    path(f"{BASE}/<slug:prompt_slug>/render", views.RenderView.as_view(), name="api-prompt-render"),
]
