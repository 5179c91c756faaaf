"""Routes of project administration: pages (site root) and API (``/api/v1/``)."""

from django.urls import path

from studio.workspace import api, secrets_api, views

urlpatterns = [
    path("projects/new/", views.project_new, name="project-new"),
    path("invite/<str:token>/", views.invitation_accept, name="invitation-accept"),
    path("p/<slug:project_slug>/settings/", views.project_settings, name="project-settings"),
    path("p/<slug:project_slug>/settings/archive/", views.project_archive, name="project-archive"),
    path("p/<slug:project_slug>/settings/delete/", views.project_delete, name="project-delete"),
    path("p/<slug:project_slug>/settings/members/", views.project_members, name="project-members"),
    path("p/<slug:project_slug>/settings/members/<int:member_id>/role/", views.member_role, name="member-role"),
    path("p/<slug:project_slug>/settings/members/<int:member_id>/remove/", views.member_remove, name="member-remove"),
    path("p/<slug:project_slug>/settings/members/transfer/", views.project_transfer, name="project-transfer"),
    path("p/<slug:project_slug>/settings/members/invitations/", views.invitation_create, name="invitation-create"),
    path(
        "p/<slug:project_slug>/settings/members/invitations/<int:invitation_id>/revoke/",
        views.invitation_revoke,
        name="invitation-revoke",
    ),
    path("p/<slug:project_slug>/leave/", views.project_leave, name="project-leave"),
    path("p/<slug:project_slug>/settings/keys/", views.project_keys, name="project-keys"),
    path("p/<slug:project_slug>/settings/keys/<int:key_id>/revoke/", views.key_revoke, name="key-revoke"),
    path("p/<slug:project_slug>/settings/secrets/", views.project_secrets, name="project-secrets"),
    path(
        "p/<slug:project_slug>/settings/secrets/<int:secret_id>/replace/", views.secret_replace, name="secret-replace"
    ),
    path("p/<slug:project_slug>/settings/secrets/<int:secret_id>/delete/", views.secret_delete, name="secret-delete"),
    path("p/<slug:project_slug>/settings/secrets/<int:secret_id>/grant/", views.secret_grant, name="secret-grant"),
    path(
        "p/<slug:project_slug>/settings/secrets/<int:secret_id>/revoke/<int:user_id>/",
        views.secret_revoke,
        name="secret-revoke",
    ),
    path("p/<slug:project_slug>/settings/variables/", views.project_variables, name="project-variables"),
    path("p/<slug:project_slug>/settings/variables/<str:name>/edit/", views.variable_edit, name="variable-edit"),
    path("p/<slug:project_slug>/settings/variables/<str:name>/delete/", views.variable_delete, name="variable-delete"),
    path("p/<slug:project_slug>/audit/", views.audit_log, name="audit-log"),
    path("p/<slug:project_slug>/audit/export.<str:fmt>", views.audit_export, name="audit-export"),
]

api_urlpatterns = [
    path("projects/<slug:project_slug>", api.project, name="api-project"),
    path("projects/<slug:project_slug>/members", api.members, name="api-members"),
    path("projects/<slug:project_slug>/members/<int:member_id>", api.member, name="api-member"),
    path("projects/<slug:project_slug>/api-keys", api.api_keys, name="api-keys"),
    path("projects/<slug:project_slug>/api-keys/<int:key_id>", api.api_key, name="api-key"),
    path("projects/<slug:project_slug>/secrets", secrets_api.secrets, name="api-secrets"),
    path("projects/<slug:project_slug>/secrets/<str:secret_name>", secrets_api.secret, name="api-secret"),
    path("projects/<slug:project_slug>/variables", api.variables, name="api-variables"),
    path("projects/<slug:project_slug>/variables/<str:name>", api.variable, name="api-variable"),
]
