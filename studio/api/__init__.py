"""REST API helpers shared by every app: API-key auth, error format."""
