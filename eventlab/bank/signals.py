"""Signals the bank lab sends. `command_handled`: a learner's command from the bank lab's form was handled (accepted,
refused, or a conflict), sent with `request`, `lab`, `payload` (the command as the form gave it) and `outcome` (the
view's Outcome). The course listens to light the branch of `decide` that handled it on the Event Sourcing page."""

from django.dispatch import Signal

command_handled = Signal()
