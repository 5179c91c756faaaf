"""Shared helpers with no business logic (pure Python where possible)."""
