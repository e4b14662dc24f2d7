from django.apps import AppConfig


class SagasConfig(AppConfig):
    name = "eventlab.sagas"
    label = "sagas"
    verbose_name = "Saga lab"
