"""Wait intervals as Resilience4j's `IntervalFunction` computes them, and the AWS Architecture Blog's jitters. Pure.

Resilience4j (resilience4j-core, `io.github.resilience4j.core.IntervalFunction`):
- `ofExponentialBackoff(initial, multiplier, max)`: `LongStream.iterate(initial, x -> (long) (x * multiplier))`, the
  attempt-th element, then `Math.min(interval, max)`: each interval is computed from the previous one and truncated
  to whole milliseconds (100 × 1.5: 100, 150, 225, 337, 505 — not 100·1.5ⁿ rounded, which gives 338, 506);
- `randomize(interval, factor)` (`IntervalFunctionCompanion`): `min + random × (max − min + 1)` with
  `min = interval − factor·interval`, `max = interval + factor·interval`, at least 1, then truncated by the `(long)`
  cast — a uniform whole number of milliseconds in interval × (1 ± factor), both ends included;
- `ofExponentialRandomBackoff(initial, multiplier, factor, max)` randomizes the uncapped exponential interval, then
  caps it.
Jitter (Marc Brooker, "Exponential Backoff And Jitter", AWS Architecture Blog, 2015), with `temp` the capped
backoff: full = random(0, temp); equal = temp/2 + random(0, temp/2); decorrelated = min(cap, random(base, prev·3)),
prev starting at base. Random draws come from the caller's seeded source, so a run is reproducible.
"""

from __future__ import annotations

import random

LONGEST_MS = 10**12


def exponential(initial_ms: int, multiplier: float, attempt: int) -> int:
    """The attempt-th interval (1: the first), each from the previous one, truncated (Resilience4j's
    `IntervalFunction.of(initial, x -> (long) (x * multiplier))`)."""
    interval = initial_ms
    for _ in range(attempt - 1):
        if interval > LONGEST_MS:  # far past any cap: stop before the float overflows
            break
        interval = int(interval * multiplier)
    return interval


def randomize(interval_ms: float, factor: float, rng: random.Random) -> int:
    """Resilience4j's `IntervalFunctionCompanion.randomize`, truncated as `(long)` does."""
    delta = factor * interval_ms
    low, high = interval_ms - delta, interval_ms + delta
    return int(max(1.0, low + rng.random() * (high - low + 1)))


def full_jitter(temp_ms: int, rng: random.Random) -> int:
    """AWS: sleep = random_between(0, temp)."""
    return int(rng.uniform(0, temp_ms))


def equal_jitter(temp_ms: int, rng: random.Random) -> int:
    """AWS: sleep = temp / 2 + random_between(0, temp / 2)."""
    return int(temp_ms / 2 + rng.uniform(0, temp_ms / 2))


def decorrelated_jitter(base_ms: int, previous_ms: int, cap_ms: int, rng: random.Random) -> int:
    """AWS: sleep = min(cap, random_between(base, sleep * 3)), the first `sleep` being base."""
    return int(min(cap_ms, rng.uniform(base_ms, max(base_ms, previous_ms * 3))))
