"""The saga half of the JSON API (API.md, "Sagas"), what is the saga lab's alone: its run's and step's shapes,
delivering a chosen message, predictions, its states to the end, faults and a crashed orchestrator's recovery, a
what-if fork, a person's action on a dead letter, its starts' plain-words 422s, and the saga's events in the lab's
log, next to the bank's. What every run lab shares (start, step, back to a step, fork, run to the end, the body
policy, 404s, OpenAPI components) is tests/contract/test_run_lab_api.py's."""

import json

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db

ORDER = {"customer": "Ada", "items": [{"sku": "book", "qty": 1, "price": "12.50"}]}
RUN_KEYS = {"id", "mode", "state", "done", "step", "steps", "services", "dead_letters", "trace_id",
            "pending_compensations"}
STEP_KEYS = {"step", "type", "from", "to", "message", "at_ms"}
EVENT_KEYS = {"position", "stream", "version", "type", "schema_version", "stored_schema_version", "data", "metadata"}
FINAL = {"completed", "compensated", "dead_lettered"}
DOWN_FOR_GOOD = {"kind": "service_down", "service": "inventory", "steps": 200}


def auth(token: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def post(client: Client, lab, path: str, body=None, raw: str | None = None, token: str | None = None):
    data = raw if raw is not None else ("" if body is None else json.dumps(body))
    return client.post(f"/api/labs/{lab.id}/sagas{path}", data=data, content_type="application/json",
                       **auth(token or lab.token))


def get(client: Client, lab, path: str = "", token: str | None = None):
    return client.get(f"/api/labs/{lab.id}/sagas{path}", **auth(token or lab.token))


def start(client: Client, lab, faults=(), mode="orchestration", order=ORDER, seed=1) -> dict:
    response = post(client, lab, "", {"mode": mode, "seed": seed, "order": order, "faults": list(faults)})
    assert response.status_code == 201, response.content
    return response.json()


def ok(response) -> dict:
    assert response.status_code == 200, response.content
    return response.json()


def log(client: Client, lab) -> dict:
    response = client.get(f"/api/labs/{lab.id}/events?limit=1000", **auth(lab.token))
    assert response.status_code == 200, response.content
    return response.json()


def head(client: Client, lab) -> int:
    return log(client, lab)["head"]


def assert_plain(response, status: int) -> str:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    detail = response.json()["detail"]
    assert isinstance(detail, str) and 5 < len(detail) < 500
    return detail


# --- Start, step, run -------------------------------------------------------------------------------------------------


def test_start_answers_201_with_every_key_the_contract_lists(client):
    created = client.post("/api/labs").json()  # a lab made over HTTP, as curl would
    response = client.post(f"/api/labs/{created['id']}/sagas", data=json.dumps({"order": ORDER}),
                           content_type="application/json", **auth(created["token"]))

    assert response.status_code == 201, response.content
    run = response.json()
    assert set(run) >= RUN_KEYS
    assert (run["mode"], run["state"], run["done"], run["step"]) == ("orchestration", "started", False, 0)
    assert run["steps"] == [] and run["dead_letters"] == [] and run["pending_compensations"] == []
    assert set(run["services"]) == {"orders", "payments", "inventory"}
    assert run["services"]["payments"]["charged"] == 0
    assert isinstance(run["trace_id"], str) and len(run["trace_id"]) == 32
    assert run["order"]["amount"] == "12.50" and run["order"]["items"][0]["price"] == "12.50"
    assert (run["forked_from"], run["fork_step"]) == (None, None)
    assert [m["type"] for m in run["pending"]] == ["PlaceOrder"]


def test_each_step_answers_state_step_done_and_what_was_delivered(client, lab):
    run = start(client, lab)

    first = ok(post(client, lab, f"/{run['id']}/step"))
    second = ok(post(client, lab, f"/{run['id']}/step", {}))

    assert {"state", "step", "done", "delivered"} <= set(first)
    assert (first["state"], first["step"], first["done"]) == ("running", 1, False)
    assert set(first["delivered"]) >= STEP_KEYS
    assert (first["delivered"]["message"], first["delivered"]["from"], first["delivered"]["to"]) == (
        "PlaceOrder", "client", "orchestrator")
    assert (second["step"], second["delivered"]["message"]) == (2, "CreateOrder")
    assert second["delivered"]["at_ms"] >= first["delivered"]["at_ms"]
    assert first["prediction"] is None
    now = ok(get(client, lab, f"/{run['id']}"))
    assert [s["message"] for s in now["steps"]] == ["PlaceOrder", "CreateOrder"]
    assert all(set(s) >= STEP_KEYS for s in now["steps"])


def test_deliver_picks_a_pending_message_that_is_not_first(client, lab):
    run = start(client, lab)
    for _ in range(2):  # CreateOrder delivered: its reply and the reply timeout are in flight
        ok(post(client, lab, f"/{run['id']}/step"))
    pending = ok(get(client, lab, f"/{run['id']}"))["pending"]
    assert len(pending) >= 2
    second = pending[1]

    stepped = ok(post(client, lab, f"/{run['id']}/step", {"deliver": second["id"]}))

    assert (stepped["delivered"]["message"], stepped["delivered"]["to"]) == (second["type"], second["to"])
    assert stepped["delivered"]["message_id"] == second["id"]
    assert pending[0]["id"] in [m["id"] for m in ok(get(client, lab, f"/{run['id']}"))["pending"]]


@pytest.mark.parametrize("deliver", ["m999", 7, "x" * 41])
def test_delivering_a_message_not_in_flight_is_a_422_that_appends_nothing(client, lab, deliver):
    run = start(client, lab)
    before = head(client, lab)

    assert_plain(post(client, lab, f"/{run['id']}/step", {"deliver": deliver}), 422)

    assert head(client, lab) == before


def test_a_prediction_is_checked_and_answered_with_the_step(client, lab):
    run = start(client, lab, faults=[{"kind": "drop", "message": "CreateOrder"}])
    ok(post(client, lab, f"/{run['id']}/step"))

    stepped = ok(post(client, lab, f"/{run['id']}/step", {"predict": "dropped"}))

    assert stepped["delivered"]["type"] == "MessageDropped"
    assert stepped["prediction"] == {"step": 2, "predicted": "dropped", "happened": "dropped", "right": True,
                                     "asked": True}
    before = head(client, lab)
    assert "Unknown prediction" in assert_plain(post(client, lab, f"/{run['id']}/step", {"predict": "maybe"}), 422)
    assert head(client, lab) == before


@pytest.mark.parametrize("predict", [[], {}, ["dropped"]], ids=["list", "object", "list-of-key"])
def test_a_prediction_that_is_not_text_is_a_422_not_a_500(lab, predict):
    # A prediction that is not text is refused with a 422, never a server error.
    client = Client(raise_request_exception=False)
    run = start(client, lab)
    before = head(client, lab)

    assert_plain(post(client, lab, f"/{run['id']}/step", {"predict": predict}), 422)

    assert head(client, lab) == before


@pytest.mark.parametrize("mode", ["orchestration", "choreography"])
def test_run_goes_to_the_end(client, lab, mode):
    run = start(client, lab, mode=mode)

    done = ok(post(client, lab, f"/{run['id']}/run"))

    assert set(done) >= RUN_KEYS
    assert (done["state"], done["done"], done["pending"]) == ("completed", True, [])
    assert done["services"]["payments"]["charged"] == 1 and done["services"]["inventory"]["shipped"] == 1
    assert done["services"]["orders"]["order"] == "completed"
    assert done["step"] == len(done["steps"])
    assert ok(get(client, lab, f"/{run['id']}")) == done


# --- Back to a step ---------------------------------------------------------------------------------------------------


# --- Faults, recover, fork --------------------------------------------------------------------------------------------


def test_faults_injected_mid_run_act(client, lab):
    run = start(client, lab)
    for _ in range(3):  # ReservePayment is on its way
        ok(post(client, lab, f"/{run['id']}/step"))

    injected = ok(post(client, lab, f"/{run['id']}/faults", {"faults": [{"kind": "payment_declined"}]}))
    assert set(injected) >= RUN_KEYS
    assert {"kind": "payment_declined"} in injected["faults"]
    done = ok(post(client, lab, f"/{run['id']}/run"))

    assert done["state"] == "compensated"
    assert done["services"]["payments"]["held"] == 0
    assert done["services"]["orders"]["order"] == "cancelled"


@pytest.mark.parametrize("body", [
    {"faults": [{"kind": "meteor"}]},
    {"faults": [{"kind": "orchestrator_crash", "after_step": 1}]},
    {"faults": "payment_declined"},
    {"faults": [{"kind": "payment_declined"}] * 21},
    {},
])
def test_faults_the_run_cannot_take_are_a_422_that_appends_nothing(client, lab, body):
    run = start(client, lab)
    ok(post(client, lab, f"/{run['id']}/step"))
    before = head(client, lab)

    assert_plain(post(client, lab, f"/{run['id']}/faults", body), 422)

    assert head(client, lab) == before


def test_a_crashed_orchestrator_waits_for_recover_then_finishes(client, lab):
    run = start(client, lab, faults=[{"kind": "orchestrator_crash", "after_step": 4, "restart_after_ms": None}])

    stuck = ok(post(client, lab, f"/{run['id']}/run"))
    assert stuck["crashed"] == ["orchestrator"] and stuck["state"] not in FINAL and not stuck["done"]
    assert "recover" in assert_plain(post(client, lab, f"/{run['id']}/step"), 422)

    recovered = ok(post(client, lab, f"/{run['id']}/recover"))
    assert recovered["crashed"] == []
    done = ok(post(client, lab, f"/{run['id']}/run"))
    assert (done["state"], done["done"], done["services"]["payments"]["charged"]) == ("completed", True, 1)


def test_a_fork_is_a_what_if_that_changes_only_itself(client, lab):
    run = start(client, lab)
    original = ok(post(client, lab, f"/{run['id']}/run"))

    fork = post(client, lab, f"/{run['id']}/fork", {"at_step": 3}).json()

    assert set(fork) >= RUN_KEYS
    assert fork["steps"] == original["steps"][:3]
    ok(post(client, lab, f"/{fork['id']}/faults", {"faults": [{"kind": "shipping_failed"}]}))
    assert ok(post(client, lab, f"/{fork['id']}/run"))["state"] == "compensated"
    assert ok(get(client, lab, f"/{run['id']}")) == original


# --- Dead letters -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["orchestration", "choreography"])
def test_a_dead_letter_can_be_retried_then_compensated_then_refunded_anyway(client, lab, mode):
    run = start(client, lab, faults=[DOWN_FOR_GOOD], mode=mode)
    stuck = ok(post(client, lab, f"/{run['id']}/run"))
    assert (stuck["state"], stuck["done"]) == ("dead_lettered", True)
    assert [(d["id"], d["status"]) for d in stuck["dead_letters"]] == [("dl-1", "open")]

    ok(post(client, lab, f"/{run['id']}/dead-letters/dl-1/retry"))
    again = ok(post(client, lab, f"/{run['id']}/run"))  # inventory is still down
    assert [(d["id"], d["status"]) for d in again["dead_letters"]] == [("dl-1", "retried"), ("dl-2", "open")]

    # Compensating the pivot asks Inventory first (to cancel the shipment); it is still down: dead-lettered again.
    ok(post(client, lab, f"/{run['id']}/dead-letters/dl-2/compensate"))
    unsure = ok(post(client, lab, f"/{run['id']}/run"))
    assert unsure["state"] == "dead_lettered"
    assert [(d["message"], d["status"]) for d in unsure["dead_letters"]][-1] == ("CancelShipment", "open")

    ok(post(client, lab, f"/{run['id']}/dead-letters/dl-3/refund-anyway"))  # a business decision
    done = ok(post(client, lab, f"/{run['id']}/run"))
    assert done["state"] == "compensated"
    assert done["services"]["payments"]["held"] == 0
    assert done["services"]["orders"]["order"] == "cancelled"
    assert done["dead_letters"][-1]["status"] == "refunded anyway"

    before = head(client, lab)
    assert "already" in assert_plain(post(client, lab, f"/{run['id']}/dead-letters/dl-2/compensate"), 422)
    assert "already" in assert_plain(post(client, lab, f"/{run['id']}/dead-letters/dl-3/refund-anyway"), 422)
    assert "dl-9" in assert_plain(post(client, lab, f"/{run['id']}/dead-letters/dl-9/retry"), 422)
    assert head(client, lab) == before


def test_compensate_after_the_pivot_is_refused_and_refund_anyway_is_a_business_decision(client, lab):
    lost = [{"kind": "drop", "message": "CompleteOrder", "nth": n} for n in range(1, 5)]
    run = start(client, lab, faults=lost)
    stuck = ok(post(client, lab, f"/{run['id']}/run"))
    assert (stuck["state"], stuck["dead_letters"][0]["message"]) == ("dead_lettered", "CompleteOrder")

    before = head(client, lab)
    refusal = assert_plain(post(client, lab, f"/{run['id']}/dead-letters/dl-1/compensate"), 422)
    assert "pivot" in refusal and "Refund anyway" in refusal
    assert head(client, lab) == before

    ok(post(client, lab, f"/{run['id']}/dead-letters/dl-1/refund-anyway"))
    done = ok(post(client, lab, f"/{run['id']}/run"))
    assert done["state"] == "compensated"
    assert (done["services"]["inventory"]["shipped"], done["services"]["payments"]["held"]) == (1, 0)
    assert done["services"]["orders"]["order"] == "cancelled"


def test_refund_anyway_before_the_pivot_is_refused(client, lab):
    run = start(client, lab, faults=[{"kind": "service_down", "service": "orders", "steps": 200}])
    stuck = ok(post(client, lab, f"/{run['id']}/run"))
    assert stuck["state"] == "dead_lettered"
    before = head(client, lab)
    refusal = assert_plain(post(client, lab, f"/{run['id']}/dead-letters/dl-1/refund-anyway"), 422)
    assert "Refund anyway is only for a saga stuck at or after the pivot" in refusal
    assert head(client, lab) == before


# --- Who may reach a run, and bad requests ----------------------------------------------------------------------------


def test_a_bad_deliver_to_a_lab_one_cannot_reach_is_a_404(client, lab):
    # The lab is checked first: a bad body to a lab one cannot reach is a 404, like every other endpoint.
    from eventlab.labs.services import create_lab

    run = start(client, lab)
    _, other_token = create_lab()
    body = json.dumps({"deliver": 7})

    for lab_id, headers in ((lab.id, auth(other_token)), (lab.id, {}), ("no-such-lab", auth(lab.token))):
        response = client.post(f"/api/labs/{lab_id}/sagas/{run['id']}/step", data=body,
                               content_type="application/json", **headers)
        assert_plain(response, 404)


@pytest.mark.parametrize("body", [
    {"order": {"customer": "Ada", "items": []}},
    {"order": ORDER, "mode": "pipeline"},
    {"order": ORDER, "seed": True},
    {"order": {"customer": "Ada", "items": [{"sku": "book", "qty": 1, "price": "1.005"}]}},
    {"order": ORDER, "faults": [{"kind": "payment_declined", "service": "payments"}]},
    {"order": ORDER, "mode": "choreography", "faults": [{"kind": "orchestrator_crash", "after_step": 2}]},
    {},
])
def test_a_start_the_lab_cannot_take_is_a_422_that_appends_nothing(client, lab, body):
    before = head(client, lab)

    assert_plain(post(client, lab, "", body), 422)

    assert head(client, lab) == before


def test_html_in_the_customers_name_is_stored_as_given_and_returned_as_plain_json(client, lab):
    name = '<script>alert("hi")</script><b>Ada</b>'
    response = post(client, lab, "", {"order": {"customer": name, "items": ORDER["items"]}})
    assert response.status_code == 201, response.content
    assert response["Content-Type"].startswith("application/json")
    run = response.json()

    done = ok(post(client, lab, f"/{run['id']}/run"))

    assert run["order"]["customer"] == name
    assert done["order"]["customer"] == name
    started = [e for e in log(client, lab)["events"] if e["type"] == "SagaRunStarted"]
    assert started[0]["data"]["order"]["customer"] == name
    created = [e for e in log(client, lab)["events"] if e["type"] == "OrderCreated"]
    assert created[0]["data"]["customer"] == name


def test_a_long_customer_name_is_a_422_not_echoed_back(client, lab):
    detail = assert_plain(post(client, lab, "", {"order": {"customer": "x" * 5_000, "items": ORDER["items"]}}), 422)

    assert "at most 100" in detail


# --- The saga in the lab's log, next to the bank ------------------------------------------------------------------------


def test_the_sagas_events_are_in_the_labs_log_in_its_own_stream(client, lab):
    run = start(client, lab)
    ok(post(client, lab, f"/{run['id']}/run"))

    page = log(client, lab)

    events = page["events"]
    assert page["head"] == len(events) == events[-1]["position"]
    assert [e["position"] for e in events] == list(range(1, len(events) + 1))
    assert all(set(e) == EVENT_KEYS and e["stream"] == f"saga-{run['id']}" for e in events)
    assert [e["version"] for e in events] == list(range(1, len(events) + 1))
    types = [e["type"] for e in events]
    assert types[0] == "SagaRunStarted"
    assert {"SagaStepTaken", "MessageSent", "MessageDelivered", "OrderCreated", "PaymentReserved", "ItemsShipped",
            "OrderCompleted", "SagaCompleted"} <= set(types)
    delivered = [e for e in events if e["type"] == "MessageDelivered"]
    assert all("step" in e["data"] and "at_ms" in e["data"] for e in delivered)
    stream = client.get(f"/api/labs/{lab.id}/streams/saga-{run['id']}", **auth(lab.token)).json()
    assert stream["version"] == len(events)


def test_the_bank_still_works_on_a_lab_with_sagas_and_ignores_their_events(client, lab):
    run = start(client, lab)
    ok(post(client, lab, f"/{run['id']}/run"))
    saga_head = head(client, lab)

    accounts = ok(client.get(f"/api/labs/{lab.id}/bank/accounts", **auth(lab.token)))
    assert accounts == {"accounts": [], "checkpoint": saga_head, "head": saga_head}

    opened = client.post(f"/api/labs/{lab.id}/bank/commands", content_type="application/json", **auth(lab.token),
                         data=json.dumps({"command": "OpenAccount", "account_id": "acc-1", "owner": "Ada"}))
    assert opened.status_code == 201, opened.content
    assert opened.json()["events"][0]["position"] == saga_head + 1
    start(client, lab)  # more saga events after the bank's
    accounts = ok(client.get(f"/api/labs/{lab.id}/bank/accounts", **auth(lab.token)))
    assert [a["account_id"] for a in accounts["accounts"]] == ["acc-1"]
    assert accounts["checkpoint"] == accounts["head"] == head(client, lab)
