from django.apps import AppConfig


class LabsConfig(AppConfig):
    name = "eventlab.labs"
    label = "labs"
