from django.apps import AppConfig


class LearnConfig(AppConfig):
    name = "eventlab.learn"
    label = "learn"

    def ready(self) -> None:
        from eventlab.bank.signals import command_handled
        from eventlab.labs.runpages import run_finished

        from .services import record_lab_completed, remember_bank_command

        run_finished.connect(record_lab_completed, dispatch_uid="learn-lab-completed")
        command_handled.connect(remember_bank_command, dispatch_uid="learn-bank-command")
