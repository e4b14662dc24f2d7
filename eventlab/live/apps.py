from django.apps import AppConfig


class LiveConfig(AppConfig):
    name = "eventlab.live"
    label = "live"
