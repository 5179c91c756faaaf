"""Multi-row writes of workflows and runs. See ``runs`` and ``workflows``."""
