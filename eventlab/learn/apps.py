from django.apps import AppConfig


class LearnConfig(AppConfig):
    name = "eventlab.learn"
    label = "learn"
