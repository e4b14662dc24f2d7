"""A circuit breaker with Resilience4j's semantics, on a virtual clock. Pure Python.

CLOSED: every call is permitted and its outcome recorded in a sliding window — the last `window_size` calls
(count-based) or the calls of the last `window_size` seconds (time-based, whole-second buckets). Once the window holds
at least `minimum_calls` calls (capped at the window size when count-based, as Resilience4j does), the failure rate —
and the slow-call rate — is checked after each call: at or above its threshold, the breaker opens.
OPEN: calls fail fast (not permitted, not recorded). After `wait_open_ms` the next call attempt moves it to HALF_OPEN
(or the clock does, with `automatic_half_open`).
HALF_OPEN: `half_open_calls` calls are permitted, the rest fail fast; once all of them have finished, their failure
rate decides: at or above the threshold, OPEN again; below, CLOSED (a fresh window). If the permitted calls never
finish, the breaker stays HALF_OPEN — "stuck in half-open" — unless `max_wait_half_open_ms` (0: wait forever, the
default) sends it back to OPEN.

Polly's breaker is the same machine with a time-based window (SamplingDuration), MinimumThroughput, FailureRatio and
BreakDuration, and a single probe call when half-open: `polly_settings` maps one onto the other.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

CLOSED, OPEN, HALF_OPEN = "CLOSED", "OPEN", "HALF_OPEN"


@dataclass(frozen=True)
class BreakerSettings:
    window: str = "count"  # count | time
    window_size: int = 10  # calls, or seconds
    minimum_calls: int = 5
    failure_rate_threshold: float = 50.0  # percent
    slow_call_rate_threshold: float = 100.0  # percent
    slow_call_ms: int = 60_000
    wait_open_ms: int = 5_000
    half_open_calls: int = 3
    max_wait_half_open_ms: int = 0  # 0: wait for the permitted calls forever
    automatic_half_open: bool = False

    @property
    def effective_minimum(self) -> int:
        return min(self.minimum_calls, self.window_size) if self.window == "count" else self.minimum_calls


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
    window: deque = field(default_factory=deque)  # (at_ms, failed, slow)
    half_open_permits: int = 0
    half_open_results: list = field(default_factory=list)  # (failed, slow)
    transitions: list[Transition] = field(default_factory=list)
    not_permitted: int = 0

    # --- calls ------------------------------------------------------------------------------------------------------

    def try_acquire(self, now_ms: int) -> bool:
        """May a call go through now? (Counts the ones that may not.)"""
        self.tick(now_ms)
        if self.state == OPEN and now_ms >= self.since_ms + self.settings.wait_open_ms:
            self._to(HALF_OPEN, now_ms, f"{self.settings.wait_open_ms:,} ms open: a call may test the service")
        if self.state == CLOSED:
            return True
        if self.state == HALF_OPEN and self.half_open_permits < self.settings.half_open_calls:
            self.half_open_permits += 1
            return True
        self.not_permitted += 1
        return False

    def record(self, now_ms: int, failed: bool, duration_ms: int) -> None:
        """A permitted call finished."""
        slow = duration_ms > self.settings.slow_call_ms
        if self.state == CLOSED:
            self.window.append((now_ms, failed, slow))
            self._trim(now_ms)
            self._check(now_ms, [(f, s) for _, f, s in self.window], self.settings.effective_minimum)
        elif self.state == HALF_OPEN:
            self.half_open_results.append((failed, slow))
            decided = len(self.half_open_results) >= self.settings.half_open_calls
            if decided and not self._check(now_ms, self.half_open_results, self.settings.half_open_calls):
                self._to(CLOSED, now_ms, f"the {self.settings.half_open_calls} test calls went well enough")
        # OPEN: a call permitted before the breaker opened finished late; it changes nothing.

    def tick(self, now_ms: int) -> None:
        """What the clock alone does: the automatic move to HALF_OPEN, and leaving a stuck HALF_OPEN."""
        if self.state == OPEN and self.settings.automatic_half_open \
                and now_ms >= self.since_ms + self.settings.wait_open_ms:
            self._to(HALF_OPEN, now_ms, f"{self.settings.wait_open_ms:,} ms open (automatic transition)")
        limit = self.settings.max_wait_half_open_ms
        if self.state == HALF_OPEN and limit and now_ms >= self.since_ms + limit:
            self._to(OPEN, now_ms, f"the test calls did not finish within {limit:,} ms")

    # --- reading ----------------------------------------------------------------------------------------------------

    def rates(self, now_ms: int) -> tuple[int, float | None, float | None]:
        """Calls in the window, failure rate and slow-call rate (None below the minimum number of calls)."""
        self._trim(now_ms)
        calls = [(f, s) for _, f, s in self.window] if self.state == CLOSED else self.half_open_results
        if not calls:
            return 0, None, None
        minimum = self.settings.effective_minimum if self.state == CLOSED else self.settings.half_open_calls
        if len(calls) < minimum:
            return len(calls), None, None
        return len(calls), 100 * sum(f for f, _ in calls) / len(calls), 100 * sum(s for _, s in calls) / len(calls)

    # --- inside -----------------------------------------------------------------------------------------------------

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
        self.transitions.append(Transition(now_ms, self.state, target, reason))
        self.state, self.since_ms = target, now_ms
        self.window.clear()
        self.half_open_permits, self.half_open_results = 0, []
