"""The bank's Django-side entry point: parse, then run the pure handler inside a lab's write transaction."""

from __future__ import annotations

from typing import Any

from eventlab.eventstore.core import AppendResult
from eventlab.labs.models import Lab
from eventlab.labs.services import store, write

from . import handlers
from .domain import Rejected, parse_command


def execute(
    lab: Lab, payload: dict[str, Any], command_id: str | None = None, expected_version: int | None = None
) -> AppendResult:
    """Raises Rejected, ConcurrencyError or CommandIdReused; appends nothing in those cases."""
    command = parse_command(payload)
    if command_id is not None and (not isinstance(command_id, str) or not 0 < len(command_id) <= 100):
        raise Rejected("A command id is a string of 1 to 100 characters.")
    if expected_version is not None and (
        isinstance(expected_version, bool) or not isinstance(expected_version, int) or expected_version < 0
    ):
        raise Rejected("An expected version is a whole number, 0 or more.")
    return write(
        lab,
        lambda s: handlers.handle(
            s, lab.id, command, command_id=command_id, expected_version=expected_version,
            snapshot_every=lab.snapshot_every,
        ),
    )


def load(lab: Lab, account_id: str, version: int | None = None, at=None) -> handlers.Loaded:
    return handlers.load_account(store, lab.id, account_id, version=version, at=at)
