"""Provider presets: the LiteLLM model string, API base and structured-output mode each provider needs.

A preset only fills the form; every field stays editable. ``model`` is an
example LiteLLM model string (``provider/model``); ``api_base`` empty means
the provider's public API. ``structured_output`` is how the provider takes a
JSON Schema (see :class:`traces.models.StructuredOutput`): llama.cpp wants
``json_object`` + schema, the others ``json_schema`` (LiteLLM translates it
for Anthropic, Gemini and the rest).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from traces.models import StructuredOutput


@dataclass(frozen=True)
class Preset:
    """One provider's defaults. ``needs_key``: the provider wants an API key (a project secret)."""

    key: str
    label: str
    model: str
    api_base: str
    structured_output: str
    needs_key: bool
    context_window: int
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


PRESETS: tuple[Preset, ...] = (
    Preset("openai", "OpenAI", "openai/gpt-4o-mini", "", StructuredOutput.JSON_SCHEMA, True, 128_000),
    Preset(
        "anthropic", "Anthropic", "anthropic/claude-3-5-haiku-latest", "", StructuredOutput.JSON_SCHEMA, True, 200_000
    ),
    Preset(
        "ollama",
        "Ollama",
        "ollama_chat/llama3.2",
        "http://127.0.0.1:11434",
        StructuredOutput.JSON_SCHEMA,
        False,
        8_192,
        "A local Ollama is a private address: a superuser allows its host first.",
    ),
    Preset(
        "vllm",
        "vLLM",
        "openai/<served-model-name>",
        "http://vllm-host:8000/v1",
        StructuredOutput.JSON_SCHEMA,
        False,
        8_192,
        "Any OpenAI-compatible server; the model name after openai/ is the one it serves.",
    ),
    Preset(
        "llamacpp",
        "llama.cpp server",
        "openai/<model>",
        "http://llama-host:8080/v1",
        StructuredOutput.JSON_OBJECT_SCHEMA,
        False,
        4_096,
        "llama.cpp takes json_object + schema (a grammar).",
    ),
    Preset(
        "azure",
        "Azure OpenAI",
        "azure/<deployment-name>",
        "https://<resource>.openai.azure.com",
        StructuredOutput.JSON_SCHEMA,
        True,
        128_000,
        "Set AZURE_API_VERSION in the server's environment.",
    ),
    Preset("gemini", "Google Gemini", "gemini/gemini-1.5-flash", "", StructuredOutput.JSON_SCHEMA, True, 1_000_000),
    Preset("mistral", "Mistral", "mistral/mistral-small-latest", "", StructuredOutput.JSON_SCHEMA, True, 32_000),
    Preset(
        "groq",
        "Groq",
        "groq/llama-3.1-8b-instant",
        "",
        StructuredOutput.PROMPT_ONLY,
        True,
        128_000,
        "Groq's json_schema support depends on the model: prompt-only is the safe default.",
    ),
    Preset(
        "openrouter", "OpenRouter", "openrouter/openai/gpt-4o-mini", "", StructuredOutput.JSON_SCHEMA, True, 128_000
    ),
)
PRESETS_BY_KEY = {preset.key: preset for preset in PRESETS}
