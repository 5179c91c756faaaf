from django.apps import AppConfig


class PromptsConfig(AppConfig):
    name = "prompts"
    verbose_name = "Prompts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from celery.signals import worker_process_init
        from django.db.models.signals import post_delete, post_save

        from prompts.cache import start_listener
        from prompts.models import PromptLabel
        from prompts.signals import label_saved_or_deleted

        post_save.connect(label_saved_or_deleted, sender=PromptLabel, dispatch_uid="prompt-label-cache-save")
        post_delete.connect(label_saved_or_deleted, sender=PromptLabel, dispatch_uid="prompt-label-cache-delete")
        # Each prefork pool process listens for label changes (threads do not survive the fork).
        worker_process_init.connect(start_listener, dispatch_uid="prompt-cache-listener", weak=False)
