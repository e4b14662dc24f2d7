from django.apps import AppConfig


class LiveConfig(AppConfig):
    name = "eventlab.live"
    label = "live"

    def ready(self) -> None:
        from eventlab.eventstore.signals import appended

        from .broadcast import on_appended

        appended.connect(on_appended, dispatch_uid="live-broadcast")
