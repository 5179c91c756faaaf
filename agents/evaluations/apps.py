from django.apps import AppConfig


class EvaluationsConfig(AppConfig):
    name = "agents.evaluations"
    label = "evaluations"
    verbose_name = "Evaluations"
    default_auto_field = "django.db.models.BigAutoField"
