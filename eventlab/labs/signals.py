"""Signals a lab sends and the course (eventlab.learn) listens to, so the course imports no lab.

`command_handled`: a learner's command from a lab's form was handled (accepted, refused, or a conflict), sent with
`request`, `lab`, `payload` (the command as the form gave it) and `outcome` (the lab's Outcome: `accepted`,
`duplicate`, `reason`, `conflict`, `events`, and `error`: the refusal, with its traceback). The course listens to light the branch of the lab's `decide` that handled
it on the Event Sourcing page (the lab registers what the code view shows: `registry.CodeView`).
"""

from django.dispatch import Signal

command_handled = Signal()
