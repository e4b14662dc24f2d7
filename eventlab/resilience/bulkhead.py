"""Bulkheads with Resilience4j's two semantics, on a virtual clock. Pure Python.

- **Semaphore bulkhead** (`SemaphoreBulkhead`): at most `max_concurrent` calls at once. A call that finds every permit
  taken waits up to `max_wait_ms` for one (first come, first served; 0: it is rejected at once) and is rejected when
  that time runs out. The caller's own thread does the work.
- **Thread-pool bulkhead** (`ThreadPoolBulkhead`): `max_concurrent` worker threads and a queue of `queue_capacity`
  calls; a call that finds every thread busy waits in the queue (as long as it takes) and is rejected only when the
  queue is full.
One bulkhead may be shared by every downstream service (one pool to exhaust) or each service may have its own (the
"isolated pools" a bulkhead is named after).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

RUN, WAIT, REJECT = "run", "wait", "reject"


@dataclass(frozen=True)
class BulkheadSettings:
    kind: str = "semaphore"  # semaphore | threadpool | none
    max_concurrent: int = 10
    max_wait_ms: int = 0  # semaphore only
    queue_capacity: int = 10  # thread pool only


@dataclass
class Bulkhead:
    settings: BulkheadSettings = field(default_factory=BulkheadSettings)
    in_use: int = 0
    waiting: deque[int] = field(default_factory=deque)  # call ids, first come first served
    rejected: int = 0
    peak: int = 0

    def acquire(self, call: int) -> str:
        """RUN now, WAIT for a permit or a thread, or REJECT (bulkhead full)."""
        if self.settings.kind == "none" or self.in_use < self.settings.max_concurrent:
            self.in_use += 1
            self.peak = max(self.peak, self.in_use)
            return RUN
        room = (self.settings.max_wait_ms > 0 if self.settings.kind == "semaphore"
                else len(self.waiting) < self.settings.queue_capacity)
        if room:
            self.waiting.append(call)
            return WAIT
        self.rejected += 1
        return REJECT

    def release(self) -> int | None:
        """A call finished: its permit goes to the first waiting call (returned), if any."""
        if self.waiting:
            return self.waiting.popleft()  # the permit passes on: in_use is unchanged
        self.in_use -= 1
        return None

    def give_up(self, call: int) -> bool:
        """A semaphore waiter's max_wait_ms ran out: rejected, if it was still waiting."""
        if call in self.waiting:
            self.waiting.remove(call)
            self.rejected += 1
            return True
        return False
