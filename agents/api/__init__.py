"""REST API of workflows and runs under /api/v1/."""
