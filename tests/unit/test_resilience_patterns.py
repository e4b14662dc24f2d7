"""The circuit breaker, bulkheads and retry backoff, table-driven against the behaviour Resilience4j and Polly
document for the same settings (pure, virtual clock)."""

import random

import pytest

from eventlab.resilience.breaker import CLOSED, HALF_OPEN, OPEN, BreakerSettings, CircuitBreaker, polly_settings
from eventlab.resilience.bulkhead import REJECT, RUN, WAIT, Bulkhead, BulkheadSettings
from eventlab.resilience.retry import RetrySettings, backoff_ms, schedule, wait_ms

# --- Circuit breaker ---------------------------------------------------------------------------------------------

F, S = True, False  # a call that failed, a call that succeeded


def calls(breaker: CircuitBreaker, outcomes, start_ms=0, every_ms=10, duration_ms=5) -> list[str]:
    """Each outcome as one permitted call (refused calls are marked '-'); the state after each."""
    states, now = [], start_ms
    for failed in outcomes:
        if breaker.try_acquire(now):
            breaker.record(now + duration_ms, failed, duration_ms)
        else:
            states.append("-")
            now += every_ms
            continue
        states.append(breaker.state)
        now += every_ms
    return states


C, OP, H = CLOSED, OPEN, HALF_OPEN

COUNT_CASES = [
    # (description, settings, outcomes, states after each call)
    ("below the minimum number of calls, even all failures keep it closed",
     BreakerSettings(window_size=10, minimum_calls=5), [F, F, F, F], [C, C, C, C]),
    ("the fifth failure reaches the minimum: 100% >= 50%, open",
     BreakerSettings(window_size=10, minimum_calls=5), [F, F, F, F, F], [C, C, C, C, OP]),
    ("40% is below a 50% threshold; 50% is at it, and at it opens",
     BreakerSettings(window_size=10, minimum_calls=5), [S, S, S, F, F, F], [C, C, C, C, C, OP]),
    ("count-based: a minimum above the window size is capped at the window size",
     BreakerSettings(window_size=4, minimum_calls=10), [S, S, F, F], [C, C, C, OP]),
    ("the window slides: old failures fall out of the last N calls",
     BreakerSettings(window_size=5, minimum_calls=5, failure_rate_threshold=60), [F, F, S, S, S, S, F, S],
     [C, C, C, C, C, C, C, C]),
    ("once open, calls are refused without being tried",
     BreakerSettings(window_size=2, minimum_calls=2, wait_open_ms=60_000), [F, F, S, S], [C, OP, "-", "-"]),
]


@pytest.mark.parametrize(("settings", "outcomes", "expected"), [c[1:] for c in COUNT_CASES],
                         ids=[c[0] for c in COUNT_CASES])
def test_a_count_based_breaker(settings, outcomes, expected):
    assert calls(CircuitBreaker(settings), outcomes) == expected


def opened(settings: BreakerSettings) -> CircuitBreaker:
    """A breaker that opened at time 0."""
    breaker = CircuitBreaker(settings)
    calls(breaker, [F] * settings.effective_minimum, every_ms=0, duration_ms=0)
    assert (breaker.state, breaker.since_ms) == (OPEN, 0)
    return breaker


HALF_OPEN_CASES = [
    ("the test calls go well: closed", [S, S, F], [H, H, C]),
    ("too many test calls fail: open again", [F, F, S], [H, H, OP]),
]


@pytest.mark.parametrize(("outcomes", "expected"), [c[1:] for c in HALF_OPEN_CASES], ids=[c[0] for c in HALF_OPEN_CASES])
def test_after_the_open_wait_the_permitted_test_calls_decide(outcomes, expected):
    breaker = opened(BreakerSettings(window_size=4, minimum_calls=4, wait_open_ms=1_000, half_open_calls=3))
    assert breaker.try_acquire(999) is False  # still open
    assert breaker.try_acquire(1_000) is False  # at the end of the wait: still open (only strictly after it)
    assert calls(breaker, outcomes, start_ms=1_001) == expected


def test_half_open_permits_only_its_test_calls_and_refuses_the_rest():
    breaker = opened(BreakerSettings(window_size=4, minimum_calls=4, wait_open_ms=1_000, half_open_calls=2))
    assert [breaker.try_acquire(1_001 + n) for n in range(4)] == [True, True, False, False]
    assert breaker.state == HALF_OPEN
    breaker.record(1_050, False, 5)
    breaker.record(1_060, True, 5)  # 1 of 2 failed: 50% >= 50%
    assert breaker.state == OPEN


def test_half_open_is_stuck_while_its_test_calls_never_finish():
    breaker = opened(BreakerSettings(window_size=4, minimum_calls=4, wait_open_ms=1_000, half_open_calls=2))
    assert breaker.try_acquire(1_001) and breaker.try_acquire(1_002)  # two test calls that hang
    for later in (10_000, 100_000, 1_000_000):
        assert breaker.try_acquire(later) is False
        assert breaker.state == HALF_OPEN  # stuck: nothing finishes, nothing decides


def test_a_maximum_wait_in_half_open_sends_a_stuck_breaker_back_to_open():
    breaker = opened(BreakerSettings(window_size=4, minimum_calls=4, wait_open_ms=1_000, half_open_calls=2,
                                     max_wait_half_open_ms=5_000))
    assert breaker.try_acquire(1_001) and breaker.try_acquire(1_002)
    breaker.tick(6_000)
    assert breaker.state == HALF_OPEN
    breaker.tick(6_001)
    assert breaker.state == OPEN
    assert breaker.transitions[-1].reason == "the test calls did not finish within 5,000 ms"
    # ... and after the open wait, it tests again.
    assert breaker.try_acquire(7_001) is False  # the open wait ends at 7,001: not yet
    assert breaker.try_acquire(7_002) is True and breaker.state == HALF_OPEN


def test_without_automatic_transition_open_waits_for_a_call_and_with_it_the_clock_moves_it():
    lazy = opened(BreakerSettings(window_size=2, minimum_calls=2, wait_open_ms=1_000))
    lazy.tick(5_000)
    assert lazy.state == OPEN  # nobody called: Resilience4j's default stays OPEN
    eager = opened(BreakerSettings(window_size=2, minimum_calls=2, wait_open_ms=1_000, automatic_half_open=True))
    eager.tick(1_010)
    assert eager.state == HALF_OPEN


TIME_CASES = [
    # calls at these times (ms), all failing; window of 2 whole seconds, minimum 3
    ("three failures within two seconds open it", [100, 500, 1_500], [C, C, OP]),
    ("the first failures fell out of the window: below the minimum", [100, 500, 2_500], [C, C, C]),
]


@pytest.mark.parametrize(("times", "expected"), [c[1:] for c in TIME_CASES], ids=[c[0] for c in TIME_CASES])
def test_a_time_based_breaker_counts_the_calls_of_the_last_seconds(times, expected):
    breaker = CircuitBreaker(BreakerSettings(window="time", window_size=2, minimum_calls=3))
    states = []
    for at in times:
        assert breaker.try_acquire(at)
        breaker.record(at, True, 5)
        states.append(breaker.state)
    assert states == expected


def test_slow_calls_open_the_breaker_even_when_they_succeed():
    breaker = CircuitBreaker(BreakerSettings(window_size=4, minimum_calls=4, slow_call_ms=1_000,
                                             slow_call_rate_threshold=50))
    assert calls(breaker, [S, S, S, S], duration_ms=1_500) == [C, C, C, OP]
    assert breaker.transitions[-1].reason == "slow-call rate 100% ≥ 50% over 4 calls"


def test_rates_show_none_below_the_minimum():
    breaker = CircuitBreaker(BreakerSettings(window_size=10, minimum_calls=4))
    calls(breaker, [F, S, S])
    assert breaker.rates(100) == (3, None, None)
    calls(breaker, [S], start_ms=100)
    assert breaker.rates(200) == (4, 25.0, 0.0)


def test_pollys_options_are_the_same_machine_with_one_probe():
    settings = polly_settings(failure_ratio=0.5, minimum_throughput=4, sampling_duration_s=10,
                              break_duration_ms=2_000)
    assert (settings.window, settings.window_size, settings.minimum_calls, settings.failure_rate_threshold,
            settings.half_open_calls) == ("time", 10, 4, 50.0, 1)
    breaker = CircuitBreaker(settings)
    assert calls(breaker, [S, S, F, F]) == [C, C, C, OP]  # throughput 4 reached, ratio 0.5 >= 0.5: break
    assert breaker.try_acquire(1_999) is False
    assert breaker.try_acquire(2_100) is True and breaker.try_acquire(2_101) is False  # one probe only
    breaker.record(2_150, False, 5)
    assert breaker.state == CLOSED


# --- Bulkheads ---------------------------------------------------------------------------------------------------

BULKHEAD_CASES = [
    ("semaphore, no wait: the third call is rejected", BulkheadSettings("semaphore", 2, max_wait_ms=0), 3,
     [RUN, RUN, REJECT]),
    ("semaphore with a wait: later calls wait for a permit", BulkheadSettings("semaphore", 2, max_wait_ms=100), 4,
     [RUN, RUN, WAIT, WAIT]),
    ("thread pool: calls queue until the queue is full", BulkheadSettings("threadpool", 2, queue_capacity=1), 4,
     [RUN, RUN, WAIT, REJECT]),
    ("no bulkhead: everything runs", BulkheadSettings("none", 2), 4, [RUN, RUN, RUN, RUN]),
]


@pytest.mark.parametrize(("settings", "count", "expected"), [c[1:] for c in BULKHEAD_CASES],
                         ids=[c[0] for c in BULKHEAD_CASES])
def test_a_bulkhead_admits_queues_or_rejects(settings, count, expected):
    bulkhead = Bulkhead(settings)
    assert [bulkhead.acquire(n) for n in range(count)] == expected
    assert bulkhead.rejected == expected.count(REJECT)


def test_a_released_permit_goes_to_the_first_waiting_call():
    bulkhead = Bulkhead(BulkheadSettings("semaphore", 1, max_wait_ms=100))
    assert [bulkhead.acquire(n) for n in (1, 2, 3)] == [RUN, WAIT, WAIT]
    assert bulkhead.release() == 2
    assert bulkhead.in_use == 1
    assert bulkhead.give_up(3) is True and bulkhead.rejected == 1  # its wait ran out
    assert bulkhead.give_up(2) is False  # already running
    assert bulkhead.release() is None and bulkhead.in_use == 0


# --- Retry backoff -----------------------------------------------------------------------------------------------

BACKOFF_CASES = [
    ("exponential from 100 ms: 100, 200, 400, 800", RetrySettings(5, 100, "exponential"), [100, 200, 400, 800]),
    ("exponential, capped at 300 ms", RetrySettings(5, 100, "exponential", max_wait_ms=300), [100, 200, 300, 300]),
    ("exponential with multiplier 3", RetrySettings(4, 100, "exponential", multiplier=3), [100, 300, 900]),
    ("fixed", RetrySettings(4, 250, "fixed"), [250, 250, 250]),
    ("linear", RetrySettings(4, 100, "linear"), [100, 200, 300]),
    ("max_attempts counts the first call: one attempt, no waits", RetrySettings(1, 100), []),
]


@pytest.mark.parametrize(("settings", "expected"), [c[1:] for c in BACKOFF_CASES], ids=[c[0] for c in BACKOFF_CASES])
def test_the_waits_between_attempts(settings, expected):
    assert [backoff_ms(settings, n) for n in range(1, settings.max_attempts)] == expected
    assert schedule(settings, random.Random(1)) == expected  # no jitter: the same


@pytest.mark.parametrize(("jitter", "low", "high"), [("full", 0.0, 1.0), ("equal", 0.5, 1.0)])
def test_jitter_stays_in_its_range_and_comes_from_the_seeded_source(jitter, low, high):
    settings = RetrySettings(6, 100, "exponential", jitter=jitter)
    waits = schedule(settings, random.Random(7))
    for n, wait in enumerate(waits, 1):
        base = backoff_ms(settings, n)
        assert low * base <= wait <= high * base
    assert schedule(settings, random.Random(7)) == waits
    assert schedule(settings, random.Random(8)) != waits
    assert wait_ms(settings, 1, random.Random(7)) == waits[0]
