"""Resilience4j's semantics, one table per behaviour, each naming the Resilience4j source or test it mirrors
(resilience4j/resilience4j: resilience4j-circuitbreaker's CircuitBreakerStateMachine, CircuitBreakerMetrics and
CircuitBreakerConfig; resilience4j-core's IntervalFunction) — and the AWS Architecture Blog's jitters ("Exponential
Backoff And Jitter", Marc Brooker, 2015). Pure, virtual clock."""

import random

import pytest

from eventlab.resilience.breaker import (
    CLOSED,
    DISABLED,
    FAILURE_KINDS,
    FORCED_OPEN,
    HALF_OPEN,
    METRICS_ONLY,
    OPEN,
    BreakerSettings,
    CircuitBreaker,
)
from eventlab.resilience.intervals import decorrelated_jitter, equal_jitter, exponential, full_jitter, randomize
from eventlab.resilience.retry import RetrySettings, backoff_ms, schedule, wait_ms

F, S = True, False
C, OP, H = CLOSED, OPEN, HALF_OPEN


class Fixed(random.Random):
    """A random source whose every draw in [0, 1) is `value` (uniform(a, b) = a + (b - a) · value)."""

    def __init__(self, value: float):
        super().__init__(0)
        self.value = value

    def random(self) -> float:
        return self.value


def opened(settings: BreakerSettings) -> CircuitBreaker:
    """A breaker that opened at 0 ms (its first opening in a row)."""
    breaker = CircuitBreaker(settings)
    for _ in range(settings.effective_minimum):
        assert breaker.try_acquire(0)
        breaker.record(0, True, 0)
    assert (breaker.state, breaker.attempts) == (OPEN, 1)
    return breaker


def half_open(settings: BreakerSettings) -> CircuitBreaker:
    breaker = opened(settings)
    assert breaker.try_acquire(settings.wait_open_ms + 1) and breaker.state == HALF_OPEN
    breaker.half_open_permits = 0  # give that test call back: each case lets its own through
    return breaker


# --- HALF_OPEN decides once min(minimumNumberOfCalls, permittedNumberOfCallsInHalfOpenState) calls are recorded ----

HALF_OPEN_DECIDES = [
    # (why, minimum_calls, half_open_calls, test-call outcomes, state after each)
    ("minimum 1: the first test call decides — a success closes", 1, 3, [S], [C]),
    ("minimum 1: the first test call decides — a failure reopens", 1, 3, [F], [OP]),
    ("minimum 2 of 4 permitted: two calls decide, 1 of 2 failed is 50% ≥ 50%", 2, 4, [S, F], [H, OP]),
    ("minimum 2 of 4 permitted: two successes close it, not four", 2, 4, [S, S], [H, C]),
    ("minimum 10 above 3 permitted: the 3 permitted decide", 10, 3, [S, S, F], [H, H, C]),
    ("minimum 5, 3 permitted (the presets): the third call decides", 5, 3, [F, S, F], [H, H, OP]),
]


@pytest.mark.parametrize(("minimum", "permitted", "outcomes", "expected"), [c[1:] for c in HALF_OPEN_DECIDES],
                         ids=[c[0] for c in HALF_OPEN_DECIDES])
def test_half_open_decides_once_the_smaller_of_minimum_and_permitted_calls_are_recorded(minimum, permitted, outcomes,
                                                                                      expected):
    """Mirrors CircuitBreakerMetrics.forHalfOpen (a COUNT_BASED window of permittedNumberOfCallsInHalfOpenState
    whose minimumNumberOfCalls is min(minimumNumberOfCalls, window size)) with HalfOpenState.checkIfThresholdsExceeded
    (ABOVE a threshold → OPEN, BELOW_THRESHOLDS → CLOSED, BELOW_MINIMUM_CALLS_THRESHOLD → stay); cf.
    CircuitBreakerStateMachineTest.shouldTransitionBackToClosedStateWhenFailureIsBelowThreshold and
    shouldTransitionBackToOpenStateWhenFailureRateIsAboveThreshold."""
    breaker = half_open(BreakerSettings(window_size=max(minimum, 1), minimum_calls=minimum, wait_open_ms=1_000,
                                        half_open_calls=permitted))
    states = []
    for n, failed in enumerate(outcomes):
        assert breaker.try_acquire(1_010 + n)
        breaker.record(1_010 + n, failed, 5)
        states.append(breaker.state)
    assert states == expected


def test_test_calls_that_finish_after_the_decision_count_in_the_new_state():
    """Mirrors CircuitBreakerStateMachine.onSuccess/onError, which record into `stateReference.get()` — the state
    now, not the one that permitted the call."""
    breaker = half_open(BreakerSettings(window_size=10, minimum_calls=1, wait_open_ms=1_000, half_open_calls=3))
    assert breaker.try_acquire(1_010) and breaker.try_acquire(1_011) and breaker.try_acquire(1_012)
    breaker.record(1_020, False, 5)
    assert breaker.state == CLOSED
    breaker.record(1_030, True, 5)  # a late test call: a failure in the new CLOSED window (minimum 1: it opens)
    assert (breaker.state, breaker.transitions[-1].reason) == (OPEN, "failure rate 100% ≥ 50% over 1 calls")


# --- OPEN admits a call only strictly after the wait ------------------------------------------------------------

OPEN_WAIT = [
    # (why, wait_open_ms, automatic_half_open, when a call tries, permitted?)
    ("before the wait: refused", 5_000, False, 4_999, False),
    ("exactly at the end of the wait: still refused", 5_000, False, 5_000, False),
    ("a millisecond after: half-open, permitted", 5_000, False, 5_001, True),
    ("automatic: the scheduled transition at the wait lets a call through", 5_000, True, 5_000, True),
]


@pytest.mark.parametrize(("wait", "automatic", "at", "permitted"), [c[1:] for c in OPEN_WAIT],
                         ids=[c[0] for c in OPEN_WAIT])
def test_open_admits_a_call_only_strictly_after_its_wait(wait, automatic, at, permitted):
    """Mirrors OpenState.tryAcquirePermission: `clock.instant().isAfter(retryAfterWaitDuration)` (strictly after);
    with automaticTransitionFromOpenToHalfOpenEnabled a task scheduled `waitDurationInMillis` later moves it;
    cf. CircuitBreakerStateMachineTest.shouldTransitionToHalfOpenAfterWaitDuration."""
    breaker = opened(BreakerSettings(window_size=2, minimum_calls=2, wait_open_ms=wait,
                                     automatic_half_open=automatic))
    assert breaker.try_acquire(at) is permitted
    assert breaker.state == (HALF_OPEN if permitted else OPEN)


# --- A growing open wait: waitIntervalFunctionInOpenState over attemptNumberOfOpenStates ----------------------------

OPEN_WAITS = [
    # (why, wait_open_ms, multiplier, cap, the waits of the 1st, 2nd, 3rd… opening in a row)
    ("multiplier 1: a fixed wait (the default)", 5_000, 1, 0, [5_000, 5_000, 5_000]),
    ("ofExponentialBackoff(5000): 5 s, then 7.5 s", 5_000, 1.5, 0, [5_000, 7_500, 11_250, 16_875]),
    ("each from the previous, truncated", 1_001, 1.5, 0, [1_001, 1_501, 2_251, 3_376]),
    ("capped", 1_000, 2, 3_000, [1_000, 2_000, 3_000, 3_000]),
]


@pytest.mark.parametrize(("wait", "multiplier", "cap", "expected"), [c[1:] for c in OPEN_WAITS],
                         ids=[c[0] for c in OPEN_WAITS])
def test_the_open_wait_grows_with_each_opening_in_a_row(wait, multiplier, cap, expected):
    """Mirrors CircuitBreakerStateMachineTest.shouldTransitionToHalfOpenAfterWaitInterval (ofExponentialBackoff(5000):
    5 s, then 7.5 s) and OpenState(attempts, …) = waitIntervalFunctionInOpenState.apply(attempts), attempts + 1 on
    each transitionToOpenState, kept by HALF_OPEN, 0 in CLOSED."""
    settings = BreakerSettings(window_size=2, minimum_calls=2, half_open_calls=1, wait_open_ms=wait,
                               wait_open_multiplier=multiplier, wait_open_cap_ms=cap)
    breaker, now, waits = opened(settings), 0, []
    for _ in expected:
        waits.append(breaker.open_wait_ms)
        assert breaker.try_acquire(now + breaker.open_wait_ms) is False  # not yet
        now += breaker.open_wait_ms + 1
        assert breaker.try_acquire(now) and breaker.state == HALF_OPEN
        breaker.record(now, True, 5)  # the test call fails: open again, one more in a row
        assert breaker.state == OPEN
    assert waits == expected


def test_closing_resets_the_openings_in_a_row():
    """Mirrors ClosedState.attempts() == 0: after a CLOSED state the next opening waits the first interval again."""
    settings = BreakerSettings(window_size=2, minimum_calls=2, half_open_calls=1, wait_open_ms=1_000,
                               wait_open_multiplier=2)
    breaker = opened(settings)
    assert breaker.try_acquire(1_001)
    breaker.record(1_001, True, 5)
    assert (breaker.state, breaker.attempts, breaker.open_wait_ms) == (OPEN, 2, 2_000)
    assert breaker.try_acquire(3_002)
    breaker.record(3_002, False, 5)
    assert (breaker.state, breaker.attempts) == (CLOSED, 0)
    for at in (3_010, 3_020):
        assert breaker.try_acquire(at)
        breaker.record(at, True, 5)
    assert (breaker.state, breaker.attempts, breaker.open_wait_ms) == (OPEN, 1, 1_000)


# --- Which failures count: recordExceptions, ignoreExceptions ------------------------------------------------------

COUNTS = [
    # (why, record, ignore, failure kind, how it counts)
    ("by default every failure is recorded", FAILURE_KINDS, (), "timeout", "failure"),
    ("a kind not recorded counts as a success", ("error",), (), "timeout", "success"),
    ("a recorded kind is a failure", ("error",), (), "error", "failure"),
    ("an ignored kind is not recorded at all", FAILURE_KINDS, ("bulkhead_full",), "bulkhead_full", "ignored"),
    ("ignore wins over record", ("error",), ("error",), "error", "ignored"),
]


@pytest.mark.parametrize(("record", "ignore", "kind", "verdict"), [c[1:] for c in COUNTS], ids=[c[0] for c in COUNTS])
def test_which_failures_count(record, ignore, kind, verdict):
    """Mirrors CircuitBreakerStateMachine.handleThrowable: ignoreExceptionPredicate first (not recorded,
    releasePermission), then recordExceptionPredicate (onError), else onSuccess; CircuitBreakerConfig's defaults
    record every exception and ignore none."""
    breaker = CircuitBreaker(BreakerSettings(window_size=5, minimum_calls=5, record=record, ignore=ignore))
    assert breaker.counts_as(kind) == verdict
    assert breaker.try_acquire(0)
    breaker.record(0, True, 5, kind)
    expected = {"failure": [True], "success": [False], "ignored": []}[verdict]
    assert [failed for _, failed, _ in breaker.window] == expected


def test_an_ignored_failure_gives_the_half_open_permit_back():
    """Mirrors CircuitBreakerStateMachineTest.shouldReleasePermissionWhenExceptionIgnored (HalfOpenState
    .releasePermission: permittedNumberOfCalls + 1)."""
    breaker = half_open(BreakerSettings(window_size=2, minimum_calls=2, wait_open_ms=1_000, half_open_calls=1,
                                        ignore=("timeout",)))
    assert breaker.try_acquire(1_010) is True and breaker.try_acquire(1_011) is False
    breaker.record(1_020, True, 5, "timeout")
    assert (breaker.state, breaker.ignored) == (HALF_OPEN, 1)
    assert breaker.try_acquire(1_021) is True  # the permit came back


# --- DISABLED, FORCED_OPEN, METRICS_ONLY --------------------------------------------------------------------------

SPECIAL = [
    # (why, mode, state, is a call permitted, calls recorded after five failures)
    ("DISABLED lets every call through and records nothing", "disabled", DISABLED, True, 0),
    ("FORCED_OPEN refuses every call", "forced_open", FORCED_OPEN, False, 0),
    ("METRICS_ONLY lets every call through and records it, never opening", "metrics_only", METRICS_ONLY, True, 5),
]


@pytest.mark.parametrize(("mode", "state", "permitted", "recorded"), [c[1:] for c in SPECIAL],
                         ids=[c[0] for c in SPECIAL])
def test_the_states_set_by_hand(mode, state, permitted, recorded):
    """Mirrors CircuitBreakerStateMachineTest.shouldDisableCircuitBreaker, shouldForceOpenCircuitBreaker and
    shouldRecordMetricsInMetricsOnlyState (DisabledState, ForcedOpenState, MetricsOnlyState)."""
    breaker = CircuitBreaker(BreakerSettings(window_size=5, minimum_calls=5))
    breaker.settings = BreakerSettings(window_size=5, minimum_calls=5, mode=mode)
    for n in range(5):
        assert breaker.try_acquire(n) is permitted
        if permitted:
            breaker.record(n, True, 5)
    assert breaker.state == state
    assert breaker.rates(10)[0] == recorded
    assert breaker.not_permitted == (0 if permitted else 5)
    assert [(t.source, t.target) for t in breaker.transitions] == [(CLOSED, state)]
    breaker.settings = BreakerSettings(window_size=5, minimum_calls=5)  # back to normal: transitionToClosedState
    breaker.tick(20)
    assert breaker.state == CLOSED and breaker.transitions[-1].source == state


# --- Intervals as IntervalFunction computes them --------------------------------------------------------------------

EXPONENTIAL = [
    # (why, initial, multiplier, waits 1..n)
    ("ofExponentialBackoff(100, 2)", 100, 2, [100, 200, 400, 800, 1_600]),
    ("ofExponentialBackoff(100, 1.5): each from the previous, truncated (337, not 338)", 100, 1.5,
     [100, 150, 225, 337, 505, 757]),
    ("ofExponentialBackoff(500, 1.5), Resilience4j's defaults", 500, 1.5, [500, 750, 1_125, 1_687, 2_530]),
    ("an odd start: 333 × 1.5 → 499 → 748", 333, 1.5, [333, 499, 748, 1_122]),
]


@pytest.mark.parametrize(("initial", "multiplier", "expected"), [c[1:] for c in EXPONENTIAL],
                         ids=[c[0] for c in EXPONENTIAL])
def test_exponential_intervals_each_from_the_previous_truncated(initial, multiplier, expected):
    """Mirrors IntervalFunction.ofExponentialBackoff(initial, multiplier) = of(initial, x -> (long) (x * multiplier))
    (LongStream.iterate); cf. IntervalFunctionTest.generatesExponentialIntervals."""
    assert [exponential(initial, multiplier, n) for n in range(1, len(expected) + 1)] == expected
    settings = RetrySettings(len(expected) + 1, initial, "exponential", multiplier=multiplier, max_wait_ms=10**9)
    assert [backoff_ms(settings, n) for n in range(1, len(expected) + 1)] == expected


def test_capped_exponential_intervals():
    """Mirrors IntervalFunctionTest.generatesCappedExponentialIntervals: ofExponentialBackoff(100, 2, 100_000)
    grows until the 12th interval, which is the cap, as are the ones after."""
    settings = RetrySettings(14, 100, "exponential", multiplier=2, max_wait_ms=100_000)
    waits = [backoff_ms(settings, n) for n in range(1, 14)]
    assert all(a < b for a, b in zip(waits[:10], waits[1:11], strict=True))
    assert waits[11:] == [100_000, 100_000]


RANDOMIZED = [
    # (why, interval, factor, the draw in [0, 1), the wait)
    ("the lowest draw: interval × (1 − factor)", 100, 0.5, 0.0, 50),
    ("the middle draw: 50 + 0.5 × 101 = 100.5, truncated", 100, 0.5, 0.5, 100),
    ("the highest draw: interval × (1 + factor), included", 100, 0.5, 0.9999, 150),
    ("factor 0: the interval itself", 100, 0.0, 0.9999, 100),
    ("never below 1 ms", 1, 1.0, 0.0, 1),
]


@pytest.mark.parametrize(("interval", "factor", "draw", "expected"), [c[1:] for c in RANDOMIZED],
                         ids=[c[0] for c in RANDOMIZED])
def test_the_randomized_wait(interval, factor, draw, expected):
    """Mirrors IntervalFunctionCompanion.randomize: min + Math.random() * (max - min + 1), at least 1.0, cast to
    long; cf. IntervalFunctionTest.generatesRandomizedIntervals (ofRandomized(100, 0.5) within 50..150)."""
    assert randomize(interval, factor, Fixed(draw)) == expected


def test_exponential_random_backoff_randomizes_the_uncapped_interval_then_caps():
    """Mirrors IntervalFunction.ofExponentialRandomBackoff(initial, multiplier, factor, max) and
    IntervalFunctionTest.generatesCappedExponentialRandomIntervals: each wait within the exponential interval ×
    (1 ± factor), or the cap."""
    settings = RetrySettings(20, 100, "exponential", multiplier=1.5, max_wait_ms=100_000, jitter="randomized",
                             randomization_factor=0.5)
    rng, expected = random.Random(3), 100
    for n in range(1, 20):
        wait = wait_ms(settings, n, rng)
        assert wait == 100_000 or int(expected * 0.5) - 1 <= wait <= int(expected * 1.5) + 1
        expected = int(expected * 1.5)
    high = RetrySettings(3, 1_000, "fixed", max_wait_ms=1_200, jitter="randomized", randomization_factor=0.5)
    assert wait_ms(high, 1, Fixed(0.9999)) == 1_200  # 1,500 drawn, capped after


# --- Full, equal and decorrelated jitter (AWS Architecture Blog) ---------------------------------------------------

JITTER = [
    # (why, jitter, draw, backoff 400 → wait)
    ("full: random(0, temp), lowest", full_jitter, 0.0, 0),
    ("full: random(0, temp), middle", full_jitter, 0.5, 200),
    ("equal: temp/2 + random(0, temp/2), lowest", equal_jitter, 0.0, 200),
    ("equal: temp/2 + random(0, temp/2), highest", equal_jitter, 0.9999, 399),
]


@pytest.mark.parametrize(("jitter", "draw", "expected"), [c[1:] for c in JITTER], ids=[c[0] for c in JITTER])
def test_full_and_equal_jitter(jitter, draw, expected):
    """Mirrors the AWS Architecture Blog's "Exponential Backoff And Jitter" (2015): full jitter
    sleep = random_between(0, min(cap, base * 2 ** attempt)); equal jitter temp/2 + random_between(0, temp/2)."""
    assert jitter(400, Fixed(draw)) == expected


DECORRELATED = [
    # (why, base, previous, cap, draw, wait)
    ("the first: random(base, base × 3), lowest", 100, 100, 10_000, 0.0, 100),
    ("the first: random(base, base × 3), highest", 100, 100, 10_000, 0.9999, 299),
    ("grows from the previous wait: random(base, 3 × 1,000)", 100, 1_000, 10_000, 0.5, 1_550),
    ("capped", 100, 5_000, 2_000, 0.9999, 2_000),
]


@pytest.mark.parametrize(("base", "previous", "cap", "draw", "expected"), [c[1:] for c in DECORRELATED],
                         ids=[c[0] for c in DECORRELATED])
def test_decorrelated_jitter(base, previous, cap, draw, expected):
    """Mirrors the AWS Architecture Blog's decorrelated jitter: sleep = min(cap, random_between(base, sleep * 3)),
    the first sleep being base."""
    assert decorrelated_jitter(base, previous, cap, Fixed(draw)) == expected


def test_a_decorrelated_schedule_grows_from_each_previous_wait_and_is_reproducible():
    """The retry timeline's decorrelated row (AWS Architecture Blog): every wait within [base, min(cap, 3 × the
    previous)], drawn from the run's seed."""
    settings = RetrySettings(8, 100, "exponential", max_wait_ms=3_000, jitter="decorrelated")
    waits = schedule(settings, random.Random(5))
    previous = 100
    for wait in waits:
        assert 100 <= wait <= min(3_000, previous * 3)
        previous = wait
    assert schedule(settings, random.Random(5)) == waits
