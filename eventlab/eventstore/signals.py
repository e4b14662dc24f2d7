"""`appended` is sent after a transaction that appended to a lab's log has committed (and when a projector moved).

Receivers get `lab` and `head` only — a wake-up — and read what is new from the store themselves.
"""

from django.dispatch import Signal

appended = Signal()
