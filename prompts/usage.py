"""Which published workflow nodes use a prompt, answered by the app that owns workflows.

``prompts`` cannot import ``agents`` (layers: agents → prompts), so ``agents``
registers a finder in its ``AppConfig.ready()``:
``register_prompt_use_finder(finder)`` where ``finder(prompt) -> list[PromptUse]``.
:func:`prompts.services.prompt_label_move` asks it before moving a label (the
node ↔ prompt contract).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from prompts.models import Prompt


@dataclass(frozen=True)
class PromptUse:
    """One node of a published workflow version that uses a prompt.

    ``label`` or ``version``: how the node points at the prompt (exactly one
    set). ``provided``: the variable names the node's inputs provide;
    ``inputs``: those input fields (``FieldSpec`` dicts: name, type, items,
    choices …), so types can be checked too.
    """

    workflow_id: int
    workflow_name: str
    workflow_version: int
    node_id: str
    node_label: str
    label: str | None
    version: int | None
    provided: frozenset[str]
    inputs: tuple[dict[str, Any], ...] = ()

    def describe(self) -> str:
        """``workflow "Name" v3, node "Writer" (writer)``."""
        return f'workflow "{self.workflow_name}" v{self.workflow_version}, node "{self.node_label}" ({self.node_id})'


PromptUseFinder = Callable[["Prompt"], list[PromptUse]]
_finders: list[PromptUseFinder] = []


def register_prompt_use_finder(finder: PromptUseFinder) -> None:
    """Add a finder (idempotent: the same function is registered once)."""
    if finder not in _finders:
        _finders.append(finder)


def prompt_uses(prompt: Prompt) -> list[PromptUse]:
    """Every published use of ``prompt`` the registered finders know, in registration order."""
    found: list[PromptUse] = []
    for finder in _finders:
        found.extend(finder(prompt))
    return found
