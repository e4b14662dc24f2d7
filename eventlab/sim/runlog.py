"""Simulation runs kept in a lab's log: start, act, load (at any step), fork. Pure: they take any EventStore.

A run is a stream `<prefix>-<id>`. It holds the learner's inputs (the start, each step, faults injected, a recovery…),
each followed by the engine's events it caused (`MessageSent`, `MessageDelivered`, `NodeCrashed`, the nodes' own
events…, with their step and virtual time). Loading a run replays its inputs on the pure engine; "Back" replays fewer
of them; a fork replays them up to a step into a new stream. The caller owns the transaction.

A lab's run class (the saga lab's SagaRun, the 2PC lab's TwoPCRun) provides:
`Run(run_id, started)`, `act(given) -> engine events caused` (raises Invalid), `inputs`, `steps`, `sim`,
`idle_reason()`, `started`, `version`, and `recorded(given) -> data to store` / `replayed(data, until_step)` (take an
input again from the log, going no further than step `until_step` if it is not None). An input "run"
steps until nothing is in flight, unless the class sets `run_is_an_input` (it then takes "run" itself).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from eventlab.eventstore.core import AppendResult, EventStore, NewEvent, RecordedEvent
from eventlab.sim.engine import SimEvent

MAX_STEPS = 1_000  # a run never takes more


class Invalid(ValueError):
    """Input a run cannot take, in plain words. Nothing is appended."""


class UnknownRun(LookupError):
    pass


def engine_events(events: list[SimEvent]) -> list[NewEvent]:
    return [NewEvent(e.type, {"step": e.step, "at_ms": e.at_ms, **e.data}) for e in events]


class RunLog:
    def __init__(self, prefix: str, make_run: Callable[[str, dict[str, Any]], Any], started_type: str,
                 input_events: dict[str, str]):
        self.prefix, self.make_run, self.started_type = prefix, make_run, started_type
        self.input_events = input_events  # input kind -> the event type recording it
        self.inputs = set(input_events.values())

    def stream_name(self, run_id: str) -> str:
        return f"{self.prefix}-{run_id}"

    def _recorded(self, run: Any) -> NewEvent:
        given = run.inputs[-1]
        return NewEvent(self.input_events[given["input"]], run.recorded(given))

    def start(self, store: EventStore, log: str, run_id: str, started: dict[str, Any],
              inputs: list[dict[str, Any]] = ()) -> tuple[Any, AppendResult]:
        """A new run (with `inputs` already taken, for a fork), appended as one stream."""
        run = self.make_run(run_id, started)
        new = [NewEvent(self.started_type, {"run_id": run_id, **started}), *engine_events(run.sim.history)]
        for given in inputs:
            caused = run.act(given)
            new += [self._recorded(run), *engine_events(caused)]
        return self._saved(run, store.append(log, self.stream_name(run_id), new, expected_version=0))

    def load(self, store: EventStore, log: str, run_id: str, at_step: int | None = None) -> Any:
        """The run replayed from its inputs (up to step `at_step` if given)."""
        events = store.read_stream(log, self.stream_name(run_id))
        if not events or events[0].type != self.started_type:
            raise UnknownRun(f"No run {run_id[:40]!r} in this lab.")
        run = self.replay(run_id, events, at_step)
        run.version = events[-1].version
        return run

    def replay(self, run_id: str, events: list[RecordedEvent], at_step: int | None = None) -> Any:
        started = {k: v for k, v in events[0].data.items() if k != "run_id"}
        run = self.make_run(run_id, started)
        run.stale = ""
        for event in events[1:]:
            if event.type not in self.inputs:
                continue
            if at_step is not None and run.steps >= at_step:
                break  # the run as it was right after step `at_step`, before anything that came next
            try:
                run.replayed(event.data, at_step)
            except Invalid as invalid:
                # Recorded by an earlier version of the lab's engine: its stored events stay as they are, the run
                # is shown as far as this engine can take it, and it takes no more input (a fork or Reset can).
                run.stale = (f"This run was recorded by an earlier version of the lab, and its input after step "
                             f"{run.steps} no longer applies ({invalid}). It is shown up to there; go back to fork "
                             "it, or start a new one.")
                break
        return run

    def act(self, store: EventStore, log: str, run_id: str, given: dict[str, Any]) -> tuple[Any, AppendResult]:
        """Apply one input (or, for `run`, steps until the network is empty) and append it with what it caused.
        Raises Invalid (nothing appended) when the run cannot take it."""
        run = self.load(store, log, run_id)
        if run.stale:
            raise Invalid(run.stale)
        new: list[NewEvent] = []
        if given["input"] == "run" and not getattr(run, "run_is_an_input", False):
            if not run.sim.pending():
                raise Invalid(run.idle_reason())
            if run.steps >= MAX_STEPS:
                raise Invalid(f"A run takes at most {MAX_STEPS:,} steps.")
            while run.sim.pending() and run.steps < MAX_STEPS:
                more = run.act({"input": "step"})
                new += [self._recorded(run), *engine_events(more)]
        else:
            caused = run.act(given)
            new = [self._recorded(run), *engine_events(caused)]
        return self._saved(run, store.append(log, self.stream_name(run_id), new, expected_version=run.version))

    @staticmethod
    def _saved(run: Any, result: AppendResult) -> tuple[Any, AppendResult]:
        run.version = result.events[-1].version
        return run, result

    def fork(self, store: EventStore, log: str, run_id: str, at_step: int, new_id: str) -> tuple[Any, AppendResult]:
        """A what-if run: the same start and the same inputs up to step `at_step`, in a stream of its own."""
        original = self.load(store, log, run_id)
        if isinstance(at_step, bool) or not isinstance(at_step, int) or not 0 <= at_step <= original.steps:
            raise Invalid(f"at_step must be a whole number from 0 to {original.steps} (the run's steps so far).")
        upto = self.load(store, log, run_id, at_step=at_step)
        started = {**original.started, "forked_from": run_id, "fork_step": at_step}
        return self.start(store, log, new_id, started, upto.inputs)

    def runs(self, store: EventStore, log: str) -> list[RecordedEvent]:
        """The start event of every run in the lab, newest first."""
        return store.read_back(log, store.head(log) + 1, 200, event_type=self.started_type)
