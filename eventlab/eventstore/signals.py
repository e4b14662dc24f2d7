"""`appended` is sent after a transaction that appended to a lab's log has committed (and when a projector moved).

Receivers get `lab`, `head` and `events` (the newly committed events; none when a projector moved). The
websocket feed uses only `{lab, head}` as a wake-up and reads what is new from the store itself.
"""

from django.dispatch import Signal

appended = Signal()
