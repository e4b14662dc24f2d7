from django.apps import AppConfig


class LearnConfig(AppConfig):
    name = "eventlab.learn"
    label = "learn"

    def ready(self) -> None:
        from eventlab.labs.runpages import run_finished

        from .services import record_lab_completed

        run_finished.connect(record_lab_completed, dispatch_uid="learn-lab-completed")
