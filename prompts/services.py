"""Writes of prompts: commit a version, move a label (recorded)."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import Max

from prompts.models import Prompt, PromptLabel, PromptLabelMove, PromptVersion
from studio.services import audit_record


@transaction.atomic
def prompt_commit(
    *, prompt: Prompt, user: Any, messages: list[dict[str, str]], variables: list[str] | None = None,
    model_config: dict[str, Any] | None = None, commit_message: str = "",
) -> PromptVersion:
    """Create the next immutable version (1, 2, 3 …) of ``prompt``."""
    Prompt.objects.select_for_update().filter(pk=prompt.pk).first()
    last = prompt.versions.aggregate(n=Max("version"))["n"] or 0
    version = PromptVersion.objects.create(
        prompt=prompt, version=last + 1, messages=messages, variables=variables or [],
        model_config=model_config or {}, commit_message=commit_message,
        created_by=user if getattr(user, "pk", None) else None,
    )
    audit_record(project=prompt.project, actor=user, verb="prompt.commit", obj=version,
                 data={"prompt": prompt.slug, "version": version.version})
    return version


@transaction.atomic
def prompt_label_move(*, prompt: Prompt, label: str, version: PromptVersion, user: Any) -> PromptLabel:
    """Point ``label`` at ``version`` and record the move (who, from, to, when).

    Raises ``ValueError`` if the version belongs to another prompt.
    """
    if version.prompt_id != prompt.pk:
        raise ValueError("That version belongs to another prompt.")
    pointer = PromptLabel.objects.select_for_update().filter(prompt=prompt, name=label).first()
    previous = pointer.version if pointer else None
    if pointer is None:
        pointer = PromptLabel.objects.create(prompt=prompt, name=label, version=version)
    else:
        pointer.version = version
        pointer.save(update_fields=["version", "updated_at"])
    PromptLabelMove.objects.create(
        prompt=prompt, label=label, from_version=previous, to_version=version,
        moved_by=user if getattr(user, "pk", None) else None,
    )
    audit_record(project=prompt.project, actor=user, verb="prompt.label_move", obj=prompt,
                 data={"label": label, "from": previous.version if previous else None, "to": version.version})
    return pointer
