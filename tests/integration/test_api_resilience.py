"""The resilience half of the JSON API (API.md, "Resilience lab"), what is the resilience lab's alone: its start's
defaults, a second a step, run with a virtual-time budget, predictions, back to a second inside a long run, settings,
faults, kill and restart, a what-if fork, its plain-words 422s, inputs never echoed as markup, each preset running
through the API, its OpenAPI shapes, and the run's events in the lab's log. What every run lab shares (start, step,
back to a step, fork, run to the end, the body policy, 404s, OpenAPI components) is
tests/contract/test_run_lab_api.py's."""

import json

import pytest
from django.core.management import call_command
from django.test import Client

from eventlab.resilience.models import Preset

pytestmark = pytest.mark.django_db

SERVICES = ["orders", "payments", "inventory"]
EVENT_KEYS = {"position", "stream", "version", "type", "schema_version", "stored_schema_version", "data", "metadata"}
RUN_KEYS = {"id", "seed", "step", "clock_ms", "done", "settings", "faults", "series", "breakers", "registry", "totals",
            "retry_schedule", "requests", "clients", "happened", "prompt", "predictions", "forked_from", "fork_step"}
TICK_KEYS = {"second", "requests", "attempts", "calls", "retries", "outcomes", "ok", "p50", "p95", "p99", "breakers",
             "pools", "registry"}
BREAKER = {"window": "count", "window_size": 10, "minimum_calls": 5, "failure_rate_threshold": 50,
           "wait_open_ms": 5_000, "half_open_calls": 3}
TRIPS = {"seed": 1, "settings": {"rate_rps": 20, "breaker": BREAKER},
         "faults": [{"kind": "failure_rate", "service": "payments", "pct": 80, "at_ms": 5_000},
                    {"kind": "failure_rate", "service": "payments", "pct": 0, "at_ms": 20_000}]}


def auth(token: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def post(client: Client, lab, path: str, body=None, raw: str | None = None, token: str | None = None):
    data = raw if raw is not None else ("" if body is None else json.dumps(body))
    return client.post(f"/api/labs/{lab.id}/resilience{path}", data=data, content_type="application/json",
                       **auth(token or lab.token))


def get(client: Client, lab, path: str = "", token: str | None = None):
    return client.get(f"/api/labs/{lab.id}/resilience{path}", **auth(token or lab.token))


def start(client: Client, lab, body=None) -> dict:
    response = post(client, lab, "", TRIPS if body is None else body)
    assert response.status_code == 201, response.content
    return response.json()


def ok(response) -> dict:
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("application/json")
    return response.json()


def log(client: Client, lab) -> dict:
    return ok(client.get(f"/api/labs/{lab.id}/events?limit=1000", **auth(lab.token)))


def head(client: Client, lab) -> int:
    return log(client, lab)["head"]


def assert_plain(response, status: int) -> str:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    detail = response.json()["detail"]
    assert isinstance(detail, str) and 5 < len(detail) < 500
    return detail


def assert_run_shape(run: dict) -> None:
    assert set(run) == RUN_KEYS
    assert isinstance(run["id"], str) and run["id"]
    assert run["clock_ms"] == run["step"] * 1_000 and len(run["series"]) == run["step"]
    assert all(set(tick) == TICK_KEYS for tick in run["series"])
    assert [t["second"] for t in run["series"]] == list(range(1, run["step"] + 1))
    assert set(run["registry"]) == set(SERVICES)
    for name, instances in run["registry"].items():
        assert all(set(i) == {"name", "alive", "registered", "last_heartbeat_ms", "calls"} for i in instances)
        assert [i["name"] for i in instances] == [f"{name}-{n}" for n in range(1, len(instances) + 1)]
    for breaker in run["breakers"].values():
        assert breaker["state"] in ("CLOSED", "OPEN", "HALF_OPEN")
        assert all(set(t) == {"at_ms", "from", "to", "reason"} for t in breaker["transitions"])
    assert set(run["totals"]) == {"requests", "outcomes", "attempts", "calls", "retries", "load_factor"}
    assert len(run["requests"]) <= 20
    assert run["prompt"] is None or {c["key"] for c in run["prompt"]["choices"]} >= {"opens", "nothing"}


# --- Start, step, run -------------------------------------------------------------------------------------------------


def test_start_answers_201_with_the_run_and_every_default(client):
    created = client.post("/api/labs").json()  # a lab made over HTTP, as curl would
    response = client.post(f"/api/labs/{created['id']}/resilience", data=json.dumps({}),
                           content_type="application/json", **auth(created["token"]))

    assert response.status_code == 201, response.content
    assert response["Content-Type"].startswith("application/json")
    run = response.json()
    assert_run_shape(run)
    assert (run["seed"], run["step"], run["clock_ms"], run["done"], run["faults"]) == (1, 0, 0, False, [])
    assert (run["series"], run["happened"], run["predictions"], run["prompt"]) == ([], [], [], None)
    assert (run["forked_from"], run["fork_step"], run["breakers"], run["retry_schedule"]) == (None, None, {}, [])
    assert run["settings"] == {
        "rate_rps": 20, "unauthenticated_pct": 2, "mix": {"orders": 40, "payments": 30, "inventory": 20,
                                                          "checkout": 10},
        "rate_limit": {"capacity": 20, "refill_per_s": 10}, "timeout_ms": 1_000,
        "discovery": {"heartbeat_ms": 1_000, "evict_after": 3},
        "services": {name: {"instances": 3, "failure_pct": 0, "latency_ms": 50} for name in SERVICES},
        "breaker": None, "bulkhead": None, "retry": None}
    assert run["clients"] == ["web", "mobile", "partner"]
    assert run["totals"] == {"requests": 0, "outcomes": {}, "attempts": 0, "calls": 0, "retries": 0,
                             "load_factor": 0}


def test_start_with_settings_and_faults_echoes_them_validated(client, lab):
    run = start(client, lab, {"seed": 7, "settings": {
        "rate_rps": 12.5, "services": {"payments": {"instances": 2, "failure_pct": 5}},
        "breaker": {"window": "time", "window_size": 5}, "bulkhead": {"kind": "threadpool", "shared": True},
        "retry": {"max_attempts": 3, "jitter": "equal"}},
        "faults": [{"kind": "kill", "service": "payments", "instance": 2, "at_ms": 3_000}]})

    assert run["seed"] == 7 and run["settings"]["rate_rps"] == 12.5
    assert run["settings"]["services"]["payments"] == {"instances": 2, "failure_pct": 5, "latency_ms": 50}
    assert [i["name"] for i in run["registry"]["payments"]] == ["payments-1", "payments-2"]
    assert run["settings"]["breaker"] == {"window": "time", "window_size": 5, "minimum_calls": 5,
                                          "failure_rate_threshold": 50, "slow_call_rate_threshold": 100,
                                          "slow_call_ms": 60_000, "wait_open_ms": 5_000, "half_open_calls": 3,
                                          "max_wait_half_open_ms": 0, "automatic_half_open": False,
                                          "wait_open_multiplier": 1, "wait_open_cap_ms": 0,
                                          "record": ["error", "timeout", "refused", "bulkhead_full", "no_instance"],
                                          "ignore": [], "mode": "normal"}
    assert run["settings"]["bulkhead"] == {"kind": "threadpool", "max_concurrent": 10, "max_wait_ms": 0,
                                           "queue_capacity": 10, "shared": True}
    assert run["settings"]["retry"]["max_attempts"] == 3 and len(run["retry_schedule"]) == 2
    assert set(run["breakers"]) == set(SERVICES)
    assert run["faults"] == [{"kind": "kill", "service": "payments", "instance": 2, "at_ms": 3_000}]


def test_each_step_is_one_virtual_second_and_get_answers_the_same(client, lab):
    run = start(client, lab)

    first = ok(post(client, lab, f"/{run['id']}/step"))
    second = ok(post(client, lab, f"/{run['id']}/step", {}))

    assert_run_shape(second)
    assert (first["step"], first["clock_ms"], second["step"], second["clock_ms"]) == (1, 1_000, 2, 2_000)
    assert second["series"][0] == first["series"][0]
    assert second["totals"]["requests"] == sum(t["requests"] for t in second["series"]) > 10
    assert ok(get(client, lab, f"/{run['id']}")) == second


def test_run_lets_its_budget_of_virtual_time_pass_ten_seconds_by_default(client, lab):
    run = start(client, lab)

    default = ok(post(client, lab, f"/{run['id']}/run"))
    assert (default["step"], default["clock_ms"]) == (10, 10_000)
    more = ok(post(client, lab, f"/{run['id']}/run", {"ms": 3_500}))
    assert (more["step"], more["clock_ms"]) == (13, 13_000)  # whole seconds

    assert_run_shape(more)
    payments = more["breakers"]["payments"]
    assert payments["state"] == "OPEN" and payments["transitions"][0]["to"] == "OPEN"
    assert payments["transitions"][0]["reason"].startswith("failure rate")
    assert [h["type"] for h in more["happened"]][:2] == ["FaultActed", "BreakerTransitioned"]
    assert more["happened"][0] == {"step": 6, "at_ms": 5_000, "type": "FaultActed", "data": {
        "kind": "failure_rate", "service": "payments", "pct": 80, "at_ms": 5_000}}
    assert any(t["outcomes"].get("breaker_open") for t in more["series"])
    assert more["settings"]["services"]["payments"]["failure_pct"] == 80  # what the fault did
    trace = more["requests"][0]
    assert set(trace) == {"id", "client", "path", "arrived_ms", "ended_ms", "outcome", "decisions", "spans"}
    assert all(len(d) == 3 and d[1] in ("gateway", *SERVICES) for d in trace["decisions"])
    assert ok(get(client, lab, f"/{run['id']}")) == more


@pytest.mark.parametrize("ms", [999, 0, -1_000, 120_001, 10**20, 1_500.5, "5000", True, None, [5_000], {"s": 5}])
def test_a_budget_out_of_range_or_not_a_whole_number_is_a_422_that_appends_nothing(client, lab, ms):
    run = start(client, lab)
    before = head(client, lab)

    detail = assert_plain(post(client, lab, f"/{run['id']}/run", {"ms": ms}), 422)

    assert detail == "ms must be a whole number from 1,000 to 120,000."
    assert head(client, lab) == before


def test_a_run_ends_at_five_virtual_minutes_and_says_so(client, lab):
    run = start(client, lab, {"settings": {"rate_rps": 0.2}})
    for _ in range(2):
        ok(post(client, lab, f"/{run['id']}/run", {"ms": 120_000}))

    done = ok(post(client, lab, f"/{run['id']}/run", {"ms": 120_000}))
    assert (done["step"], done["clock_ms"], done["done"], done["prompt"]) == (300, 300_000, True, None)
    before = head(client, lab)

    for path in ("/step", "/run"):
        detail = assert_plain(post(client, lab, f"/{run['id']}{path}"), 422)
        assert detail == "A run lasts at most 300 virtual seconds: reset to start again."
    assert head(client, lab) == before


# --- Predict, then observe -----------------------------------------------------------------------------------------


def test_the_prompt_then_a_prediction_recorded_with_what_happened(client, lab):
    run = start(client, lab)
    quiet = ok(post(client, lab, f"/{run['id']}/run", {"ms": 4_000}))
    assert quiet["prompt"] is None

    asking = ok(post(client, lab, f"/{run['id']}/step"))
    assert asking["prompt"]["step"] == 6  # payments' breaker opens in the next second
    assert [c["key"] for c in asking["prompt"]["choices"]] == ["nothing", "opens", "half_open", "closes", "evicted",
                                                               "registered"]
    assert all(c["label"] for c in asking["prompt"]["choices"])

    answered = ok(post(client, lab, f"/{run['id']}/step", {"predict": "opens"}))
    expected = {"step": 6, "predicted": "opens", "happened": "opens", "right": True, "asked": True}
    assert answered["predictions"] == [expected]
    later = ok(post(client, lab, f"/{run['id']}/run", {"ms": 2_000, "predict": "nothing"}))
    assert later["predictions"] == [expected, {"step": 8, "predicted": "nothing", "happened": "nothing",
                                               "right": True, "asked": False}]
    assert ok(get(client, lab, f"/{run['id']}"))["predictions"] == later["predictions"]  # recorded once
    assert ok(get(client, lab, f"/{run['id']}?at_step=5"))["predictions"] == []
    stored = [e["data"] for e in log(client, lab)["events"] if e["type"] == "ResilienceAdvanced"]
    assert stored[-2] == {"input": "step", "predict": "opens", "prediction": expected}


@pytest.mark.parametrize("predict", ["maybe", 7, ["opens"], {"x": 1}, True])
def test_an_unknown_prediction_is_a_422_that_appends_nothing(client, lab, predict):
    run = start(client, lab)
    before = head(client, lab)

    for path, body in (("/step", {"predict": predict}), ("/run", {"ms": 2_000, "predict": predict})):
        assert "Unknown prediction" in assert_plain(post(client, lab, f"/{run['id']}{path}", body), 422)

    assert head(client, lab) == before


# --- Back to a second ------------------------------------------------------------------------------------------------


def test_at_step_is_the_run_as_it_was_after_that_second_even_inside_a_long_run(client, lab):
    run = start(client, lab)
    whole = ok(post(client, lab, f"/{run['id']}/run", {"ms": 8_000}))
    ok(post(client, lab, f"/{run['id']}/instances/orders/1/kill"))
    whole = ok(post(client, lab, f"/{run['id']}/run", {"ms": 2_000}))
    by_step = start(client, lab)
    then = [ok(get(client, lab, f"/{by_step['id']}"))]
    for _ in range(8):
        then.append(ok(post(client, lab, f"/{by_step['id']}/step")))

    for k, was in enumerate(then):
        back = ok(get(client, lab, f"/{run['id']}?at_step={k}"))
        assert {**back, "id": None} == {**was, "id": None}  # the same as k single seconds
    assert ok(get(client, lab, f"/{run['id']}?at_step=8"))["registry"]["orders"][0]["alive"] is True  # before the kill
    assert ok(get(client, lab, f"/{run['id']}?at_step=10")) == whole
    assert ok(get(client, lab, f"/{run['id']}")) == whole  # looking back changed nothing


# --- Settings, faults, kill and restart -----------------------------------------------------------------------------


def test_settings_change_from_now_on_and_are_stored(client, lab):
    run = start(client, lab)
    ok(post(client, lab, f"/{run['id']}/run", {"ms": 3_000}))

    changed = ok(post(client, lab, f"/{run['id']}/settings", {"settings": {
        "rate_rps": 50, "rate_limit": {"capacity": 0}, "retry": {"max_attempts": 4}, "breaker": None}}))

    assert changed["settings"]["rate_rps"] == 50 and changed["settings"]["rate_limit"]["capacity"] == 0
    assert changed["settings"]["retry"]["max_attempts"] == 4 and changed["retry_schedule"] == [100, 200, 400]
    assert changed["breakers"] == {} and changed["settings"]["breaker"] is None
    assert changed["happened"][-1]["type"] == "SettingsChanged"
    after = ok(post(client, lab, f"/{run['id']}/run", {"ms": 3_000}))
    assert sum(t["requests"] for t in after["series"][3:]) > 2 * sum(t["requests"] for t in after["series"][:3])
    stored = [e["data"] for e in log(client, lab)["events"] if e["type"] == "ResilienceSettingsChanged"]
    assert stored == [{"input": "settings", "settings": {"rate_rps": 50, "rate_limit": {"capacity": 0},
                                                         "retry": {"max_attempts": 4}, "breaker": None}}]


@pytest.mark.parametrize(("body", "fragment"), [
    ({"settings": {"rate_rps": -1}}, "rate_rps (requests per second) must be a number from 0 to 100."),
    ({"settings": {"rate_rps": 101}}, "from 0 to 100"),
    ({"settings": {"rate_rps": True}}, "rate_rps (requests per second) must be a number"),
    ({"settings": {"services": {"payments": {"failure_pct": 120}}}}, "services.payments.failure_pct must be a number"),
    ({"settings": {"services": {"orders": {"instances": 5}}}}, "kill or restart instances instead"),
    ({"settings": {"bulkhead": {"max_concurrent": 10**9}}}, "bulkhead.max_concurrent must be a whole number"),
    ({"settings": {"breaker": {"window": "sliding"}}}, "breaker.window must be one of: count, time."),
    ({"settings": {"retry": {"jitter": "lots"}}}, "retry.jitter must be one of: none, randomized, full, equal, decorrelated."),
    ({"settings": {"breaker": {"mode": "off"}}},
     "breaker.mode must be one of: normal, disabled, forced_open, metrics_only."),
    ({"settings": {"breaker": {"ignore": ["timeout", "meteor"]}}},
     "Each of breaker.ignore must be one of: error, timeout, refused, bulkhead_full, no_instance."),
    ({"settings": {"breaker": {"wait_open_multiplier": 20}}}, "breaker.wait_open_multiplier must be a number from 1 to 10."),
    ({"settings": {"retry": {"randomization_factor": -0.1}}}, "retry.randomization_factor must be a number from 0 to 1."),
    ({"settings": {"timeout": 5}}, "The settings has no setting 'timeout'."),
    ({"settings": None}, "settings must be an object"),
    ({"settings": "fast"}, "settings must be an object"),
    ({"settings": [1]}, "settings must be an object"),
    ({}, "settings"),
])
def test_settings_the_run_cannot_take_are_a_422_that_appends_nothing(lab, body, fragment):
    client = Client(raise_request_exception=False)
    run = start(client, lab)
    before = head(client, lab)

    assert fragment in assert_plain(post(client, lab, f"/{run['id']}/settings", body), 422)

    assert head(client, lab) == before


def test_faults_act_now_or_later(client, lab):
    run = start(client, lab, {"settings": {"rate_rps": 20, "retry": {"max_attempts": 2}}})
    ok(post(client, lab, f"/{run['id']}/run", {"ms": 2_000}))

    injected = ok(post(client, lab, f"/{run['id']}/faults", {"faults": [
        {"kind": "latency", "service": "inventory", "ms": 3_000},
        {"kind": "kill", "service": "payments", "instance": 3, "at_ms": 3_500}]}))

    assert injected["faults"] == [{"kind": "latency", "service": "inventory", "ms": 3_000, "at_ms": 2_000},
                                  {"kind": "kill", "service": "payments", "instance": 3, "at_ms": 3_500}]
    later = ok(post(client, lab, f"/{run['id']}/run", {"ms": 6_000}))
    assert later["settings"]["services"]["inventory"]["latency_ms"] == 3_000
    assert later["registry"]["payments"][2]["alive"] is False
    assert later["registry"]["payments"][2]["registered"] is False  # evicted since
    assert [(h["type"], h["at_ms"]) for h in later["happened"]] == [
        ("FaultActed", 2_000), ("InstanceKilled", 3_500), ("InstanceEvicted", 6_000)]
    assert any(t["outcomes"].get("timeout") for t in later["series"][2:])


@pytest.mark.parametrize("body", [
    {"faults": [{"kind": "meteor"}]},
    {"faults": [{"kind": "failure_rate", "service": "billing", "pct": 5}]},
    {"faults": [{"kind": "failure_rate", "service": "payments", "pct": -5}]},
    {"faults": [{"kind": "latency", "service": "payments", "ms": 10**9}]},
    {"faults": [{"kind": "kill", "service": "orders", "instance": 4}]},
    {"faults": [{"kind": "latency", "service": "payments", "ms": 10, "at_ms": 1_000}]},  # in the past
    {"faults": [{"kind": "latency", "service": "payments", "ms": 10, "nth": 2}]},
    {"faults": [{"kind": "latency", "service": "payments", "ms": 10}] * 51},
    {"faults": "kill"},
    {"faults": None},
    {},
])
def test_faults_the_run_cannot_take_are_a_422_that_appends_nothing(lab, body):
    client = Client(raise_request_exception=False)
    run = start(client, lab)
    ok(post(client, lab, f"/{run['id']}/run", {"ms": 2_000}))
    before = head(client, lab)

    assert_plain(post(client, lab, f"/{run['id']}/faults", body), 422)

    assert head(client, lab) == before


def test_kill_and_restart_an_instance(client, lab):
    run = start(client, lab, {"settings": {"rate_rps": 30, "mix": {"orders": 1}}})
    ok(post(client, lab, f"/{run['id']}/run", {"ms": 2_000}))

    killed = ok(post(client, lab, f"/{run['id']}/instances/orders/2/kill"))
    assert killed["registry"]["orders"][1] | {"calls": 0} == {"name": "orders-2", "alive": False, "registered": True,
                                                             "last_heartbeat_ms": 1_000, "calls": 0}
    assert killed["happened"][-1] == {"step": 2, "at_ms": 2_000, "type": "InstanceKilled",
                                      "data": {"instance": "orders-2"}}
    evicted = ok(post(client, lab, f"/{run['id']}/run", {"ms": 4_000}))
    assert evicted["registry"]["orders"][1]["registered"] is False
    assert evicted["series"][-1]["registry"]["orders"] == ["orders-1", "orders-3"]
    calls = evicted["registry"]["orders"][1]["calls"]

    restarted = ok(post(client, lab, f"/{run['id']}/instances/orders/2/restart"))
    assert restarted["registry"]["orders"][1]["alive"] is True and restarted["registry"]["orders"][1]["registered"]
    assert [h["type"] for h in restarted["happened"][-2:]] == ["InstanceRestarted", "InstanceRegistered"]
    again = ok(post(client, lab, f"/{run['id']}/run", {"ms": 2_000}))
    assert again["registry"]["orders"][1]["calls"] > calls  # traffic again
    kinds = [e["type"] for e in log(client, lab)["events"]]
    assert kinds.count("ResilienceInstanceKilled") == kinds.count("ResilienceInstanceRestarted") == 1


@pytest.mark.parametrize(("path", "fragment"), [
    ("/instances/orders/1/kill", "orders-1 is already down."),
    ("/instances/orders/2/restart", "orders-2 is already up."),
    ("/instances/billing/1/kill", "The service must be one of: orders, payments, inventory."),
    ("/instances/orders/4/kill", "instance must be a whole number from 1 to 3."),
    ("/instances/orders/0/restart", "instance must be a whole number from 1 to 3."),
    ("/instances/orders/x/kill", "instance must be a whole number from 1 to 3."),
    ("/instances/orders/1.5/kill", "instance must be a whole number from 1 to 3."),
    ("/instances/orders/-1/kill", "instance must be a whole number from 1 to 3."),
    ("/instances/orders/%D9%A1/kill", "instance must be a whole number from 1 to 3."),
    ("/instances/orders/" + "9" * 5_000 + "/kill", "instance must be a whole number from 1 to 3."),
])
def test_a_kill_or_restart_the_run_cannot_take_is_a_422_that_appends_nothing(lab, path, fragment):
    client = Client(raise_request_exception=False)
    run = start(client, lab)
    ok(post(client, lab, f"/{run['id']}/instances/orders/1/kill"))
    before = head(client, lab)

    assert assert_plain(post(client, lab, f"/{run['id']}{path}"), 422) == fragment

    assert head(client, lab) == before


# --- Forks and the list of runs --------------------------------------------------------------------------------------


def test_a_fork_is_a_what_if_that_changes_only_itself(client, lab):
    run = start(client, lab)
    original = ok(post(client, lab, f"/{run['id']}/run", {"ms": 8_000}))
    stream = f"resilience-{run['id']}"
    before = [e for e in log(client, lab)["events"] if e["stream"] == stream]

    fork = post(client, lab, f"/{run['id']}/fork", {"at_step": 4}).json()

    assert_run_shape(fork)
    assert fork["series"] == original["series"][:4]
    # What if payments had never failed? Only the fork changes.
    ok(post(client, lab, f"/{fork['id']}/settings", {"settings": {"breaker": None}}))
    what_if = ok(post(client, lab, f"/{fork['id']}/run", {"ms": 4_000}))
    assert what_if["breakers"] == {} and not any(t["outcomes"].get("breaker_open") for t in what_if["series"][4:])
    assert ok(get(client, lab, f"/{run['id']}")) == original
    assert [e for e in log(client, lab)["events"] if e["stream"] == stream] == before


# --- Who may reach a run, and bad requests ----------------------------------------------------------------------------


@pytest.mark.parametrize(("path", "body"), [
    ("", {"seed": "x"}), ("", {"settings": {"rate_rps": -1}}), ("/RUN/step", {"predict": 7}),
    ("/RUN/run", {"ms": "x"}), ("/RUN/settings", {"settings": {"rate_rps": -1}}), ("/RUN/settings", {"settings": 5}),
    ("/RUN/faults", {"faults": "x"}), ("/RUN/fork", {"at_step": "x"}), ("/RUN/instances/billing/x/kill", None),
])
def test_a_bad_value_to_a_lab_one_cannot_reach_is_a_404(client, lab, path, body):
    # The lab is checked first: a bad value to a lab one cannot reach is a 404, never a 422 that hints it exists.
    from eventlab.labs.services import create_lab

    run = start(client, lab)
    _, other_token = create_lab()

    for lab_id, headers in ((lab.id, auth(other_token)), (lab.id, {}), ("no-such-lab", auth(lab.token))):
        response = client.post(f"/api/labs/{lab_id}/resilience{path.replace('RUN', run['id'])}",
                               data="" if body is None else json.dumps(body), content_type="application/json",
                               **headers)
        assert response.json() == {"detail": "Not found."}
        assert_plain(response, 404)


@pytest.mark.parametrize(("path", "body"), [
    ("", {"settings": {"<script>alert(1)</script>": 1}}),
    ("", {"faults": [{"kind": "<img src=x onerror=alert(1)>"}]}),
    ("/RUN/step", {"predict": "<b>opens</b>"}),
    ("/RUN/settings", {"settings": {"services": {"<svg onload=alert(1)>": {}}}}),
    ("/RUN/instances/%3Cscript%3E/1/kill", None),
    ("/RUN/instances/orders/%3Cb%3E1/kill", None),
])
def test_html_in_inputs_is_never_answered_as_markup(client, lab, path, body):
    run = start(client, lab)
    before = head(client, lab)

    response = post(client, lab, path.replace("RUN", run["id"]), body)

    assert_plain(response, 422)
    # Data, never a page: JSON, and browsers are told not to sniff it as anything else.
    assert response["Content-Type"] == "application/json; charset=utf-8"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert head(client, lab) == before


# --- The presets ------------------------------------------------------------------------------------------------------


@pytest.fixture
def presets() -> dict[str, dict]:
    call_command("loaddata", "resilience_presets", verbosity=0)
    return {preset.slug: preset.start for preset in Preset.objects.all()}


def test_every_preset_starts_and_runs_through_the_api(client, lab, presets):
    assert list(presets) == ["breaker-trips-and-recovers", "slow-dependency-shared-pool",
                             "slow-dependency-isolated-pools", "slow-dependency-thread-pool", "retry-storm",
                             "retry-with-breaker", "instance-dies-under-load", "stuck-half-open",
                             "breaker-backs-off"]
    ran = {}
    for slug, body in presets.items():
        run = start(client, lab, body)
        assert (run["seed"], run["faults"]) == (body["seed"], body["faults"])
        ran[slug] = ok(post(client, lab, f"/{run['id']}/run", {"ms": 25_000}))
        assert_run_shape(ran[slug])

    assert [t["to"] for t in ran["breaker-trips-and-recovers"]["breakers"]["payments"]["transitions"]][-1] == "CLOSED"
    shared = ran["slow-dependency-shared-pool"]["series"][-1]["pools"]
    assert set(shared) == {"shared"} and shared["shared"]["rejected"] > 0
    isolated = ran["slow-dependency-isolated-pools"]["series"][-1]["pools"]
    assert isolated["orders"]["rejected"] == isolated["inventory"]["rejected"] == 0 < isolated["payments"]["rejected"]
    assert max(t["pools"]["payments"]["waiting"] for t in ran["slow-dependency-thread-pool"]["series"]) == 10
    assert ran["retry-storm"]["totals"]["load_factor"] > ran["retry-with-breaker"]["totals"]["load_factor"]
    assert ran["retry-storm"]["retry_schedule"] == [100, 200, 400, 800]
    assert [(h["type"], h["at_ms"]) for h in ran["instance-dies-under-load"]["happened"]] == [
        ("InstanceKilled", 5_000), ("InstanceEvicted", 7_000), ("InstanceRestarted", 20_000),
        ("InstanceRegistered", 20_000)]
    assert ran["stuck-half-open"]["breakers"]["payments"]["state"] == "HALF_OPEN"
    assert len(ok(get(client, lab))["runs"]) == len(presets)


def test_the_stuck_half_open_preset_with_a_maximum_wait_set_mid_run(client, lab, presets):
    run = start(client, lab, presets["stuck-half-open"])
    stuck = ok(post(client, lab, f"/{run['id']}/run", {"ms": 15_000}))
    assert stuck["breakers"]["payments"]["state"] == "HALF_OPEN"

    fixed = ok(post(client, lab, f"/{run['id']}/settings",
                    {"settings": {"breaker": {**stuck["settings"]["breaker"], "max_wait_half_open_ms": 5_000}}}))

    assert fixed["breakers"]["payments"]["state"] == "OPEN"
    assert fixed["breakers"]["payments"]["transitions"][-1]["reason"] == "the test calls did not finish within 5,000 ms"
    later = ok(post(client, lab, f"/{run['id']}/run", {"ms": 10_000}))
    assert [t["to"] for t in later["breakers"]["payments"]["transitions"]][2:4] == ["OPEN", "HALF_OPEN"]


# --- The run in the lab's log ------------------------------------------------------------------------------------------


def test_the_runs_events_are_in_the_labs_log_in_its_own_stream(client, lab):
    run = start(client, lab)
    ok(post(client, lab, f"/{run['id']}/step"))
    ok(post(client, lab, f"/{run['id']}/settings", {"settings": {"retry": {"max_attempts": 2}}}))
    ok(post(client, lab, f"/{run['id']}/faults", {"faults": [{"kind": "kill", "service": "orders", "instance": 3}]}))
    ok(post(client, lab, f"/{run['id']}/instances/inventory/1/kill"))
    done = ok(post(client, lab, f"/{run['id']}/run", {"ms": 8_000}))

    page = log(client, lab)

    events = page["events"]
    assert page["head"] == len(events) == events[-1]["position"]
    assert [e["position"] for e in events] == list(range(1, len(events) + 1))
    assert all(set(e) == EVENT_KEYS and e["stream"] == f"resilience-{run['id']}" for e in events)
    assert [e["version"] for e in events] == list(range(1, len(events) + 1))
    types = [e["type"] for e in events]
    assert types[0] == "ResilienceRunStarted" and events[0]["data"]["run_id"] == run["id"]
    assert [t for t in types if t.startswith("Resilience")] == [
        "ResilienceRunStarted", "ResilienceAdvanced", "ResilienceSettingsChanged", "ResilienceFaultsInjected",
        "ResilienceInstanceKilled", "ResilienceAdvanced"]
    assert types.count("TickSummarized") == done["step"] == 9  # one summary a second, not one event a request
    assert {"FaultActed", "InstanceKilled", "InstanceEvicted", "SettingsChanged"} <= set(types)
    engine = [e for e in events if not e["type"].startswith("Resilience")]
    assert all("step" in e["data"] and "at_ms" in e["data"] for e in engine)
    ticks = [e["data"] for e in events if e["type"] == "TickSummarized"]
    assert [{k: v for k, v in t.items() if k not in ("step", "at_ms")} for t in ticks] == done["series"]
    stream = ok(client.get(f"/api/labs/{lab.id}/streams/resilience-{run['id']}", **auth(lab.token)))
    assert stream["version"] == len(events)


def test_the_bank_still_works_on_a_lab_with_resilience_runs_and_ignores_their_events(client, lab):
    run = start(client, lab)
    ok(post(client, lab, f"/{run['id']}/run", {"ms": 5_000}))
    resilience_head = head(client, lab)

    accounts = ok(client.get(f"/api/labs/{lab.id}/bank/accounts", **auth(lab.token)))
    assert accounts == {"accounts": [], "checkpoint": resilience_head, "head": resilience_head}
    opened = client.post(f"/api/labs/{lab.id}/bank/commands", content_type="application/json", **auth(lab.token),
                         data=json.dumps({"command": "OpenAccount", "account_id": "acc-1", "owner": "Ada"}))
    assert opened.status_code == 201, opened.content
    assert opened.json()["events"][0]["position"] == resilience_head + 1
    assert ok(post(client, lab, f"/{run['id']}/step"))["step"] == 6  # the bank's events are not the run's


def test_the_openapi_schema_documents_the_resilience_lab_s_own_paths_and_shapes(client):
    schema = client.get("/api/openapi.json").json()

    paths = schema["paths"]
    base = "/api/labs/{lab_id}/resilience/{run_id}"
    for action in ("settings", "instances/{service}/{number}/kill", "instances/{service}/{number}/restart"):
        operation = paths[f"{base}/{action}"]["post"]
        assert {"200", "404", "422"} <= set(operation["responses"]), action
        assert operation["summary"] and operation["tags"] == ["resilience"]
    components = schema["components"]["schemas"]
    assert set(components["ResilienceRunOut"]["properties"]) == RUN_KEYS
    assert set(components["ResilienceTickOut"]["properties"]) == TICK_KEYS
    assert {"window", "window_size", "minimum_calls", "half_open_calls"} <= set(
        components["ResilienceBreakerSettingsOut"]["properties"])
    assert set(components["ResilienceRunIn"]["properties"]) == {"ms", "predict"}
    assert client.get("/api/docs").status_code == 200
