"""The saga lab's Django-side entry points: each runs a pure handler inside the lab's write transaction."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

from django.db import transaction

from eventlab.eventstore.core import AppendResult, EventStore
from eventlab.labs.models import Lab
from eventlab.labs.services import store, write

from . import handlers
from .runs import SagaRun, parse_start


def new_run_id() -> str:
    return secrets.token_hex(6)


def start(lab: Lab, data: Any) -> SagaRun:
    """Raises Invalid (nothing appended) for a start the lab cannot take."""
    started = parse_start(data)
    return _write(lab, lambda s: handlers.start(s, lab.id, new_run_id(), started))


def act(lab: Lab, run_id: str, given: dict[str, Any], fork_at: int | None = None) -> SagaRun:
    """Raises Invalid or UnknownRun (nothing appended) for an input the run cannot take. With `fork_at`, the input
    goes to a new what-if run forked at that step (both or neither are appended)."""
    with transaction.atomic():
        if fork_at is not None:
            run_id = fork(lab, run_id, fork_at).id
        return _write(lab, lambda s: handlers.act(s, lab.id, run_id, given))


def fork(lab: Lab, run_id: str, at_step: Any) -> SagaRun:
    return _write(lab, lambda s: handlers.fork(s, lab.id, run_id, at_step, new_run_id()))


def load(lab: Lab, run_id: str, at_step: int | None = None) -> SagaRun:
    return handlers.load(store, lab.id, run_id, at_step)


def _write(lab: Lab, do: Callable[[EventStore], tuple[SagaRun, AppendResult]]) -> SagaRun:
    done: list[SagaRun] = []

    def append(s: EventStore) -> AppendResult:
        run, result = do(s)
        done.append(run)
        return result

    write(lab, append)
    return done[0]
