from django.apps import AppConfig
from django.conf import settings


class AgentsConfig(AppConfig):
    name = "agents"
    verbose_name = "Workflows and runs"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        """Register the agents app's hooks; in quickstart mode, give the in-process executor
        (``agents.dispatch``) its run and sweep functions."""
        from agents.usage import example_run_body, secret_usages_in_agents, workflow_choices
        from studio.workspace.usage import register_example_run_body, register_secret_usage, register_workflow_lister

        register_secret_usage(secret_usages_in_agents)
        from agents.services.variables import variable_usages_in_agents
        from studio.workspace.variables import register_variable_usage

        register_variable_usage(variable_usages_in_agents)
        register_workflow_lister(workflow_choices)
        register_example_run_body(example_run_body)
        from agents.services.prompt_contract import published_prompt_uses
        from prompts.usage import register_prompt_use_finder

        register_prompt_use_finder(published_prompt_uses)
        if settings.QUEUE_MODE:
            return
        from agents.deploy.schedules import schedules_tick
        from agents.dispatch import local_executor_install
        from agents.runtime import run_execute
        from agents.services.sweeper import runs_sweep

        def sweep() -> int:
            schedules_tick()  # quickstart has no beat: the sweeper fires the due schedules too
            return runs_sweep()

        local_executor_install(execute=run_execute, sweep=sweep)
