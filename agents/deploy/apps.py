from django.apps import AppConfig


class DeployConfig(AppConfig):
    name = "agents.deploy"
    label = "deploy"
    verbose_name = "Deployments and triggers"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        """Outbound callbacks follow every ``run.finished`` event where it is written."""
        from django.db.models.signals import post_save

        from agents.deploy.callbacks import on_run_event
        from agents.models import RunEvent

        post_save.connect(on_run_event, sender=RunEvent, dispatch_uid="deploy-callbacks")
