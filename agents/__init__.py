"""Workflows, versions, runs, steps, run events, templates, the engine and its runtime."""
