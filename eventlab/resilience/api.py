"""The resilience lab over JSON: start a simulated system, let virtual time pass (a second, or a Run with a budget),
change its settings, schedule faults, kill and restart instances, go back to a second, fork a what-if run.

Start, step, run, faults, fork, the list and a run at a second are labs.runapi's, as for every run lab; settings,
kill and restart are the resilience lab's own. Bodies follow the one body policy (labs.api.ObjectBody); values are
checked by the lab's own validation (runs.py), after the lab: every mistake gets one plain-words `detail`,
and a bad value sent to a lab one cannot reach is a 404 like any other request to it."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Field, Schema

from eventlab.labs.api import Detail, NoFields, ObjectBody, lab_from_request
from eventlab.labs.runapi import run_router
from eventlab.sim.runlog import Invalid

from . import services
from .runs import OUTCOMES

Number = int | float
PATH_NUMBER_DIGITS = 6


# --- What the endpoints take -------------------------------------------------------------------------------------

SETTINGS_EXAMPLE = {
    "rate_rps": 20, "unauthenticated_pct": 2, "mix": {"orders": 40, "payments": 30, "inventory": 20, "checkout": 10},
    "rate_limit": {"capacity": 20, "refill_per_s": 10}, "timeout_ms": 1000,
    "discovery": {"heartbeat_ms": 1000, "evict_after": 3},
    "services": {"payments": {"instances": 3, "failure_pct": 0, "latency_ms": 50}},
    "breaker": {"window": "count", "window_size": 10, "minimum_calls": 5, "failure_rate_threshold": 50,
                "slow_call_rate_threshold": 100, "slow_call_ms": 60000, "wait_open_ms": 5000, "half_open_calls": 3,
                "max_wait_half_open_ms": 0, "automatic_half_open": False, "wait_open_multiplier": 1,
                "wait_open_cap_ms": 0, "record": ["error", "timeout", "refused", "bulkhead_full", "no_instance"],
                "ignore": [], "mode": "normal"},
    "bulkhead": {"kind": "semaphore", "max_concurrent": 10, "max_wait_ms": 0, "queue_capacity": 10, "shared": False},
    "retry": {"max_attempts": 3, "base_ms": 100, "backoff": "exponential", "multiplier": 2, "max_wait_ms": 10000,
              "jitter": "full", "retry_when_open": True, "randomization_factor": 0.5},
}
FAULTS_EXAMPLE = [{"kind": "failure_rate", "service": "payments", "pct": 80, "at_ms": 5000},
                  {"kind": "latency", "service": "inventory", "ms": 2000, "at_ms": 8000},
                  {"kind": "kill", "service": "orders", "instance": 2, "at_ms": 10000},
                  {"kind": "restart", "service": "orders", "instance": 2, "at_ms": 20000}]
PREDICT = Field(None, description="What you expect the time to show, before you see it: one of "
                + ", ".join(OUTCOMES) + ". Recorded in the run with what happened.", examples=["opens"])


class ResilienceStart(ObjectBody):
    seed: Any = Field(1, description="The run is reproducible from (seed, settings, faults, the inputs after).")
    settings: Any = Field(None, description="Every part optional; a missing part keeps its default. `breaker`, "
                          "`bulkhead` and `retry` are off unless given (`{}` turns one on with its defaults).",
                          examples=[SETTINGS_EXAMPLE])
    faults: Any = Field([], description="Changes that act at `at_ms` (virtual time; default 0): a service's "
                        "failure rate or latency, an instance killed or restarted.", examples=[FAULTS_EXAMPLE])


class ResilienceStepIn(ObjectBody):
    predict: Any = PREDICT


class ResilienceRunIn(ObjectBody):
    ms: Any = Field(10_000, description="How much virtual time passes, in whole seconds (1,000 to 120,000 ms).")
    predict: Any = PREDICT


class ResilienceSettingsIn(ObjectBody):
    settings: Any = Field(..., description="Only what changes, from now on, in the start's shape (the number of "
                          "instances is fixed: kill or restart them instead; null switches a pattern off).",
                          examples=[{"rate_rps": 50, "breaker": {"wait_open_ms": 2000}}])


# --- What they answer --------------------------------------------------------------------------------------------


class ResilienceServiceSettingsOut(Schema):
    instances: int
    failure_pct: Number
    latency_ms: int


class ResilienceBreakerSettingsOut(Schema):
    window: str = Field(description="count | time")
    window_size: int = Field(description="Calls (count) or seconds (time).")
    minimum_calls: int
    failure_rate_threshold: Number = Field(description="Percent.")
    slow_call_rate_threshold: Number = Field(description="Percent.")
    slow_call_ms: int
    wait_open_ms: int = Field(description="The first open wait (Resilience4j's waitDurationInOpenState). A call "
                              "is let through only strictly after it.")
    wait_open_multiplier: Number = Field(description="Each time the breaker opens again without having closed, the "
                                         "wait is the previous one × this, truncated to whole ms "
                                         "(waitIntervalFunctionInOpenState = IntervalFunction.ofExponentialBackoff); "
                                         "1: the same wait every time.")
    wait_open_cap_ms: int = Field(description="The longest open wait (0: no cap).")
    half_open_calls: int = Field(description="Test calls permitted when half-open; min(minimum_calls, "
                                 "half_open_calls) of them, once recorded, decide.")
    max_wait_half_open_ms: int = Field(description="0: a half-open breaker waits for its test calls forever.")
    automatic_half_open: bool
    record: list[str] = Field(description="Failure kinds recorded as failures (recordExceptions): error, timeout, "
                              "refused, bulkhead_full, no_instance. A failure of a kind not listed counts as a "
                              "success.")
    ignore: list[str] = Field(description="Failure kinds not recorded at all (ignoreExceptions); they win over "
                              "`record`, and give a half-open permit back.")
    mode: str = Field(description="normal (CLOSED/OPEN/HALF_OPEN) | disabled (DISABLED: every call permitted, "
                      "nothing recorded) | forced_open (FORCED_OPEN: every call refused) | metrics_only "
                      "(METRICS_ONLY: every call permitted and recorded, the state never changes)")


class ResilienceBulkheadSettingsOut(Schema):
    kind: str = Field(description="semaphore | threadpool")
    max_concurrent: int
    max_wait_ms: int = Field(description="Semaphore: how long a call waits for a permit (0: rejected at once).")
    queue_capacity: int = Field(description="Thread pool: how many calls wait for a thread.")
    shared: bool = Field(description="One pool for every service, or one each.")


class ResilienceRetrySettingsOut(Schema):
    max_attempts: int = Field(description="The first call included, as Resilience4j counts.")
    base_ms: int
    backoff: str = Field(description="fixed | linear | exponential")
    multiplier: Number
    max_wait_ms: int
    jitter: str = Field(description="none | randomized (Resilience4j: interval × (1 ± randomization_factor)) | "
                        "full | equal | decorrelated (the AWS Architecture Blog's jitters)")
    retry_when_open: bool
    randomization_factor: Number = Field(description="For randomized jitter: 0 to 1 (Resilience4j's default 0.5).")


class ResilienceRateLimitOut(Schema):
    capacity: int = Field(description="The token bucket of each client (0: no rate limit).")
    refill_per_s: Number


class ResilienceDiscoveryOut(Schema):
    heartbeat_ms: int
    evict_after: int = Field(description="Missed heartbeats before an instance leaves the registry.")


class ResilienceSettingsOut(Schema):
    rate_rps: Number
    unauthenticated_pct: Number
    mix: dict[str, Number]
    rate_limit: ResilienceRateLimitOut
    timeout_ms: int
    discovery: ResilienceDiscoveryOut
    services: dict[str, ResilienceServiceSettingsOut]
    breaker: ResilienceBreakerSettingsOut | None
    bulkhead: ResilienceBulkheadSettingsOut | None
    retry: ResilienceRetrySettingsOut | None


class ResiliencePoolOut(Schema):
    in_use: int
    waiting: int
    size: int
    rejected: int


class ResilienceTickOut(Schema):
    """One virtual second."""

    second: int
    requests: int = Field(description="Requests that arrived at the gateway.")
    attempts: int = Field(description="Downstream attempts, retries included, refused ones too.")
    calls: int = Field(description="Calls that reached an instance.")
    retries: int
    outcomes: dict[str, int] = Field(description="Requests answered, by outcome: ok, error, timeout, breaker_open, "
                                     "bulkhead_full, no_instance, unauthorized, rate_limited.")
    ok: int
    p50: int | None = Field(description="Latency of the ok requests (ms, nearest rank); null if none.")
    p95: int | None
    p99: int | None
    breakers: dict[str, str]
    pools: dict[str, ResiliencePoolOut]
    registry: dict[str, list[str]]


class ResilienceBreakerOut(Schema):
    state: str = Field(description="CLOSED | OPEN | HALF_OPEN | DISABLED | FORCED_OPEN | METRICS_ONLY")
    since_ms: int
    calls: int = Field(description="Calls in the window (closed) or test calls finished (half-open).")
    failure_rate: float | None = Field(description="Percent; null below the minimum number of calls.")
    slow_rate: float | None
    not_permitted: int = Field(description="Calls it refused (failed fast).")
    half_open_permits: int
    open_wait_ms: int = Field(description="The wait of the current (or next) OPEN state.")
    openings_in_a_row: int = Field(description="Resilience4j's attempts: times opened since it last closed.")
    ignored: int = Field(description="Failures it did not record (ignore).")
    transitions: list[dict] = Field(description='Each {"at_ms", "from", "to", "reason"}.')


class ResilienceInstanceOut(Schema):
    name: str
    alive: bool
    registered: bool
    last_heartbeat_ms: int
    calls: int


class ResilienceTotalsOut(Schema):
    requests: int
    outcomes: dict[str, int]
    attempts: int
    calls: int
    retries: int
    load_factor: float = Field(description="Service calls per admitted request: how retries multiply the load.")


class ResilienceSpanOut(Schema):
    service: str
    instance: str
    attempt: int
    start_ms: int
    end_ms: int
    outcome: str


class ResilienceTraceOut(Schema):
    id: int
    client: str
    path: str
    arrived_ms: int
    ended_ms: int | None
    outcome: str
    decisions: list[tuple[int, str, str]] = Field(description="[at_ms, where, what]: the gateway's and each call's.")
    spans: list[ResilienceSpanOut]


class ResilienceHappenedOut(Schema):
    step: int
    at_ms: int
    type: str = Field(description="BreakerTransitioned, InstanceKilled, InstanceEvicted, InstanceRestarted, "
                      "InstanceRegistered, FaultActed, SettingsChanged")
    data: dict


class ResilienceRunOut(Schema):
    id: str
    seed: int
    step: int = Field(description="Virtual seconds so far.")
    clock_ms: int
    done: bool = Field(description="A run lasts five virtual minutes at most.")
    settings: ResilienceSettingsOut = Field(description="What the system runs with now (the faults' changes included).")
    faults: list[dict]
    series: list[ResilienceTickOut] = Field(description="One summary per virtual second.")
    breakers: dict[str, ResilienceBreakerOut] = Field(description="Per service; empty without a breaker.")
    registry: dict[str, list[ResilienceInstanceOut]]
    totals: ResilienceTotalsOut
    retry_schedule: list[int] = Field(description="The waits (ms) one call would make if every attempt failed.")
    requests: list[ResilienceTraceOut] = Field(description="The 20 most recent requests, newest first: the trace "
                                               "waterfall.")
    clients: list[str]
    happened: list[ResilienceHappenedOut] = Field(description="What the system did besides summarizing each second.")
    prompt: dict | None = Field(description="Predict, then observe: set when the next second changes a breaker or "
                                "the registry (its `choices`), null otherwise.")
    predictions: list[dict]
    forked_from: str | None
    fork_step: int | None


def _out(run) -> dict[str, Any]:
    return {**run.as_dict(), "prompt": run.prompt(), "predictions": run.predictions,
            "happened": [{"step": e.step, "at_ms": e.at_ms, "type": e.type, "data": e.data}
                         for e in run.sim.history if e.type != "TickSummarized"]}




def _whole(text: str) -> int | str:
    """A path's number as a whole number, if it is one (else as given, for the run to refuse in plain words)."""
    return int(text) if text.isascii() and text.isdecimal() and len(text) <= PATH_NUMBER_DIGITS else text


# --- The endpoints -----------------------------------------------------------------------------------------------

router = run_router(
    key="resilience", name="Resilience", tag="resilience", service=services.SERVICE,
    start_in=ResilienceStart, run_out=ResilienceRunOut, step_in=ResilienceStepIn, run_in=ResilienceRunIn, out=_out,
    faults_example=FAULTS_EXAMPLE[:2],
    summaries={
        "start": "Start a simulated system: a gateway, three services and the patterns you choose",
        "runs": "The resilience runs in this lab, newest first",
        "run_state": "A run now, or as it was after second k (?at_step=k): its state, series, breakers, registry",
        "step": "Let one virtual second pass (optionally predicting what it will show)",
        "run": "Let virtual time pass: `ms` (10 s by default, whole seconds, at most 2 minutes at once)",
        "faults": "Schedule faults: a failure rate or latency change, an instance killed or restarted",
        "fork": "A what-if run: the same start and inputs up to second `at_step`, as a new run",
    },
)

ANSWERS = {200: ResilienceRunOut, 404: Detail, 422: Detail}


def _act(request: HttpRequest, lab_id: str, run_id: str, given: dict[str, Any]) -> dict[str, Any]:
    lab = lab_from_request(request, lab_id, write=True)
    return _out(services.act(lab, run_id, given))


@router.post("/{lab_id}/resilience/{run_id}/settings", response=ANSWERS,
             summary="Change settings from now on: the rate, a service, the breaker, the bulkheads, the retries")
def change_settings(request: HttpRequest, lab_id: str, run_id: str, payload: ResilienceSettingsIn):
    lab = lab_from_request(request, lab_id, write=True)  # first: a bad value to a lab one cannot reach is a 404
    if not isinstance(payload.settings, dict):
        raise Invalid('settings must be an object with what changes, such as {"rate_rps": 50}.')
    return _out(services.act(lab, run_id, {"input": "settings", "settings": payload.settings}))


@router.post("/{lab_id}/resilience/{run_id}/instances/{service}/{number}/kill", response=ANSWERS,
             summary="Kill an instance now: calls to it are refused until the registry evicts it")
def kill(request: HttpRequest, lab_id: str, run_id: str, service: str, number: str, payload: NoFields | None = None):
    return _act(request, lab_id, run_id, {"input": "kill", "service": service, "instance": _whole(number)})


@router.post("/{lab_id}/resilience/{run_id}/instances/{service}/{number}/restart", response=ANSWERS,
             summary="Restart a dead instance now: it registers again and gets traffic")
def restart(request: HttpRequest, lab_id: str, run_id: str, service: str, number: str,
            payload: NoFields | None = None):
    return _act(request, lab_id, run_id, {"input": "restart", "service": service, "instance": _whole(number)})
