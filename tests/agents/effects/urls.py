"""Test URLconf: the studio's URLs plus the effects' API under /api/v1/ (until the lead includes it)."""

from django.urls import include, path

from studio.urls import urlpatterns as studio_urlpatterns

urlpatterns = [path("api/v1/", include("agents.api.effects")), *studio_urlpatterns]
