from django.apps import AppConfig


class ResilienceConfig(AppConfig):
    name = "eventlab.resilience"
    label = "resilience"
    verbose_name = "Resilience lab"
