from django.apps import AppConfig


class LearnConfig(AppConfig):
    name = "eventlab.learn"
    label = "learn"

    def ready(self) -> None:
        from eventlab.labs import registry
        from eventlab.labs.runpages import run_finished
        from eventlab.labs.signals import command_handled

        from . import codeview
        from .services import record_lab_completed, remember_bank_command

        codeview.domain_of = lambda: registry.code_view().domain  # the lab that registers one (today the bank)

        run_finished.connect(record_lab_completed, dispatch_uid="learn-lab-completed")
        command_handled.connect(remember_bank_command, dispatch_uid="learn-bank-command")
