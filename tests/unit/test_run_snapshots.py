"""Runs are not replayed per request (eventlab.sim.runlog): the cached run at its head plus what was appended since,
and a snapshot plus the inputs after it, always equal a full replay of the run's inputs — for every preset of the
saga, 2PC and resilience labs and for random fault plans and inputs (hypothesis), at the head and at every step
going back, after a refused input, when another process (another RunLog with its own cache) appended, and cold."""

from __future__ import annotations

import contextlib
import copy
import json
import pickle
import random
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eventlab.eventstore.core import ConcurrencyError, InMemoryEventStore
from eventlab.resilience import runs as resilience
from eventlab.sagas import handlers as saga_handlers
from eventlab.sagas import runs as sagas
from eventlab.sim import runlog
from eventlab.sim.runlog import Invalid, RunCache
from eventlab.twopc import runs as twopc

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
LAB = "lab-1"


def presets(name: str) -> list[dict]:
    return [p["fields"]["start"] for p in json.loads((FIXTURES / f"{name}_presets.json").read_text())]


LABS = {
    "saga": (saga_handlers.LOG, sagas.parse_start, presets("saga"), sorted(sagas.OUTCOMES)),
    "twopc": (twopc.LOG, twopc.parse_start, presets("twopc"), sorted(twopc.OUTCOMES)),
    "resilience": (resilience.LOG, resilience.parse_start, presets("resilience"), sorted(resilience.OUTCOMES)),
}


@pytest.fixture(autouse=True)
def small_snapshots(monkeypatch):
    """Snapshots every 2 steps, at most 4 kept: short runs take (and thin out) many."""
    monkeypatch.setattr(runlog, "SNAPSHOT_EVERY", 2)
    monkeypatch.setattr(runlog, "SNAPSHOTS_KEPT", 4)
    for log, *_ in LABS.values():
        log.cache.clear()


def observed(run) -> dict:
    """Everything a page, the API or the next input can see of a run."""
    return {
        "steps": run.steps, "version": run.version, "stale": run.stale, "done": run.done,
        "inputs": run.inputs, "predictions": run.predictions, "as_dict": run.as_dict(), "prompt": run.prompt(),
        "history": [(e.step, e.at_ms, e.type, e.data) for e in run.sim.history],
        "random": run.sim.random.getstate(), "clock_ms": run.sim.clock_ms,
    }


def full(log, store, run_id: str, at_step: int | None = None) -> dict:
    events = store.read_stream(LAB, log.stream_name(run_id))
    run = log.replay(run_id, events, at_step)
    run.version = events[-1].version
    return observed(run)


def script_inputs(lab: str, rng: random.Random, outcomes: list[str], pool: list[dict], count: int) -> list[dict]:
    inputs = []
    for _ in range(count):
        pick = rng.random()
        if lab == "resilience":
            if pick < 0.45:
                given = {"input": "step"}
            elif pick < 0.6:
                given = {"input": "step", "predict": rng.choice(outcomes)}
            elif pick < 0.75:
                given = {"input": "run", "ms": rng.choice([2_000, 5_000, 12_000])}
            elif pick < 0.85:
                given = {"input": "settings", "settings": {"rate_rps": rng.choice([5, 20, 50])}}
            elif pick < 0.93:
                given = {"input": rng.choice(["kill", "restart"]), "service": rng.choice(["orders", "payments"]),
                         "instance": 1}
            else:
                fault = dict(rng.choice(pool)) if pool else {"kind": "latency", "service": "orders", "ms": 500}
                fault.pop("at_ms", None)
                given = {"input": "faults", "faults": [fault]}
        elif pick < 0.55:
            given = {"input": "step"}
        elif pick < 0.7:
            given = {"input": "step", "predict": rng.choice(outcomes)}
        elif pick < 0.8:
            given = {"input": "run"}
        elif pick < 0.9:
            given = {"input": "recover"}
        else:
            given = {"input": "faults", "faults": [rng.choice(pool)]} if pool else {"input": "step"}
        inputs.append(given)
    return inputs


def check(lab: str, start: dict, inputs: list[dict], rng: random.Random) -> None:
    log, parse_start, _, _ = LABS[lab]
    store = InMemoryEventStore()
    store.create_log(LAB)
    other = copy.copy(log)  # another server process: the same log, a cache of its own
    other.cache = RunCache()
    log.start(store, LAB, "run-1", parse_start(start))
    for n, taken in enumerate(inputs):
        acting = other if n % 5 == 4 else log
        try:
            run, _ = acting.act(store, LAB, "run-1", taken)
        except Invalid:
            run = log.load(store, LAB, "run-1")  # a refused input: the run from its snapshots, as it was
        assert observed(run) == full(log, store, "run-1"), taken
    head = log.load(store, LAB, "run-1")
    assert observed(head) == full(log, store, "run-1")
    snapshots = log.cache.get(log._key(store, LAB, "run-1")).snapshots
    assert head.steps < 4 or head.stale or snapshots  # Back below starts from one of them
    assert observed(other.load(store, LAB, "run-1")) == full(log, store, "run-1")
    backs = list(range(head.steps + 1))
    for k in backs if len(backs) <= 40 else sorted(rng.sample(backs, 40)):
        assert observed(log.load(store, LAB, "run-1", at_step=k)) == full(log, store, "run-1", k), k
    # The engine's state is serialisable (node factories are classes or partials, not lambdas): a pickled run is the
    # run, and it takes the next input as the run itself does (shared settings stay shared).
    again = pickle.loads(pickle.dumps(head))  # noqa: S301 (our own bytes)
    replayed = log.replay("run-1", store.read_stream(LAB, log.stream_name("run-1")))
    replayed.version = head.version
    assert observed(again) == observed(replayed)
    for run in (again, replayed):
        with contextlib.suppress(Invalid):
            run.act(inputs[-1] if inputs else {"input": "step"})
    assert observed(again) == observed(replayed)
    log.cache.clear()  # cold: a full replay at the head takes the snapshots, then Back starts from them
    assert observed(log.load(store, LAB, "run-1")) == full(log, store, "run-1")
    k = rng.randint(0, head.steps)
    assert observed(log.load(store, LAB, "run-1", at_step=k)) == full(log, store, "run-1", k)
    forked, _ = log.fork(store, LAB, "run-1", k, "run-2")
    assert [(e.type, e.data) for e in forked.sim.history] == [
        (t, d) for _, _, t, d in full(log, store, "run-1", k)["history"]]
    assert observed(forked) == full(log, store, "run-2")


@pytest.mark.parametrize(("lab", "index"), [(lab, i) for lab, (_, _, starts, _) in LABS.items()
                                            for i in range(len(starts))])
def test_snapshot_and_tail_equal_a_full_replay_for_every_preset(lab, index):
    _, _, starts, outcomes = LABS[lab]
    rng = random.Random(index)
    pool = [f for s in starts for f in s.get("faults", [])]
    check(lab, starts[index], script_inputs(lab, rng, outcomes, pool, 14), rng)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lab=st.sampled_from(sorted(LABS)), seed=st.integers(0, 2**31 - 1), plan=st.integers(0, 2**31 - 1))
def test_snapshot_and_tail_equal_a_full_replay_for_random_fault_plans(lab, seed, plan):
    _, _, starts, outcomes = LABS[lab]
    rng = random.Random(plan)
    pool = [f for s in starts for f in s.get("faults", [])]
    start = {**rng.choice(starts), "seed": seed % 1000}
    named = set(start.get("participants", ()))  # a 2PC fault may only name one of the start's participants
    fitting = [f for f in pool if "participant" not in f or not named or f["participant"] in named]
    start["faults"] = rng.sample(fitting, rng.randint(0, min(3, len(fitting))))
    if lab == "resilience":  # one fault of a kind per service and time is what the form offers; any plan is taken
        start["faults"] = [{**f, "at_ms": rng.choice([0, 2_000, 7_000])} for f in start["faults"]]
    check(lab, start, script_inputs(lab, rng, outcomes, pool, 12), rng)


@pytest.mark.parametrize("lab", sorted(LABS))
def test_a_failed_append_leaves_the_cache_as_the_stream_is(lab, monkeypatch):
    """An append refused by the store (here a conflict, as when another process appended first) must not leave the
    half-changed run in the cache: the next load is the stream's run, and the next input goes on from there."""
    log, parse_start, starts, _ = LABS[lab]
    store = InMemoryEventStore()
    store.create_log(LAB)
    log.start(store, LAB, "run-1", parse_start(starts[0]))
    for _ in range(5):
        log.act(store, LAB, "run-1", {"input": "step"})
    before = full(log, store, "run-1")
    real = store.append

    def refused(*args, **kwargs):
        raise ConcurrencyError(log.stream_name("run-1"), 1, 2)

    monkeypatch.setattr(store, "append", refused)
    with pytest.raises(ConcurrencyError):
        log.act(store, LAB, "run-1", {"input": "step"})
    monkeypatch.setattr(store, "append", real)
    assert observed(log.load(store, LAB, "run-1")) == before
    run, _ = log.act(store, LAB, "run-1", {"input": "step"})
    assert observed(run) == full(log, store, "run-1") and run.steps == before["steps"] + 1
