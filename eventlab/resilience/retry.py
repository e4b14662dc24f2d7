"""Retry with backoff: how long to wait before each attempt. Pure Python.

The backoff shapes come from tenacity's wait strategies (`wait_fixed`, `wait_incrementing`, `wait_exponential`),
called with the attempt number on the simulation's virtual clock instead of sleeping. Jitter is drawn from the run's
seeded random source (tenacity's own jittered waits draw from Python's global `random`, which would make a run
irreproducible): "full" jitter waits a uniform time in [0, backoff], "equal" jitter half the backoff plus a uniform
time in [0, backoff / 2] (the two of the AWS Architecture Blog's "Exponential Backoff And Jitter").

`max_attempts` counts the first call, as Resilience4j's `maxAttempts` does (Polly's `MaxRetryAttempts` is one less).
With base 100 ms and exponential backoff the waits are 100, 200, 400 ms… (Resilience4j's
`IntervalFunction.ofExponentialBackoff(100, 2)`, Polly's `DelayBackoffType.Exponential` with `Delay` 100 ms).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from types import SimpleNamespace

import tenacity

BACKOFFS = ("fixed", "linear", "exponential")
JITTERS = ("none", "full", "equal")


@dataclass(frozen=True)
class RetrySettings:
    max_attempts: int = 1  # 1: no retry
    base_ms: int = 100
    backoff: str = "exponential"
    multiplier: float = 2.0
    max_wait_ms: int = 10_000
    jitter: str = "none"
    retry_when_open: bool = True  # retry a call the breaker refused (Resilience4j retries every exception by default)


def backoff_ms(settings: RetrySettings, retry_number: int) -> int:
    """The wait before retry `retry_number` (1 = the second attempt), before jitter."""
    strategy = {
        "fixed": tenacity.wait_fixed(settings.base_ms),
        "linear": tenacity.wait_incrementing(start=settings.base_ms, increment=settings.base_ms,
                                             max=settings.max_wait_ms),
        "exponential": tenacity.wait_exponential(multiplier=settings.base_ms, exp_base=settings.multiplier,
                                                 max=settings.max_wait_ms),
    }[settings.backoff]
    return round(min(strategy(SimpleNamespace(attempt_number=retry_number)), settings.max_wait_ms))


def wait_ms(settings: RetrySettings, retry_number: int, rng: random.Random) -> int:
    """The wait before retry `retry_number`, jitter included (drawn from the run's seeded source)."""
    base = backoff_ms(settings, retry_number)
    if settings.jitter == "full":
        return round(rng.uniform(0, base))
    if settings.jitter == "equal":
        return round(base / 2 + rng.uniform(0, base / 2))
    return base


def schedule(settings: RetrySettings, rng: random.Random) -> list[int]:
    """Every wait a call would make if every attempt failed (for the timeline picture)."""
    return [wait_ms(settings, n, rng) for n in range(1, settings.max_attempts)]
