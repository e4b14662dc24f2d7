"""The resilience lab's system, simulated request by request on a virtual clock. Pure Python, no Django.

A load generator sends requests (Poisson arrivals at `rate_rps`) from a few clients to an **API gateway**, which:
authenticates them (a request without a valid key is rejected at the edge, 401), rate-limits each client with a token
bucket (429), routes by path (/orders, /payments, /inventory) and aggregates (/checkout fans out to all three services
at once and answers when all have). Each downstream call goes through the service's **circuit breaker**, then a
**bulkhead** (one shared by every service, or one per service), then picks an instance from the **service
registry** (round robin over the registered ones) and runs with a timeout; a failed call is **retried** with backoff.
Instances send heartbeats; one that misses `evict_after` of them is removed from the registry, so traffic moves to
the healthy ones; a restarted one registers again.

Everything random (arrivals, latencies, failures, jitter) comes from one seeded source, so a run is reproducible
from its settings, seed and inputs. The run records per-second summaries (`TickSummarized`) and the system's own
events (breaker transitions, instances killed, evicted, registered), not one event per request; the traces of recent
requests are kept in memory for the waterfall.
"""

from __future__ import annotations

import heapq
import random
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from eventlab.sim.engine import SimEvent

from .breaker import CircuitBreaker
from .bulkhead import REJECT, RUN, Bulkhead
from .retry import wait_ms

SERVICES = ("orders", "payments", "inventory")
PATHS = ("orders", "payments", "inventory", "checkout")
CLIENTS = ("web", "mobile", "partner")
TICK_MS = 1_000
REFUSED_MS = 1  # a call to a dead instance fails this fast (connection refused)
TRACES_KEPT = 300


@dataclass(frozen=True)
class ServiceSettings:
    instances: int = 3
    failure_pct: float = 0.0
    latency_ms: int = 50


@dataclass(frozen=True)
class Settings:
    rate_rps: float = 20.0
    mix: dict = field(default_factory=lambda: {"orders": 40, "payments": 30, "inventory": 20, "checkout": 10})
    unauthenticated_pct: float = 2.0
    bucket_capacity: int = 20  # the gateway's token bucket, per client (0: no rate limit)
    bucket_refill_per_s: float = 10.0
    timeout_ms: int = 1_000
    heartbeat_ms: int = 1_000
    evict_after: int = 3  # missed heartbeats
    services: dict = field(default_factory=lambda: {name: ServiceSettings() for name in SERVICES})
    breaker: Any = None  # BreakerSettings, or None: no breaker
    bulkhead: Any = None  # BulkheadSettings
    bulkhead_shared: bool = False
    retry: Any = None  # RetrySettings


@dataclass
class Instance:
    service: str
    number: int
    alive: bool = True
    registered: bool = True
    last_heartbeat_ms: int = 0
    calls: int = 0

    @property
    def name(self) -> str:
        return f"{self.service}-{self.number}"


@dataclass
class Request:
    id: int
    client: str
    path: str
    arrived_ms: int
    authenticated: bool
    decisions: list = field(default_factory=list)  # (at_ms, where, what)
    spans: list = field(default_factory=list)  # dicts: service, instance, attempt, start_ms, end_ms, outcome
    waiting_on: set = field(default_factory=set)  # services whose calls are not finished
    outcome: str | None = None  # ok | error | timeout | breaker_open | bulkhead_full | no_instance | unauthorized…
    first_failure: str | None = None  # an aggregated request's, until every call is over and the gateway answers
    ended_ms: int | None = None


@dataclass
class Call:
    """One downstream call of a request (with its retries)."""

    id: int
    request: Request
    service: str
    attempt: int = 1
    queued_ms: int | None = None
    instance: Instance | None = None
    started_ms: int = 0
    bulkhead: Bulkhead | None = None  # the one it holds or waits in (settings may change while it runs)
    last_wait_ms: int | None = None  # the wait before its last retry (decorrelated jitter grows from it)


@dataclass
class TokenBucket:
    capacity: int
    refill_per_s: float
    tokens: float = 0.0
    at_ms: int = 0

    def take(self, now_ms: int) -> bool:
        self.tokens = min(self.capacity, self.tokens + (now_ms - self.at_ms) * self.refill_per_s / 1000)
        self.at_ms = now_ms
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


class System:
    def __init__(self, settings: Settings, seed: int = 1, faults: Sequence[dict[str, Any]] = ()):
        self.settings, self.seed = settings, seed
        self.random = random.Random(seed)
        self.clock_ms = 0
        self.steps = 0  # ticks advanced
        self.history: list[SimEvent] = []
        self.faults: list[dict[str, Any]] = []
        self._queue: list[tuple[int, int, str, Any]] = []
        self._seq = 0
        self.instances = {name: [Instance(name, n + 1) for n in range(settings.services[name].instances)]
                          for name in SERVICES}
        self._next_instance = dict.fromkeys(SERVICES, 0)
        self.breakers = self._breakers()
        self._reported = {name: 0 for name in self.breakers}  # transitions already written to the history
        self.bulkheads = self._bulkheads()
        self.buckets = {client: TokenBucket(settings.bucket_capacity, settings.bucket_refill_per_s,
                                            settings.bucket_capacity) for client in CLIENTS}
        self.requests: deque[Request] = deque(maxlen=TRACES_KEPT)
        self._calls: dict[int, Call] = {}
        self._ids = 0
        self._tick = self._empty_tick()
        self.ticks: list[dict[str, Any]] = []
        self._arriving = False  # is the next arrival in the queue?
        if settings.rate_rps > 0:
            self._arriving = True
            self._at(0, "arrive", None)
        self._at(settings.heartbeat_ms, "heartbeat", None)
        for fault in sorted(faults, key=lambda f: f["at_ms"]):
            self.schedule(fault)

    def _bulkheads(self) -> dict[str, Bulkhead]:
        settings = self.settings.bulkhead
        if settings is None:
            return {}
        if self.settings.bulkhead_shared:
            shared = Bulkhead(settings)
            return dict.fromkeys(SERVICES, shared)
        return {name: Bulkhead(settings) for name in SERVICES}

    def _breakers(self) -> dict[str, CircuitBreaker]:
        return {name: CircuitBreaker(self.settings.breaker) for name in SERVICES} if self.settings.breaker else {}

    # --- the clock --------------------------------------------------------------------------------------------------

    def advance(self, ms: int = TICK_MS) -> list[SimEvent]:
        """Let `ms` of virtual time pass (whole ticks); returns the events it recorded."""
        before = len(self.history)
        end = self.clock_ms + ms
        while self.clock_ms < end:
            self.steps += 1
            tick_end = self.clock_ms - self.clock_ms % TICK_MS + TICK_MS
            while self._queue and self._queue[0][0] < tick_end:
                at, _, kind, data = heapq.heappop(self._queue)
                self.clock_ms = at
                getattr(self, f"_on_{kind}")(data)
            self.clock_ms = tick_end
            for breaker in self.breakers.values():
                breaker.tick(self.clock_ms)
            self._report_transitions()
            self._close_tick()
        return self.history[before:]

    def _at(self, at_ms: int, kind: str, data: Any) -> None:
        self._seq += 1
        heapq.heappush(self._queue, (at_ms, self._seq, kind, data))

    def schedule(self, fault: dict[str, Any]) -> None:
        """A fault that acts at its `at_ms`: a service's failure rate or latency changes, an instance dies or
        restarts."""
        self.faults.append(fault)
        self._at(fault["at_ms"], "fault", len(self.faults) - 1)

    def note(self, event_type: str, **data: Any) -> SimEvent:
        """Something done to the system from outside, written into its history now."""
        return self._record(event_type, **data)

    def _record(self, event_type: str, **data: Any) -> SimEvent:
        event = SimEvent(self.steps, self.clock_ms, event_type, data)
        self.history.append(event)
        return event

    # --- changes from outside ---------------------------------------------------------------------------------------

    def change(self, settings: Settings) -> None:
        """New settings from now on (the rate, a service's failure rate or latency, the breakers, the bulkheads…).

        A breaker keeps its state and window under new settings (a stuck HALF_OPEN given a maximum wait leaves it at
        once); one switched on starts CLOSED. A bulkhead of the same layout keeps its calls under its new size; a new
        layout (shared or isolated, on or off) starts empty, and calls already in the old one finish there."""
        old, self.settings = self.settings, settings
        for name, bucket in self.buckets.items():
            self.buckets[name] = replace(bucket, capacity=settings.bucket_capacity,
                                         refill_per_s=settings.bucket_refill_per_s)
        if settings.breaker != old.breaker:
            if settings.breaker is None or not self.breakers:
                self._report_transitions()
                self.breakers = self._breakers()
                self._reported = {name: 0 for name in self.breakers}
            else:
                for breaker in self.breakers.values():
                    breaker.settings = settings.breaker
                    breaker.tick(self.clock_ms)
                self._report_transitions()
        if (settings.bulkhead, settings.bulkhead_shared) != (old.bulkhead, old.bulkhead_shared):
            if settings.bulkhead is None or old.bulkhead is None or settings.bulkhead_shared != old.bulkhead_shared:
                self.bulkheads = self._bulkheads()
            else:
                for bulkhead in {id(b): b for b in self.bulkheads.values()}.values():  # the shared one once
                    bulkhead.settings = settings.bulkhead
        if settings.rate_rps > 0 and not self._arriving:
            self._arriving = True
            self._at(self.clock_ms, "arrive", None)

    def kill(self, service: str, number: int) -> None:
        instance = self.instances[service][number - 1]
        if instance.alive:
            instance.alive = False
            self._record("InstanceKilled", instance=instance.name)

    def restart(self, service: str, number: int) -> None:
        instance = self.instances[service][number - 1]
        if not instance.alive:
            instance.alive, instance.last_heartbeat_ms = True, self.clock_ms
            self._record("InstanceRestarted", instance=instance.name)
            if not instance.registered:
                instance.registered = True
                self._record("InstanceRegistered", instance=instance.name)

    def _on_fault(self, index: int) -> None:
        fault = self.faults[index]
        kind, service = fault["kind"], fault["service"]
        if kind in ("kill", "restart"):
            (self.kill if kind == "kill" else self.restart)(service, fault["instance"])
            return
        field_name = "failure_pct" if kind == "failure_rate" else "latency_ms"
        value = fault["pct"] if kind == "failure_rate" else fault["ms"]
        services = dict(self.settings.services)
        services[service] = replace(services[service], **{field_name: value})
        self.settings = replace(self.settings, services=services)
        self._record("FaultActed", **fault)

    # --- the gateway ------------------------------------------------------------------------------------------------

    def _on_arrive(self, _: Any) -> None:
        settings, rng = self.settings, self.random
        self._arriving = settings.rate_rps > 0
        if not self._arriving:
            return
        self._at(self.clock_ms + max(1, round(rng.expovariate(settings.rate_rps / 1000))), "arrive", None)
        self._ids += 1
        paths, weights = zip(*[(p, settings.mix.get(p, 0)) for p in PATHS], strict=True)
        request = Request(self._ids, rng.choice(CLIENTS), rng.choices(paths, weights)[0] if sum(weights) else "orders",
                          self.clock_ms, rng.random() * 100 >= settings.unauthenticated_pct)
        self.requests.append(request)
        self._tick["requests"] += 1
        if not request.authenticated:
            request.decisions.append((self.clock_ms, "gateway", "rejected: no valid API key (401)"))
            return self._finish(request, "unauthorized")
        if settings.bucket_capacity and not self.buckets[request.client].take(self.clock_ms):
            request.decisions.append((self.clock_ms, "gateway",
                                      f"rejected: {request.client} is over its rate limit (429)"))
            return self._finish(request, "rate_limited")
        targets = list(SERVICES) if request.path == "checkout" else [request.path]
        request.decisions.append((self.clock_ms, "gateway", f"/{request.path} → {' + '.join(targets)}"
                                  + (" (aggregated)" if len(targets) > 1 else "")))
        request.waiting_on = set(targets)
        for service in targets:
            self._ids += 1
            call = Call(self._ids, request, service)
            self._calls[call.id] = call
            self._attempt(call)

    # --- one downstream call: breaker, bulkhead, registry, instance, retry --------------------------------------------

    def _attempt(self, call: Call) -> None:
        self._tick["attempts"] += 1
        if call.attempt > 1:
            self._tick["retries"] += 1
        breaker = self.breakers.get(call.service)
        if breaker is not None and not breaker.try_acquire(self.clock_ms):
            self._report_transitions()
            return self._failed(call, "breaker_open", f"the breaker of {call.service} is {breaker.state}: failed fast")
        self._report_transitions()
        bulkhead = call.bulkhead = self.bulkheads.get(call.service)
        verdict = bulkhead.acquire(call.id) if bulkhead else RUN
        if verdict == REJECT:
            call.bulkhead = None
            # The bulkhead is inside the breaker: its refusal is an error the breaker records (Resilience4j records
            # every exception by default), so a half-open test call refused here still counts.
            self._record_call(call, failed=True, duration_ms=0, kind="bulkhead_full")
            return self._failed(call, "bulkhead_full", "bulkhead full: rejected")
        if verdict == RUN:
            if not self._start(call):
                self._release(call)
            return
        call.queued_ms = self.clock_ms  # waits for a permit or a thread
        if bulkhead.settings.kind == "semaphore":
            self._at(self.clock_ms + bulkhead.settings.max_wait_ms, "give_up", (call.id, call.attempt))

    def _on_give_up(self, data: tuple[int, int]) -> None:
        call_id, attempt = data
        call = self._calls.get(call_id)
        if call is None or call.attempt != attempt or call.bulkhead is None:
            return  # that attempt got its permit in time (and may be over)
        if call.bulkhead.give_up(call_id):
            waited, call.queued_ms, call.bulkhead = self.clock_ms - call.queued_ms, None, None
            self._record_call(call, failed=True, duration_ms=waited, kind="bulkhead_full")
            self._failed(call, "bulkhead_full", f"no permit within {waited} ms")

    def _start(self, call: Call) -> bool:
        """The call runs on an instance; False if none is registered (it failed; the caller frees its permit)."""
        call.started_ms = self.clock_ms
        if call.queued_ms is not None:
            call.request.decisions.append((self.clock_ms, call.service,
                                           f"waited {self.clock_ms - call.queued_ms} ms in the bulkhead"))
            call.queued_ms = None
        instance = self._pick(call.service)
        if instance is None:
            self._record_call(call, failed=True, duration_ms=0, kind="no_instance")
            self._failed(call, "no_instance", "no instance registered")
            return False
        call.instance = instance
        instance.calls += 1
        self._tick["calls"] += 1
        service = self.settings.services[call.service]
        if not instance.alive:
            self._at(self.clock_ms + REFUSED_MS, "done", (call.id, "refused"))
            return True
        latency = max(1, round(service.latency_ms * self.random.uniform(0.5, 1.5)))
        failed = self.random.random() * 100 < service.failure_pct
        if latency > self.settings.timeout_ms:
            self._at(self.clock_ms + self.settings.timeout_ms, "done", (call.id, "timeout"))
        else:
            self._at(self.clock_ms + latency, "done", (call.id, "error" if failed else "ok"))
        return True

    def _pick(self, service: str) -> Instance | None:
        registered = [i for i in self.instances[service] if i.registered]
        if not registered:
            return None
        self._next_instance[service] += 1
        return registered[self._next_instance[service] % len(registered)]

    def _on_done(self, data: tuple[int, str]) -> None:
        call_id, outcome = data
        call = self._calls[call_id]
        call.request.spans.append({"service": call.service, "instance": call.instance.name, "attempt": call.attempt,
                                   "start_ms": call.started_ms, "end_ms": self.clock_ms, "outcome": outcome})
        if outcome == "ok":
            self._release(call)
            self._record_call(call, failed=False)
            return self._call_over(call, "ok")
        reason = {"error": "the service answered with an error", "timeout": f"no answer in "
                  f"{self.settings.timeout_ms} ms: timed out", "refused": f"{call.instance.name} is down: "
                  "connection refused"}[outcome]
        self._release(call)
        self._record_call(call, failed=True, kind=outcome)
        self._failed(call, "timeout" if outcome == "timeout" else "error", reason)

    def _release(self, call: Call) -> None:
        """The call frees its permit or thread: the first call waiting for one starts (or, finding no instance,
        frees it in turn)."""
        bulkhead, call.bulkhead = call.bulkhead, None
        if bulkhead is None:
            return
        while (waiting := bulkhead.release()) is not None:
            passed_on = self._calls[waiting]
            if self._start(passed_on):
                return
            passed_on.bulkhead = None  # it found no instance: the permit passes on again

    def _record_call(self, call: Call, failed: bool, duration_ms: int | None = None, kind: str | None = None) -> None:
        """The breaker records the call; `kind`: how it failed (error, timeout, refused, bulkhead_full,
        no_instance), which decides whether it counts (record / ignore)."""
        breaker = self.breakers.get(call.service)
        if breaker is not None:
            duration = self.clock_ms - call.started_ms if duration_ms is None else duration_ms
            breaker.record(self.clock_ms, failed, duration, kind)
            self._report_transitions()

    def _failed(self, call: Call, outcome: str, why: str) -> None:
        call.request.decisions.append((self.clock_ms, call.service, f"attempt {call.attempt}: {why}"))
        retry = self.settings.retry
        may_retry = retry is not None and call.attempt < retry.max_attempts and (
            outcome != "breaker_open" or retry.retry_when_open)
        if may_retry:
            wait = call.last_wait_ms = wait_ms(retry, call.attempt, self.random, call.last_wait_ms)
            call.request.decisions.append((self.clock_ms, call.service, f"retry in {wait} ms"))
            call.attempt += 1
            return self._at(self.clock_ms + wait, "retry", call.id)
        self._call_over(call, outcome)

    def _on_retry(self, call_id: int) -> None:
        self._attempt(self._calls[call_id])

    def _call_over(self, call: Call, outcome: str) -> None:
        del self._calls[call.id]
        request = call.request
        request.waiting_on.discard(call.service)
        if outcome != "ok" and request.first_failure is None:
            request.first_failure = outcome  # the first failure decides an aggregated answer
        if not request.waiting_on:
            self._finish(request, request.first_failure or "ok")

    def _finish(self, request: Request, outcome: str) -> None:
        request.outcome, request.ended_ms = outcome, self.clock_ms
        self._tick["outcomes"][outcome] = self._tick["outcomes"].get(outcome, 0) + 1
        if outcome == "ok":
            self._tick["latencies"].append(self.clock_ms - request.arrived_ms)

    # --- discovery --------------------------------------------------------------------------------------------------

    def _on_heartbeat(self, _: Any) -> None:
        limit = self.settings.heartbeat_ms * self.settings.evict_after
        for instances in self.instances.values():
            for instance in instances:
                if instance.alive:
                    instance.last_heartbeat_ms = self.clock_ms
                elif instance.registered and self.clock_ms - instance.last_heartbeat_ms >= limit:
                    instance.registered = False
                    self._record("InstanceEvicted", instance=instance.name,
                                 reason=f"{self.settings.evict_after} heartbeats missed")
        self._at(self.clock_ms + self.settings.heartbeat_ms, "heartbeat", None)

    # --- what a tick leaves behind ----------------------------------------------------------------------------------

    def _report_transitions(self) -> None:
        for name, breaker in self.breakers.items():
            for transition in breaker.transitions[self._reported[name]:]:
                self.history.append(SimEvent(self.steps, transition.at_ms, "BreakerTransitioned",
                                             {"service": name, "from": transition.source, "to": transition.target,
                                              "reason": transition.reason}))
            self._reported[name] = len(breaker.transitions)

    def _empty_tick(self) -> dict[str, Any]:
        return {"requests": 0, "attempts": 0, "calls": 0, "retries": 0, "outcomes": {}, "latencies": []}

    def _close_tick(self) -> None:
        tick, self._tick = self._tick, self._empty_tick()
        latencies = sorted(tick.pop("latencies"))
        pools = {}
        for name, bulkhead in self.bulkheads.items():
            key = "shared" if self.settings.bulkhead_shared else name
            pools[key] = {"in_use": bulkhead.in_use, "waiting": len(bulkhead.waiting),
                          "size": bulkhead.settings.max_concurrent, "rejected": bulkhead.rejected}
        summary = {
            "second": self.clock_ms // TICK_MS, **tick,
            "ok": tick["outcomes"].get("ok", 0),
            "p50": percentile(latencies, 50), "p95": percentile(latencies, 95), "p99": percentile(latencies, 99),
            "breakers": {name: b.state for name, b in self.breakers.items()},
            "pools": pools,
            "registry": {name: [i.name for i in instances if i.registered]
                         for name, instances in self.instances.items()},
        }
        self.ticks.append(summary)
        self._record("TickSummarized", **summary)


def percentile(values: list[int], p: int) -> int | None:
    """Nearest-rank percentile of sorted values (None for none)."""
    if not values:
        return None
    rank = max(1, -(-p * len(values) // 100))
    return values[rank - 1]
