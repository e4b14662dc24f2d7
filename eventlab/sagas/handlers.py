"""Saga runs in a lab's log: start, act, load (at any step), fork. Pure: they take any EventStore.

A run is the stream `saga-<id>`. It holds the learner's inputs (`SagaRunStarted`, `SagaStepTaken`,
`SagaFaultsInjected`, `SagaRecoverRequested`, `SagaDeadLetterActed`), each followed by the engine's events it caused
(`MessageSent`, `MessageDelivered`, `OrderCreated`, `NodeCrashed`…, with their step and virtual time). Loading a run
replays its inputs on the pure engine; "Back" replays fewer of them. The caller owns the transaction.
"""

from __future__ import annotations

from typing import Any

from eventlab.eventstore.core import AppendResult, EventStore, NewEvent, RecordedEvent
from eventlab.sim.engine import SimEvent

from .runs import MAX_STEPS, Invalid, SagaRun

INPUT_EVENT = {"step": "SagaStepTaken", "faults": "SagaFaultsInjected", "recover": "SagaRecoverRequested",
               "retry": "SagaDeadLetterActed", "compensate": "SagaDeadLetterActed"}
INPUTS = set(INPUT_EVENT.values())


class UnknownRun(LookupError):
    pass


def stream_name(run_id: str) -> str:
    return f"saga-{run_id}"


def _engine_events(events: list[SimEvent]) -> list[NewEvent]:
    return [NewEvent(e.type, {"step": e.step, "at_ms": e.at_ms, **e.data}) for e in events]


def _recorded_input(given: dict[str, Any], run: SagaRun) -> NewEvent:
    data = dict(given)
    if given["input"] == "step" and run.predictions and run.predictions[-1]["step"] == run.steps:
        data["prediction"] = run.predictions[-1]
    return NewEvent(INPUT_EVENT[given["input"]], data)


def start(store: EventStore, log: str, run_id: str, started: dict[str, Any],
          inputs: list[dict[str, Any]] = ()) -> tuple[SagaRun, AppendResult]:
    """A new run (with `inputs` already taken, for a fork), appended as one stream."""
    run = SagaRun(run_id, started)
    new = [NewEvent("SagaRunStarted", {"run_id": run_id, **started}), *_engine_events(run.history)]
    for given in inputs:
        caused = run.act(given)
        new += [_recorded_input(run.inputs[-1], run), *_engine_events(caused)]
    return _saved(run, store.append(log, stream_name(run_id), new, expected_version=0))


def load(store: EventStore, log: str, run_id: str, at_step: int | None = None) -> SagaRun:
    """The run replayed from its inputs (up to step `at_step` if given)."""
    events = store.read_stream(log, stream_name(run_id))
    if not events or events[0].type != "SagaRunStarted":
        raise UnknownRun(f"No saga run {run_id[:40]!r} in this lab.")
    run = replay(run_id, events, at_step)
    run.version = events[-1].version
    return run


def replay(run_id: str, events: list[RecordedEvent], at_step: int | None = None) -> SagaRun:
    started = {k: v for k, v in events[0].data.items() if k != "run_id"}
    run = SagaRun(run_id, started)
    for event in events[1:]:
        if event.type not in INPUTS:
            continue
        if at_step is not None and run.steps >= at_step:
            break  # the run as it was right after step `at_step`, before anything that came next
        given = {k: v for k, v in event.data.items() if k not in ("predict", "prediction")}
        run.act(given)
        if "prediction" in event.data:
            run.predictions.append(event.data["prediction"])
    return run


def act(store: EventStore, log: str, run_id: str, given: dict[str, Any]) -> tuple[SagaRun, AppendResult]:
    """Apply one input (or, for `run`, steps until the network is empty) and append it with what it caused.
    Raises Invalid (nothing appended) when the run cannot take it."""
    run = load(store, log, run_id)
    new: list[NewEvent] = []
    if given["input"] == "run":
        if not run.sim.pending():
            raise Invalid(run.idle_reason())
        while run.sim.pending() and run.steps < MAX_STEPS:
            more = run.act({"input": "step"})
            new += [_recorded_input(run.inputs[-1], run), *_engine_events(more)]
    else:
        caused = run.act(given)
        new = [_recorded_input(run.inputs[-1], run), *_engine_events(caused)]
    return _saved(run, store.append(log, stream_name(run_id), new, expected_version=run.version))


def _saved(run: SagaRun, result: AppendResult) -> tuple[SagaRun, AppendResult]:
    run.version = result.events[-1].version
    return run, result


def fork(store: EventStore, log: str, run_id: str, at_step: int, new_id: str) -> tuple[SagaRun, AppendResult]:
    """A what-if run: the same start and the same inputs up to step `at_step`, in a stream of its own."""
    original = load(store, log, run_id)
    if isinstance(at_step, bool) or not isinstance(at_step, int) or not 0 <= at_step <= original.steps:
        raise Invalid(f"at_step must be a whole number from 0 to {original.steps} (the run's steps so far).")
    upto = load(store, log, run_id, at_step=at_step)
    started = {**original.started, "forked_from": run_id, "fork_step": at_step}
    return start(store, log, new_id, started, upto.inputs)


def runs(store: EventStore, log: str) -> list[RecordedEvent]:
    """The SagaRunStarted event of every run in the lab, newest first."""
    return store.read_back(log, store.head(log) + 1, 200, event_type="SagaRunStarted")
