from django.apps import AppConfig


class AgentsConfig(AppConfig):
    name = "agents"
    verbose_name = "Workflows and runs"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from agents.usage import example_run_body, secret_usages_in_agents, workflow_choices
        from studio.workspace.usage import register_example_run_body, register_secret_usage, register_workflow_lister

        register_secret_usage(secret_usages_in_agents)
        register_workflow_lister(workflow_choices)
        register_example_run_body(example_run_body)
