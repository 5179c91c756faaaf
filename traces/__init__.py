"""LLM gateway, model endpoints and prices, traces, spans and cost."""
