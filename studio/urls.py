"""URL map (composition root: may import any app)."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from studio import sso, views
from studio.workspace.urls import api_urlpatterns as workspace_api

urlpatterns = [
    path("admin/", admin.site.urls),
    path("login/", views.StudioLoginView.as_view(template_name="studio/login.html"), name="login"),
    path("oidc/authenticate/", sso.SsoStartView.as_view(), name="oidc_authentication_init"),
    path("oidc/callback/", sso.SsoCallbackView.as_view(), name="oidc_authentication_callback"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("password-reset/", auth_views.PasswordResetView.as_view(
        template_name="studio/password_reset_form.html", email_template_name="studio/password_reset_email.txt",
        subject_template_name="studio/password_reset_subject.txt"), name="password_reset"),
    path("password-reset/sent/", auth_views.PasswordResetDoneView.as_view(
        template_name="studio/password_reset_done.html"), name="password_reset_done"),
    path("password-reset/<uidb64>/<token>/", auth_views.PasswordResetConfirmView.as_view(
        template_name="studio/password_reset_confirm.html"), name="password_reset_confirm"),
    path("password-reset/done/", auth_views.PasswordResetCompleteView.as_view(
        template_name="studio/password_reset_complete.html"), name="password_reset_complete"),
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # Swagger UI from drf-spectacular-sidecar's static files; its init script is a separate file (CSP: no inline JS).
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/v1/", include(workspace_api)),
    path("api/v1/", include("traces.endpoints.api_urls")),
    path("api/v1/", include("agents.api.urls")),
    path("api/v1/", include("prompts.api.urls")),
    path("api/v1/", include("traces.otel.urls")),
    path("api/v1/", include("agents.evaluations.api")),
    path("", include("studio.workspace.urls")),
    path("", include("traces.endpoints.urls")),
    path("", include("prompts.urls")),
    path("", include("agents.evaluations.urls")),
    path("", include("agents.urls")),
]

handler400 = "studio.views.bad_request"  # JSON for /api/ (e.g. a body over DATA_UPLOAD_MAX_MEMORY_SIZE)
