"""Simulation runs kept in a lab's log: start, act, load (at any step), fork. Pure: they take any EventStore.

A run is a stream `<prefix>-<id>`. It holds the learner's inputs (the start, each step, faults injected, a recovery…),
each followed by the engine's events it caused (`MessageSent`, `MessageDelivered`, `NodeCrashed`, the nodes' own
events…, with their step and virtual time). Loading a run replays its inputs on the pure engine; "Back" replays fewer
of them; a fork replays them up to a step into a new stream. The caller owns the transaction.

A lab's run class (the saga lab's SagaRun, the 2PC lab's TwoPCRun, the resilience lab's ResilienceRun) is a
SimulationRun (eventlab/sim/protocol.py, checked by mypy): `Run(run_id, started)`, `act(given) -> engine events
caused` (raises Invalid), `inputs`, `steps`, `sim`, `idle_reason()`, `started`, `version`, `stale`, and
`recorded(given) -> data to store` / `replayed(data, until_step)` (take an input again from the log, going no further
than step `until_step` if it is not None). An input "run" steps until nothing is in flight, unless the class's
`run_is_an_input` is true (it then takes "run" itself).

Runs are not replayed per request. A RunLog keeps a bounded in-process cache (LRU, RUNS_CACHED runs) of each run at
its head, keyed by (store, log, stream) and tagged with the stream version and the event id of the run's last event;
with it, every SNAPSHOT_EVERY steps, the run as it was after an input, pickled (an in-process snapshot, at most
SNAPSHOTS_KEPT per run: node factories are classes or partials, never lambdas, so a run's whole engine state pickles).
A load reads the stream only from the cached version: if the event there still has the cached id (a rolled-back append,
another process or another store can never produce the same event id), the run is the cached one plus the inputs
appended since; otherwise the cache is dropped and the run is replayed in full. So correctness comes from the
stream, never from the cache alone, and several server processes each keep their own. Back (`at_step`) and fork
replay from the nearest snapshot at or before the step (a fork then still takes its inputs again to write its own
stream; a snapshot is taken between inputs, so Back inside one long resilience Run replays up to that Run); snapshot + tail equals a full replay (tests/unit/
test_run_snapshots.py checks it for every preset and for random fault plans). A run at the head is shared by the
loads that hit the cache: callers must not change a loaded run except through `act`, which takes the run out of the
cache while it changes it and puts it back only once its append succeeded (so a run still in a caller's hands
shows that input too: read what you compare before acting).
"""

from __future__ import annotations

import pickle  # noqa: S403 (only bytes this process pickled itself, never read from outside)
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from eventlab.eventstore.core import AppendResult, EventStore, NewEvent, RecordedEvent
from eventlab.sim.engine import SimEvent
from eventlab.sim.protocol import MakeRun, SimulationRun

MAX_STEPS = 1_000  # a run never takes more
RUNS_CACHED = 32  # runs kept at their head, per RunLog (least recently used dropped first)
SNAPSHOT_EVERY = 25  # steps between two in-process snapshots of a run
SNAPSHOTS_KEPT = 12  # per run at most (the oldest are thinned out first)
REPLAY_DROPS = ("predict", "prediction")  # what a lab's `replayed` takes off an input before taking it again


class Invalid(ValueError):
    """Input a run cannot take, in plain words. Nothing is appended."""


class UnknownRun(LookupError):
    pass


@dataclass
class Snapshot:
    """A run as it was right after one of its inputs, pickled (a 300-second resilience run at 100 requests/s is
    about 150 kB, and pickles and unpickles several times faster than a deep copy): `steps_before` and `steps` the
    steps before and after that input, `version` and `event_id` those of the stream's last event then."""

    steps_before: int
    steps: int
    version: int
    event_id: str
    state: bytes

    @property
    def run(self) -> SimulationRun:
        return thaw(self.state)


def freeze(run: SimulationRun) -> bytes:
    return pickle.dumps(run, protocol=pickle.HIGHEST_PROTOCOL)


def thaw(state: bytes) -> SimulationRun:
    run: SimulationRun = pickle.loads(state)  # noqa: S301 (bytes `freeze` made in this process)
    return run


@dataclass
class Cached:
    version: int
    event_id: str
    run: SimulationRun | None  # None: the head was given up (a failed act), only the snapshots stay
    snapshots: list[Snapshot] = field(default_factory=list)


class RunCache:
    """A bounded LRU of runs at their head (see the module's docstring). Thread-safe."""

    def __init__(self, size: int = RUNS_CACHED):
        self.size = size
        self._entries: OrderedDict[CacheKey, Cached] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: CacheKey) -> Cached | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
            return entry

    def put(self, key: CacheKey, entry: Cached) -> None:
        with self._lock:
            self._entries[key] = entry
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def pop(self, key: CacheKey) -> Cached | None:
        with self._lock:
            return self._entries.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


CacheKey = tuple[int, str, str]  # (id of the store, the lab's log, the run's stream)


def run_to_the_end(run: Any) -> bool:
    """On the pure engine, no log: step until nothing is in flight; recover what crashed (as a person would) and
    carry on. Returns whether a person had to recover something."""
    recovered = False
    run.sim.run(max_steps=MAX_STEPS)
    for _ in range(3):
        if not run.sim.crashed:
            break
        recovered = True
        run.act({"input": "recover"})
        run.sim.run(max_steps=MAX_STEPS - run.steps)
    return recovered


def engine_events(events: list[SimEvent]) -> list[NewEvent]:
    return [NewEvent(e.type, {"step": e.step, "at_ms": e.at_ms, **e.data}) for e in events]


class RunLog:
    def __init__(self, prefix: str, make_run: MakeRun, started_type: str,
                 input_events: dict[str, str]):
        self.prefix, self.make_run, self.started_type = prefix, make_run, started_type
        self.input_events = input_events  # input kind -> the event type recording it
        self.inputs = set(input_events.values())
        self.cache = RunCache()
        self.replayed_inputs = 0  # inputs taken again from the log, ever (what the benchmark counts per Step)

    def stream_name(self, run_id: str) -> str:
        return f"{self.prefix}-{run_id}"

    def _recorded(self, run: SimulationRun) -> NewEvent:
        given = run.inputs[-1]
        return NewEvent(self.input_events[given["input"]], run.recorded(given))

    def start(self, store: EventStore, log: str, run_id: str, started: dict[str, Any],
              inputs: Sequence[dict[str, Any]] = ()) -> tuple[SimulationRun, AppendResult]:
        """A new run (with `inputs` already taken, for a fork), appended as one stream."""
        run = self.make_run(run_id, started)
        run.stale = ""
        new = [NewEvent(self.started_type, {"run_id": run_id, **started}), *engine_events(run.sim.history)]
        for given in inputs:
            caused = run.act(given)
            new += [self._recorded(run), *engine_events(caused)]
        saved = self._saved(run, store.append(log, self.stream_name(run_id), new, expected_version=0))
        self._keep(self._key(store, log, run_id), run, saved[1].events[-1], [])
        return saved

    def _key(self, store: EventStore, log: str, run_id: str) -> CacheKey:
        return (id(store), log, self.stream_name(run_id))

    def load(self, store: EventStore, log: str, run_id: str, at_step: int | None = None) -> SimulationRun:
        """The run at its head (or as it was right after step `at_step`): the cached run plus what was appended
        since, or the nearest snapshot plus the inputs after it, or a full replay (see the module's docstring).
        The run at the head may be shared with other loads: change it only through `act`."""
        key = self._key(store, log, run_id)
        entry = self.cache.get(key)
        if at_step is None:
            return self._head(store, log, run_id, key, entry)
        if entry is not None:
            usable = [s for s in entry.snapshots if s.steps_before < at_step and s.steps <= at_step]
            if usable:
                snapshot = usable[-1]
                events = self._from(store, log, run_id, snapshot.version, snapshot.event_id)
                if events is not None:
                    run = snapshot.run
                    self._take(run, events[1:], at_step)
                    run.version = events[-1].version
                    return run
                self.cache.pop(key)
        events = self._read(store, log, run_id)
        run = self.replay(run_id, events, at_step)
        run.version = events[-1].version
        return run

    def _head(self, store: EventStore, log: str, run_id: str, key: CacheKey, entry: Cached | None) -> SimulationRun:
        if entry is not None:
            if entry.run is not None:
                base: tuple[int, str, SimulationRun | None] | None = (entry.version, entry.event_id, entry.run)
            elif entry.snapshots:  # the head was given up (a failed act): start from the newest snapshot
                newest = entry.snapshots[-1]
                base = (newest.version, newest.event_id, None)
            else:
                base = None
            if base is not None:
                version, event_id, cached = base
                events = self._from(store, log, run_id, version, event_id)
                if events is not None:
                    if len(events) == 1 and cached is not None:
                        return cached  # nothing new: no input replayed at all
                    # A copy (the cached run may be in a caller's hands), plus what was appended since.
                    run = thaw(freeze(cached)) if cached is not None else entry.snapshots[-1].run
                    snapshots = list(entry.snapshots)
                    self._take(run, events[1:], None, snapshots)
                    run.version = events[-1].version
                    self._keep(key, run, events[-1], snapshots)
                    return run
            self.cache.pop(key)
        events = self._read(store, log, run_id)
        kept: list[Snapshot] = []
        run = self._replay(run_id, events, None, kept)
        run.version = events[-1].version
        self._keep(key, run, events[-1], kept)
        return run

    def _read(self, store: EventStore, log: str, run_id: str) -> list[RecordedEvent]:
        events = store.read_stream(log, self.stream_name(run_id))
        if not events or events[0].type != self.started_type:
            raise UnknownRun(f"No run {run_id[:40]!r} in this lab.")
        return events

    def _from(self, store: EventStore, log: str, run_id: str, version: int, event_id: str
              ) -> list[RecordedEvent] | None:
        """The stream from `version` on, if the event there is still the one with `event_id` (else None)."""
        events = store.read_stream(log, self.stream_name(run_id), after_version=version - 1)
        if events and events[0].metadata.event_id == event_id:
            return events
        return None

    def _keep(self, key: CacheKey, run: SimulationRun, last: RecordedEvent, snapshots: list[Snapshot]) -> None:
        self.cache.put(key, Cached(last.version, last.metadata.event_id, run, snapshots))

    def replay(self, run_id: str, events: list[RecordedEvent], at_step: int | None = None) -> SimulationRun:
        """A full replay of the run's inputs (up to step `at_step` if given), with no cache and no snapshot."""
        return self._replay(run_id, events, at_step, None)

    def _replay(self, run_id: str, events: list[RecordedEvent], at_step: int | None,
                snapshots: list[Snapshot] | None) -> SimulationRun:
        started = {k: v for k, v in events[0].data.items() if k != "run_id"}
        run = self.make_run(run_id, started)
        run.stale = ""
        self._take(run, events[1:], at_step, snapshots)
        return run

    def _take(self, run: SimulationRun, events: list[RecordedEvent], at_step: int | None,
              snapshots: list[Snapshot] | None = None) -> None:
        """Take the inputs among `events` again (going no further than step `at_step`), snapshotting the run every
        SNAPSHOT_EVERY steps into `snapshots` if given."""
        if run.stale:
            return  # a stale run takes no more input
        for event in events:
            if event.type not in self.inputs:
                continue
            if at_step is not None and run.steps >= at_step:
                break  # the run as it was right after step `at_step`, before anything that came next
            before = run.steps
            try:
                self.replayed_inputs += 1
                run.replayed(event.data, at_step)
            except Invalid as invalid:
                # Recorded by an earlier version of the lab's engine: its stored events stay as they are, the run
                # is shown as far as this engine can take it, and it takes no more input (a fork or Reset can).
                run.stale = (f"This run was recorded by an earlier version of the lab, and its input after step "
                             f"{run.steps} no longer applies ({invalid}). It is shown up to there; go back to fork "
                             "it, or start a new one.")
                break
            if snapshots is not None:
                self._snapshot(snapshots, run, before, event)

    @staticmethod
    def _snapshot(snapshots: list[Snapshot], run: SimulationRun, before: int, event: RecordedEvent) -> None:
        if run.steps - (snapshots[-1].steps if snapshots else 0) < SNAPSHOT_EVERY:
            return
        snapshots.append(Snapshot(before, run.steps, event.version, event.metadata.event_id, freeze(run)))
        if len(snapshots) > SNAPSHOTS_KEPT:
            del snapshots[0::2]  # thinned out, oldest first: a Back to early steps replays more, but from the start

    def act(self, store: EventStore, log: str, run_id: str, given: dict[str, Any]) -> tuple[SimulationRun, AppendResult]:
        """Apply one input (or, for `run`, steps until the network is empty) and append it with what it caused.
        Raises Invalid (nothing appended) when the run cannot take it."""
        run = self.load(store, log, run_id)
        key = self._key(store, log, run_id)
        entry = self.cache.pop(key)  # the run is ours while it changes; back in the cache once appended
        snapshots = entry.snapshots if entry is not None and entry.run is run else []
        if run.stale:
            if entry is not None:
                self.cache.put(key, entry)  # unchanged
            raise Invalid(run.stale)
        try:
            new: list[NewEvent] = []
            before, taken = run.steps, len(run.inputs)
            if given["input"] == "run" and not run.run_is_an_input:
                if not run.sim.pending():
                    raise Invalid(run.idle_reason())
                if run.steps >= MAX_STEPS:
                    raise Invalid(f"A run takes at most {MAX_STEPS:,} steps.")
                while run.sim.pending() and run.steps < MAX_STEPS:
                    before = run.steps
                    more = run.act({"input": "step"})
                    new += [self._recorded(run), *engine_events(more)]
            else:
                caused = run.act(given)
                new = [self._recorded(run), *engine_events(caused)]
            saved = self._saved(run, store.append(log, self.stream_name(run_id), new, expected_version=run.version))
        except BaseException:
            # The run may be half changed: only its snapshots stay (the next load starts from the newest one).
            if entry is not None and entry.run is run:
                self.cache.put(key, Cached(0, "", None, snapshots))
            raise
        for n in range(taken, len(run.inputs)):  # as a replay takes them: a prediction is remembered, not asked
            run.inputs[n] = {k: v for k, v in run.inputs[n].items() if k not in REPLAY_DROPS}
        last = saved[1].events[-1]
        self._snapshot(snapshots, run, before, last)
        self._keep(key, run, last, snapshots)
        return saved

    @staticmethod
    def _saved(run: SimulationRun, result: AppendResult) -> tuple[SimulationRun, AppendResult]:
        run.version = result.events[-1].version
        return run, result

    def fork(self, store: EventStore, log: str, run_id: str, at_step: int, new_id: str) -> tuple[SimulationRun, AppendResult]:
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
