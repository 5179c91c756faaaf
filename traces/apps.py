from django.apps import AppConfig


class TracesConfig(AppConfig):
    name = "traces"
    verbose_name = "Traces and model endpoints"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from studio.workspace.usage import register_secret_usage
        from traces.endpoints.selectors import secret_usages_in_endpoints

        register_secret_usage(secret_usages_in_endpoints)
