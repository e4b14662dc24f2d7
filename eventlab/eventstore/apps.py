from django.apps import AppConfig
from django.db.models.signals import post_migrate


class EventStoreConfig(AppConfig):
    name = "eventlab.eventstore"
    label = "eventstore"
    verbose_name = "Event store"

    def ready(self) -> None:
        from . import triggers

        # Django's SQLite table rebuild (a later AlterField) silently drops triggers: re-create them every time.
        post_migrate.connect(triggers.on_post_migrate, sender=self)
