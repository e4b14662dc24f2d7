from django.apps import AppConfig


class TwoPCConfig(AppConfig):
    name = "eventlab.twopc"
    label = "twopc"
    verbose_name = "Two-phase commit lab"
