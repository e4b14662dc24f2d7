"""A resilience-lab run: the settings and inputs that make it (start, step a second, run for a while, change
settings, kill or restart an instance, schedule faults, predict), validated in plain words, and replayed on the pure
system. What the pages and the API read off it. Pure Python, no Django."""

from __future__ import annotations

import copy
import random
from dataclasses import asdict, replace
from typing import Any

from eventlab.sim.engine import SimEvent
from eventlab.sim.runlog import REPLAY_DROPS, Invalid, RunLog
from eventlab.sim.validate import fault_specs, whole

from .breaker import FAILURE_KINDS, MODES, BreakerSettings
from .bulkhead import BulkheadSettings
from .retry import BACKOFFS, JITTERS, RetrySettings, schedule
from .system import CLIENTS, PATHS, SERVICES, TICK_MS, ServiceSettings, Settings, System

MAX_RUN_MS = 300_000  # five virtual minutes a run at most
MAX_BUDGET_MS = 120_000  # one Run at most
MAX_FAULTS = 50
FAULT_FIELDS = {"failure_rate": {"service", "pct", "at_ms"}, "latency": {"service", "ms", "at_ms"},
                "kill": {"service", "instance", "at_ms"}, "restart": {"service", "instance", "at_ms"}}
FAULT_KINDS = tuple(FAULT_FIELDS)


def _number(value: Any, name: str, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise Invalid(f"{name} must be a number from {low:,g} to {high:,g}.")
    return value


def _object(value: Any, name: str, fields: set[str]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise Invalid(f"{name} must be an object.")
    unknown = set(value) - fields
    if unknown:
        raise Invalid(f"{name} has no setting {sorted(unknown)[0][:40]!r}.")
    return value


def _choice(value: Any, name: str, choices: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in choices:
        raise Invalid(f"{name} must be one of: {', '.join(choices)}.")
    return value


def _kinds(value: Any, name: str) -> tuple[str, ...]:
    """A list of failure kinds (each known; a repeat is harmless), kept in FAILURE_KINDS' order."""
    if not isinstance(value, list | tuple) or len(value) > len(FAILURE_KINDS):
        raise Invalid(f"{name} must be a list of failure kinds, each one of: {', '.join(FAILURE_KINDS)}.")
    for kind in value:
        _choice(kind, f"Each of {name}", FAILURE_KINDS)
    return tuple(k for k in FAILURE_KINDS if k in value)


SETTING_FIELDS = {"rate_rps", "unauthenticated_pct", "mix", "rate_limit", "timeout_ms", "discovery", "services",
                  "breaker", "bulkhead", "retry"}


def parse_settings(data: Any, base: Settings | None = None) -> Settings:
    """Settings as the API takes them (every part optional; missing parts keep `base`, or the defaults)."""
    data = _object(data if data is not None else {}, "The settings", SETTING_FIELDS)
    settings = base or Settings()
    changes: dict[str, Any] = {}
    if "rate_rps" in data:
        changes["rate_rps"] = _number(data["rate_rps"], "rate_rps (requests per second)", 0, 100)
    if "unauthenticated_pct" in data:
        changes["unauthenticated_pct"] = _number(data["unauthenticated_pct"], "unauthenticated_pct", 0, 100)
    if "mix" in data:
        mix = _object(data["mix"], "mix", set(PATHS))
        changes["mix"] = {p: _number(mix.get(p, 0), f"mix.{p}", 0, 100) for p in PATHS}
        if not sum(changes["mix"].values()):
            raise Invalid("mix must send some traffic to at least one path.")
    if "rate_limit" in data:
        limit = _object(data["rate_limit"], "rate_limit", {"capacity", "refill_per_s"})
        changes["bucket_capacity"] = whole(limit.get("capacity", settings.bucket_capacity),
                                           "rate_limit.capacity", 0, 10_000)
        changes["bucket_refill_per_s"] = _number(limit.get("refill_per_s", settings.bucket_refill_per_s),
                                                 "rate_limit.refill_per_s", 0, 10_000)
    if "timeout_ms" in data:
        changes["timeout_ms"] = whole(data["timeout_ms"], "timeout_ms", 1, 60_000)
    if "discovery" in data:
        discovery = _object(data["discovery"], "discovery", {"heartbeat_ms", "evict_after"})
        changes["heartbeat_ms"] = whole(discovery.get("heartbeat_ms", settings.heartbeat_ms),
                                        "discovery.heartbeat_ms", 100, 60_000)
        changes["evict_after"] = whole(discovery.get("evict_after", settings.evict_after),
                                       "discovery.evict_after", 1, 100)
    if "services" in data:
        given = _object(data["services"], "services", set(SERVICES))
        services = dict(settings.services)
        for name, spec in given.items():
            spec = _object(spec, f"services.{name}", {"instances", "failure_pct", "latency_ms"})
            current = services[name]
            services[name] = ServiceSettings(
                instances=whole(spec.get("instances", current.instances), f"services.{name}.instances", 1, 10),
                failure_pct=_number(spec.get("failure_pct", current.failure_pct), f"services.{name}.failure_pct",
                                    0, 100),
                latency_ms=whole(spec.get("latency_ms", current.latency_ms), f"services.{name}.latency_ms",
                                 1, 60_000))
        changes["services"] = services
    if "breaker" in data:
        changes["breaker"] = None if data["breaker"] is None else _breaker(data["breaker"], settings.breaker)
    if "bulkhead" in data:
        if data["bulkhead"] is None:
            changes["bulkhead"] = None
        else:
            changes["bulkhead"], changes["bulkhead_shared"] = _bulkhead(data["bulkhead"], settings)
    if "retry" in data:
        changes["retry"] = None if data["retry"] is None else _retry(data["retry"], settings.retry)
    return replace(settings, **changes)


def _breaker(data: Any, current: BreakerSettings | None) -> BreakerSettings:
    """A breaker's settings; the ones not given keep their current values (or the defaults)."""
    spec = _object(data, "breaker", set(BreakerSettings.__dataclass_fields__))
    default = current or BreakerSettings()
    get = lambda key: spec.get(key, getattr(default, key))  # noqa: E731
    if not isinstance(get("automatic_half_open"), bool):
        raise Invalid("breaker.automatic_half_open must be true or false.")
    return BreakerSettings(
        window=_choice(get("window"), "breaker.window", ("count", "time")),
        window_size=whole(get("window_size"), "breaker.window_size", 1, 1_000),
        minimum_calls=whole(get("minimum_calls"), "breaker.minimum_calls", 1, 1_000),
        failure_rate_threshold=_number(get("failure_rate_threshold"), "breaker.failure_rate_threshold", 1, 100),
        slow_call_rate_threshold=_number(get("slow_call_rate_threshold"), "breaker.slow_call_rate_threshold", 1, 100),
        slow_call_ms=whole(get("slow_call_ms"), "breaker.slow_call_ms", 1, 600_000),
        wait_open_ms=whole(get("wait_open_ms"), "breaker.wait_open_ms", 1, 600_000),
        wait_open_multiplier=_number(get("wait_open_multiplier"), "breaker.wait_open_multiplier", 1, 10),
        wait_open_cap_ms=whole(get("wait_open_cap_ms"), "breaker.wait_open_cap_ms", 0, 3_600_000),
        half_open_calls=whole(get("half_open_calls"), "breaker.half_open_calls", 1, 100),
        max_wait_half_open_ms=whole(get("max_wait_half_open_ms"), "breaker.max_wait_half_open_ms", 0, 600_000),
        automatic_half_open=get("automatic_half_open"),
        record=_kinds(get("record"), "breaker.record"),
        ignore=_kinds(get("ignore"), "breaker.ignore"),
        mode=_choice(get("mode"), "breaker.mode", tuple(MODES)),
    )


def _bulkhead(data: Any, settings: Settings) -> tuple[BulkheadSettings, bool]:
    spec = _object(data, "bulkhead", {"kind", "max_concurrent", "max_wait_ms", "queue_capacity", "shared"})
    shared = spec.get("shared", settings.bulkhead_shared if settings.bulkhead else False)
    if not isinstance(shared, bool):
        raise Invalid("bulkhead.shared must be true or false.")
    default = settings.bulkhead or BulkheadSettings()
    return BulkheadSettings(
        kind=_choice(spec.get("kind", default.kind), "bulkhead.kind", ("semaphore", "threadpool")),
        max_concurrent=whole(spec.get("max_concurrent", default.max_concurrent), "bulkhead.max_concurrent", 1, 1_000),
        max_wait_ms=whole(spec.get("max_wait_ms", default.max_wait_ms), "bulkhead.max_wait_ms", 0, 60_000),
        queue_capacity=whole(spec.get("queue_capacity", default.queue_capacity), "bulkhead.queue_capacity", 0, 10_000),
    ), shared


def _retry(data: Any, current: RetrySettings | None) -> RetrySettings:
    spec = _object(data, "retry", set(RetrySettings.__dataclass_fields__))
    default = current or RetrySettings()
    get = lambda key: spec.get(key, getattr(default, key))  # noqa: E731
    if not isinstance(get("retry_when_open"), bool):
        raise Invalid("retry.retry_when_open must be true or false.")
    return RetrySettings(
        max_attempts=whole(get("max_attempts"), "retry.max_attempts", 1, 10),
        base_ms=whole(get("base_ms"), "retry.base_ms", 1, 60_000),
        backoff=_choice(get("backoff"), "retry.backoff", BACKOFFS),
        multiplier=_number(get("multiplier"), "retry.multiplier", 1, 10),
        max_wait_ms=whole(get("max_wait_ms"), "retry.max_wait_ms", 1, 600_000),
        jitter=_choice(get("jitter"), "retry.jitter", JITTERS),
        retry_when_open=get("retry_when_open"),
        randomization_factor=_number(get("randomization_factor"), "retry.randomization_factor", 0, 1),
    )


def settings_dict(settings: Settings) -> dict[str, Any]:
    """Settings back in the API's shape (what a run stores and answers)."""
    return {
        "rate_rps": settings.rate_rps, "unauthenticated_pct": settings.unauthenticated_pct, "mix": settings.mix,
        "rate_limit": {"capacity": settings.bucket_capacity, "refill_per_s": settings.bucket_refill_per_s},
        "timeout_ms": settings.timeout_ms,
        "discovery": {"heartbeat_ms": settings.heartbeat_ms, "evict_after": settings.evict_after},
        "services": {name: asdict(s) for name, s in settings.services.items()},
        "breaker": ({**asdict(settings.breaker), "record": list(settings.breaker.record),
                     "ignore": list(settings.breaker.ignore)} if settings.breaker else None),
        "bulkhead": {**asdict(settings.bulkhead), "shared": settings.bulkhead_shared} if settings.bulkhead else None,
        "retry": asdict(settings.retry) if settings.retry else None,
    }


def parse_faults(data: Any, now_ms: int = 0, instances: dict[str, int] | None = None) -> list[dict[str, Any]]:
    faults = []
    for kind, spec in fault_specs(data, FAULT_FIELDS, MAX_FAULTS, unknown_word="setting"):
        fault: dict[str, Any] = {"kind": kind, "service": _choice(spec.get("service"), "The service", SERVICES)}
        if kind == "failure_rate":
            fault["pct"] = _number(spec.get("pct"), "pct", 0, 100)
        elif kind == "latency":
            fault["ms"] = whole(spec.get("ms"), "ms", 1, 60_000)
        else:
            count = (instances or {}).get(fault["service"], 10)
            fault["instance"] = whole(spec.get("instance"), "instance", 1, count)
        fault["at_ms"] = whole(spec.get("at_ms", now_ms), "at_ms", now_ms, MAX_RUN_MS)
        faults.append(fault)
    return faults


def parse_start(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise Invalid("Start a run with a JSON object: seed, settings, faults.")
    _object(data, "The start", {"seed", "settings", "faults"})
    seed = whole(data.get("seed", 1), "The seed", 0, 2**31 - 1)
    settings = parse_settings(data.get("settings"))
    instances = {name: s.instances for name, s in settings.services.items()}
    return {"seed": seed, "settings": settings_dict(settings),
            "faults": parse_faults(data.get("faults", []), 0, instances)}


# --- Predict, then observe --------------------------------------------------------------------------------------

OUTCOMES = {
    "nothing": "Nothing changes state: traffic flows as it did.",
    "opens": "A circuit breaker opens: calls to that service start failing fast.",
    "half_open": "A circuit breaker goes half-open and lets a few test calls through.",
    "closes": "A circuit breaker closes again: the service is trusted.",
    "evicted": "The registry removes a dead instance: traffic moves to the healthy ones.",
    "registered": "A restarted instance registers again and gets traffic.",
}
OUTCOME_OF = {("BreakerTransitioned", "OPEN"): "opens", ("BreakerTransitioned", "HALF_OPEN"): "half_open",
              ("BreakerTransitioned", "CLOSED"): "closes", ("InstanceEvicted", None): "evicted",
              ("InstanceRegistered", None): "registered"}


def classify(events) -> str:
    for event in events:
        key = (event.type, event.data.get("to")) if event.type == "BreakerTransitioned" else (event.type, None)
        if key in OUTCOME_OF:
            return OUTCOME_OF[key]
    return "nothing"


class ResilienceRun:
    run_is_an_input = True  # "run" advances a virtual-time budget (RunLog does not loop over steps for it)

    def __init__(self, run_id: str, started: dict[str, Any]):
        self.id, self.started = run_id, started
        self.faults = list(started["faults"])
        self.sim = System(parse_settings(started["settings"]), seed=started["seed"], faults=self.faults)
        self.inputs: list[dict[str, Any]] = []
        self.predictions: list[dict[str, Any]] = []
        self.version = 0
        self.stale = ""  # set by RunLog (why the run takes no more input)

    # --- acting ---------------------------------------------------------------------------------------------------

    def act(self, given: dict[str, Any]) -> list[SimEvent]:
        before = len(self.sim.history)
        kind = given.get("input")
        if kind in ("step", "run"):
            budget = TICK_MS if kind == "step" else whole(given.get("ms", 10_000), "ms", TICK_MS, MAX_BUDGET_MS)
            left = MAX_RUN_MS - self.sim.clock_ms
            if left <= 0:
                raise Invalid(f"A run lasts at most {MAX_RUN_MS // 1000} virtual seconds: reset to start again.")
            predicted = given.get("predict")
            if predicted is not None and (not isinstance(predicted, str) or predicted not in OUTCOMES):
                raise Invalid(f"Unknown prediction {str(predicted)[:40]!r}.")
            asked = self.prompt() is not None if predicted is not None else False
            self.sim.advance(min(budget - budget % TICK_MS, left))
            if predicted is not None:
                happened = classify([e for e in self.sim.history[before:]])
                self.predictions.append({"step": self.steps, "predicted": predicted, "happened": happened,
                                         "right": predicted == happened, "asked": asked})
        elif kind == "settings":
            # On top of the settings now (what faults have done included): a change names only what it changes.
            settings = parse_settings(given.get("settings"), self.settings)
            if any(s.instances != self.settings.services[n].instances for n, s in settings.services.items()):
                raise Invalid("The number of instances is set when a run starts; kill or restart instances instead.")
            self.sim.note("SettingsChanged", settings=settings_dict(settings))
            self.sim.change(settings)  # after the note: what the change does at once (a breaker leaving HALF_OPEN)
        elif kind == "faults":
            instances = {name: s.instances for name, s in self.settings.services.items()}
            faults = parse_faults(given.get("faults"), self.sim.clock_ms, instances)
            for fault in faults:
                self.sim.schedule(fault)
            self.faults += faults
            given = {**given, "faults": faults}
        elif kind in ("kill", "restart"):
            service = _choice(given.get("service"), "The service", SERVICES)
            number = whole(given.get("instance"), "instance", 1, len(self.sim.instances[service]))
            instance = self.sim.instances[service][number - 1]
            if (kind == "kill") != instance.alive:
                raise Invalid(f"{instance.name} is already {'down' if kind == 'kill' else 'up'}.")
            (self.sim.kill if kind == "kill" else self.sim.restart)(service, number)
        else:
            raise Invalid(f"Unknown input {str(kind)[:40]!r}.")
        self.inputs.append(given)
        return self.sim.history[before:]

    def recorded(self, given: dict[str, Any]) -> dict[str, Any]:
        if given["input"] in ("step", "run") and self.predictions and self.predictions[-1]["step"] == self.steps:
            return {**given, "prediction": self.predictions[-1]}
        return dict(given)

    def replayed(self, data: dict[str, Any], until_step: int | None = None) -> None:
        given = {k: v for k, v in data.items() if k not in REPLAY_DROPS}
        if given["input"] == "run" and until_step is not None:  # back to a step inside a long Run
            given["ms"] = min(given.get("ms", 10_000), (until_step - self.steps) * TICK_MS)
            if given["ms"] < TICK_MS:
                return
        self.act(given)
        if "prediction" in data and data["prediction"]["step"] <= self.steps:  # not one made past a Back's step
            self.predictions.append(data["prediction"])

    def idle_reason(self) -> str:
        return f"The run has reached {MAX_RUN_MS // 1000} virtual seconds."

    # --- reading --------------------------------------------------------------------------------------------------

    @property
    def steps(self) -> int:
        return self.sim.steps

    @property
    def settings(self) -> Settings:
        """The settings the system runs with now: the start's, then the learner's changes and the faults'."""
        return self.sim.settings

    @property
    def done(self) -> bool:
        return self.sim.clock_ms >= MAX_RUN_MS

    def prompt(self) -> dict[str, Any] | None:
        """Predict, then observe: when the next second changes a breaker or the registry, ask what will happen."""
        if self.done:
            return None
        # A copy of the system without its history and per-second summaries (append-only, never read by `advance`):
        # the copy costs the same at 300 virtual seconds as at 3.
        sim = self.sim
        ahead = copy.deepcopy(sim, {id(sim.history): [], id(sim.ticks): []})
        happened = classify(ahead.advance(TICK_MS))
        if happened == "nothing":
            return None
        return {"step": self.steps + 1, "choices": [{"key": k, "label": v} for k, v in OUTCOMES.items()]}

    def breakers(self) -> dict[str, dict[str, Any]]:
        now = self.sim.clock_ms
        out = {}
        for name, breaker in self.sim.breakers.items():
            calls, failure, slow = breaker.rates(now)
            out[name] = {"state": breaker.state, "since_ms": breaker.since_ms, "calls": calls,
                         "failure_rate": failure, "slow_rate": slow, "not_permitted": breaker.not_permitted,
                         "half_open_permits": breaker.half_open_permits, "open_wait_ms": breaker.open_wait_ms,
                         "openings_in_a_row": breaker.attempts, "ignored": breaker.ignored,
                         "transitions": [{"at_ms": t.at_ms, "from": t.source, "to": t.target, "reason": t.reason}
                                         for t in breaker.transitions]}
        return out

    def registry(self) -> dict[str, list[dict[str, Any]]]:
        return {name: [{"name": i.name, "alive": i.alive, "registered": i.registered,
                        "last_heartbeat_ms": i.last_heartbeat_ms, "calls": i.calls} for i in instances]
                for name, instances in self.sim.instances.items()}

    def requests(self) -> list[dict[str, Any]]:
        """The most recent requests (newest first), with their gateway decisions and spans: the trace waterfall."""
        return [{"id": r.id, "client": r.client, "path": r.path, "arrived_ms": r.arrived_ms, "ended_ms": r.ended_ms,
                 "outcome": r.outcome or "in flight", "decisions": [list(d) for d in r.decisions], "spans": r.spans}
                for r in reversed(self.sim.requests)]

    def totals(self) -> dict[str, Any]:
        ticks = self.sim.ticks
        outcomes: dict[str, int] = {}
        for tick in ticks:
            for key, count in tick["outcomes"].items():
                outcomes[key] = outcomes.get(key, 0) + count
        requests = sum(t["requests"] for t in ticks)
        calls = sum(t["calls"] for t in ticks)
        admitted = requests - outcomes.get("unauthorized", 0) - outcomes.get("rate_limited", 0)
        return {"requests": requests, "outcomes": outcomes, "attempts": sum(t["attempts"] for t in ticks),
                "calls": calls, "retries": sum(t["retries"] for t in ticks),
                "load_factor": round(calls / max(1, admitted), 2)}  # service calls per admitted request

    def retry_schedule(self) -> list[int]:
        """The waits one call would make if every attempt failed (jitter drawn from a copy of the seed)."""
        return schedule(self.settings.retry, random.Random(self.started["seed"])) if self.settings.retry else []

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "seed": self.started["seed"], "step": self.steps, "clock_ms": self.sim.clock_ms,
            "done": self.done, "settings": settings_dict(self.settings), "faults": list(self.faults),
            "series": self.sim.ticks, "breakers": self.breakers(), "registry": self.registry(),
            "totals": self.totals(), "retry_schedule": self.retry_schedule(), "requests": self.requests()[:20],
            "clients": list(CLIENTS),
            "forked_from": self.started.get("forked_from"), "fork_step": self.started.get("fork_step"),
        }


LOG = RunLog("resilience", ResilienceRun, "ResilienceRunStarted",
             {"step": "ResilienceAdvanced", "run": "ResilienceAdvanced", "settings": "ResilienceSettingsChanged",
              "faults": "ResilienceFaultsInjected", "kill": "ResilienceInstanceKilled",
              "restart": "ResilienceInstanceRestarted"})
