"""Prompts, immutable versions, movable labels and their history."""
