"""Who may make a workflow use a project secret — checked at save, validate, publish and run.

A graph names a secret with ``secret("NAME")`` in an http header (see
:mod:`agents.engine.secretrefs`). Sending a secret to a host is the
privilege of the project's owners and admins, and of members holding an
explicit grant (``studio.selectors.may_use_secret``):

* **save** (draft save, create, import, restore): every node that names a
  secret the saver may not use must be unchanged from the stored draft — an
  editor can work on the rest of a graph an admin wired a secret into, but
  cannot add a reference, nor change (e.g. re-point) a node that has one;
* **validate** reports, for the caller, each secret they may not use, each
  secret that does not exist and each ``secret()`` outside an http header;
* **publish** refuses the same (the publisher vouches for the version);
* **run**: every secret must exist and be usable by the run's starter or by
  the publisher of the version it runs — checked when the run starts and
  again by the runtime each time it resolves a secret (a revoked grant stops
  the next run). A run with no starter (``manage.py run_workflow`` on the
  server) of the draft is the operator's.

Errors name the node and the secret, never its value.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from agents.engine.secretrefs import SecretRef, graph_secret_refs
from studio.models import Project, Secret
from studio.selectors import may_use_secret

if TYPE_CHECKING:
    from agents.models import Run, WorkflowVersion
    from agents.services.workflows import Issue

FORBIDDEN = "secret_forbidden"
NOT_FOUND = "secret_not_found"
NOT_IN_HEADER = "secret_not_in_header"


def _issue(code: str, message: str, ref: SecretRef) -> Issue:
    from agents.services.workflows import Issue

    return Issue(code=code, message=message, path=ref.where, node_id=ref.node_id)


def _secrets_by_name(project: Project, refs: list[SecretRef]) -> dict[str, Secret]:
    names = {ref.name for ref in refs}
    if not names:
        return {}
    return {secret.name: secret for secret in Secret.objects.filter(project=project, name__in=names)}


def _forbidden_message(ref: SecretRef, whom: str) -> str:
    return (
        f'{ref.describe_node()}: {whom} may not use the secret "{ref.name}" ({ref.where}). '
        "A project owner or admin can use it, or grant you its use."
    )


def _node_configs(graph: Any) -> dict[str, tuple[Any, Any]]:
    nodes = graph.get("nodes") if isinstance(graph, dict) else None
    return {
        str(node.get("id")): (node.get("type"), node.get("config"))
        for node in (nodes if isinstance(nodes, list) else [])
        if isinstance(node, dict)
    }


def secret_save_issues(*, project: Project, user: Any, graph: Any, stored: Any = None) -> list[Issue]:
    """Secrets ``user`` may not use that ``graph`` adds or touches, compared with the ``stored`` draft.

    A node whose type and config equal the stored draft's node of the same id
    is not the saver's doing and is not held against them. Empty when the save
    may go ahead. One query per call (plus the grant checks).
    """
    refs = graph_secret_refs(graph)
    if not refs:
        return []
    before = _node_configs(stored) if stored is not None else {}
    after = _node_configs(graph)
    touched = [ref for ref in refs if before.get(ref.node_id, (None, object())) != after.get(ref.node_id)]
    secrets = _secrets_by_name(project, touched)
    return [
        _issue(FORBIDDEN, _forbidden_message(ref, "you"), ref)
        for ref in touched
        if not may_use_secret(user, project, secrets.get(ref.name))
    ]


def _secret_ref_issues(*, project: Project, graph: Any, allowed: Callable[[Secret], bool], whom: str) -> list[Issue]:
    """Each ``secret()`` reference of ``graph`` that is outside an http header, names no secret of
    ``project``, or whose secret ``allowed`` refuses (``whom`` names who was refused)."""
    refs = graph_secret_refs(graph)
    secrets = _secrets_by_name(project, refs)
    issues: list[Issue] = []
    for ref in refs:
        secret = secrets.get(ref.name)
        if not ref.in_header:
            message = (
                f'{ref.describe_node()}: secret("{ref.name}") is only available in the headers of an http '
                f"request, not in {ref.where}."
            )
            issues.append(_issue(NOT_IN_HEADER, message, ref))
        elif secret is None:
            message = f'{ref.describe_node()}: the secret "{ref.name}" does not exist in this project.'
            issues.append(_issue(NOT_FOUND, message, ref))
        elif not allowed(secret):
            issues.append(_issue(FORBIDDEN, _forbidden_message(ref, whom), ref))
    return issues


def secret_graph_issues(*, project: Project, user: Any, graph: Any) -> list[Issue]:
    """What blocks publishing or running ``graph`` as ``user``: secrets they may not use, missing
    secrets and ``secret()`` outside an http header — each naming the node and the secret."""
    return _secret_ref_issues(
        project=project, graph=graph, allowed=lambda secret: may_use_secret(user, project, secret), whom="you"
    )


def run_may_use_secret(
    *, project: Project, secret: Secret | None, starter: Any, version: WorkflowVersion | None
) -> bool:
    """Whether a run started by ``starter`` (None: the operator, on the server) of ``version``
    (None: the draft) may resolve ``secret``: the starter may use it, or the version's publisher may.

    Never raises.
    """
    if secret is None:
        return False
    if starter is None and version is None:
        return True  # manage.py run_workflow --draft: the operator's own machine
    if starter is not None and may_use_secret(starter, project, secret):
        return True
    publisher = version.created_by if version is not None else None
    return publisher is not None and may_use_secret(publisher, project, secret)


def secret_run_issues(*, project: Project, graph: Any, starter: Any, version: WorkflowVersion | None) -> list[Issue]:
    """What stops a run of ``graph`` from starting: each secret that does not exist, is used outside an
    http header, or that neither the starter nor the version's publisher may use."""
    return _secret_ref_issues(
        project=project,
        graph=graph,
        allowed=lambda secret: run_may_use_secret(project=project, secret=secret, starter=starter, version=version),
        whom="the user who started this run" + (" and the version's publisher" if version else ""),
    )


def run_secret_allowed(run: Run, name: str) -> Secret:
    """The secret ``name`` of ``run``'s project, if the run may resolve it (see :func:`run_may_use_secret`).

    Raises ``LookupError`` when the project has no such secret and
    ``PermissionError`` (naming the secret) when the run may not use it.
    """
    secret = Secret.objects.filter(project_id=run.project_id, name=name).first()
    if secret is None:
        raise LookupError(f"secret {name!r} does not exist in this project")
    if not run_may_use_secret(project=run.project, secret=secret, starter=run.created_by, version=run.version):
        raise PermissionError(
            f"secret {name!r}: neither the user who started this run nor the version's publisher may use it"
        )
    return secret
