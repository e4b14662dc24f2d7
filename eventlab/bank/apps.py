from django.apps import AppConfig


class BankConfig(AppConfig):
    name = "eventlab.bank"
    label = "bank"
