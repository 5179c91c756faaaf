"""Prompts with immutable integer versions and movable labels."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models

from studio.models import Project


def default_protected_labels() -> list[str]:
    """The labels protected on a new prompt: ``["production"]``."""
    return ["production"]


class Prompt(models.Model):
    """A named prompt in a project; its content lives in :class:`PromptVersion` rows."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="prompts")
    slug = models.SlugField(max_length=64)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    protected_labels = models.JSONField(
        default=default_protected_labels,
        blank=True,
        help_text="Labels only admins and owners may move (default: production).",
    )

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "slug"], name="prompt_unique_slug")]
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class PromptVersion(models.Model):
    """An immutable version: chat messages whose contents are Jinja2 templates.

    ``messages``: ``[{"role": "system"|"user"|"assistant", "content": str}]``.
    ``variables``: names the templates use. ``signature``: the same
    variables typed, in the same order, one field each as the engine's
    signatures spell them: ``{"name", "type": str|int|float|bool|list|object|enum,
    "description", "items"?, "choices"?}`` (every variable is required).
    ``model_config``: default sampling parameters (``temperature``,
    ``max_tokens`` ...).
    """

    prompt = models.ForeignKey(Prompt, on_delete=models.CASCADE, related_name="versions")
    version = models.PositiveIntegerField()
    messages = models.JSONField(default=list)
    variables = models.JSONField(default=list, blank=True)
    signature = models.JSONField(default=list, blank=True)
    model_config = models.JSONField(default=dict, blank=True)
    commit_message = models.CharField(max_length=500, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["prompt", "version"], name="prompt_version_unique")]
        ordering = ["prompt", "-version"]

    def __str__(self) -> str:
        return f"{self.prompt.slug} v{self.version}"

    def save(self, *args: object, **kwargs: object) -> None:
        if self.pk is not None:
            raise ValueError("Prompt versions are immutable; commit a new version instead.")
        super().save(*args, **kwargs)  # type: ignore[arg-type]

    def variable_fields(self) -> list[dict[str, Any]]:
        """The typed variables: :attr:`signature`, or every name typed ``str`` for a
        version stored before variables had types."""
        if self.signature:
            return list(self.signature)
        return [{"name": name, "type": "str", "description": ""} for name in self.variables]

    def variable_labels(self) -> list[dict[str, str]]:
        """``[{"name", "type", "description"}]`` with the type spelled for people: ``str``,
        ``list[int]``, ``enum(a|b)`` (what the pages show)."""
        out = []
        for field in self.variable_fields():
            label = str(field.get("type", "str"))
            if field.get("items"):
                label += f"[{field['items']}]"
            if field.get("choices"):
                label += "(" + "|".join(field["choices"]) + ")"
            out.append({"name": field["name"], "type": label, "description": field.get("description", "")})
        return out


class PromptLabel(models.Model):
    """A movable pointer (``production``, ``staging``, custom) to one version."""

    prompt = models.ForeignKey(Prompt, on_delete=models.CASCADE, related_name="labels")
    name = models.SlugField(max_length=64)
    version = models.ForeignKey(PromptVersion, on_delete=models.RESTRICT, related_name="labels")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["prompt", "name"], name="prompt_label_unique")]

    def __str__(self) -> str:
        return f"{self.prompt.slug}@{self.name}"


class PromptLabelMove(models.Model):
    """History of a label: who moved it from which version to which, when."""

    prompt = models.ForeignKey(Prompt, on_delete=models.CASCADE, related_name="label_moves")
    label = models.SlugField(max_length=64)
    from_version = models.ForeignKey(PromptVersion, null=True, blank=True, on_delete=models.RESTRICT, related_name="+")
    to_version = models.ForeignKey(PromptVersion, on_delete=models.RESTRICT, related_name="+")
    moved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    moved_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-moved_at", "-id"]

    def __str__(self) -> str:
        return f"{self.prompt.slug}@{self.label} → v{self.to_version.version}"
