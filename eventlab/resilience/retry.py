"""Retry with backoff: how long to wait before each attempt. Pure Python.

The waits are computed as Resilience4j's `IntervalFunction` computes them (see `intervals`), on the simulation's
virtual clock: fixed (`IntervalFunction.of(base)`), exponential (`ofExponentialBackoff(base, multiplier, max)`: each
interval from the previous one, truncated to whole milliseconds, then capped), and linear (base × n, capped; not one
of Resilience4j's, an `IntervalFunction.of(base, x -> x + base)`). The lab used tenacity's `wait_exponential` before,
which computes base·multiplierⁿ⁻¹ in floating point and rounds: 100 × 1.5 gives 338 ms where Resilience4j waits 337 ms.

Jitter is drawn from the run's seeded source (so a run is reproducible):
- "randomized": Resilience4j's randomized wait, interval × (1 ± `randomization_factor`)
  (`ofRandomized`/`ofExponentialRandomBackoff`; the cap applies after it);
- "full", "equal", "decorrelated": the AWS Architecture Blog's "Exponential Backoff And Jitter" (Marc Brooker, 2015),
  with the capped backoff as its `temp`: full = random(0, temp); equal = temp/2 + random(0, temp/2);
  decorrelated = min(cap, random(base, previous wait × 3)).

`max_attempts` counts the first call, as Resilience4j's `maxAttempts` does (Polly's `MaxRetryAttempts` is one less).
With base 100 ms and exponential backoff the waits are 100, 200, 400 ms… (Resilience4j's
`IntervalFunction.ofExponentialBackoff(100, 2)`, Polly's `DelayBackoffType.Exponential` with `Delay` 100 ms).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from .intervals import decorrelated_jitter, equal_jitter, exponential, full_jitter, randomize

BACKOFFS = ("fixed", "linear", "exponential")
JITTERS = ("none", "randomized", "full", "equal", "decorrelated")


@dataclass(frozen=True)
class RetrySettings:
    max_attempts: int = 1  # 1: no retry
    base_ms: int = 100
    backoff: str = "exponential"
    multiplier: float = 2.0
    max_wait_ms: int = 10_000
    jitter: str = "none"
    retry_when_open: bool = True  # retry a call the breaker refused (Resilience4j retries every exception by default)
    randomization_factor: float = 0.5  # "randomized" jitter only (Resilience4j's DEFAULT_RANDOMIZATION_FACTOR)


def _uncapped_ms(settings: RetrySettings, retry_number: int) -> int:
    if settings.backoff == "fixed":
        return settings.base_ms
    if settings.backoff == "linear":
        return settings.base_ms * retry_number
    return exponential(settings.base_ms, settings.multiplier, retry_number)


def backoff_ms(settings: RetrySettings, retry_number: int) -> int:
    """The wait before retry `retry_number` (1 = the second attempt), before jitter, capped at `max_wait_ms`."""
    return min(_uncapped_ms(settings, retry_number), settings.max_wait_ms)


def wait_ms(settings: RetrySettings, retry_number: int, rng: random.Random, previous_ms: int | None = None) -> int:
    """The wait before retry `retry_number`, jitter included (drawn from the run's seeded source). `previous_ms`: the
    wait before the previous retry (decorrelated jitter grows from it; none: the base)."""
    if settings.jitter == "randomized":
        return min(randomize(_uncapped_ms(settings, retry_number), settings.randomization_factor, rng),
                   settings.max_wait_ms)
    if settings.jitter == "decorrelated":
        return decorrelated_jitter(settings.base_ms, previous_ms or settings.base_ms, settings.max_wait_ms, rng)
    temp = backoff_ms(settings, retry_number)
    if settings.jitter == "full":
        return full_jitter(temp, rng)
    if settings.jitter == "equal":
        return equal_jitter(temp, rng)
    return temp


def schedule(settings: RetrySettings, rng: random.Random) -> list[int]:
    """Every wait a call would make if every attempt failed (for the timeline picture)."""
    waits: list[int] = []
    for n in range(1, settings.max_attempts):
        waits.append(wait_ms(settings, n, rng, waits[-1] if waits else None))
    return waits
