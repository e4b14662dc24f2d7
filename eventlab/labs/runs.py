"""A simulation lab's runs, Django side: each pure RunLog call inside the lab's write transaction (one per input)."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

from django.db import transaction

from eventlab.eventstore.core import AppendResult, EventStore
from eventlab.sim.protocol import SimulationRun
from eventlab.sim.runlog import Invalid, RunLog

from .models import Lab
from .services import store, write


def new_run_id() -> str:
    return secrets.token_hex(6)


class RunService:
    def __init__(self, log: RunLog, parse_start: Callable[[Any], dict[str, Any]]):
        self.log, self.parse_start = log, parse_start

    def start(self, lab: Lab, data: Any) -> SimulationRun:
        """Raises Invalid (nothing appended) for a start the lab cannot take."""
        started = self.parse_start(data)
        return self._write(lab, lambda s: self.log.start(s, lab.id, new_run_id(), started))

    def act(self, lab: Lab, run_id: str, given: dict[str, Any], fork_at: int | None = None) -> SimulationRun:
        """Raises Invalid or UnknownRun (nothing appended) for an input the run cannot take. With `fork_at`, the
        input goes to a new what-if run forked at that step (both or neither are appended)."""
        with transaction.atomic():
            if fork_at is not None:
                run_id = self.fork(lab, run_id, fork_at).id
            return self._write(lab, lambda s: self.log.act(s, lab.id, run_id, given))

    def fork(self, lab: Lab, run_id: str, at_step: Any) -> SimulationRun:
        return self._write(lab, lambda s: self.log.fork(s, lab.id, run_id, at_step, new_run_id()))

    def load(self, lab: Lab, run_id: str, at_step: int | None = None) -> SimulationRun:
        return self.log.load(store, lab.id, run_id, at_step)

    def load_at(self, lab: Lab, run_id: str, at_step: str | None) -> SimulationRun:
        """A run now, or as it was after step `at_step` as a query string gives it (Invalid, in plain words, if it
        is not one of the run's steps)."""
        run = self.load(lab, run_id)
        if at_step is None:
            return run
        if not (at_step.isascii() and at_step.isdecimal() and len(at_step) <= 6) or int(at_step) > run.steps:
            raise Invalid(f"at_step must be a whole number from 0 to {run.steps} (the run's steps).")
        return self.load(lab, run_id, at_step=int(at_step))

    @staticmethod
    def _write(lab: Lab, do: Callable[[EventStore], tuple[SimulationRun, AppendResult]]) -> SimulationRun:
        done: list[SimulationRun] = []

        def append(s: EventStore) -> AppendResult:
            run, result = do(s)
            done.append(run)
            return result

        write(lab, append)
        return done[0]
