"""The resilience lab's simulated system (eventlab.resilience.system), pure and on its virtual clock: the gateway
(authentication, a token bucket per client, routing, /checkout's aggregation), discovery (heartbeats, eviction,
re-registration), the breakers, bulkheads, timeouts and retries as the system uses them — with Resilience4j's
semantics for the same settings — determinism under a seed, the per-second summaries, and every preset in the fixture
behaving as its description says."""

import json
from collections import Counter
from pathlib import Path

import pytest

from eventlab.resilience.breaker import BreakerSettings, CircuitBreaker
from eventlab.resilience.bulkhead import REJECT
from eventlab.resilience.retry import RetrySettings, backoff_ms
from eventlab.resilience.runs import ResilienceRun, parse_faults, parse_settings, parse_start
from eventlab.resilience.system import CLIENTS, SERVICES, TICK_MS, System, TokenBucket, percentile

PRESETS_FILE = Path(__file__).resolve().parents[2] / "fixtures" / "resilience_presets.json"
QUIET = {"unauthenticated_pct": 0, "rate_limit": {"capacity": 0}}  # every request reaches the services


def make(settings: dict | None = None, seed: int = 1, faults: list[dict] = (), quiet: bool = True) -> System:
    """A system from settings in the API's shape (validated as the API validates them)."""
    given = {**(QUIET if quiet else {}), **(settings or {})}
    return System(parse_settings(given), seed=seed, faults=parse_faults(list(faults)))


def ran(seconds: int, settings: dict | None = None, **more) -> System:
    system = make(settings, **more)
    system.advance(seconds * TICK_MS)
    return system


def only(path: str) -> dict:
    return {"mix": {path: 100}}


def spans(system: System, service: str | None = None) -> list[dict]:
    """Every span of the requests kept (the most recent 300), oldest first."""
    return [{**s, "request": r.id} for r in system.requests for s in r.spans
            if service is None or s["service"] == service]


def decisions(system: System, service: str, fragment: str) -> list[tuple]:
    return [(r, d) for r in system.requests for d in r.decisions if d[1] == service and fragment in d[2]]


def outcomes(system: System) -> Counter:
    total = Counter()
    for tick in system.ticks:
        total.update(tick["outcomes"])
    return total


def transitions(system: System, service: str) -> list[tuple[str, str]]:
    return [(t.source, t.target) for t in system.breakers[service].transitions]


def events(system: System, kind: str) -> list:
    return [e for e in system.history if e.type == kind]


# --- The gateway: authentication ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("unauthenticated_pct", "expect_some_rejected", "expect_some_admitted"),
                         [(0, False, True), (30, True, True), (100, True, False)])
def test_a_request_without_a_valid_key_is_rejected_at_the_edge(unauthenticated_pct, expect_some_rejected,
                                                               expect_some_admitted):
    system = ran(5, {"rate_rps": 20, "unauthenticated_pct": unauthenticated_pct})

    rejected = [r for r in system.requests if r.outcome == "unauthorized"]
    assert bool(rejected) is expect_some_rejected
    assert bool([r for r in system.requests if r.outcome != "unauthorized"]) is expect_some_admitted
    for request in rejected:  # turned away at once, never routed, no service called
        assert not request.authenticated and request.spans == [] and request.ended_ms == request.arrived_ms
        assert request.decisions == [(request.arrived_ms, "gateway", "rejected: no valid API key (401)")]
    if unauthenticated_pct == 100:
        assert sum(t["calls"] for t in system.ticks) == 0


# --- The gateway: a token bucket per client ------------------------------------------------------------------------


BUCKET_CASES = [
    # (description, capacity, refill per second, take at these times (ms), expected)
    ("starts full: capacity requests at once, then none", 3, 1.0, [0, 0, 0, 0], [True, True, True, False]),
    ("refills at its rate: one token a second", 2, 1.0, [0, 0, 0, 999, 1_000, 1_001, 2_000],
     [True, True, False, False, True, False, True]),
    ("never holds more than its capacity", 2, 10.0, [0, 0, 60_000, 60_000, 60_000], [True, True, True, True, False]),
    ("refill 0: the capacity once, then nothing ever", 2, 0.0, [0, 0, 0, 100_000], [True, True, False, False]),
    ("fractional refill: a token every 2 s", 1, 0.5, [0, 1_000, 1_999, 2_000], [True, False, False, True]),
]


@pytest.mark.parametrize(("capacity", "refill", "times", "expected"), [c[1:] for c in BUCKET_CASES],
                         ids=[c[0] for c in BUCKET_CASES])
def test_a_token_bucket(capacity, refill, times, expected):
    bucket = TokenBucket(capacity, refill, tokens=capacity)
    assert [bucket.take(at) for at in times] == expected


@pytest.mark.parametrize(("capacity", "refill"), [(5, 2.0), (10, 3.0), (1, 1.0), (3, 0.5)])
def test_the_gateway_limits_each_client_with_its_own_bucket(capacity, refill):
    seconds = 10
    system = ran(seconds, {"rate_rps": 27, "rate_limit": {"capacity": capacity, "refill_per_s": refill}})

    assert len(system.requests) < 300  # every request kept: about 9 a second for each client
    admitted = Counter(r.client for r in system.requests if r.outcome != "rate_limited")
    limited = [r for r in system.requests if r.outcome == "rate_limited"]
    most = capacity + refill * seconds  # what one bucket can give in the time
    assert set(admitted) == set(CLIENTS)
    for client in CLIENTS:  # each client gets its own bucket's worth (demand is far above it)...
        assert most - 2 <= admitted[client] <= most, (client, admitted)
    assert sum(admitted.values()) > most  # ... so together they get more than one bucket could give
    assert limited and all(r.spans == [] and "over its rate limit (429)" in r.decisions[-1][2] for r in limited)


def test_a_bucket_of_capacity_zero_means_no_rate_limit():
    system = ran(10, {"rate_rps": 100, "rate_limit": {"capacity": 0, "refill_per_s": 0}})

    assert outcomes(system)["rate_limited"] == 0
    assert sum(t["requests"] for t in system.ticks) > 800


# --- The gateway: routing and /checkout's aggregation ---------------------------------------------------------------


@pytest.mark.parametrize("path", ["orders", "payments", "inventory"])
def test_a_path_is_routed_to_its_service_only(path):
    system = ran(3, {"rate_rps": 10, **only(path)})

    assert {r.path for r in system.requests} == {path}
    assert {s["service"] for s in spans(system)} == {path}
    for request in system.requests:
        assert request.decisions[0] == (request.arrived_ms, "gateway", f"/{path} → {path}")
        if request.ended_ms is not None:  # (the last may still be in flight)
            assert request.outcome == "ok" and len(request.spans) == 1


def test_checkout_is_one_request_with_three_spans_answered_when_all_have_answered():
    system = ran(3, {"rate_rps": 10, **only("checkout")})

    finished = [r for r in system.requests if r.ended_ms is not None]
    assert finished
    for request in finished:
        assert request.decisions[0][2] == "/checkout → orders + payments + inventory (aggregated)"
        assert sorted(s["service"] for s in request.spans) == sorted(SERVICES)
        assert all(s["start_ms"] == request.arrived_ms for s in request.spans)  # fanned out at once
        assert request.ended_ms == max(s["end_ms"] for s in request.spans)
        assert request.outcome == "ok"
    assert sum(t["calls"] for t in system.ticks) >= 3 * len(finished)


AGGREGATION_CASES = [
    # (description, payments, inventory, timeout, expected outcome)
    ("payments errors fast, inventory times out later: the error decides",
     {"failure_pct": 100, "latency_ms": 10}, {"latency_ms": 5_000}, 1_000, "error"),
    ("payments times out first, inventory errors later: the timeout decides",
     {"latency_ms": 5_000}, {"failure_pct": 100, "latency_ms": 1_000}, 100, "timeout"),
    ("only one service fails: the request fails",
     {"failure_pct": 100}, {}, 1_000, "error"),
    ("nothing fails: ok", {}, {}, 1_000, "ok"),
]


@pytest.mark.parametrize(("payments", "inventory", "timeout", "expected"), [c[1:] for c in AGGREGATION_CASES],
                         ids=[c[0] for c in AGGREGATION_CASES])
def test_the_first_failure_decides_an_aggregated_answer(payments, inventory, timeout, expected):
    system = ran(3, {"rate_rps": 5, **only("checkout"), "timeout_ms": timeout,
                     "services": {"payments": payments, "inventory": inventory}})

    finished = [r for r in system.requests if r.ended_ms is not None]
    assert finished and {r.outcome for r in finished} == {expected}
    assert all(r.outcome is None for r in system.requests if r.ended_ms is None)  # no answer before every call
    for request in finished:
        assert len(request.spans) == 3  # the gateway still waits for every call
        assert request.ended_ms == max(s["end_ms"] for s in request.spans)
        failures = sorted((s["end_ms"], s["outcome"]) for s in request.spans if s["outcome"] != "ok")
        if failures:
            assert failures[0][1] == expected


# --- Discovery: heartbeats, eviction, registering again -------------------------------------------------------------


@pytest.mark.parametrize(("heartbeat_ms", "evict_after", "killed_at", "evicted_at"), [
    (1_000, 3, 5_500, 8_000),  # last heartbeat at 5 s; misses 6, 7, 8 s
    (1_000, 1, 5_500, 6_000),
    (1_000, 5, 5_500, 10_000),
    (500, 3, 5_250, 6_500),  # last heartbeat at 5 s; misses 5.5, 6, 6.5 s
    (2_000, 2, 5_500, 8_000),  # last heartbeat at 4 s; misses 6, 8 s
])
def test_a_killed_instance_gets_calls_refused_until_it_has_missed_evict_after_heartbeats(
        heartbeat_ms, evict_after, killed_at, evicted_at):
    system = ran(12, {"rate_rps": 30, **only("orders"), "discovery": {"heartbeat_ms": heartbeat_ms,
                                                                       "evict_after": evict_after}},
                 faults=[{"kind": "kill", "service": "orders", "instance": 2, "at_ms": killed_at}])

    [killed] = events(system, "InstanceKilled")
    [evicted] = events(system, "InstanceEvicted")
    assert (killed.at_ms, killed.data) == (killed_at, {"instance": "orders-2"})
    assert (evicted.at_ms, evicted.data) == (evicted_at, {"instance": "orders-2",
                                                          "reason": f"{evict_after} heartbeats missed"})
    on_two = [s for s in spans(system, "orders") if s["instance"] == "orders-2"]
    before = [s for s in on_two if s["start_ms"] < killed_at]
    meanwhile = [s for s in on_two if killed_at <= s["start_ms"] < evicted_at]
    assert before and all(s["outcome"] == "ok" for s in before)
    assert meanwhile and all(s["outcome"] == "refused" and s["end_ms"] - s["start_ms"] == 1 for s in meanwhile)
    assert not [s for s in on_two if s["start_ms"] >= evicted_at]  # then none at all
    assert {s["instance"] for s in spans(system, "orders") if s["start_ms"] >= evicted_at} == {"orders-1", "orders-3"}
    registry = {t["second"]: t["registry"]["orders"] for t in system.ticks}
    assert registry[killed_at // 1000] == ["orders-1", "orders-2", "orders-3"]
    assert registry[evicted_at // 1000 + 1] == ["orders-1", "orders-3"]


def test_a_restarted_instance_registers_again_and_gets_calls():
    system = ran(15, {"rate_rps": 30, **only("orders")},
                 faults=[{"kind": "kill", "service": "orders", "instance": 1, "at_ms": 2_000},
                         {"kind": "restart", "service": "orders", "instance": 1, "at_ms": 9_000}])

    kinds = [(e.at_ms, e.type) for e in system.history if e.type.startswith("Instance")]
    assert kinds == [(2_000, "InstanceKilled"), (4_000, "InstanceEvicted"), (9_000, "InstanceRestarted"),
                     (9_000, "InstanceRegistered")]
    after = [s for s in spans(system, "orders") if s["start_ms"] >= 9_000]
    assert {s["instance"] for s in after} == {"orders-1", "orders-2", "orders-3"}
    assert all(s["outcome"] == "ok" for s in after)
    instance = system.instances["orders"][0]
    assert (instance.alive, instance.registered) == (True, True)
    assert system.ticks[-1]["registry"]["orders"] == ["orders-1", "orders-2", "orders-3"]


def test_an_instance_restarted_before_it_was_evicted_was_never_unregistered():
    system = make({"rate_rps": 10})
    system.advance(2_000)
    system.kill("payments", 3)
    system.advance(1_000)
    system.restart("payments", 3)
    system.advance(5_000)

    assert [e.type for e in system.history if e.type.startswith("Instance")] == ["InstanceKilled",
                                                                                 "InstanceRestarted"]
    assert all(t["registry"]["payments"] == ["payments-1", "payments-2", "payments-3"] for t in system.ticks)


def test_with_every_instance_gone_calls_fail_with_no_instance_and_hold_no_bulkhead_permit():
    system = make({"rate_rps": 30, **only("orders"), "bulkhead": {"kind": "semaphore", "max_concurrent": 10}})
    for number in (1, 2, 3):
        system.kill("orders", number)
    system.advance(8_000)

    assert system.ticks[-1]["registry"]["orders"] == []
    late = [r for r in system.requests if r.arrived_ms >= 4_000 and r.outcome]
    assert late and {r.outcome for r in late} == {"no_instance"}
    assert system.bulkheads["orders"].in_use == 0  # every permit came back
    for number in (1, 2, 3):
        system.restart("orders", number)
    system.advance(3_000)
    assert {r.outcome for r in system.requests if r.arrived_ms >= 9_000 and r.outcome} == {"ok"}


# --- The breaker in the system -------------------------------------------------------------------------------------

BREAKER = {"window": "count", "window_size": 10, "minimum_calls": 5, "failure_rate_threshold": 50,
           "wait_open_ms": 3_000, "half_open_calls": 3}


def test_a_failing_service_opens_its_breaker_and_only_its_own():
    system = ran(6, {"rate_rps": 30, "breaker": BREAKER, "services": {"payments": {"failure_pct": 100}}})

    assert transitions(system, "payments")[0] == ("CLOSED", "OPEN")
    assert system.breakers["payments"].transitions[0].reason == "failure rate 100% ≥ 50% over 5 calls"
    assert transitions(system, "orders") == transitions(system, "inventory") == []


def test_an_open_breaker_fails_fast_without_calling_the_service():
    system = ran(3, {"rate_rps": 20, **only("payments"), "breaker": {**BREAKER, "wait_open_ms": 60_000},
                     "services": {"payments": {"failure_pct": 100}}})

    opened_at = system.breakers["payments"].transitions[0].at_ms
    called = spans(system, "payments")
    assert 5 <= len(called) <= 7 and all(s["start_ms"] < opened_at for s in called)  # none once it is open
    fast = [r for r in system.requests if r.arrived_ms > opened_at]
    assert fast and all(r.outcome == "breaker_open" and r.spans == [] and r.ended_ms == r.arrived_ms for r in fast)
    assert all("the breaker of payments is OPEN: failed fast" in r.decisions[-1][2] for r in fast)
    assert outcomes(system)["breaker_open"] == len(fast) == system.breakers["payments"].not_permitted
    assert sum(i.calls for i in system.instances["payments"]) == len(called)


def test_the_breaker_recovers_half_open_then_closed_when_the_service_heals():
    system = ran(20, {"rate_rps": 30, "breaker": BREAKER},
                 faults=[{"kind": "failure_rate", "service": "payments", "pct": 100, "at_ms": 1_000},
                         {"kind": "failure_rate", "service": "payments", "pct": 0, "at_ms": 8_000}])

    moves = transitions(system, "payments")
    times = [t.at_ms for t in system.breakers["payments"].transitions]
    assert moves[0] == ("CLOSED", "OPEN") and moves[-2:] == [("OPEN", "HALF_OPEN"), ("HALF_OPEN", "CLOSED")]
    assert set(moves) <= {("CLOSED", "OPEN"), ("OPEN", "HALF_OPEN"), ("HALF_OPEN", "OPEN"), ("HALF_OPEN", "CLOSED")}
    for (source, target), at, before in zip(moves[1:], times[1:], times[:-1], strict=True):
        if (source, target) == ("OPEN", "HALF_OPEN"):
            assert at >= before + BREAKER["wait_open_ms"]  # open for its wait, at least
    assert times[-1] > 8_000 and system.breakers["payments"].state == "CLOSED"
    assert system.breakers["payments"].transitions[-1].reason == "the 3 test calls went well enough"
    states = [t["breakers"]["payments"] for t in system.ticks]
    assert states[0] == "CLOSED" and "OPEN" in states and states[-1] == "CLOSED"
    # Each OPEN → HALF_OPEN transition is written to the history with the tick it happened in.
    written = [(e.data["from"], e.data["to"]) for e in events(system, "BreakerTransitioned")
               if e.data["service"] == "payments"]
    assert written == moves


def test_timeouts_and_slow_calls_count_for_the_breaker():
    slow = ran(4, {"rate_rps": 20, **only("payments"), "breaker": {**BREAKER, "slow_call_ms": 100,
                                                                    "slow_call_rate_threshold": 50},
                   "services": {"payments": {"latency_ms": 400}}})
    timed_out = ran(4, {"rate_rps": 20, **only("payments"), "timeout_ms": 100, "breaker": BREAKER,
                        "services": {"payments": {"latency_ms": 400}}})

    assert slow.breakers["payments"].transitions[0].reason.startswith("slow-call rate 100% ≥ 50%")
    assert timed_out.breakers["payments"].transitions[0].reason.startswith("failure rate 100% ≥ 50%")


WHICH_COUNT = [
    # (why, breaker record / ignore, the breaker's transitions)
    ("by default a timeout is a recorded failure: the breaker opens", {}, [("CLOSED", "OPEN")]),
    ("timeouts ignored: not recorded at all, the breaker never opens", {"ignore": ["timeout"]}, []),
    ("only errors recorded: a timeout counts as a success", {"record": ["error"]}, []),
]


@pytest.mark.parametrize(("counted", "expected"), [c[1:] for c in WHICH_COUNT], ids=[c[0] for c in WHICH_COUNT])
def test_the_system_tells_the_breaker_how_a_call_failed_and_the_breaker_decides_whether_it_counts(counted, expected):
    """Mirrors CircuitBreakerStateMachine.handleThrowable with CircuitBreakerConfig's ignoreExceptions and
    recordExceptions: the system passes each failure's kind (here a timeout)."""
    system = ran(4, {"rate_rps": 20, **only("payments"), "timeout_ms": 100, "breaker": {**BREAKER, **counted},
                     "services": {"payments": {"latency_ms": 400}}})

    assert transitions(system, "payments")[:1] == expected
    breaker = system.breakers["payments"]
    if "ignore" in counted:
        assert breaker.ignored > 10 and breaker.rates(system.clock_ms)[0] == 0
    if "record" in counted:
        assert breaker.ignored == 0 and breaker.rates(system.clock_ms)[1] == 0.0  # timeouts as successes


def test_a_call_lasting_exactly_the_slow_call_threshold_is_not_slow():
    breaker = CircuitBreaker(BreakerSettings(window_size=2, minimum_calls=2, slow_call_ms=100,
                                             slow_call_rate_threshold=50))
    for at in (0, 10):
        assert breaker.try_acquire(at)
        breaker.record(at + 100, False, 100)

    assert breaker.state == "CLOSED"


def test_a_half_open_test_call_refused_by_the_bulkhead_still_counts():
    # A breaker outside a bulkhead (Resilience4j's decorator order) records the bulkhead's refusal as a failure;
    # a permitted half-open call whose outcome is never recorded would leave the breaker half-open forever.
    system = make({"rate_rps": 40, **only("checkout"), "timeout_ms": 10_000,
                   "breaker": {**BREAKER, "failure_rate_threshold": 100},
                   "bulkhead": {"kind": "semaphore", "max_concurrent": 2, "shared": True},
                   "services": {"orders": {"latency_ms": 3_000}}})
    system.advance(20_000)

    for name in SERVICES:
        breaker = system.breakers[name]
        assert not (breaker.state == "HALF_OPEN" and breaker.half_open_permits == 3
                    and not breaker.half_open_results and system.clock_ms - breaker.since_ms > 10_000), name
    assert ("OPEN", "HALF_OPEN") in transitions(system, "payments")
    assert ("HALF_OPEN", "OPEN") in transitions(system, "payments")  # refused test calls decided it


# --- Bulkheads -----------------------------------------------------------------------------------------------------

SLOW_PAYMENTS = {"rate_rps": 20, "timeout_ms": 5_000}
SLOW_FAULT = [{"kind": "latency", "service": "payments", "ms": 2_000, "at_ms": 2_000}]


def rejected_by_service(system: System) -> Counter:
    return Counter(d[1] for r in system.requests for d in r.decisions if "bulkhead full" in d[2])


@pytest.mark.parametrize(("shared", "healthy_starved"), [(True, True), (False, False)],
                         ids=["shared pool: healthy services starve", "isolated pools: healthy services answer"])
def test_a_slow_dependency_and_the_pools(shared, healthy_starved):
    system = ran(12, {**SLOW_PAYMENTS, "bulkhead": {"kind": "semaphore", "max_concurrent": 10, "shared": shared}},
                 faults=SLOW_FAULT)

    rejected = rejected_by_service(system)
    assert rejected["payments"] > 0
    assert (rejected["orders"] > 0 and rejected["inventory"] > 0) is healthy_starved
    assert (rejected["orders"] + rejected["inventory"] == 0) is not healthy_starved
    pools = system.ticks[-1]["pools"]
    assert set(pools) == ({"shared"} if shared else set(SERVICES))
    assert max(t["pools"]["shared" if shared else "payments"]["in_use"] for t in system.ticks) == 10
    if not shared:
        assert all(t["pools"]["orders"]["rejected"] == 0 for t in system.ticks)


def test_a_semaphore_with_no_wait_rejects_at_once():
    system = make({**SLOW_PAYMENTS, **only("payments"),
                   "bulkhead": {"kind": "semaphore", "max_concurrent": 3, "max_wait_ms": 0}}, faults=SLOW_FAULT)
    seen = watch_rejections(system, "payments")
    system.advance(8_000)

    rejected = [r for r in system.requests if r.outcome == "bulkhead_full"]
    assert rejected
    assert all(r.ended_ms == r.arrived_ms and r.spans == [] for r in rejected)
    assert not decisions(system, "payments", "waited")
    assert all(t["pools"]["payments"]["waiting"] == 0 for t in system.ticks)
    assert max(t["pools"]["payments"]["in_use"] for t in system.ticks) == 3
    assert seen and set(seen) == {(3, 0)}  # rejected only with every permit taken, and nobody waits


def test_a_semaphore_with_a_wait_gives_a_freed_permit_to_a_waiter_or_rejects_it_when_its_wait_runs_out():
    system = ran(8, {"rate_rps": 20, **only("payments"), "services": {"payments": {"latency_ms": 300}},
                     "bulkhead": {"kind": "semaphore", "max_concurrent": 2, "max_wait_ms": 150}})

    waited = decisions(system, "payments", "waited")
    gave_up = decisions(system, "payments", "no permit within")
    assert waited and gave_up
    for _, (_, _, what) in waited:
        assert 0 <= int(what.split()[1]) <= 150
    for request, (at, _, what) in gave_up:
        assert what == "attempt 1: no permit within 150 ms" and at == request.arrived_ms + 150
        assert request.outcome == "bulkhead_full" and request.spans == []
    assert system.bulkheads["payments"].in_use <= 2


def watch_rejections(system: System, service: str) -> list[tuple[int, int]]:
    """(calls running, calls waiting) in the service's bulkhead each time it rejects a call."""
    bulkhead, seen = system.bulkheads[service], []
    acquire = bulkhead.acquire

    def watched(call: int) -> str:
        verdict = acquire(call)
        if verdict == REJECT:
            seen.append((bulkhead.in_use, len(bulkhead.waiting)))
        return verdict

    bulkhead.acquire = watched
    return seen


def test_a_thread_pool_queues_calls_up_to_its_capacity_then_rejects():
    system = make({**SLOW_PAYMENTS, "bulkhead": {"kind": "threadpool", "max_concurrent": 5, "queue_capacity": 4}},
                  faults=SLOW_FAULT)
    seen = watch_rejections(system, "payments")
    system.advance(12_000)

    waiting = [t["pools"]["payments"]["waiting"] for t in system.ticks]
    assert max(waiting) == 4 and all(w <= 4 for w in waiting)
    waited = [int(d[2].split()[1]) for _, d in decisions(system, "payments", "waited")]
    assert waited and max(waited) > 1_000  # queued behind 2-second calls, as long as it takes
    assert rejected_by_service(system)["payments"] > 0
    assert rejected_by_service(system)["orders"] == rejected_by_service(system)["inventory"] == 0
    assert seen and set(seen) == {(5, 4)}  # rejected only with every thread busy and the queue full


# --- Retry ---------------------------------------------------------------------------------------------------------

RETRY_CASES = [
    ("exponential from 100 ms", {"max_attempts": 4, "base_ms": 100, "backoff": "exponential"}),
    ("exponential, multiplier 3, capped", {"max_attempts": 5, "base_ms": 50, "backoff": "exponential",
                                           "multiplier": 3, "max_wait_ms": 500}),
    ("fixed", {"max_attempts": 3, "base_ms": 250, "backoff": "fixed"}),
    ("linear", {"max_attempts": 4, "base_ms": 100, "backoff": "linear"}),
    ("no retry", {"max_attempts": 1}),
]


@pytest.mark.parametrize("retry", [c[1] for c in RETRY_CASES], ids=[c[0] for c in RETRY_CASES])
def test_a_failing_call_is_tried_max_attempts_times_with_the_backoff_between(retry):
    system = ran(3, {"rate_rps": 5, **only("payments"), "retry": retry,
                     "services": {"payments": {"failure_pct": 100}}})
    settings = parse_settings({"retry": retry}).retry
    waits = [backoff_ms(settings, n) for n in range(1, settings.max_attempts)]

    done = [r for r in system.requests if r.outcome is not None]
    assert done
    for request in done:
        assert [s["attempt"] for s in request.spans] == list(range(1, retry["max_attempts"] + 1))
        assert all(s["outcome"] == "error" for s in request.spans) and request.outcome == "error"
        gaps = [b["start_ms"] - a["end_ms"] for a, b in zip(request.spans, request.spans[1:], strict=False)]
        assert gaps == waits
        assert [d[2] for d in request.decisions if d[2].startswith("retry in")] == [f"retry in {w} ms" for w in waits]
    ticks = system.ticks
    assert sum(t["attempts"] for t in ticks) == sum(t["calls"] for t in ticks)  # nothing stops an attempt
    assert sum(t["retries"] for t in ticks) == sum(t["attempts"] for t in ticks) - sum(
        t["requests"] for t in ticks)


@pytest.mark.parametrize(("jitter", "low", "high"), [("full", 0.0, 1.0), ("equal", 0.5, 1.0)])
def test_jittered_waits_stay_in_range(jitter, low, high):
    retry = {"max_attempts": 4, "base_ms": 200, "backoff": "exponential", "jitter": jitter}
    system = ran(4, {"rate_rps": 5, **only("payments"), "retry": retry,
                     "services": {"payments": {"failure_pct": 100}}})
    settings = RetrySettings(4, 200, "exponential", jitter=jitter)

    gaps = []
    for request in system.requests:
        for n, (a, b) in enumerate(zip(request.spans, request.spans[1:], strict=False), 1):
            gap = b["start_ms"] - a["end_ms"]
            assert low * backoff_ms(settings, n) <= gap <= high * backoff_ms(settings, n)
            gaps.append(gap)
    assert len(set(gaps)) > 5  # drawn, not fixed


def load_factor(system: System) -> float:
    admitted = sum(t["requests"] for t in system.ticks) - outcomes(system)["unauthorized"] - outcomes(system)[
        "rate_limited"]
    return sum(t["calls"] for t in system.ticks) / admitted


@pytest.mark.parametrize(("max_attempts", "failure_pct", "low", "high"), [
    (1, 50, 0.95, 1.05),  # one call a request: no extra load
    (3, 0, 0.95, 1.05),  # retries cost nothing while nothing fails
    (3, 50, 1.5, 1.9),  # 1 + 0.5 + 0.25
    (5, 50, 1.7, 2.1),  # 1 + 0.5 + 0.25 + 0.125 + 0.0625
    (5, 90, 3.5, 4.6),  # 1 + 0.9 + 0.81 + 0.73 + 0.66
])
def test_retries_multiply_the_load_when_calls_fail(max_attempts, failure_pct, low, high):
    system = ran(20, {"rate_rps": 20, **only("payments"), "retry": {"max_attempts": max_attempts, "base_ms": 10},
                      "services": {"payments": {"failure_pct": failure_pct}}})

    assert low <= load_factor(system) <= high


@pytest.mark.parametrize("retry_when_open", [True, False])
def test_retry_when_open_decides_whether_a_call_refused_by_an_open_breaker_is_retried(retry_when_open):
    system = ran(6, {"rate_rps": 20, **only("payments"), "breaker": {**BREAKER, "wait_open_ms": 60_000},
                     "retry": {"max_attempts": 3, "base_ms": 50, "backoff": "fixed",
                               "retry_when_open": retry_when_open},
                     "services": {"payments": {"failure_pct": 100}}})

    refused = [r for r in system.requests if r.outcome == "breaker_open"]
    assert len(refused) > 50
    for request in refused:
        said = [d[2] for d in request.decisions[1:]]
        fast = [n for n, what in enumerate(said) if "failed fast" in what]
        if retry_when_open:  # Resilience4j's default: the refusal is an exception like any other, retried
            assert said[-1] == "attempt 3: the breaker of payments is OPEN: failed fast"
            assert all(said[n + 1] == "retry in 50 ms" for n in fast[:-1])
        else:  # stops at the first refusal
            assert fast == [len(said) - 1]
    attempts = sum(t["attempts"] for t in system.ticks)
    requests = sum(t["requests"] for t in system.ticks)
    assert attempts > 2.5 * requests if retry_when_open else attempts < 1.2 * requests


# --- Timeouts ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("latency_ms", "timeout_ms", "expected"), [
    (100, 1_000, "ok"),  # 50 to 150 ms: always in time
    (5_000, 1_000, "timeout"),  # 2.5 to 7.5 s: never
    (1_000, 1_000, "both"),  # 0.5 to 1.5 s: some of each
])
def test_a_call_slower_than_the_timeout_is_cut_at_the_timeout(latency_ms, timeout_ms, expected):
    system = ran(6, {"rate_rps": 10, **only("inventory"), "timeout_ms": timeout_ms,
                     "services": {"inventory": {"latency_ms": latency_ms}}})

    found = {s["outcome"] for s in spans(system, "inventory")}
    assert found == ({"ok", "timeout"} if expected == "both" else {expected})
    for span in spans(system, "inventory"):
        took = span["end_ms"] - span["start_ms"]
        assert took == timeout_ms if span["outcome"] == "timeout" else took <= timeout_ms
    assert {r.outcome for r in system.requests if r.outcome} == found


# --- Determinism ---------------------------------------------------------------------------------------------------

BUSY = {"rate_rps": 40, "unauthenticated_pct": 5, "rate_limit": {"capacity": 10, "refill_per_s": 8},
        "breaker": BREAKER, "bulkhead": {"kind": "threadpool", "max_concurrent": 4, "queue_capacity": 3},
        "retry": {"max_attempts": 3, "base_ms": 50, "jitter": "full"},
        "services": {"payments": {"failure_pct": 40, "latency_ms": 300}}}
BUSY_FAULTS = [{"kind": "kill", "service": "orders", "instance": 1, "at_ms": 3_000},
               {"kind": "latency", "service": "inventory", "ms": 800, "at_ms": 4_000}]


def fingerprint(system: System) -> tuple:
    return (system.history, system.ticks, [(r.id, r.client, r.path, r.outcome, r.decisions, r.spans)
                                           for r in system.requests])


def test_the_same_seed_settings_and_inputs_give_the_same_history():
    first, second = make(BUSY, seed=5, faults=BUSY_FAULTS, quiet=False), make(BUSY, seed=5, faults=BUSY_FAULTS,
                                                                              quiet=False)
    first.advance(12_000)
    for _ in range(12):  # a second at a time or all at once: the same
        second.advance(1_000)

    assert fingerprint(first) == fingerprint(second)
    assert len(first.history) > 12 and outcomes(first)["ok"] > 100
    assert {"breaker_open", "error", "rate_limited", "unauthorized"} <= set(outcomes(first))


def test_another_seed_gives_another_history():
    first, other = make(BUSY, seed=5, faults=BUSY_FAULTS), make(BUSY, seed=6, faults=BUSY_FAULTS)
    first.advance(5_000)
    other.advance(5_000)

    assert fingerprint(first) != fingerprint(other)
    assert first.ticks != other.ticks


# --- Per-second summaries ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("values", "expected"), [
    ([], (None, None, None)),
    ([7], (7, 7, 7)),
    ([1, 2, 3, 4], (2, 4, 4)),
    (list(range(1, 11)), (5, 10, 10)),
    (list(range(1, 101)), (50, 95, 99)),
    (list(range(1, 201)), (100, 190, 198)),
])
def test_percentiles_are_nearest_rank(values, expected):
    assert (percentile(values, 50), percentile(values, 95), percentile(values, 99)) == expected


def test_each_second_is_summarized_from_the_requests_it_saw():
    system = ran(8, {"rate_rps": 20, "unauthenticated_pct": 10, "services": {"payments": {"failure_pct": 30}}},
                 quiet=True)

    assert len(system.requests) < 300  # every request kept: the summaries can be checked against them
    assert [t["second"] for t in system.ticks] == list(range(1, 9))
    summarized = events(system, "TickSummarized")
    assert [e.data for e in summarized] == system.ticks
    assert [(e.step, e.at_ms) for e in summarized] == [(n, n * 1_000) for n in range(1, 9)]
    for tick in system.ticks:
        start, end = (tick["second"] - 1) * 1_000, tick["second"] * 1_000
        arrived = [r for r in system.requests if start <= r.arrived_ms < end]
        ended = [r for r in system.requests if r.ended_ms is not None and start <= r.ended_ms < end]
        assert tick["requests"] == len(arrived)
        assert tick["outcomes"] == dict(Counter(r.outcome for r in ended))
        assert tick["ok"] == tick["outcomes"].get("ok", 0)
        latencies = sorted(r.ended_ms - r.arrived_ms for r in ended if r.outcome == "ok")
        assert (tick["p50"], tick["p95"], tick["p99"]) == tuple(percentile(latencies, p) for p in (50, 95, 99))
        assert tick["calls"] == sum(1 for r in system.requests for s in r.spans if start <= s["start_ms"] < end)
        assert set(tick["registry"]) == set(SERVICES)
    assert {"ok", "error", "unauthorized"} <= set(outcomes(system))


# --- The presets, each as its description says ---------------------------------------------------------------------


def presets() -> dict[str, dict]:
    return {p["pk"]: p["fields"] for p in json.loads(PRESETS_FILE.read_text())}


def preset_run(slug: str, seconds: int, **changes) -> ResilienceRun:
    start = json.loads(json.dumps(presets()[slug]["start"]))
    for key, value in changes.items():
        start["settings"].setdefault(key, {}).update(value)
    run = ResilienceRun("r", parse_start(start))
    if seconds:
        run.act({"input": "run", "ms": seconds * 1_000})
    return run


def test_the_fixture_holds_the_nine_presets_and_each_starts():
    assert list(presets()) == ["breaker-trips-and-recovers", "slow-dependency-shared-pool",
                               "slow-dependency-isolated-pools", "slow-dependency-thread-pool", "retry-storm",
                               "retry-with-breaker", "instance-dies-under-load", "stuck-half-open",
                               "breaker-backs-off"]
    for slug, preset in presets().items():
        assert preset["title"] and preset["description"], slug
        assert parse_start(preset["start"])["seed"] == 1


def test_preset_breaker_trips_and_recovers():
    # "At 5 s payments starts failing 80% of its calls. Watch payments' breaker count the failures in its window of
    # 10 calls, open, fail fast for 5 s, let 3 test calls through half-open, open again while payments still fails —
    # and close once payments recovers at 20 s."
    run = preset_run("breaker-trips-and-recovers", 30)
    payments = run.sim.breakers["payments"].transitions

    assert (payments[0].source, payments[0].target) == ("CLOSED", "OPEN") and payments[0].at_ms > 5_000
    assert payments[0].reason.endswith("over 10 calls")
    assert payments[1].target == "HALF_OPEN" and payments[1].at_ms - payments[0].at_ms >= 5_000
    assert (payments[2].source, payments[2].target) == ("HALF_OPEN", "OPEN") and payments[2].at_ms < 20_000
    assert payments[2].reason.endswith("over 3 calls")
    assert (payments[-1].source, payments[-1].target) == ("HALF_OPEN", "CLOSED") and payments[-1].at_ms > 20_000
    assert run.sim.breakers["payments"].state == "CLOSED"
    assert [b.transitions for name, b in run.sim.breakers.items() if name != "payments"] == [[], []]
    fail_fast = [t["outcomes"].get("breaker_open", 0) for t in run.sim.ticks]
    assert sum(fail_fast[:5]) == 0 and sum(fail_fast[6:20]) > 50 and sum(fail_fast[-5:]) == 0


def test_preset_slow_dependency_shared_pool_starves_the_healthy_services():
    run = preset_run("slow-dependency-shared-pool", 15)
    rejected = rejected_by_service(run.sim)

    assert rejected["orders"] > 0 and rejected["inventory"] > 0 and rejected["payments"] > 0
    assert sum(t["outcomes"].get("bulkhead_full", 0) for t in run.sim.ticks[:3]) == 0
    assert max(t["pools"]["shared"]["in_use"] for t in run.sim.ticks) == 10


def test_preset_slow_dependency_isolated_pools_keeps_the_healthy_services_answering():
    run = preset_run("slow-dependency-isolated-pools", 15)
    rejected = rejected_by_service(run.sim)

    assert rejected["payments"] > 0 and rejected["orders"] == rejected["inventory"] == 0
    assert max(t["pools"]["payments"]["in_use"] for t in run.sim.ticks) == 10
    healthy = [r for r in run.sim.requests if r.path in ("orders", "inventory") and r.ended_ms is not None
               and r.outcome not in ("unauthorized", "rate_limited")]
    assert healthy and {r.outcome for r in healthy} == {"ok"}


def test_preset_slow_dependency_thread_pool_queues_then_rejects_when_the_queue_is_full():
    semaphore = preset_run("slow-dependency-isolated-pools", 15)
    run = preset_run("slow-dependency-thread-pool", 15)

    waiting = [t["pools"]["payments"]["waiting"] for t in run.sim.ticks]
    assert max(waiting) == 10  # the queue fills up...
    assert rejected_by_service(run.sim)["payments"] > 0  # ... then calls are rejected
    assert decisions(run.sim, "payments", "waited") and not decisions(semaphore.sim, "payments", "waited")
    # Queued time adds to payments' latency: its p95 grows well past the 2-second calls.
    assert max(t["p95"] or 0 for t in run.sim.ticks) > 4_000
    assert max(t["p95"] or 0 for t in semaphore.sim.ticks) < 3_100


def test_preset_retry_storm_multiplies_the_load_on_payments():
    run = preset_run("retry-storm", 20)
    ticks = run.sim.ticks

    assert run.sim.breakers == {} and sum(t["retries"] for t in ticks[:2]) == 0
    before = sum(t["attempts"] for t in ticks[:2]) / sum(t["requests"] for t in ticks[:2])
    after = sum(t["attempts"] for t in ticks[3:]) / sum(t["requests"] for t in ticks[3:])
    assert after > before + 0.25  # attempts per request climb
    assert run.totals()["load_factor"] > 1.25
    waits = {b["start_ms"] - a["end_ms"] for r in run.sim.requests
             for a, b in zip(r.spans, r.spans[1:], strict=False) if a["service"] == b["service"] == "payments"}
    assert waits <= {100, 200, 400, 800} and 100 in waits and 200 in waits  # no jitter
    assert run.retry_schedule() == [100, 200, 400, 800]


def test_preset_retry_with_breaker_fails_retries_fast_and_without_retry_when_open_stops_them():
    storm, run = preset_run("retry-storm", 20), preset_run("retry-with-breaker", 20)
    stopped = preset_run("retry-with-breaker", 20, retry={"retry_when_open": False})

    assert run.sim.breakers["payments"].transitions[0].target == "OPEN"
    payments_calls = [sum(i.calls for i in r.sim.instances["payments"]) for r in (storm, run, stopped)]
    assert payments_calls[1] < payments_calls[0] / 2  # retries fail fast instead of loading payments
    totals = [r.totals() for r in (run, stopped)]
    assert totals[1]["retries"] < totals[0]["retries"] / 2  # ... and without retry_when_open they stop at once
    for request in stopped.sim.requests:
        said = [d[2] for d in request.decisions]
        for n, what in enumerate(said[:-1]):
            if "failed fast" in what:
                assert not said[n + 1].startswith("retry in")


def test_preset_instance_dies_under_load():
    run = preset_run("instance-dies-under-load", 25)
    history = [(e.at_ms, e.type) for e in run.sim.history if e.type.startswith("Instance")]

    assert history == [(5_000, "InstanceKilled"), (7_000, "InstanceEvicted"), (20_000, "InstanceRestarted"),
                       (20_000, "InstanceRegistered")]
    evicted = events(run.sim, "InstanceEvicted")[0]
    assert evicted.data["reason"] == "3 heartbeats missed"
    on_two = [s for r in run.sim.requests for s in r.spans if s["instance"] == "orders-2"]
    assert {s["outcome"] for s in on_two if 5_000 <= s["start_ms"] < 7_000} <= {"refused"}
    assert not [s for s in on_two if 7_000 <= s["start_ms"] < 20_000]
    assert [s for s in on_two if s["start_ms"] >= 20_000 and s["outcome"] == "ok"]
    # A refused call's retry goes to a healthy instance.
    moved = [r for r in run.sim.requests if len(r.spans) == 2 and r.spans[0]["outcome"] == "refused"]
    for request in moved:
        assert request.spans[1]["instance"] != "orders-2" and request.spans[1]["outcome"] == "ok"
    registry = {t["second"]: t["registry"]["orders"] for t in run.sim.ticks}
    assert registry[6] == ["orders-1", "orders-2", "orders-3"] and registry[8] == ["orders-1", "orders-3"]
    assert registry[21] == ["orders-1", "orders-2", "orders-3"]


def test_preset_instance_dies_under_load_retries_move_most_refused_calls_to_a_healthy_instance():
    run = preset_run("instance-dies-under-load", 8)
    refused = [r for r in run.sim.requests if r.spans and r.spans[0]["outcome"] == "refused"]  # /orders, /checkout

    assert refused
    for request in refused:
        last = [s for s in request.spans if s["service"] == "orders"][-1]
        if request.outcome == "ok":
            assert last["instance"] != "orders-2" and last["outcome"] == "ok"
        else:  # round robin sent the retry to the dead instance again
            assert (request.outcome, last["instance"], last["outcome"]) == ("error", "orders-2", "refused")
    assert sum(r.outcome == "ok" for r in refused) > len(refused) / 2


def test_preset_stuck_half_open_stays_half_open_while_its_test_calls_hang():
    run = preset_run("stuck-half-open", 25)
    payments = run.sim.breakers["payments"]

    assert [(t.source, t.target) for t in payments.transitions] == [("CLOSED", "OPEN"), ("OPEN", "HALF_OPEN")]
    assert payments.transitions[0].at_ms > 2_000 and payments.transitions[1].at_ms > 6_000
    assert payments.state == "HALF_OPEN" and payments.half_open_permits == 3 and payments.half_open_results == []
    half_open_ticks = [t for t in run.sim.ticks if t["second"] * 1_000 > payments.transitions[1].at_ms + 1_000]
    assert half_open_ticks and all(t["outcomes"].get("breaker_open", 0) > 0 for t in half_open_ticks[1:])


def test_preset_stuck_half_open_with_a_maximum_wait_goes_back_to_open_and_tries_again():
    run = preset_run("stuck-half-open", 30, breaker={"max_wait_half_open_ms": 5_000})
    moves = [(t.source, t.target) for t in run.sim.breakers["payments"].transitions]

    assert moves[:4] == [("CLOSED", "OPEN"), ("OPEN", "HALF_OPEN"), ("HALF_OPEN", "OPEN"), ("OPEN", "HALF_OPEN")]
    assert run.sim.breakers["payments"].transitions[2].reason == "the test calls did not finish within 5,000 ms"


def test_preset_breaker_backs_off_waits_longer_after_each_failed_trial_and_starts_over_once_closed():
    """Mirrors CircuitBreakerStateMachineTest.shouldTransitionToHalfOpenAfterWaitInterval: OpenState's wait is
    waitIntervalFunctionInOpenState.apply(attempts) — here ofExponentialBackoff(2 s, 2, 16 s) — and attempts go back
    to 0 in CLOSED."""
    # "... each time its test calls fail it opens again and waits twice as long before the next trial: 2 s, 4 s, 8 s,
    # then 16 s, the cap ... Payments recovers at 40 s; the breaker finds out at its next trial and closes — and when
    # payments fails again at 60 s, the wait starts over at 2 s."
    run = preset_run("breaker-backs-off", 80)
    moves = run.sim.breakers["payments"].transitions
    waits = [b.at_ms - a.at_ms for a, b in zip(moves, moves[1:], strict=False)
             if (a.target, b.target) == ("OPEN", "HALF_OPEN")]
    assert [w // 1_000 for w in waits[:5]] == [2, 4, 8, 16, 16]  # each just after its wait (the next call)
    assert all(w > expected for w, expected in zip(waits, [2_000, 4_000, 8_000, 16_000, 16_000], strict=False))
    closed = next(t for t in moves if t.target == "CLOSED")
    assert 40_000 < closed.at_ms < 60_000 and closed.reason == "the 3 test calls went well enough"
    after = [t for t in moves if t.at_ms > 60_000]
    assert (after[0].source, after[0].target) == ("CLOSED", "OPEN")
    assert after[1].target == "HALF_OPEN" and 2_000 < after[1].at_ms - after[0].at_ms < 3_000  # 2 s again
