"""Reads for the endpoint pages: a project's endpoints, and where a secret is used by endpoints."""

from __future__ import annotations

from django.conf import settings
from django.db.models import QuerySet
from django.urls import reverse

from studio.lib.ssrf import EgressRefused, parse_url
from studio.models import EgressAllowedHost, Project, Secret
from studio.workspace.usage import SecretUsage
from traces.models import ModelEndpoint


def project_endpoints(*, project: Project) -> QuerySet[ModelEndpoint]:
    """Every endpoint of an already-accessed project (inactive ones too), by name."""
    return ModelEndpoint.objects.filter(project=project).select_related("api_key_secret").order_by("name")


def egress_hosts_for(project: Project) -> list[str]:
    """Hosts a superuser allowed for this project or for all projects."""
    rows = EgressAllowedHost.objects.filter(project__isnull=True) | EgressAllowedHost.objects.filter(project=project)
    return list(rows.values_list("host", flat=True))


def local_model_allow_entry() -> str:
    """The site's local model server (``STUDIO_LOCAL_MODEL_URL``) as an allow-list entry (``host:port``)."""
    try:
        _scheme, host, port = parse_url(settings.STUDIO_LOCAL_MODEL_URL)
    except EgressRefused:
        return ""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def endpoint_allowed_hosts(project_id: int) -> tuple[str, ...]:
    """What an endpoint's ``api_base`` may reach besides public addresses: the hosts a superuser
    allowed for its project or for all, and the local model server. Checked at save and at every call."""
    rows = EgressAllowedHost.objects.filter(project__isnull=True) | EgressAllowedHost.objects.filter(
        project_id=project_id
    )
    entries = {*rows.values_list("host", flat=True), local_model_allow_entry()}
    return tuple(sorted(entry for entry in entries if entry))


def secret_usages_in_endpoints(secret: Secret) -> list[SecretUsage]:
    """Endpoints that send ``secret`` as their API key."""
    return [
        SecretUsage(
            kind="endpoint",
            label=f"endpoint {endpoint.name}",
            url=reverse("endpoint-edit", args=[secret.project.slug, endpoint.pk]),
        )
        for endpoint in ModelEndpoint.objects.filter(api_key_secret=secret).order_by("name")
    ]
