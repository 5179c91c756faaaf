"""``/api/v1/projects/<project>/prompts``: the prompt registry's REST API."""
