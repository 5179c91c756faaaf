"""Model endpoints with their prices, traces and spans of every LLM call.

Rows of higher apps (runs, steps, prompt versions) are referred to by plain
indexed ids, never foreign keys: imports point agents -> prompts -> traces.
"""

from __future__ import annotations

from decimal import Decimal

from django.db import models

from studio.models import Project, Secret


class StructuredOutput(models.TextChoices):
    """How an endpoint takes a JSON Schema for structured output."""

    JSON_SCHEMA = "json_schema", "response_format json_schema (OpenAI, vLLM)"
    JSON_OBJECT_SCHEMA = "json_object_schema", "response_format json_object + schema (llama.cpp)"
    PROMPT_ONLY = "prompt_only", "Schema in the prompt only"


class ModelEndpoint(models.Model):
    """A model reachable through LiteLLM, with its own prices.

    ``model`` is LiteLLM's provider model string (``openai/gpt-4o-mini``,
    ``anthropic/claude-3-5-haiku-latest``, ``ollama/llama3.2``). Prices are
    USD per 1,000,000 tokens; ``None`` means unknown (then litellm's price
    map is consulted unless ``use_litellm_prices`` is off; if that has none
    either, the cost is recorded as unknown, never as 0).
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="model_endpoints")
    slug = models.SlugField(max_length=64)
    name = models.CharField(max_length=200)
    model = models.CharField(max_length=200, help_text="LiteLLM model string, e.g. openai/gpt-4o-mini")
    api_base = models.URLField(blank=True, help_text="Base URL of an OpenAI-compatible server, if any.")
    api_key_secret = models.ForeignKey(
        Secret, null=True, blank=True, on_delete=models.RESTRICT, related_name="+",
        help_text="Project secret holding the provider API key.",
    )
    structured_output = models.CharField(
        max_length=24, choices=StructuredOutput.choices, default=StructuredOutput.JSON_SCHEMA
    )
    input_price_per_mtok = models.DecimalField(
        max_digits=12, decimal_places=6, null=True, blank=True, help_text="USD per 1M input tokens"
    )
    output_price_per_mtok = models.DecimalField(
        max_digits=12, decimal_places=6, null=True, blank=True, help_text="USD per 1M output tokens"
    )
    cached_input_price_per_mtok = models.DecimalField(
        max_digits=12, decimal_places=6, null=True, blank=True, help_text="USD per 1M cached input tokens"
    )
    use_litellm_prices = models.BooleanField(
        default=True, help_text="Without prices here, price calls from LiteLLM's map; off: record the cost as unknown."
    )
    context_window = models.PositiveIntegerField(default=8192, help_text="tokens")
    timeout_s = models.FloatField(default=120.0, help_text="seconds per call")
    pinned_params = models.JSONField(
        default=dict, blank=True,
        help_text="Sampling parameters every call to this endpoint uses, over the node's own "
                  '(e.g. {"temperature": 0, "seed": 42} for reproducible test runs).',
    )
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "slug"], name="endpoint_unique_slug")]
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.model})"

    @property
    def has_price(self) -> bool:
        return self.input_price_per_mtok is not None and self.output_price_per_mtok is not None


class Trace(models.Model):
    """All spans of one run (or one ad-hoc call)."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="traces")
    run_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    name = models.CharField(max_length=200, blank=True)
    started_at = models.DateTimeField(auto_now_add=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"trace {self.pk} {self.name}"


class SpanStatus(models.TextChoices):
    OK = "ok", "OK"
    ERROR = "error", "Error"


class Span(models.Model):
    """One LLM call (or tool call): what was sent, what came back, tokens, cost, latency.

    ``cost_usd`` is ``None`` when the price is unknown. ``input`` is the
    request with secrets redacted.
    """

    trace = models.ForeignKey(Trace, on_delete=models.CASCADE, related_name="spans")
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=16, default="llm")
    name = models.CharField(max_length=200, blank=True)
    endpoint = models.ForeignKey(ModelEndpoint, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    model = models.CharField(max_length=200, blank=True)
    run_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    step_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    node_id = models.CharField(max_length=64, blank=True)
    prompt_version_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    input = models.JSONField(default=dict, blank=True)
    output = models.JSONField(default=dict, blank=True)
    input_tokens = models.PositiveIntegerField(default=0)
    output_tokens = models.PositiveIntegerField(default=0)
    cached_tokens = models.PositiveIntegerField(default=0)
    cost_usd = models.DecimalField(max_digits=14, decimal_places=8, null=True, blank=True)
    price_source = models.CharField(max_length=16, blank=True, help_text="endpoint | litellm | unknown")
    latency_ms = models.FloatField(default=0.0)
    status = models.CharField(max_length=8, choices=SpanStatus.choices, default=SpanStatus.OK)
    error = models.TextField(blank=True)
    error_code = models.CharField(
        max_length=32, blank=True, help_text="Stable error code (timeout, unreachable, auth, invalid_output …)"
    )
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["started_at", "id"]

    def __str__(self) -> str:
        return f"span {self.pk} {self.model} {self.input_tokens}+{self.output_tokens} tok"

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


ZERO = Decimal("0")
