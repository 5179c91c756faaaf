"""Model endpoints with their prices, traces and spans of every LLM call.

Rows of higher apps (runs, steps, prompt versions) are referred to by plain
indexed ids, never foreign keys: imports point agents -> prompts -> traces.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.utils import timezone

from studio.models import Project, Secret
from traces.tokens import TokenUsage, new_span_id, new_trace_id


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
        Secret,
        null=True,
        blank=True,
        on_delete=models.RESTRICT,
        related_name="+",
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
    cache_write_price_per_mtok = models.DecimalField(
        max_digits=12,
        decimal_places=6,
        null=True,
        blank=True,
        help_text="USD per 1M tokens written to the prompt cache (Anthropic cache creation); empty: LiteLLM's, "
        "else the input price",
    )
    use_litellm_prices = models.BooleanField(
        default=True, help_text="Without prices here, price calls from LiteLLM's map; off: record the cost as unknown."
    )
    context_window = models.PositiveIntegerField(default=8192, help_text="tokens")
    timeout_s = models.FloatField(default=120.0, help_text="seconds per call")
    pinned_params = models.JSONField(
        default=dict,
        blank=True,
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


class TraceSource(models.TextChoices):
    """Where a trace comes from."""

    RUN = "run", "Workflow run"
    CALL = "call", "Single call (endpoint check, playground)"
    EXTERNAL = "external", "External (OTLP ingest)"


class Trace(models.Model):
    """All spans of one run, one ad-hoc call or one external (OTLP) trace.

    ``otel_trace_id``: the OpenTelemetry trace id (32 hex digits), unique per
    project. ``session_id``: groups traces of one chat-style session (a run's
    ``session_id``, or an external span's ``session.id`` attribute).
    ``status``: ``ok``/``error`` for external traces ("" while unknown; a
    run's status is the run's).
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="traces")
    run_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    otel_trace_id = models.CharField(max_length=32, default=new_trace_id)
    source = models.CharField(max_length=16, choices=TraceSource.choices, default=TraceSource.RUN)
    session_id = models.CharField(max_length=200, blank=True, default="")
    service_name = models.CharField(max_length=200, blank=True, default="", help_text="OTel resource service.name")
    name = models.CharField(max_length=200, blank=True)
    status = models.CharField(max_length=8, blank=True, default="")
    started_at = models.DateTimeField(default=timezone.now)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "otel_trace_id"], name="trace_unique_otel_id"),
        ]
        indexes = [
            models.Index(fields=["project", "-started_at"], name="trace_project_recent"),
            models.Index(fields=["project", "session_id", "-started_at"], name="trace_project_session"),
        ]

    def __str__(self) -> str:
        return f"trace {self.pk} {self.name}"


class SpanStatus(models.TextChoices):
    OK = "ok", "OK"
    ERROR = "error", "Error"


class SpanKind(models.TextChoices):
    """What a span is: OpenTelemetry GenAI operation names first, then the studio's own kinds.

    ``chat``, ``text_completion``, ``embeddings``, ``execute_tool``,
    ``invoke_agent``, ``create_agent`` are ``gen_ai.operation.name`` values
    of the OTel GenAI semantic conventions. ``workflow`` is a run (the root
    of a run's trace), ``step`` a node execution, ``http`` an outgoing HTTP
    request, ``subworkflow`` a call of another workflow, ``judge`` a model
    call that scores another's output, ``internal`` any other span (external
    traces).
    """

    CHAT = "chat", "Chat (model call)"
    TEXT_COMPLETION = "text_completion", "Text completion"
    EMBEDDINGS = "embeddings", "Embeddings"
    EXECUTE_TOOL = "execute_tool", "Tool call"
    INVOKE_AGENT = "invoke_agent", "Agent"
    CREATE_AGENT = "create_agent", "Create agent"
    WORKFLOW = "workflow", "Workflow run"
    STEP = "step", "Step"
    HTTP = "http", "HTTP call"
    SUBWORKFLOW = "subworkflow", "Sub-workflow"
    JUDGE = "judge", "Judge call"
    INTERNAL = "internal", "Other"


#: Kinds that are model calls (their tokens and cost count in usage totals).
MODEL_CALL_KINDS = (SpanKind.CHAT, SpanKind.TEXT_COMPLETION, SpanKind.EMBEDDINGS, SpanKind.JUDGE)


class Span(models.Model):
    """One model call, tool call or external span: what was sent, what came back, tokens, cost, latency.

    ``otel_span_id``/``otel_parent_span_id``: OpenTelemetry ids (16 hex
    digits; the parent "" for a root). In a run's trace a model call's parent
    is its step's derived span id (:func:`traces.tokens.derived_span_id`).
    Tokens are disjoint parts (:class:`traces.tokens.TokenUsage`):
    ``input_tokens`` fresh prompt tokens, ``cache_read_tokens``,
    ``cache_write_tokens``, ``output_tokens`` visible output,
    ``reasoning_tokens``; ``provider_total_tokens`` what the provider said
    the total was (None: it said nothing). ``usage_estimated``: counted
    locally, not reported. ``cost_usd`` is ``None`` when the price is
    unknown. ``input`` is the request with secrets redacted;
    ``attributes`` other (OTel) attributes.
    """

    trace = models.ForeignKey(Trace, on_delete=models.CASCADE, related_name="spans")
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    otel_span_id = models.CharField(max_length=16, default=new_span_id)
    otel_parent_span_id = models.CharField(max_length=16, blank=True, default="")
    kind = models.CharField(max_length=32, choices=SpanKind.choices, default=SpanKind.CHAT)
    name = models.CharField(max_length=200, blank=True)
    endpoint = models.ForeignKey(ModelEndpoint, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    model = models.CharField(max_length=200, blank=True)
    run_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    step_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    node_id = models.CharField(max_length=64, blank=True)
    prompt_version_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    input = models.JSONField(default=dict, blank=True)
    output = models.JSONField(default=dict, blank=True)
    input_tokens = models.PositiveIntegerField(default=0, help_text="fresh prompt tokens (no cache read or write)")
    cache_read_tokens = models.PositiveIntegerField(default=0)
    cache_write_tokens = models.PositiveIntegerField(default=0)
    output_tokens = models.PositiveIntegerField(default=0, help_text="visible output tokens (no reasoning)")
    reasoning_tokens = models.PositiveIntegerField(default=0)
    provider_total_tokens = models.PositiveIntegerField(null=True, blank=True)
    usage_estimated = models.BooleanField(default=False)
    attributes = models.JSONField(default=dict, blank=True)
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
        indexes = [
            models.Index(fields=["project", "-started_at"], name="span_project_recent"),
            models.Index(fields=["project", "endpoint", "-started_at"], name="span_project_endpoint"),
            models.Index(fields=["project", "status", "-started_at"], name="span_project_status"),
            models.Index(fields=["project", "kind", "-started_at"], name="span_project_kind"),
        ]

    def __str__(self) -> str:
        return f"span {self.pk} {self.model} {self.prompt_tokens}+{self.completion_tokens} tok"

    @property
    def usage(self) -> TokenUsage:
        """The span's tokens as a :class:`~traces.tokens.TokenUsage`."""
        return TokenUsage(
            input_tokens=self.input_tokens,
            cache_read_tokens=self.cache_read_tokens,
            cache_write_tokens=self.cache_write_tokens,
            output_tokens=self.output_tokens,
            reasoning_tokens=self.reasoning_tokens,
            provider_total_tokens=self.provider_total_tokens,
            estimated=self.usage_estimated,
        )

    @property
    def prompt_tokens(self) -> int:
        """All prompt tokens: fresh + cache read + cache write."""
        return self.input_tokens + self.cache_read_tokens + self.cache_write_tokens

    @property
    def completion_tokens(self) -> int:
        """All output tokens: visible + reasoning."""
        return self.output_tokens + self.reasoning_tokens

    @property
    def total_tokens(self) -> int:
        """Every token once: the five disjoint parts summed."""
        return self.prompt_tokens + self.completion_tokens


ZERO = Decimal("0")


class ScoreSource(models.TextChoices):
    EVALUATOR = "evaluator", "Evaluator"
    HUMAN = "human", "Human"
    API = "api", "API"


class Score(models.Model):
    """A judgement of a run, a step or a span: a number (``value``), a ``label``, or both.

    Attached by plain ids (``run_id`` always; ``step_id`` / ``span_id`` when
    it judges one of them). ``source``: an evaluator of a test suite (its
    ``name`` is the check's), a person (thumbs up = 1.0 / down = 0.0 with a
    comment) or an API client. ``suite_run_id`` links evaluator scores to
    the suite run that produced them.
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    run_id = models.BigIntegerField(db_index=True)
    step_id = models.BigIntegerField(null=True, blank=True)
    span_id = models.BigIntegerField(null=True, blank=True)
    suite_run_id = models.BigIntegerField(null=True, blank=True)
    name = models.CharField(max_length=64)
    value = models.FloatField(null=True, blank=True)
    label = models.CharField(max_length=64, blank=True)
    comment = models.TextField(blank=True)
    source = models.CharField(max_length=16, choices=ScoreSource.choices)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["project", "name", "-created_at"], name="score_project_name")]

    def __str__(self) -> str:
        return f"score {self.name}={self.value if self.value is not None else self.label} on run {self.run_id}"


class ReplayMode(models.TextChoices):
    """How a run's model calls use the project's recordings (:class:`CallRecording`, :mod:`traces.replay`).

    ``off``: a normal run, nothing read or written. ``record``: call the model
    and record each answer (a live suite case run). ``replay``: answer every
    call from a recording, never calling the model; a call with none fails.
    ``fill``: answer from a recording when there is one, else call the model
    and record it.
    """

    OFF = "", "Off"
    RECORD = "record", "Record"
    REPLAY = "replay", "Replay"
    FILL = "fill", "Replay, record what is missing"


class CallRecording(models.Model):
    """One recorded model call of a project: the normalised request and the answer, for deterministic replay.

    ``key``: SHA-256 hex of the normalised request (:func:`traces.replay.request_key`:
    endpoint slug and model, messages, schema, tools, sampling parameters).
    ``request``: that normalised request (redacted), for reading. ``response``:
    ``{"text", "tool_calls", "finish_reason", "input_tokens", "output_tokens",
    "cached_tokens"}`` as the model answered. The latest recording of a key wins.
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="call_recordings")
    key = models.CharField(max_length=64)
    endpoint_slug = models.SlugField(max_length=64)
    model = models.CharField(max_length=200)
    request = models.JSONField(default=dict)
    response = models.JSONField(default=dict)
    source_span_id = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "key"], name="call_recording_unique_key")]

    def __str__(self) -> str:
        return f"recording {self.key[:12]} ({self.endpoint_slug})"
