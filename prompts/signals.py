"""Every write of a label row invalidates its cached resolution (``prompts.cache``).

Connected in :meth:`prompts.apps.PromptsConfig.ready`, so every writer is
covered: :func:`prompts.services.prompt_label_move`, the demo seed, imports,
and deletes cascading from a prompt or a project.
"""

from __future__ import annotations

from typing import Any

from prompts.cache import label_cache
from prompts.models import Prompt, PromptLabel


def _prompt_key(label: PromptLabel) -> tuple[int, str] | None:
    prompt = label._state.fields_cache.get("prompt")  # loaded already by the writer, mostly
    if isinstance(prompt, Prompt):
        return int(prompt.project_id), prompt.slug
    row = Prompt.objects.filter(pk=label.prompt_id).values_list("project_id", "slug").first()
    return (int(row[0]), str(row[1])) if row else None


def label_saved_or_deleted(sender: Any, instance: PromptLabel, **_: Any) -> None:
    """``post_save`` / ``post_delete`` of :class:`PromptLabel`: see :meth:`prompts.cache.LabelCache.label_changed`."""
    key = _prompt_key(instance)
    if key is None:  # the prompt row went first: forget every copy rather than guess
        label_cache().drop_local()
        return
    label_cache().label_changed(key[0], key[1], instance.name)
