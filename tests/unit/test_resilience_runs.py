"""Resilience-lab runs stored in a lab's log (eventlab.resilience.runs.LOG over the in-memory store): the start as
validated, the learner's inputs (a second, a Run with a virtual-time budget, settings changes, faults, kills and
restarts, predictions) replayed on the pure system — determinism, loading, going back to a step inside a long Run,
forking — and every setting validated in plain words, a refusal appending nothing."""

import pytest

from eventlab.eventstore.core import InMemoryEventStore, NewEvent
from eventlab.resilience import runs
from eventlab.resilience.runs import (
    LOG,
    MAX_RUN_MS,
    OUTCOMES,
    Invalid,
    parse_faults,
    parse_settings,
    parse_start,
    settings_dict,
)
from eventlab.resilience.system import Settings
from eventlab.sim.runlog import UnknownRun

LAB = "lab-1"
RUN = "run-1"
INPUTS = {"ResilienceAdvanced", "ResilienceSettingsChanged", "ResilienceFaultsInjected", "ResilienceInstanceKilled",
          "ResilienceInstanceRestarted"}
BREAKER = {"window": "count", "window_size": 10, "minimum_calls": 5, "failure_rate_threshold": 50,
           "wait_open_ms": 5_000, "half_open_calls": 3}
TRIPS = {"seed": 1, "settings": {"rate_rps": 20, "breaker": BREAKER},
         "faults": [{"kind": "failure_rate", "service": "payments", "pct": 80, "at_ms": 5_000},
                    {"kind": "failure_rate", "service": "payments", "pct": 0, "at_ms": 20_000}]}


def new_store() -> InMemoryEventStore:
    store = InMemoryEventStore()
    store.create_log(LAB)
    return store


def begin(store, body=None, run_id=RUN):
    return LOG.start(store, LAB, run_id, parse_start(body if body is not None else {"seed": 1}))[0]


def act(store, given, run_id=RUN):
    return LOG.act(store, LAB, run_id, given)[0]


def step(store, run_id=RUN, **extra):
    return act(store, {"input": "step", **extra}, run_id)


def run_for(store, ms=None, run_id=RUN, **extra):
    return act(store, {"input": "run", **({} if ms is None else {"ms": ms}), **extra}, run_id)


def change(store, settings, run_id=RUN):
    return act(store, {"input": "settings", "settings": settings}, run_id)


def inject(store, faults, run_id=RUN):
    return act(store, {"input": "faults", "faults": faults}, run_id)


def kill(store, service="orders", instance=2, run_id=RUN):
    return act(store, {"input": "kill", "service": service, "instance": instance}, run_id)


def restart(store, service="orders", instance=2, run_id=RUN):
    return act(store, {"input": "restart", "service": service, "instance": instance}, run_id)


def load(store, run_id=RUN, at_step=None):
    return LOG.load(store, LAB, run_id, at_step)


def stored(store, run_id=RUN):
    """The run's stream as (version, type, data): everything but the random ids and wall-clock times."""
    return [(e.version, e.type, e.data) for e in store.read_stream(LAB, LOG.stream_name(run_id))]


def refused(do, *fragments) -> str:
    """`do()` raises Invalid whose message says all of `fragments`."""
    with pytest.raises(Invalid) as caught:
        do()
    message = str(caught.value)
    for fragment in fragments:
        assert fragment in message, message
    assert 5 < len(message) < 300, message
    return message


def play(store, run_id=RUN):
    """The same inputs, whatever the store: a second, a settings change, faults, a kill, a Run, a restart, a
    predicted second, another Run."""
    begin(store, TRIPS, run_id)
    step(store, run_id)
    change(store, {"rate_rps": 30, "retry": {"max_attempts": 3, "jitter": "full"}}, run_id)
    inject(store, [{"kind": "latency", "service": "inventory", "ms": 300}], run_id)
    kill(store, run_id=run_id)
    run_for(store, 5_000, run_id)
    restart(store, run_id=run_id)
    step(store, run_id, predict="nothing")
    return run_for(store, 12_000, run_id)


# --- Starting, determinism, loading ----------------------------------------------------------------------------------


def test_the_start_is_stored_as_validated_with_every_default_filled_in():
    store = new_store()
    run = begin(store, {"seed": 9, "settings": {"rate_rps": 5, "services": {"payments": {"failure_pct": 10}}},
                        "faults": [{"kind": "kill", "service": "orders", "instance": 3}]})

    [(version, kind, data)] = stored(store)  # the system does nothing before its first second
    assert (version, kind) == (1, "ResilienceRunStarted")
    assert data["run_id"] == RUN and data["seed"] == 9
    assert data["faults"] == [{"kind": "kill", "service": "orders", "instance": 3, "at_ms": 0}]
    settings = data["settings"]
    assert settings == settings_dict(parse_settings({"rate_rps": 5, "services": {"payments": {"failure_pct": 10}}}))
    assert settings["services"] == {"orders": {"instances": 3, "failure_pct": 0.0, "latency_ms": 50},
                                    "payments": {"instances": 3, "failure_pct": 10, "latency_ms": 50},
                                    "inventory": {"instances": 3, "failure_pct": 0.0, "latency_ms": 50}}
    assert (settings["breaker"], settings["bulkhead"], settings["retry"]) == (None, None, None)
    assert settings["rate_limit"] == {"capacity": 20, "refill_per_s": 10.0}
    assert settings["discovery"] == {"heartbeat_ms": 1_000, "evict_after": 3}
    assert (run.steps, run.sim.clock_ms, run.done) == (0, 0, False)
    assert run.as_dict()["series"] == []


def test_as_dict_answers_every_part_of_the_run():
    store = new_store()
    begin(store, TRIPS)

    run = run_for(store, 8_000)
    state = run.as_dict()

    assert set(state) == {"id", "seed", "step", "clock_ms", "done", "settings", "faults", "series", "breakers",
                          "registry", "totals", "retry_schedule", "requests", "clients", "forked_from", "fork_step"}
    assert (state["id"], state["seed"], state["step"], state["clock_ms"], state["done"]) == (RUN, 1, 8, 8_000, False)
    assert [t["second"] for t in state["series"]] == list(range(1, 9))
    assert set(state["breakers"]) == {"orders", "payments", "inventory"}
    payments = state["breakers"]["payments"]
    assert set(payments) == {"state", "since_ms", "calls", "failure_rate", "slow_rate", "not_permitted",
                             "half_open_permits", "open_wait_ms", "openings_in_a_row", "ignored",
                             "transitions"}
    assert payments["state"] == "OPEN" and payments["transitions"][0]["to"] == "OPEN"
    assert [i["name"] for i in state["registry"]["orders"]] == ["orders-1", "orders-2", "orders-3"]
    assert set(state["totals"]) == {"requests", "outcomes", "attempts", "calls", "retries", "load_factor"}
    assert state["totals"]["requests"] == sum(t["requests"] for t in state["series"])
    assert len(state["requests"]) == 20 and state["requests"][0]["id"] > state["requests"][-1]["id"]  # newest first
    assert state["retry_schedule"] == []  # no retry


def test_the_same_start_and_inputs_give_the_same_run_and_the_same_stored_stream():
    first_store, second_store = new_store(), new_store()

    first, second = play(first_store), play(second_store)

    assert first.sim.history == second.sim.history
    assert first.as_dict() == second.as_dict()
    assert stored(first_store) == stored(second_store)
    assert first.steps == 19 and first.sim.clock_ms == 19_000
    # Every engine event is stored with its step and virtual time; inputs are stored as given (validated).
    events = stored(first_store)
    assert all("step" in data and "at_ms" in data for _, kind, data in events
               if kind not in INPUTS and kind != "ResilienceRunStarted")
    assert [kind for _, kind, _ in events if kind in INPUTS] == [
        "ResilienceAdvanced", "ResilienceSettingsChanged", "ResilienceFaultsInjected", "ResilienceInstanceKilled",
        "ResilienceAdvanced", "ResilienceInstanceRestarted", "ResilienceAdvanced", "ResilienceAdvanced"]


def test_a_run_id_changes_nothing_but_the_run_id():
    store = new_store()
    play(store, "run-a")
    play(store, "run-b")

    a, b = stored(store, "run-a"), stored(store, "run-b")

    assert a[0][2].pop("run_id") == "run-a" and b[0][2].pop("run_id") == "run-b"
    assert a == b


def test_another_seed_gives_another_run():
    one, other = new_store(), new_store()
    begin(one, {**TRIPS, "seed": 1})
    begin(other, {**TRIPS, "seed": 2})

    assert run_for(one, 5_000).sim.ticks != run_for(other, 5_000).sim.ticks


def test_a_second_at_a_time_or_one_run_give_the_same_system():
    by_step, by_run = new_store(), new_store()
    begin(by_step, TRIPS)
    begin(by_run, TRIPS)
    for _ in range(7):
        stepped = step(by_step)

    ran = run_for(by_run, 7_000)

    assert stepped.sim.history == ran.sim.history and stepped.as_dict() == ran.as_dict()
    assert [k for _, k, _ in stored(by_step)].count("ResilienceAdvanced") == 7
    assert [k for _, k, _ in stored(by_run)].count("ResilienceAdvanced") == 1


def test_loading_a_run_gives_the_live_run_after_every_input():
    store = new_store()
    live = begin(store, TRIPS)
    assert load(store).as_dict() == live.as_dict()
    inputs = [{"input": "step"}, {"input": "run", "ms": 3_000}, {"input": "kill", "service": "payments", "instance": 1},
              {"input": "settings", "settings": {"bulkhead": {"kind": "threadpool", "max_concurrent": 3}}},
              {"input": "faults", "faults": [{"kind": "failure_rate", "service": "orders", "pct": 20}]},
              {"input": "run", "ms": 4_500}, {"input": "restart", "service": "payments", "instance": 1},
              {"input": "step"}]

    for given in inputs:
        live = act(store, given)
        loaded = load(store)
        assert loaded.as_dict() == live.as_dict(), given
        assert loaded.sim.history == live.sim.history
        assert loaded.version == live.version == len(stored(store))
    assert live.steps == 9  # 4,500 ms is four whole seconds


def test_an_unknown_run_is_an_unknown_run_and_another_labs_stream_is_not_a_resilience_run():
    store = new_store()
    store.append(LAB, "resilience-other", [NewEvent("SomethingElse", {})], expected_version=0)

    for do in (lambda: load(store, "nope"), lambda: step(store, "nope"), lambda: run_for(store, run_id="nope"),
               lambda: kill(store, run_id="nope"), lambda: LOG.fork(store, LAB, "nope", 0, "run-2"),
               lambda: load(store, "other")):
        with pytest.raises(UnknownRun):
            do()


def test_the_runs_of_a_lab_newest_first():
    store = new_store()
    begin(store, {"seed": 3}, "run-a")
    begin(store, {"seed": 4}, "run-b")
    step(store, "run-a")

    assert [e.data["run_id"] for e in LOG.runs(store, LAB)] == ["run-b", "run-a"]


# --- Back to a step (inside a long Run), and what-if forks ------------------------------------------------------------


def test_back_to_a_step_inside_a_long_run_is_the_run_as_it_was_after_that_second():
    store = new_store()
    begin(store, TRIPS)
    whole = run_for(store, 12_000)
    kill(store)  # after second 12
    whole = run_for(store, 3_000)
    by_step = new_store()
    begin(by_step, TRIPS)

    for k in range(0, 13):
        back = load(store, at_step=k)
        assert (back.steps, back.sim.clock_ms) == (k, k * 1_000)
        assert back.sim.ticks == whole.sim.ticks[:k]
        if k:
            assert back.as_dict() == step(by_step).as_dict()  # the same as k single seconds
    assert load(store, at_step=12).registry()["orders"][1]["alive"] is True  # back at 12: before the kill
    assert load(store, at_step=13).registry()["orders"][1]["alive"] is False
    assert load(store, at_step=15).as_dict() == whole.as_dict()
    assert len(stored(store)) == load(store).version  # looking back appends nothing


def test_a_fork_inside_a_long_run_shares_its_first_seconds_and_leaves_the_original_untouched():
    store = new_store()
    begin(store, TRIPS)
    original = run_for(store, 10_000)
    before = stored(store)

    forked, appended = LOG.fork(store, LAB, RUN, 6, "run-2")

    assert appended.events[0].stream == "resilience-run-2"
    assert (forked.id, forked.steps, forked.started["forked_from"], forked.started["fork_step"]) == (
        "run-2", 6, RUN, 6)
    assert (forked.as_dict()["forked_from"], forked.as_dict()["fork_step"]) == (RUN, 6)
    assert forked.sim.ticks == original.sim.ticks[:6]
    assert [d for _, k, d in stored(store, "run-2") if k == "ResilienceAdvanced"] == [{"input": "run", "ms": 6_000}]
    # What if payments had had a breaker that never waits half-open? Only the fork changes.
    what_if = change(store, {"breaker": {**BREAKER, "wait_open_ms": 1_000}}, "run-2")
    assert what_if.sim.breakers["payments"].settings.wait_open_ms == 1_000
    run_for(store, 4_000, "run-2")
    assert stored(store) == before
    assert load(store).as_dict() == original.as_dict()
    assert load(store, "run-2").started["forked_from"] == RUN  # survives a reload


@pytest.mark.parametrize("at_step", [-1, 4, 99, True, "1", None, 1.0])
def test_a_fork_outside_the_run_is_refused_and_appends_nothing(at_step):
    store = new_store()
    begin(store)
    run_for(store, 3_000)
    head = store.head(LAB)

    refused(lambda: LOG.fork(store, LAB, RUN, at_step, "run-2"), "at_step", "0 to 3")

    assert store.head(LAB) == head


# --- Running: the budget and the five-minute cap --------------------------------------------------------------------


@pytest.mark.parametrize(("ms", "seconds"), [(None, 10), (1_000, 1), (1_999, 1), (2_500, 2), (120_000, 120)])
def test_a_run_advances_its_budget_in_whole_seconds(ms, seconds):
    store = new_store()
    begin(store, {"settings": {"rate_rps": 1}})

    run = run_for(store, ms)

    assert (run.steps, run.sim.clock_ms) == (seconds, seconds * 1_000)


@pytest.mark.parametrize("ms", [999, 0, -1_000, 120_001, 10**12, 1_500.0, "5000", True, None, [5_000]])
def test_a_budget_out_of_range_or_not_a_whole_number_is_refused_and_appends_nothing(ms):
    store = new_store()
    begin(store)
    head = store.head(LAB)

    refused(lambda: act(store, {"input": "run", "ms": ms}), "ms must be a whole number from 1,000 to 120,000")

    assert store.head(LAB) == head


def test_a_run_stops_at_five_virtual_minutes_and_then_refuses_to_go_on():
    store = new_store()
    begin(store, {"settings": {"rate_rps": 0.5}})
    run_for(store, 120_000)
    run_for(store, 120_000)

    run = run_for(store, 120_000)  # only 60 s were left

    assert (run.sim.clock_ms, run.steps, run.done) == (MAX_RUN_MS, 300, True)
    assert run.prompt() is None
    head = store.head(LAB)
    for do in (lambda: step(store), lambda: run_for(store)):
        assert refused(do) == "A run lasts at most 300 virtual seconds: reset to start again."
    assert store.head(LAB) == head
    assert run.idle_reason() == "The run has reached 300 virtual seconds."


def test_an_unknown_input_is_refused():
    store = new_store()
    run = begin(store)

    for kind in ("recover", None, 7, "x" * 500):
        refused(lambda kind=kind: run.act({"input": kind}), "Unknown input")


# --- Settings changed mid-run ----------------------------------------------------------------------------------------


def test_a_settings_change_takes_effect_from_now_and_is_stored_as_validated():
    store = new_store()
    begin(store, {"settings": {"rate_rps": 10}})
    run_for(store, 5_000)

    run = change(store, {"rate_rps": 60, "rate_limit": {"capacity": 0}})
    run = run_for(store, 5_000)

    before = sum(t["requests"] for t in run.sim.ticks[:5])
    after = sum(t["requests"] for t in run.sim.ticks[5:])
    assert 30 <= before <= 80 and 230 <= after <= 380
    assert run.settings.rate_rps == 60 and run.as_dict()["settings"]["rate_limit"]["capacity"] == 0
    [(_, _, data)] = [e for e in stored(store) if e[1] == "ResilienceSettingsChanged"]
    assert data == {"input": "settings", "settings": {"rate_rps": 60, "rate_limit": {"capacity": 0}}}
    [noted] = [e for e in run.sim.history if e.type == "SettingsChanged"]
    assert (noted.step, noted.at_ms) == (5, 5_000) and noted.data["settings"]["rate_rps"] == 60


def test_a_settings_change_keeps_what_the_faults_have_done():
    store = new_store()
    begin(store, TRIPS)
    run_for(store, 8_000)  # payments fails 80% since 5 s

    run = change(store, {"rate_rps": 25})

    assert run.settings.services["payments"].failure_pct == 80
    assert run.as_dict()["settings"]["services"]["payments"]["failure_pct"] == 80
    run = run_for(store, 4_000)
    assert run.sim.breakers["payments"].state != "CLOSED" or any(
        t["outcomes"].get("error") for t in run.sim.ticks[8:])
    # ... and a change naming the service wins over the fault, until the next fault acts.
    run = change(store, {"services": {"payments": {"failure_pct": 0}}})
    assert run.settings.services["payments"].failure_pct == 0


def test_a_breaker_switched_on_mid_run_starts_closed_and_one_changed_keeps_its_state():
    store = new_store()
    begin(store, {"settings": {"rate_rps": 20, "services": {"payments": {"failure_pct": 100}}}})
    run_for(store, 2_000)

    run = change(store, {"breaker": {**BREAKER, "wait_open_ms": 60_000}})
    assert {b.state for b in run.sim.breakers.values()} == {"CLOSED"}
    run = run_for(store, 3_000)
    assert run.sim.breakers["payments"].state == "OPEN"

    run = change(store, {"breaker": {**BREAKER, "wait_open_ms": 1_000}})  # the same breaker, a shorter wait
    assert run.sim.breakers["payments"].state == "OPEN" and run.sim.breakers["payments"].transitions
    run = run_for(store, 2_000)
    assert ("OPEN", "HALF_OPEN") in [(t.source, t.target) for t in run.sim.breakers["payments"].transitions]

    run = change(store, {"breaker": None})
    assert run.sim.breakers == {} and run.as_dict()["breakers"] == {}
    run = run_for(store, 2_000)
    assert not any(t["outcomes"].get("breaker_open") for t in run.sim.ticks[-2:])
    assert load(store).as_dict() == run.as_dict()


def test_a_stuck_half_open_breaker_given_a_maximum_wait_goes_back_to_open_at_once():
    store = new_store()
    begin(store, {"settings": {"rate_rps": 20, "timeout_ms": 60_000, "breaker": BREAKER},
                  "faults": [{"kind": "failure_rate", "service": "payments", "pct": 100, "at_ms": 2_000},
                             {"kind": "latency", "service": "payments", "ms": 40_000, "at_ms": 6_000}]})
    stuck = run_for(store, 15_000)
    assert stuck.sim.breakers["payments"].state == "HALF_OPEN"

    run = change(store, {"breaker": {**BREAKER, "max_wait_half_open_ms": 5_000}})

    assert run.sim.breakers["payments"].state == "OPEN"
    kinds = [e.type for e in run.sim.history[-2:]]
    assert kinds == ["SettingsChanged", "BreakerTransitioned"]  # the change, then what it did
    assert run.sim.history[-1].data["reason"] == "the test calls did not finish within 5,000 ms"
    assert load(store).as_dict() == run.as_dict()


def test_a_bulkhead_resized_mid_run_keeps_its_calls_and_a_new_layout_starts_empty():
    store = new_store()
    begin(store, {"settings": {"rate_rps": 20, "timeout_ms": 5_000,
                               "bulkhead": {"kind": "semaphore", "max_concurrent": 10, "shared": True}},
                  "faults": [{"kind": "latency", "service": "payments", "ms": 2_000}]})
    run = run_for(store, 4_000)
    shared = run.sim.bulkheads["payments"]
    busy = shared.in_use
    assert busy > 0

    run = change(store, {"bulkhead": {"kind": "semaphore", "max_concurrent": 20, "shared": True}})
    assert run.sim.bulkheads["orders"] is run.sim.bulkheads["payments"]
    assert (run.sim.bulkheads["payments"].in_use, run.sim.bulkheads["payments"].settings.max_concurrent) == (busy, 20)

    run = change(store, {"bulkhead": {"kind": "semaphore", "max_concurrent": 5, "shared": False}})
    assert run.sim.bulkheads["orders"] is not run.sim.bulkheads["payments"]
    assert {b.in_use for b in run.sim.bulkheads.values()} == {0}
    run = run_for(store, 6_000)  # the calls in the old pool finished there; the new pools are not overdrawn
    assert all(0 <= b.in_use <= 5 for b in run.sim.bulkheads.values())
    assert set(run.sim.ticks[-1]["pools"]) == {"orders", "payments", "inventory"}


def test_the_rate_switched_off_and_on_again_in_one_instant_keeps_one_stream_of_arrivals():
    plain, toggled = new_store(), new_store()
    for store in (plain, toggled):
        begin(store, {"seed": 3, "settings": {"rate_rps": 20, "rate_limit": {"capacity": 0}}})
        step(store)
    change(toggled, {"rate_rps": 0})
    change(toggled, {"rate_rps": 20})

    a, b = run_for(plain, 20_000), run_for(toggled, 20_000)

    assert a.sim.ticks == b.sim.ticks  # the same arrivals: not twice as many


def test_the_rate_switched_off_stops_arrivals_and_back_on_starts_them():
    store = new_store()
    begin(store, {"settings": {"rate_rps": 20}})
    run_for(store, 2_000)
    change(store, {"rate_rps": 0})
    run = run_for(store, 3_000)
    assert [t["requests"] for t in run.sim.ticks[3:]] == [0, 0]

    change(store, {"rate_rps": 20})
    run = run_for(store, 2_000)
    assert all(t["requests"] > 5 for t in run.sim.ticks[-2:])


def test_the_number_of_instances_cannot_change_mid_run():
    store = new_store()
    begin(store)
    head = store.head(LAB)

    refused(lambda: change(store, {"services": {"orders": {"instances": 5}}}), "kill or restart instances instead")

    assert store.head(LAB) == head
    change(store, {"services": {"orders": {"instances": 3, "latency_ms": 80}}})  # the same number is fine


# --- Kill, restart, faults -------------------------------------------------------------------------------------------


def test_kill_and_restart_an_instance():
    store = new_store()
    begin(store, {"settings": {"rate_rps": 30}})
    run_for(store, 2_000)

    run = kill(store, "payments", 1)
    assert run.registry()["payments"][0] | {"calls": 0} == {"name": "payments-1", "alive": False,
                                                            "registered": True, "last_heartbeat_ms": 1_000,
                                                            "calls": 0}
    run = run_for(store, 4_000)
    assert run.registry()["payments"][0]["registered"] is False
    run = restart(store, "payments", 1)
    assert run.registry()["payments"][0]["alive"] is True and run.registry()["payments"][0]["registered"] is True
    assert [e.type for e in run.sim.history if e.type.startswith("Instance")] == [
        "InstanceKilled", "InstanceEvicted", "InstanceRestarted", "InstanceRegistered"]
    kinds = [k for _, k, _ in stored(store)]
    assert kinds.count("ResilienceInstanceKilled") == kinds.count("ResilienceInstanceRestarted") == 1


@pytest.mark.parametrize(("given", "fragments"), [
    ({"input": "kill", "service": "orders", "instance": 2}, ("orders-2 is already down.",)),
    ({"input": "restart", "service": "orders", "instance": 1}, ("orders-1 is already up.",)),
    ({"input": "kill", "service": "billing", "instance": 1}, ("The service must be one of: orders, payments",)),
    ({"input": "kill", "service": "orders", "instance": 4}, ("instance must be a whole number from 1 to 3",)),
    ({"input": "kill", "service": "orders", "instance": 0}, ("from 1 to 3",)),
    ({"input": "kill", "service": "orders", "instance": "1"}, ("whole number",)),
    ({"input": "kill", "service": "orders", "instance": True}, ("whole number",)),
    ({"input": "restart", "service": "orders"}, ("whole number",)),
    ({"input": "kill", "service": ["orders"], "instance": 1}, ("The service must be one of",)),
])
def test_a_kill_or_restart_the_run_cannot_take_is_refused_and_appends_nothing(given, fragments):
    store = new_store()
    begin(store)
    kill(store, "orders", 2)
    head = store.head(LAB)

    refused(lambda: act(store, given), *fragments)

    assert store.head(LAB) == head


def test_faults_act_at_their_time_now_or_later_and_never_in_the_past():
    store = new_store()
    begin(store, {"settings": {"rate_rps": 20}})
    run_for(store, 5_000)
    head = store.head(LAB)

    refused(lambda: inject(store, [{"kind": "failure_rate", "service": "payments", "pct": 50, "at_ms": 4_999}]),
            "at_ms must be a whole number from 5,000 to 300,000")
    assert store.head(LAB) == head

    run = inject(store, [{"kind": "failure_rate", "service": "payments", "pct": 100},  # now
                         {"kind": "latency", "service": "orders", "ms": 700, "at_ms": 7_500}])
    assert run.faults[-2:] == [{"kind": "failure_rate", "service": "payments", "pct": 100, "at_ms": 5_000},
                               {"kind": "latency", "service": "orders", "ms": 700, "at_ms": 7_500}]
    [(_, _, data)] = [e for e in stored(store) if e[1] == "ResilienceFaultsInjected"]
    assert data["faults"] == run.faults[-2:]  # stored as validated, with their times
    run = run_for(store, 5_000)
    acted = [(e.at_ms, e.data["kind"]) for e in run.sim.history if e.type == "FaultActed"]
    assert acted == [(5_000, "failure_rate"), (7_500, "latency")]
    assert run.settings.services["payments"].failure_pct == 100 and run.settings.services["orders"].latency_ms == 700


def test_a_kill_fault_on_an_instance_already_down_changes_nothing():
    store = new_store()
    begin(store, {"faults": [{"kind": "kill", "service": "orders", "instance": 1, "at_ms": 1_000},
                             {"kind": "kill", "service": "orders", "instance": 1, "at_ms": 2_000}]})

    run = run_for(store, 3_000)

    assert [e.type for e in run.sim.history if e.type.startswith("Instance")] == ["InstanceKilled"]


@pytest.mark.parametrize(("faults", "fragments"), [
    ("kill", ("Faults must be a list.",)),
    (None, ("Faults must be a list.",)),
    ([{"kind": "meteor"}], ("Unknown fault kind 'meteor'", "failure_rate, latency, kill, restart")),
    ([{"kind": "k" * 5_000}], ("Unknown fault kind",)),
    (["kill"], ('A fault is an object with a "kind".',)),
    ([{"service": "orders"}], ('A fault is an object with a "kind".',)),
    ([{"kind": "failure_rate", "service": "orders", "pct": 101}], ("pct must be a number from 0 to 100",)),
    ([{"kind": "failure_rate", "service": "orders", "pct": -1}], ("pct must be a number from 0 to 100",)),
    ([{"kind": "failure_rate", "service": "orders", "pct": True}], ("pct must be a number",)),
    ([{"kind": "failure_rate", "service": "orders"}], ("pct must be a number",)),
    ([{"kind": "latency", "service": "orders", "ms": 0}], ("ms must be a whole number from 1 to 60,000",)),
    ([{"kind": "latency", "service": "orders", "ms": 10**9}], ("ms must be a whole number from 1 to 60,000",)),
    ([{"kind": "latency", "service": "billing", "ms": 10}], ("The service must be one of",)),
    ([{"kind": "kill", "service": "orders", "instance": 11}], ("instance must be a whole number from 1 to 3",)),
    ([{"kind": "kill", "service": "orders", "instance": 1, "pct": 5}], ("A kill fault has no setting 'pct'",)),
    ([{"kind": "latency", "service": "orders", "ms": 10, "at_ms": 300_001}], ("at_ms must be a whole number",)),
    ([{"kind": "latency", "service": "orders", "ms": 10, "at_ms": "soon"}], ("at_ms must be a whole number",)),
    ([{"kind": "latency", "service": "orders", "ms": 10}] * 51, ("At most 50 faults at once.",)),
])
def test_faults_the_run_cannot_take_are_refused_in_plain_words_and_append_nothing(faults, fragments):
    store = new_store()
    begin(store)
    head = store.head(LAB)

    refused(lambda: inject(store, faults), *fragments)
    refused(lambda: LOG.start(store, LAB, "run-2", parse_start({"faults": faults})), *fragments)

    assert store.head(LAB) == head


def test_a_kill_fault_at_the_start_is_checked_against_that_services_instances():
    refused(lambda: parse_start({"settings": {"services": {"payments": {"instances": 2}}},
                                 "faults": [{"kind": "kill", "service": "payments", "instance": 3}]}),
            "instance must be a whole number from 1 to 2")
    assert parse_faults([{"kind": "restart", "service": "payments", "instance": 10}])[0]["instance"] == 10


# --- Predict, then observe ------------------------------------------------------------------------------------------


def test_the_prompt_asks_only_when_the_next_second_changes_a_breaker_or_the_registry():
    store = new_store()
    begin(store, TRIPS)
    run = run_for(store, 4_000)
    assert run.prompt() is None  # nothing changes in second 5

    run = step(store)
    prompt = run.prompt()  # payments' breaker opens in second 6

    assert prompt == {"step": 6, "choices": [{"key": k, "label": v} for k, v in OUTCOMES.items()]}
    assert load(store).as_dict() == run.as_dict()  # looking ahead changed nothing
    assert step(store).sim.breakers["payments"].state == "OPEN"


@pytest.mark.parametrize(("predicted", "right"), [("opens", True), ("nothing", False), ("closes", False)])
def test_a_prediction_is_recorded_once_with_what_happened(predicted, right):
    store = new_store()
    begin(store, TRIPS)
    run_for(store, 5_000)

    run = step(store, predict=predicted)
    expected = {"step": 6, "predicted": predicted, "happened": "opens", "right": right, "asked": True}

    assert run.predictions == [expected]
    [(_, _, data)] = [e for e in stored(store) if e[1] == "ResilienceAdvanced"][-1:]
    assert data == {"input": "step", "predict": predicted, "prediction": expected}
    run = step(store)  # the next second records no prediction
    assert run.predictions == [expected]
    assert load(store).predictions == [expected]  # replaying does not predict again
    assert load(store, at_step=6).predictions == [expected]
    assert load(store, at_step=5).predictions == []  # back before it was made


def test_a_prediction_over_a_run_and_one_not_asked_for():
    store = new_store()
    begin(store, {"settings": {"rate_rps": 20}, "faults": [{"kind": "kill", "service": "orders", "instance": 1,
                                                            "at_ms": 3_500}]})

    run = run_for(store, 2_000, predict="nothing")  # nobody asked: nothing was about to change
    assert run.predictions == [{"step": 2, "predicted": "nothing", "happened": "nothing", "right": True,
                                "asked": False}]
    run = run_for(store, 5_000, predict="evicted")  # the kill, then the eviction at 6 s
    assert run.predictions[-1] == {"step": 7, "predicted": "evicted", "happened": "evicted", "right": True,
                                   "asked": False}
    assert load(store).predictions == run.predictions
    assert load(store, at_step=4).predictions == run.predictions[:1]  # the second was made past step 4


@pytest.mark.parametrize("predicted", ["maybe", 7, ["opens"], {"opens": True}, "x" * 5_000])
def test_an_unknown_prediction_is_refused_and_appends_nothing(predicted):
    store = new_store()
    begin(store, TRIPS)
    head = store.head(LAB)

    refused(lambda: step(store, predict=predicted), "Unknown prediction")

    assert store.head(LAB) == head


# --- Settings, validated in plain words ------------------------------------------------------------------------------

BAD_SETTINGS = [
    # (description, settings, what the refusal says)
    ("not an object", "fast", "The settings must be an object."),
    ("a list", [{"rate_rps": 5}], "The settings must be an object."),
    ("an unknown setting", {"rps": 5}, "The settings has no setting 'rps'."),
    ("an unknown setting, cut short", {"x" * 5_000: 1}, "The settings has no setting 'xxxx"),
    ("a negative rate", {"rate_rps": -1}, "rate_rps (requests per second) must be a number from 0 to 100."),
    ("an absurd rate", {"rate_rps": 1e9}, "rate_rps (requests per second) must be a number from 0 to 100."),
    ("a rate as text", {"rate_rps": "20"}, "rate_rps (requests per second) must be a number"),
    ("a rate as a bool", {"rate_rps": True}, "rate_rps (requests per second) must be a number"),
    ("a rate of null", {"rate_rps": None}, "rate_rps (requests per second) must be a number"),
    ("not a number", {"rate_rps": float("nan")}, "rate_rps (requests per second) must be a number"),
    ("infinity", {"rate_rps": float("inf")}, "rate_rps (requests per second) must be a number"),
    ("unauthenticated over 100%", {"unauthenticated_pct": 101}, "unauthenticated_pct must be a number from 0 to 100."),
    ("a mix that is not an object", {"mix": [40, 30]}, "mix must be an object."),
    ("a mix with an unknown path", {"mix": {"/admin": 5}}, "mix has no setting '/admin'."),
    ("a negative share", {"mix": {"orders": -5}}, "mix.orders must be a number from 0 to 100."),
    ("a mix sending nothing", {"mix": {"orders": 0}}, "mix must send some traffic to at least one path."),
    ("a negative bucket", {"rate_limit": {"capacity": -1}}, "rate_limit.capacity must be a whole number from 0 to"),
    ("an absurd bucket", {"rate_limit": {"capacity": 10**9}}, "rate_limit.capacity must be a whole number"),
    ("a fractional bucket", {"rate_limit": {"capacity": 2.5}}, "rate_limit.capacity must be a whole number"),
    ("a negative refill", {"rate_limit": {"refill_per_s": -0.5}}, "rate_limit.refill_per_s must be a number from 0"),
    ("a rate limit with an unknown key", {"rate_limit": {"burst": 5}}, "rate_limit has no setting 'burst'."),
    ("a zero timeout", {"timeout_ms": 0}, "timeout_ms must be a whole number from 1 to 60,000."),
    ("an absurd timeout", {"timeout_ms": 10**7}, "timeout_ms must be a whole number from 1 to 60,000."),
    ("a bool timeout", {"timeout_ms": False}, "timeout_ms must be a whole number"),
    ("heartbeats too often", {"discovery": {"heartbeat_ms": 10}}, "discovery.heartbeat_ms must be a whole number "
                                                                   "from 100 to 60,000."),
    ("never evicted", {"discovery": {"evict_after": 0}}, "discovery.evict_after must be a whole number from 1 to 100."),
    ("services as a list", {"services": ["orders"]}, "services must be an object."),
    ("an unknown service", {"services": {"billing": {}}}, "services has no setting 'billing'."),
    ("a service that is not an object", {"services": {"orders": 3}}, "services.orders must be an object."),
    ("an unknown service setting", {"services": {"orders": {"replicas": 3}}},
     "services.orders has no setting 'replicas'."),
    ("no instances", {"services": {"orders": {"instances": 0}}},
     "services.orders.instances must be a whole number from 1 to 10."),
    ("absurd instances", {"services": {"orders": {"instances": 10_000}}},
     "services.orders.instances must be a whole number from 1 to 10."),
    ("a failure rate over 100", {"services": {"payments": {"failure_pct": 150}}},
     "services.payments.failure_pct must be a number from 0 to 100."),
    ("a negative failure rate", {"services": {"payments": {"failure_pct": -0.1}}},
     "services.payments.failure_pct must be a number from 0 to 100."),
    ("a failure rate as a bool", {"services": {"payments": {"failure_pct": True}}},
     "services.payments.failure_pct must be a number"),
    ("no latency", {"services": {"inventory": {"latency_ms": 0}}},
     "services.inventory.latency_ms must be a whole number from 1 to 60,000."),
    ("an absurd latency", {"services": {"inventory": {"latency_ms": 10**8}}},
     "services.inventory.latency_ms must be a whole number from 1 to 60,000."),
    ("a breaker that is not an object", {"breaker": True}, "breaker must be an object."),
    ("an unknown breaker setting", {"breaker": {"threshold": 50}}, "breaker has no setting 'threshold'."),
    ("an unknown window", {"breaker": {"window": "sliding"}}, "breaker.window must be one of: count, time."),
    ("an empty window", {"breaker": {"window_size": 0}}, "breaker.window_size must be a whole number from 1 to 1,000."),
    ("an absurd window", {"breaker": {"window_size": 10**6}}, "breaker.window_size must be a whole number"),
    ("no minimum calls", {"breaker": {"minimum_calls": 0}}, "breaker.minimum_calls must be a whole number from 1"),
    ("a threshold of 0", {"breaker": {"failure_rate_threshold": 0}},
     "breaker.failure_rate_threshold must be a number from 1 to 100."),
    ("a threshold over 100", {"breaker": {"failure_rate_threshold": 101}},
     "breaker.failure_rate_threshold must be a number from 1 to 100."),
    ("a slow-call threshold as text", {"breaker": {"slow_call_rate_threshold": "50%"}},
     "breaker.slow_call_rate_threshold must be a number"),
    ("a negative slow call", {"breaker": {"slow_call_ms": -5}}, "breaker.slow_call_ms must be a whole number"),
    ("no open wait", {"breaker": {"wait_open_ms": 0}}, "breaker.wait_open_ms must be a whole number from 1 to 600,000."),
    ("no test calls", {"breaker": {"half_open_calls": 0}}, "breaker.half_open_calls must be a whole number from 1"),
    ("a negative half-open wait", {"breaker": {"max_wait_half_open_ms": -1}},
     "breaker.max_wait_half_open_ms must be a whole number from 0"),
    ("a number for a bool", {"breaker": {"automatic_half_open": 1}},
     "breaker.automatic_half_open must be true or false."),
    ("a bulkhead that is not an object", {"bulkhead": "shared"}, "bulkhead must be an object."),
    ("an unknown bulkhead kind", {"bulkhead": {"kind": "none"}}, "bulkhead.kind must be one of: semaphore, threadpool."),
    ("an empty bulkhead", {"bulkhead": {"max_concurrent": 0}},
     "bulkhead.max_concurrent must be a whole number from 1 to 1,000."),
    ("an absurd bulkhead", {"bulkhead": {"max_concurrent": 10**6}}, "bulkhead.max_concurrent must be a whole number"),
    ("an absurd queue", {"bulkhead": {"kind": "threadpool", "queue_capacity": 10**9}},
     "bulkhead.queue_capacity must be a whole number from 0 to 10,000."),
    ("a negative wait", {"bulkhead": {"max_wait_ms": -1}}, "bulkhead.max_wait_ms must be a whole number from 0"),
    ("shared as text", {"bulkhead": {"shared": "yes"}}, "bulkhead.shared must be true or false."),
    ("an unknown bulkhead setting", {"bulkhead": {"threads": 4}}, "bulkhead has no setting 'threads'."),
    ("a retry that is not an object", {"retry": 3}, "retry must be an object."),
    ("no attempts", {"retry": {"max_attempts": 0}}, "retry.max_attempts must be a whole number from 1 to 10."),
    ("absurd attempts", {"retry": {"max_attempts": 1_000}}, "retry.max_attempts must be a whole number from 1 to 10."),
    ("a bool for attempts", {"retry": {"max_attempts": True}}, "retry.max_attempts must be a whole number"),
    ("a negative base", {"retry": {"base_ms": -100}}, "retry.base_ms must be a whole number from 1 to 60,000."),
    ("an unknown backoff", {"retry": {"backoff": "fibonacci"}},
     "retry.backoff must be one of: fixed, linear, exponential."),
    ("a shrinking multiplier", {"retry": {"multiplier": 0.5}}, "retry.multiplier must be a number from 1 to 10."),
    ("an unknown jitter", {"retry": {"jitter": "lots"}}, "retry.jitter must be one of: none, randomized, full, equal, decorrelated."),
    ("a zero maximum wait", {"retry": {"max_wait_ms": 0}}, "retry.max_wait_ms must be a whole number from 1"),
    ("text for a bool", {"retry": {"retry_when_open": "false"}}, "retry.retry_when_open must be true or false."),
    ("an unknown retry setting", {"retry": {"retries": 3}}, "retry has no setting 'retries'."),
    ("a randomization factor over 1", {"retry": {"randomization_factor": 1.5}},
     "retry.randomization_factor must be a number from 0 to 1."),
    ("a shrinking open wait", {"breaker": {"wait_open_multiplier": 0.5}},
     "breaker.wait_open_multiplier must be a number from 1 to 10."),
    ("a negative open-wait cap", {"breaker": {"wait_open_cap_ms": -1}},
     "breaker.wait_open_cap_ms must be a whole number from 0 to 3,600,000."),
    ("an unknown breaker mode", {"breaker": {"mode": "off"}},
     "breaker.mode must be one of: normal, disabled, forced_open, metrics_only."),
    ("record as text", {"breaker": {"record": "error"}},
     "breaker.record must be a list of failure kinds, each one of: error, timeout, refused, bulkhead_full, "
     "no_instance."),
    ("an unknown failure kind to ignore", {"breaker": {"ignore": ["oops"]}},
     "Each of breaker.ignore must be one of: error, timeout, refused, bulkhead_full, no_instance."),
]


@pytest.mark.parametrize(("settings", "message"), [c[1:] for c in BAD_SETTINGS], ids=[c[0] for c in BAD_SETTINGS])
def test_settings_the_lab_cannot_take_are_refused_in_plain_words_and_append_nothing(settings, message):
    store = new_store()
    begin(store)
    head = store.head(LAB)

    said = refused(lambda: LOG.start(store, LAB, "run-2", parse_start({"settings": settings})), message)
    assert refused(lambda: change(store, settings), message) == said  # the same words mid-run

    assert store.head(LAB) == head
    assert said.endswith(".") and len(said) < 120


@pytest.mark.parametrize(("body", "message"), [
    ([1, 2], "Start a run with a JSON object: seed, settings, faults."),
    ("start", "Start a run with a JSON object"),
    (None, "Start a run with a JSON object"),
    ({"speed": 2}, "The start has no setting 'speed'."),
    ({"seed": -1}, "The seed must be a whole number from 0 to 2,147,483,647."),
    ({"seed": 2**31}, "The seed must be a whole number"),
    ({"seed": True}, "The seed must be a whole number"),
    ({"seed": "1"}, "The seed must be a whole number"),
    ({"seed": 1.5}, "The seed must be a whole number"),
    ({"seed": None}, "The seed must be a whole number"),
])
def test_a_start_the_lab_cannot_take_is_refused_in_plain_words(body, message):
    refused(lambda: parse_start(body), message)


def test_settings_none_or_empty_are_the_defaults_and_null_parts_switch_a_pattern_off():
    assert parse_settings(None) == parse_settings({}) == Settings()
    base = parse_settings({"breaker": {}, "bulkhead": {}, "retry": {}})
    assert base.breaker and base.bulkhead and base.retry
    off = parse_settings({"breaker": None, "bulkhead": None, "retry": None}, base)
    assert (off.breaker, off.bulkhead, off.retry) == (None, None, None)
    assert parse_settings({"rate_rps": 0}).rate_rps == 0  # no traffic is a setting too


@pytest.mark.parametrize("settings", [
    {},
    {"rate_rps": 55.5, "unauthenticated_pct": 0, "mix": {"checkout": 1}, "rate_limit": {"capacity": 0},
     "timeout_ms": 60_000, "discovery": {"heartbeat_ms": 100, "evict_after": 100}},
    {"services": {"orders": {"instances": 1, "failure_pct": 12.5, "latency_ms": 60_000},
                  "payments": {"instances": 10}}},
    {"breaker": {"window": "time", "window_size": 30, "minimum_calls": 1, "failure_rate_threshold": 1,
                 "slow_call_rate_threshold": 100, "slow_call_ms": 600_000, "wait_open_ms": 1,
                 "half_open_calls": 100, "max_wait_half_open_ms": 600_000, "automatic_half_open": True}},
    {"bulkhead": {"kind": "threadpool", "max_concurrent": 1_000, "queue_capacity": 0, "shared": True}},
    {"bulkhead": {"kind": "semaphore", "max_concurrent": 1, "max_wait_ms": 60_000}},
    {"retry": {"max_attempts": 10, "base_ms": 60_000, "backoff": "linear", "multiplier": 10, "max_wait_ms": 600_000,
               "jitter": "equal", "retry_when_open": False}},
], ids=["defaults", "gateway-and-discovery", "services", "breaker", "thread-pool", "semaphore", "retry"])
def test_settings_in_their_own_shape_parse_back_to_the_same_settings(settings):
    parsed = parse_settings(settings)

    assert parse_settings(settings_dict(parsed)) == parsed
    assert settings_dict(parse_settings(settings_dict(parsed))) == settings_dict(parsed)


def test_the_retry_schedule_is_drawn_from_a_copy_of_the_seed():
    store = new_store()
    run = begin(store, {"seed": 4, "settings": {"retry": {"max_attempts": 5, "jitter": "full"}}})

    schedule = run.retry_schedule()
    assert len(schedule) == 4 and all(0 <= wait <= 100 * 2**n for n, wait in enumerate(schedule))
    assert run_for(store, 3_000).retry_schedule() == schedule  # running does not move it
    assert begin(store, {"seed": 4, "settings": {"retry": {"max_attempts": 5}}}, "run-2").retry_schedule() == [
        100, 200, 400, 800]


def test_the_load_factor_is_service_calls_per_admitted_request():
    store = new_store()
    begin(store, {"settings": {"rate_rps": 20, "unauthenticated_pct": 10, "mix": {"checkout": 100},
                               "rate_limit": {"capacity": 0}}})

    totals = run_for(store, 5_000).totals()

    admitted = totals["requests"] - totals["outcomes"].get("unauthorized", 0)
    assert totals["outcomes"].get("unauthorized", 0) > 0
    assert totals["load_factor"] == round(totals["calls"] / admitted, 2)
    assert 2.8 <= totals["load_factor"] <= 3.1  # three services a checkout


def test_the_module_stays_pure():
    assert "django" not in repr(vars(runs))


def test_a_partial_change_keeps_the_other_pattern_settings_as_they_are():
    from eventlab.resilience.runs import parse_settings

    start = parse_settings({"breaker": {"window_size": 20, "wait_open_ms": 9_000}, "retry": {"max_attempts": 4},
                            "bulkhead": {"kind": "threadpool", "max_concurrent": 4, "shared": True}})
    changed = parse_settings({"breaker": {"half_open_calls": 1}, "retry": {"jitter": "full"},
                              "bulkhead": {"queue_capacity": 2}}, start)
    assert (changed.breaker.window_size, changed.breaker.wait_open_ms, changed.breaker.half_open_calls) == (20, 9_000, 1)
    assert (changed.retry.max_attempts, changed.retry.jitter) == (4, "full")
    assert (changed.bulkhead.kind, changed.bulkhead.max_concurrent, changed.bulkhead.queue_capacity,
            changed.bulkhead_shared) == ("threadpool", 4, 2, True)
