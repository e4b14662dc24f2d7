"""A circuit breaker with Resilience4j's semantics, on a virtual clock. Pure Python.

(Sources: resilience4j-circuitbreaker's `CircuitBreakerStateMachine`, `CircuitBreakerMetrics`, `CircuitBreakerConfig`.)
CLOSED: every call is permitted and its outcome recorded in a sliding window — the last `window_size` calls
(count-based) or the calls of the last `window_size` seconds (time-based, whole-second buckets). Once the window holds
at least `minimum_calls` calls (capped at the window size when count-based, as Resilience4j does), the failure rate —
and the slow-call rate — is checked after each call: at or above its threshold, the breaker opens.
Which failures count: a failure whose kind is in `ignore` is not recorded at all (and gives a half-open permit back);
one in `record` is recorded as a failure; any other is recorded as a success (Resilience4j's ignoreExceptions,
recordExceptions; by default every failure is recorded and none ignored).
OPEN: calls fail fast (not permitted, not recorded). Only strictly after the open wait (`isAfter`) does the next call
attempt move it to HALF_OPEN (or the clock does, with `automatic_half_open`). The open wait is
`waitIntervalFunctionInOpenState` applied to the number of times it opened in a row: `wait_open_ms` the first time,
× `wait_open_multiplier` each time after (each from the previous, truncated, at most `wait_open_cap_ms`); 1: a fixed
wait, Resilience4j's default. Closing resets the count.
HALF_OPEN: `half_open_calls` calls are permitted, the rest fail fast. Its window is count-based and as large as the
permitted calls, so — as `CircuitBreakerMetrics.forHalfOpen` does — it decides as soon as min(`minimum_calls`,
`half_open_calls`) test calls are recorded: a rate at or above its threshold, OPEN again; below, CLOSED (a fresh
window). If those calls never finish, the breaker stays HALF_OPEN — "stuck in half-open" — unless
`max_wait_half_open_ms` (0: wait forever, the default) sends it back to OPEN.
The other states (Resilience4j's `transitionToDisabledState`, `transitionToForcedOpenState`,
`transitionToMetricsOnlyState`), set here with `mode`: DISABLED permits every call and records nothing; FORCED_OPEN
refuses every call; METRICS_ONLY permits every call and records it (rates shown) but never changes state. Back to
`mode` "normal" is Resilience4j's `transitionToClosedState`.

Polly's breaker is the same machine with a time-based window (SamplingDuration), MinimumThroughput, FailureRatio and
BreakDuration, and a single probe call when half-open: `polly_settings` maps one onto the other.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from .intervals import exponential

CLOSED, OPEN, HALF_OPEN = "CLOSED", "OPEN", "HALF_OPEN"
DISABLED, FORCED_OPEN, METRICS_ONLY = "DISABLED", "FORCED_OPEN", "METRICS_ONLY"
MODES = {"normal": CLOSED, "disabled": DISABLED, "forced_open": FORCED_OPEN, "metrics_only": METRICS_ONLY}
# The ways a call can fail in the lab (its "exceptions"): an error answer, a timeout, a refused connection (the
# instance is down), a full bulkhead (BulkheadFullException), no registered instance.
FAILURE_KINDS = ("error", "timeout", "refused", "bulkhead_full", "no_instance")


@dataclass(frozen=True)
class BreakerSettings:
    window: str = "count"  # count | time
    window_size: int = 10  # calls, or seconds
    minimum_calls: int = 5
    failure_rate_threshold: float = 50.0  # percent
    slow_call_rate_threshold: float = 100.0  # percent
    slow_call_ms: int = 60_000
    wait_open_ms: int = 5_000
    wait_open_multiplier: float = 1.0  # 1: the same wait every time (Resilience4j's default)
    wait_open_cap_ms: int = 0  # the longest open wait (0: no cap)
    half_open_calls: int = 3
    max_wait_half_open_ms: int = 0  # 0: wait for the permitted calls forever
    automatic_half_open: bool = False
    record: tuple[str, ...] = FAILURE_KINDS  # the failures recorded as failures (the others as successes)
    ignore: tuple[str, ...] = ()  # the failures not recorded at all
    mode: str = "normal"  # normal | disabled | forced_open | metrics_only

    @property
    def effective_minimum(self) -> int:
        return min(self.minimum_calls, self.window_size) if self.window == "count" else self.minimum_calls

    @property
    def half_open_minimum(self) -> int:
        """How many test calls decide (CircuitBreakerMetrics.forHalfOpen: a count window of the permitted calls)."""
        return min(self.minimum_calls, self.half_open_calls)

    def open_wait_ms(self, attempt: int) -> int:
        """The wait of the attempt-th opening in a row (waitIntervalFunctionInOpenState.apply(attempts))."""
        wait = exponential(self.wait_open_ms, self.wait_open_multiplier, attempt)
        return min(wait, self.wait_open_cap_ms) if self.wait_open_cap_ms else wait


def polly_settings(failure_ratio: float, minimum_throughput: int, sampling_duration_s: int,
                   break_duration_ms: int) -> BreakerSettings:
    """Polly v8's CircuitBreakerStrategyOptions expressed as Resilience4j settings (one probe when half-open)."""
    return BreakerSettings(window="time", window_size=sampling_duration_s, minimum_calls=minimum_throughput,
                           failure_rate_threshold=failure_ratio * 100, wait_open_ms=break_duration_ms,
                           half_open_calls=1)


@dataclass
class Transition:
    at_ms: int
    source: str
    target: str
    reason: str


@dataclass
class CircuitBreaker:
    settings: BreakerSettings = field(default_factory=BreakerSettings)
    state: str = CLOSED
    since_ms: int = 0
    window: deque[tuple[int, bool, bool]] = field(default_factory=deque)  # (at_ms, failed, slow)
    half_open_permits: int = 0
    half_open_results: list[tuple[bool, bool]] = field(default_factory=list)  # (failed, slow)
    transitions: list[Transition] = field(default_factory=list)
    not_permitted: int = 0
    attempts: int = 0  # times opened in a row (Resilience4j's attemptNumberOfOpenStates); 0 once closed
    ignored: int = 0  # failures not recorded (ignore)

    def __post_init__(self) -> None:
        if self.state == CLOSED and self.settings.mode != "normal":
            self.state = MODES[self.settings.mode]
            if self.state == FORCED_OPEN:
                self.attempts = 1

    @property
    def open_wait_ms(self) -> int:
        """The wait of the current OPEN state (under the settings now: a changed wait applies at once)."""
        return self.settings.open_wait_ms(max(1, self.attempts))

    # --- calls ------------------------------------------------------------------------------------------------------

    def try_acquire(self, now_ms: int) -> bool:
        """May a call go through now? (Counts the ones that may not.)"""
        self.tick(now_ms)
        if self.state == OPEN and now_ms > self.since_ms + self.open_wait_ms:  # isAfter: strictly after the wait
            self._to(HALF_OPEN, now_ms, f"{self.open_wait_ms:,} ms open: a call may test the service")
        if self.state in (CLOSED, DISABLED, METRICS_ONLY):
            return True
        if self.state == HALF_OPEN and self.half_open_permits < self.settings.half_open_calls:
            self.half_open_permits += 1
            return True
        self.not_permitted += 1
        return False

    def counts_as(self, kind: str) -> str:
        """How a failed call of this kind is recorded: "failure", "ignored", or "success" (a kind not recorded)."""
        if kind in self.settings.ignore:
            return "ignored"
        return "failure" if kind in self.settings.record else "success"

    def record(self, now_ms: int, failed: bool, duration_ms: int, kind: str | None = None) -> None:
        """A permitted call finished (`kind`: how it failed, if it did; "error" when not said)."""
        verdict = self.counts_as(kind or "error") if failed else "success"
        if verdict == "ignored":
            self.ignored += 1
            if self.state == HALF_OPEN and self.half_open_permits > len(self.half_open_results):
                self.half_open_permits -= 1  # releasePermission: another test call may go
            return
        failed = verdict == "failure"
        slow = duration_ms > self.settings.slow_call_ms
        if self.state in (CLOSED, METRICS_ONLY):
            self.window.append((now_ms, failed, slow))
            self._trim(now_ms)
            if self.state == CLOSED:
                self._check(now_ms, [(f, s) for _, f, s in self.window], self.settings.effective_minimum)
        elif self.state == HALF_OPEN:
            self.half_open_results.append((failed, slow))
            minimum = self.settings.half_open_minimum
            if len(self.half_open_results) >= minimum and not self._check(now_ms, self.half_open_results, minimum):
                count = len(self.half_open_results)
                self._to(CLOSED, now_ms, f"the {count} test call{'s' if count > 1 else ''} went well enough")
        # OPEN: a call permitted before the breaker opened finished late; it changes nothing. DISABLED and FORCED_OPEN
        # record nothing.

    def tick(self, now_ms: int) -> None:
        """What the clock alone does: the automatic move to HALF_OPEN, and leaving a stuck HALF_OPEN."""
        self._follow_mode(now_ms)
        if self.state == OPEN and self.settings.automatic_half_open \
                and now_ms >= self.since_ms + self.open_wait_ms:  # a task scheduled after the wait
            self._to(HALF_OPEN, now_ms, f"{self.open_wait_ms:,} ms open (automatic transition)")
        limit = self.settings.max_wait_half_open_ms
        if self.state == HALF_OPEN and limit and now_ms >= self.since_ms + limit:
            self._to(OPEN, now_ms, f"the test calls did not finish within {limit:,} ms")

    # --- reading ----------------------------------------------------------------------------------------------------

    def rates(self, now_ms: int) -> tuple[int, float | None, float | None]:
        """Calls in the window, failure rate and slow-call rate (None below the minimum number of calls)."""
        self._trim(now_ms)
        calls = ([(f, s) for _, f, s in self.window] if self.state in (CLOSED, METRICS_ONLY)
                 else self.half_open_results if self.state == HALF_OPEN else [])
        if not calls:
            return 0, None, None
        minimum = self.settings.half_open_minimum if self.state == HALF_OPEN else self.settings.effective_minimum
        if len(calls) < minimum:
            return len(calls), None, None
        return len(calls), 100 * sum(f for f, _ in calls) / len(calls), 100 * sum(s for _, s in calls) / len(calls)

    # --- inside -----------------------------------------------------------------------------------------------------

    def _follow_mode(self, now_ms: int) -> None:
        """A changed `mode` moves the breaker at once (the transitionTo…State calls)."""
        wanted = MODES.get(self.settings.mode, CLOSED)
        special = (DISABLED, FORCED_OPEN, METRICS_ONLY)
        if wanted != CLOSED and self.state != wanted:
            self._to(wanted, now_ms, f"set to {wanted} by hand")
        elif wanted == CLOSED and self.state in special:
            self._to(CLOSED, now_ms, "back to the normal state machine (transitionToClosedState)")

    def _trim(self, now_ms: int) -> None:
        if self.settings.window == "count":
            while len(self.window) > self.settings.window_size:
                self.window.popleft()
        else:  # the calls of the last window_size whole seconds, this one included
            oldest_second = now_ms // 1000 - self.settings.window_size + 1
            while self.window and self.window[0][0] // 1000 < oldest_second:
                self.window.popleft()

    def _check(self, now_ms: int, calls: list[tuple[bool, bool]], minimum: int) -> bool:
        """Open if a rate is at or above its threshold; returns whether it opened."""
        if len(calls) < minimum:
            return False
        failure = 100 * sum(f for f, _ in calls) / len(calls)
        slow = 100 * sum(s for _, s in calls) / len(calls)
        if failure >= self.settings.failure_rate_threshold:
            self._to(OPEN, now_ms, f"failure rate {failure:.0f}% ≥ {self.settings.failure_rate_threshold:g}% "
                                   f"over {len(calls)} calls")
            return True
        if slow >= self.settings.slow_call_rate_threshold:
            self._to(OPEN, now_ms, f"slow-call rate {slow:.0f}% ≥ {self.settings.slow_call_rate_threshold:g}% "
                                   f"over {len(calls)} calls")
            return True
        return False

    def _to(self, target: str, now_ms: int, reason: str) -> None:
        if target in (OPEN, FORCED_OPEN):  # transitionToOpenState / ForcedOpen: attempts + 1
            self.attempts += 1
            if target == OPEN and self.attempts > 1 and self.settings.wait_open_multiplier != 1:
                reason += f"; open wait {self.open_wait_ms:,} ms (opening {self.attempts} in a row)"
        elif target in (CLOSED, DISABLED, METRICS_ONLY):
            self.attempts = 0
        self.transitions.append(Transition(now_ms, self.state, target, reason))
        self.state, self.since_ms = target, now_ms
        self.window.clear()
        self.half_open_permits, self.half_open_results = 0, []
