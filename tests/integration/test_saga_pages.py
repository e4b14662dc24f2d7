"""The saga lab's pages, without a browser (eventlab.sagas.views): the lab page with its presets and runs, starting a
run from the form or a preset, every button of the run page (plainly, and with htmx: the #run partial only), looking
back and forking a what-if run, plain-words 422s that append nothing, 404s for other sessions' labs and unknown runs,
escaping, and every page working without JavaScript. Then the preset fixture: each preset ends where its description
says it does.

What every simulation lab's pages do alike (start, a preset, step, back, fork, refusals, 404s, the htmx panel, the
predict prompt) is tested once for all of them by the run-lab contract, tests/contract/test_run_lab_pages.py; the
tests here are the saga lab's own."""

import re

import pytest
from django.core.management import call_command
from django.test import Client

from eventlab.eventstore.models import StoredEvent
from eventlab.labs.models import Lab
from eventlab.labs.services import create_lab, store
from eventlab.sagas import handlers, services
from eventlab.sagas.models import Preset
from tests.integration.conftest import (
    HTMX,
    XSS,
    assert_422,
    assert_run_partial,
    assert_works_without_javascript,
    controls,
    form_fields,
    open_lab,
    parse,
    post_plainly,
    text,
    words,
)
from tests.integration.conftest import run_id_of as run_of

pytestmark = pytest.mark.django_db

LAB = "sagas"  # the lab these pages belong to (the presets fixture loads its presets)

PRESETS = ("happy-path", "payment-declined", "shipping-failed", "duplicate-delivery",
           "duplicate-without-idempotency", "orchestrator-crash", "message-lost-dead-letter",
           "choreography-shipping-failed", "late-payment-refused", "stuck-after-pivot")


# --- Helpers ----------------------------------------------------------------------------------------------------------


def open_sagas(client: Client) -> Lab:
    return open_lab(client, LAB)


def run_id_of(response, lab: Lab) -> str:
    """The run a plain (redirecting) answer leads to."""
    return run_of(response, lab, LAB)


def form(**fields) -> dict:
    """The start form as a browser posts it (only the first item row filled), with `fields` on top."""
    data = {"mode": "orchestration", "seed": "1", "customer": "Ada", "item-1-sku": "book", "item-1-qty": "1",
            "item-1-price": "12.50", "item-2-sku": "", "item-2-qty": "", "item-2-price": ""}
    data.update(fields)
    return data


def run_url(lab: Lab, run_id: str) -> str:
    return f"/labs/{lab.id}/sagas/{run_id}/"


def start(client: Client, lab: Lab, **fields) -> str:
    return run_id_of(client.post(f"/labs/{lab.id}/sagas/start", form(**fields)), lab)


def act(client: Client, lab: Lab, run_id: str, action: str, **fields):
    return client.post(f"{run_url(lab, run_id)}act", {"action": action, **fields})


def acted(client: Client, lab: Lab, run_id: str, action: str, **fields) -> str:
    """Act plainly; the run the redirect leads to."""
    return run_id_of(act(client, lab, run_id, action, **fields), lab)


def step_count(page: str) -> int:
    return int(re.search(r'<strong id="step-count">(\d+)</strong>', page).group(1))


def stream(lab: Lab, run_id: str) -> list[dict]:
    return [e.as_dict() for e in store.read_stream(lab.id, handlers.stream_name(run_id))]


def load(lab: Lab, run_id: str):
    return services.load(lab, run_id)


# --- The lab page ---------------------------------------------------------------------------------------------------


def test_the_lab_page_without_presets_says_how_to_load_them(client):
    lab = open_sagas(client)

    page = text(client.get(f"/labs/{lab.id}/sagas/"))

    assert "No presets are loaded" in page and "loaddata saga_presets" in page
    assert "No runs yet." in page


def test_the_lab_page_lists_every_preset_in_order_with_its_description_and_button(client, presets):
    lab = open_sagas(client)

    page = parse(client.get(f"/labs/{lab.id}/sagas/"))

    buttons = page.by_role("button", re.compile("^Run “"))
    assert [form_fields(b.form)["preset"] for b in buttons] == list(PRESETS)
    for preset, button in zip(presets, buttons, strict=True):
        assert button.name == f"Run “{preset.title}”"
        assert button.form.one("heading", preset.title) and button.form.says(preset.description)
    assert not page.says("No presets are loaded")


def test_the_lab_page_lists_the_labs_runs_newest_first(client):
    lab = open_sagas(client)
    first = start(client, lab)
    second = start(client, lab, mode="choreography", seed="7", fault="payment_declined")

    response = client.get(f"/labs/{lab.id}/sagas/")

    links = re.findall(rf'<a href="/labs/{lab.id}/sagas/([0-9a-f]+)/">Run', response.content.decode())
    assert links == [second, first]
    assert f"Run {second} · choreography · seed 7 · 1 fault Run {first} · orchestration · seed 1 " in words(response)
    assert "No runs yet." not in words(response)


# --- Starting a run ---------------------------------------------------------------------------------------------------


def test_starting_from_the_form_redirects_to_the_new_run(client):
    lab = open_sagas(client)
    before = store.head(lab.id)

    response = client.post(f"/labs/{lab.id}/sagas/start", form(
        mode="orchestration", seed="42", customer="Grace Hopper",
        **{"item-2-sku": "pen", "item-2-qty": "2", "item-2-price": "1.25"}))

    run_id = run_id_of(response, lab)
    assert response["Location"] == run_url(lab, run_id)
    assert store.head(lab.id) > before
    run = load(lab, run_id)
    assert (run.mode, run.started["seed"], run.steps, run.faults) == ("orchestration", 42, 0, [])
    assert run.order["customer"] == "Grace Hopper"
    assert run.order["items"] == [{"sku": "book", "qty": 1, "price": "12.50"}, {"sku": "pen", "qty": 2, "price": "1.25"}]
    page = client.get(response["Location"])
    assert page.status_code == 200
    seen = words(page)
    assert "Order saga orchestration · seed 42" in seen
    assert "for Grace Hopper: 1 × book at 12.50, 2 × pen at 1.25 — total 15.00 USD." in seen
    assert "No faults injected." in seen
    assert step_count(page.content.decode()) == 0


def test_the_forms_fault_checkboxes_and_their_fields_become_the_runs_faults(client):
    lab = open_sagas(client)
    fields = {
        "mode": "orchestration",
        "fault": ["payment_declined", "shipping_failed", "idempotency_off", "service_down", "drop", "duplicate",
                  "delay", "orchestrator_crash"],
        "idempotency_service": "inventory",
        "service_down-service": "orders", "service_down-steps": "5",
        "drop-message": "ShipItems", "drop-nth": "2",
        "duplicate-message": "ReservePayment", "duplicate-nth": "1",
        "delay-message": "CreateOrder", "delay-nth": "3", "delay-ms": "250",
        "orchestrator_crash-after_step": "6",  # "restarts by itself" left unchecked
    }

    run_id = start(client, lab, **fields)

    assert load(lab, run_id).faults == [
        {"kind": "payment_declined"},
        {"kind": "shipping_failed"},
        {"kind": "idempotency_off", "service": "inventory"},
        {"kind": "service_down", "service": "orders", "steps": 5},
        {"kind": "drop", "message": "ShipItems", "nth": 2},
        {"kind": "duplicate", "message": "ReservePayment", "nth": 1},
        {"kind": "delay", "message": "CreateOrder", "nth": 3, "ms": 250},
        {"kind": "orchestrator_crash", "after_step": 6, "restart_after_ms": None},
    ]
    tags = {e.text for e in parse(client.get(run_url(lab, run_id))).by_class("fault-tag")}
    assert tags >= {"payment_declined", "idempotency_off inventory", "service_down orders for 5 steps",
                "drop ShipItems #2", "duplicate ReservePayment", "delay CreateOrder #3 +250 ms",
                "orchestrator_crash after step 6"}


def test_a_crash_that_restarts_by_itself_from_the_form(client):
    lab = open_sagas(client)

    run_id = start(client, lab, fault="orchestrator_crash", **{"orchestrator_crash-after_step": "4",
                                                               "orchestrator_crash-restarts": "1"})

    assert load(lab, run_id).faults == [{"kind": "orchestrator_crash", "after_step": 4, "restart_after_ms": 1_000}]


def test_a_fault_field_of_an_unchecked_fault_is_ignored(client):
    lab = open_sagas(client)

    run_id = start(client, lab, **{"drop-message": "ShipItems", "orchestrator_crash-after_step": "0"})

    assert load(lab, run_id).faults == []


def test_a_preset_button_starts_a_run_from_the_preset_and_the_page_shows_its_description(client, presets):
    lab = open_sagas(client)
    preset = Preset.objects.get(pk="payment-declined")

    response = client.post(f"/labs/{lab.id}/sagas/preset", {"preset": "payment-declined"})

    run_id = run_id_of(response, lab)
    assert response["Location"] == f"{run_url(lab, run_id)}?preset=payment-declined"
    run = load(lab, run_id)
    assert (run.mode, run.started["seed"], run.faults) == ("orchestration", 1, [{"kind": "payment_declined"}])
    assert run.order["customer"] == preset.start["order"]["customer"]
    [intro] = parse(client.get(response["Location"])).by_class("preset-intro")
    assert intro.one("heading", preset.title) and intro.says(preset.description)
    # Without ?preset= (or with an unknown one) the run page shows no preset box.
    assert parse(client.get(run_url(lab, run_id))).by_class("preset-intro") == []
    assert parse(client.get(f"{run_url(lab, run_id)}?preset=nope")).by_class("preset-intro") == []


def test_each_preset_button_starts_a_new_run(client, presets):
    lab = open_sagas(client)

    ids = {run_id_of(client.post(f"/labs/{lab.id}/sagas/preset", {"preset": slug}), lab) for slug in PRESETS}

    assert len(ids) == len(PRESETS)
    assert {e.data["run_id"] for e in handlers.runs(store, lab.id)} == ids


def test_start_and_preset_need_a_post(client, presets):
    lab = open_sagas(client)

    assert client.get(f"/labs/{lab.id}/sagas/start").status_code == 405
    assert client.get(f"/labs/{lab.id}/sagas/preset?preset=happy-path").status_code == 405
    assert client.post(f"/labs/{lab.id}/sagas/").status_code == 405
    assert store.head(lab.id) == 0


# --- Bad input: plain words, 422, nothing appended ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        pytest.param({"item-1-sku": "", "item-1-qty": "", "item-1-price": ""}, "No items in order.", id="no-items"),
        pytest.param({"item-1-qty": "-1"}, "Item 1's quantity must be a whole number from 1 to 1,000.",
                     id="negative-quantity"),
        pytest.param({"item-1-qty": "0"}, "Item 1's quantity must be a whole number from 1 to 1,000.",
                     id="zero-quantity"),
        pytest.param({"item-1-qty": "lots"}, "Item 1's quantity must be a whole number", id="word-quantity"),
        pytest.param({"item-1-price": "-3"}, "Item 1's price must be more than 0", id="negative-price"),
        pytest.param({"item-1-sku": ""}, "Item 1's sku must be some text.", id="no-sku"),
        pytest.param({"customer": "  "}, "The customer's name must be some text.", id="no-customer"),
        pytest.param({"seed": "abc"}, "The seed must be a whole number", id="seed-word"),
        pytest.param({"mode": "anarchy"}, "The mode must be 'orchestration' or 'choreography'.", id="mode"),
        pytest.param({"fault": "orchestrator_crash", "orchestrator_crash-after_step": "0"},
                     "after_step must be a whole number from 1 to 1,000.", id="crash-at-step-0"),
        pytest.param({"fault": "orchestrator_crash", "orchestrator_crash-after_step": ""},
                     "after_step must be a whole number from 1 to 1,000.", id="crash-without-step"),
        pytest.param({"mode": "choreography", "fault": "orchestrator_crash", "orchestrator_crash-after_step": "3"},
                     "There is no orchestrator to crash in choreography mode.", id="crash-in-choreography"),
        pytest.param({"fault": "drop", "drop-message": "Telegram"}, "The message must be one of the flow's",
                     id="drop-unknown-message"),
        pytest.param({"fault": "service_down", "service_down-service": "bakery"},
                     "The service must be one of orders, payments, inventory.", id="unknown-service"),
        pytest.param({"fault": "delay", "delay-message": "ShipItems", "delay-ms": "-5"}, "ms must be a whole number",
                     id="negative-delay"),
    ],
)
def test_bad_start_input_is_a_422_in_plain_words_that_appends_nothing(client, fields, message):
    lab = open_sagas(client)
    before = store.head(lab.id)

    response = client.post(f"/labs/{lab.id}/sagas/start", form(**fields))

    assert_422(response, message)
    page = parse(response)
    refusal = page.by_id("start-error")
    assert refusal.role == "alert" and refusal.one("heading", "Not started") and refusal.says(message)
    assert page.by_id("start-form") is not None  # the whole lab page again, the form kept
    assert store.head(lab.id) == before
    assert handlers.runs(store, lab.id) == []


@pytest.mark.parametrize("qty", ["--1", "---2"])
def test_a_quantity_with_two_minus_signs_is_a_422_not_a_500(qty):
    client = Client(raise_request_exception=False)
    lab = open_sagas(client)

    response = client.post(f"/labs/{lab.id}/sagas/start", form(**{"item-1-qty": qty}))

    assert_422(response, "Item 1's quantity must be a whole number from 1 to 1,000.")
    assert store.head(lab.id) == 0


def test_a_preset_the_lab_cannot_start_is_a_422_not_a_500():
    Preset.objects.create(slug="broken", title="Broken", start={"order": {"customer": "Ada", "items": []}})
    client = Client(raise_request_exception=False)
    lab = open_sagas(client)

    response = client.post(f"/labs/{lab.id}/sagas/preset", {"preset": "broken"})

    assert_422(response, "The preset 'Broken' cannot start: No items in order.")
    assert store.head(lab.id) == 0


def test_the_refused_form_keeps_what_was_typed(client):
    lab = open_sagas(client)

    response = client.post(f"/labs/{lab.id}/sagas/start", form(customer="Grace", seed="77", mode="choreography",
                                                                **{"item-1-qty": "-1"}))

    page = response.content.decode()
    assert 'name="customer" maxlength="200" value="Grace"' in page
    assert 'name="seed" inputmode="numeric" value="77"' in page
    assert 'value="choreography" checked' in page


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        pytest.param({"kind": "meteor"}, "Unknown fault kind 'meteor'. The kinds are: payment_declined,", id="meteor"),
        pytest.param({"kind": ""}, "Unknown fault kind ''.", id="no-kind"),
        pytest.param({"kind": "orchestrator_crash", "after_step": "1"},
                     "after_step must be a whole number from 4 to 1,000.", id="crash-in-the-past"),
        pytest.param({"kind": "orchestrator_crash", "after_step": "3"},
                     "after_step must be a whole number from 4 to 1,000.", id="crash-at-the-current-step"),
        pytest.param({"kind": "drop", "message": "ShipItems", "nth": "0"}, "nth must be a whole number from 1 to 100.",
                     id="nth-0"),
        pytest.param({"kind": "service_down", "service": "bakery", "steps": "3"},
                     "The service must be one of orders, payments, inventory.", id="unknown-service"),
    ],
)
@pytest.mark.parametrize("htmx", [False, True], ids=["plain", "htmx"])
def test_a_bad_fault_from_the_inject_form_is_a_422_in_plain_words_that_appends_nothing(client, fields, message, htmx):
    lab = open_sagas(client)
    run_id = start(client, lab)
    for _ in range(3):
        acted(client, lab, run_id, "step")
    before, events = store.head(lab.id), stream(lab, run_id)

    response = client.post(f"{run_url(lab, run_id)}act", {"action": "faults", **fields}, **(HTMX if htmx else {}))

    assert_422(response, message)
    page = response.content.decode()
    refusal = parse(page).by_id("run-error")
    assert refusal.role == "alert" and refusal.one("heading", "Not done") and refusal.says(message)
    assert ("<html" in page) is not htmx
    assert 'id="run-announce" hx-swap-oob="innerHTML"' in page or not htmx
    assert step_count(page) == 3
    assert store.head(lab.id) == before
    assert stream(lab, run_id) == events


@pytest.mark.parametrize(
    ("action", "fields", "message"),
    [
        pytest.param("explode", {}, "Unknown action 'explode'.", id="unknown-action"),
        pytest.param("", {}, "Unknown action ''.", id="no-action"),
        pytest.param("recover", {}, "Nothing has crashed: there is nothing to recover.", id="recover-nothing"),
        pytest.param("retry", {"dead_letter": "dl-1"}, "No dead letter 'dl-1' in this run.", id="retry-no-letter"),
        pytest.param("compensate", {"dead_letter": ""}, "No dead letter '' in this run.", id="compensate-no-letter"),
        pytest.param("refund_anyway", {"dead_letter": "dl-9"}, "No dead letter 'dl-9' in this run.",
                     id="refund-anyway-no-letter"),
        pytest.param("step", {"pick": "m999"}, "Message 'm999' is not in flight.", id="pick-not-in-flight"),
        pytest.param("step", {"predict": "maybe"}, "Unknown prediction 'maybe'.", id="unknown-prediction"),
    ],
)
def test_an_action_the_run_cannot_take_is_a_422_that_appends_nothing(client, action, fields, message):
    lab = open_sagas(client)
    run_id = start(client, lab)
    before = store.head(lab.id)

    assert_422(act(client, lab, run_id, action, **fields), message)

    assert store.head(lab.id) == before


def test_stepping_or_running_a_finished_run_is_a_422(client):
    lab = open_sagas(client)
    run_id = acted(client, lab, start(client, lab), "run")
    before = store.head(lab.id)

    assert_422(act(client, lab, run_id, "step"), "Nothing is in flight: the saga has finished (completed).")
    assert_422(act(client, lab, run_id, "run"), "Nothing is in flight: the saga has finished (completed).")

    assert store.head(lab.id) == before


# --- The run page's buttons -----------------------------------------------------------------------------------------


def test_step_delivers_one_message_and_redirects_back_to_the_run(client):
    lab = open_sagas(client)
    run_id = start(client, lab)

    response = act(client, lab, run_id, "step")

    assert response.status_code == 302
    assert response["Location"] == run_url(lab, run_id)
    page = client.get(response["Location"]).content.decode()
    assert step_count(page) == 1
    [first] = parse(page).by_class("step-list")[0].by_role("listitem")
    assert first["value"] == "1"
    assert re.fullmatch(r"\d+ ms: PlaceOrder from client to orchestrator — MessageDelivered", first.text)
    assert load(lab, run_id).steps == 1


def test_step_can_pick_a_message_that_is_not_first_in_flight(client):
    lab = open_sagas(client)
    run_id = start(client, lab)
    acted(client, lab, run_id, "step")
    acted(client, lab, run_id, "step")
    pending = load(lab, run_id).pending()
    assert len(pending) >= 2
    page = parse(client.get(run_url(lab, run_id)))
    assert pending[1]["id"] in [form_fields(f).get("pick") for f in page.by_role("form")]  # a button to deliver it

    acted(client, lab, run_id, "step", pick=pending[1]["id"])

    assert load(lab, run_id).step_list()[-1]["message_id"] == pending[1]["id"]


def test_run_goes_to_the_end(client):
    lab = open_sagas(client)
    run_id = start(client, lab)

    assert acted(client, lab, run_id, "run") == run_id

    run = load(lab, run_id)
    assert (run.state, run.done) == ("completed", True)
    page = client.get(run_url(lab, run_id)).content.decode()
    found = parse(page)
    assert found.by_id("saga-state").text == "Completed" and "state-completed" in found.by_id("saga-state")["class"]
    assert found.says("Done: nothing left in flight.")
    assert step_count(page) == run.steps > 4
    # Nothing left to deliver: Step and Run are disabled (Reset is not).
    assert "disabled" in found.one("button", "Run to the end")
    assert "disabled" not in found.one("button", "Reset (a new run)")


def test_recover_brings_a_crashed_orchestrator_back_and_the_saga_finishes(client):
    lab = open_sagas(client)
    run_id = start(client, lab, fault="orchestrator_crash", **{"orchestrator_crash-after_step": "4"})
    acted(client, lab, run_id, "run")
    crashed = client.get(run_url(lab, run_id)).content.decode()
    assert load(lab, run_id).sim.crashed == {"orchestrator"}
    assert "orchestrator down" in crashed
    assert 'id="recover"' in crashed

    acted(client, lab, run_id, "recover")
    acted(client, lab, run_id, "run")

    run = load(lab, run_id)
    assert (run.state, run.sim.crashed, run.services()["payments"]["charged"]) == ("completed", set(), 1)
    assert 'id="recover"' not in client.get(run_url(lab, run_id)).content.decode()


def lost_shipping(client: Client, lab: Lab) -> str:
    """A run whose four ShipItems are all lost (one dropped by the form, three injected from the run page), run to
    its dead letter."""
    run_id = start(client, lab, fault="drop", **{"drop-message": "ShipItems", "drop-nth": "1"})
    for nth in ("2", "3", "4"):
        acted(client, lab, run_id, "faults", kind="drop", message="ShipItems", nth=nth, service="orders", ms="5000",
              steps="3", after_step="99", restarts="1")
    acted(client, lab, run_id, "run")
    return run_id


def test_faults_injected_from_the_run_page_take_only_their_fields_and_act(client):
    lab = open_sagas(client)

    run_id = lost_shipping(client, lab)

    run = load(lab, run_id)
    assert run.faults == [{"kind": "drop", "message": "ShipItems", "nth": n} for n in (1, 2, 3, 4)]
    assert run.state == "dead_lettered"
    page = client.get(run_url(lab, run_id)).content.decode()
    assert "Status: <strong>open</strong>" in page
    for button in ("retry-dl-1", "compensate-dl-1"):
        assert form_fields(parse(page).by_id(button).form)["dead_letter"] == "dl-1"


def test_retry_on_a_dead_letter_finishes_the_saga(client):
    lab = open_sagas(client)
    run_id = lost_shipping(client, lab)

    acted(client, lab, run_id, "retry", dead_letter="dl-1")
    acted(client, lab, run_id, "run")

    run = load(lab, run_id)
    assert run.dead_letters()[0]["status"] == "retried"
    assert run.state == "completed"
    assert run.services()["inventory"]["shipped"] == 1
    page = client.get(run_url(lab, run_id)).content.decode()
    assert "Status: <strong>retried</strong>" in page and 'id="retry-dl-1"' not in page
    # Dealt with: a second action on it is refused.
    assert_422(act(client, lab, run_id, "compensate", dead_letter="dl-1"),
               "Dead letter dl-1 was already dealt with (retried).")


def test_compensate_on_a_dead_letter_compensates_the_saga(client):
    lab = open_sagas(client)
    run_id = lost_shipping(client, lab)

    acted(client, lab, run_id, "compensate", dead_letter="dl-1")
    acted(client, lab, run_id, "run")

    run = load(lab, run_id)
    assert run.dead_letters()[0]["status"] == "compensated"
    assert run.state == "compensated"
    assert run.services()["payments"]["held"] == 0


def lost_completion(client: Client, lab: Lab) -> str:
    """A run whose four CompleteOrder are all lost: dead-lettered after the pivot (the items have shipped)."""
    run_id = start(client, lab, fault="drop", **{"drop-message": "CompleteOrder", "drop-nth": "1"})
    for nth in ("2", "3", "4"):
        acted(client, lab, run_id, "faults", kind="drop", message="CompleteOrder", nth=nth, service="orders",
              ms="5000", steps="3", after_step="99", restarts="1")
    acted(client, lab, run_id, "run")
    return run_id


def test_compensate_after_the_pivot_is_refused_on_the_page_and_refund_anyway_is_a_business_decision(client):
    lab = open_sagas(client)
    run_id = lost_completion(client, lab)
    page = text(client.get(run_url(lab, run_id)))
    assert "stuck at CompleteOrder, a <strong>retriable</strong> step" in page
    assert parse(page).by_id("machine-kind").text == "retriable"  # the state machine names the kinds too
    assert 'data-kind="pivot">pivot</text>' in page and "If it never answers" in page
    assert 'id="refund-anyway-dl-1"' in page and "a business decision" in page
    assert "Compensate is refused: ShipItems, the pivot, has happened" in page
    before = store.head(lab.id)

    assert_422(act(client, lab, run_id, "compensate", dead_letter="dl-1"), "Compensate is refused")
    assert store.head(lab.id) == before
    assert load(lab, run_id).dead_letters()[0]["status"] == "open"

    acted(client, lab, run_id, "refund_anyway", dead_letter="dl-1")
    acted(client, lab, run_id, "run")
    run = load(lab, run_id)
    assert run.state == "compensated"
    assert run.dead_letters()[0]["status"] == "refunded anyway"
    assert (run.services()["payments"]["held"], run.services()["inventory"]["shipped"]) == (0, 1)
    assert "remembers a refund" in text(client.get(run_url(lab, run_id)))


def test_refund_anyway_before_the_pivot_is_refused_on_the_page(client):
    lab = open_sagas(client)
    run_id = start(client, lab, fault="service_down", **{"service_down-service": "orders", "service_down-steps": "500"})
    acted(client, lab, run_id, "run")
    assert load(lab, run_id).state == "dead_lettered"
    before = store.head(lab.id)
    assert 'id="refund-anyway-dl-1"' not in client.get(run_url(lab, run_id)).content.decode()

    assert_422(act(client, lab, run_id, "refund_anyway", dead_letter="dl-1"),
               "Refund anyway is only for a saga stuck at or after the pivot")
    assert store.head(lab.id) == before


def test_reset_starts_a_new_run_with_the_same_start(client):
    lab = open_sagas(client)
    run_id = start(client, lab, seed="9", customer="Grace", fault="payment_declined")
    acted(client, lab, run_id, "run")
    before = stream(lab, run_id)

    new_id = acted(client, lab, run_id, "reset")

    assert new_id != run_id
    old, new = load(lab, run_id), load(lab, new_id)
    assert new.steps == 0 and new.state == "started"
    assert (new.mode, new.started["seed"], new.order, new.faults) == (old.mode, 9, old.order, old.faults)
    assert "forked_from" not in new.started
    assert stream(lab, run_id) == before
    assert step_count(client.get(run_url(lab, new_id)).content.decode()) == 0


def test_reset_of_a_what_if_run_is_a_plain_new_run(client):
    lab = open_sagas(client)
    run_id = start(client, lab)
    acted(client, lab, run_id, "run")
    fork_id = acted(client, lab, run_id, "step", at="2")

    new_id = acted(client, lab, fork_id, "reset")

    assert new_id not in (run_id, fork_id)
    new = load(lab, new_id)
    assert new.steps == 0
    assert "forked_from" not in new.started and "fork_step" not in new.started
    assert "A what-if run forked" not in text(client.get(run_url(lab, new_id)))


def test_act_needs_a_post(client):
    lab = open_sagas(client)
    run_id = start(client, lab)

    assert client.get(f"{run_url(lab, run_id)}act?action=step").status_code == 405
    assert load(lab, run_id).steps == 0


# --- Looking back, and what-if runs ---------------------------------------------------------------------------------


def test_looking_back_shows_the_pinned_hint_and_the_step(client):
    lab = open_sagas(client)
    run_id = start(client, lab)
    acted(client, lab, run_id, "run")
    steps = load(lab, run_id).steps

    response = client.get(f"{run_url(lab, run_id)}?at=3")

    assert response.status_code == 200
    page = parse(response)
    assert step_count(response.content.decode()) == 3
    assert page.by_id("run-status").says(f"Step 3 of {steps}")
    assert page.says("You are looking back at step 3.")
    assert page.by_id("run")["data-at"] == "3"
    acts = [f for f in page.by_role("form") if "action" in form_fields(f) and f["action"].endswith("/act")]
    assert {form_fields(f)["action"]: form_fields(f).get("at") for f in acts} == {  # every act form but reset forks
        "step": "3", "run": "3", "faults": "3", "reset": None}
    assert page.by_id("back")["href"] == "?at=2" and page.by_id("forward")["href"] == "?at=4"
    assert page.one("link", "Back to the latest step")["href"] == run_url(lab, run_id)
    assert [li["value"] for li in page.by_class("step-list")[0].by_role("listitem")] == ["1", "2", "3"]


@pytest.mark.parametrize("action", ["step", "run"])
def test_acting_on_an_earlier_step_forks_a_what_if_run_and_leaves_the_original(client, action):
    lab = open_sagas(client)
    run_id = start(client, lab)
    acted(client, lab, run_id, "run")
    original = stream(lab, run_id)
    steps = load(lab, run_id).steps

    fork_id = acted(client, lab, run_id, action, at="2")

    assert fork_id != run_id
    assert stream(lab, run_id) == original
    fork = load(lab, fork_id)
    assert (fork.started["forked_from"], fork.started["fork_step"]) == (run_id, 2)
    assert fork.steps == (3 if action == "step" else steps)
    assert fork.step_list()[:2] == load(lab, run_id).step_list()[:2]  # the same first two steps
    page = text(client.get(run_url(lab, fork_id)))
    assert f"A what-if run forked from run {run_id} at step 2." in re.sub(r"</?code>|<a [^>]*>|</a>", "", page)
    lab_page = text(client.get(f"/labs/{lab.id}/sagas/"))
    assert f"what-if from <code>{run_id}</code> at step 2" in lab_page


def test_injecting_a_fault_while_looking_back_forks_with_the_fault(client):
    lab = open_sagas(client)
    run_id = start(client, lab)
    acted(client, lab, run_id, "run")
    original = stream(lab, run_id)

    fork_id = acted(client, lab, run_id, "faults", kind="payment_declined", at="1")
    acted(client, lab, fork_id, "run")

    assert stream(lab, run_id) == original
    assert load(lab, run_id).state == "completed"
    fork = load(lab, fork_id)
    assert fork.faults == [{"kind": "payment_declined"}]
    assert fork.state == "compensated"


def test_a_refused_action_while_looking_back_forks_nothing(client):
    lab = open_sagas(client)
    run_id = start(client, lab)
    acted(client, lab, run_id, "run")
    before = store.head(lab.id)

    response = act(client, lab, run_id, "faults", kind="meteor", at="2")

    assert_422(response, "Unknown fault kind 'meteor'.")
    assert "You are looking back at step 2." in text(response)  # the view stays where it was
    assert step_count(response.content.decode()) == 2
    assert store.head(lab.id) == before
    assert len(handlers.runs(store, lab.id)) == 1


# --- htmx: the #run partial, and the announcement out of band -------------------------------------------------------



def test_an_htmx_get_of_the_run_page_answers_the_run_partial(client):
    lab = open_sagas(client)
    run_id = start(client, lab)
    acted(client, lab, run_id, "step")

    page = assert_run_partial(client.get(run_url(lab, run_id), **HTMX))

    assert step_count(page) == 1
    assert parse(page).by_id("run-announce").text == ("Step 1: PlaceOrder from client to orchestrator, "
                                                      "MessageDelivered. The saga is running.")


def test_an_htmx_get_with_another_target_gets_the_whole_page(client):
    lab = open_sagas(client)
    run_id = start(client, lab)

    response = client.get(run_url(lab, run_id), HTTP_HX_REQUEST="true", HTTP_HX_TARGET="main")

    assert "<html" in response.content.decode()


def test_an_htmx_get_back_in_time_answers_the_pinned_partial(client):
    lab = open_sagas(client)
    run_id = start(client, lab)
    acted(client, lab, run_id, "run")

    page = assert_run_partial(client.get(f"{run_url(lab, run_id)}?at=2", **HTMX))

    assert step_count(page) == 2
    assert "You are looking back at step 2." in page


@pytest.mark.parametrize("action", ["step", "run", "faults"])
def test_an_htmx_action_answers_the_run_partial_without_a_push_url(client, action):
    lab = open_sagas(client)
    run_id = start(client, lab)

    response = client.post(f"{run_url(lab, run_id)}act", {"action": action, "kind": "shipping_failed"}, **HTMX)

    assert response.status_code == 200
    page = assert_run_partial(response)
    assert "HX-Push-Url" not in response
    assert f'data-run="{run_id}"' in page
    run = load(lab, run_id)
    assert step_count(page) == run.steps
    assert f'data-version="{run.version}"' in page
    if action == "faults":
        assert [e.text for e in parse(page).by_class("fault-tag")] == ["shipping_failed"]


def test_an_htmx_recover_and_dead_letter_actions_answer_the_partial(client):
    lab = open_sagas(client)
    crash_id = start(client, lab, fault="orchestrator_crash", **{"orchestrator_crash-after_step": "4"})
    acted(client, lab, crash_id, "run")
    lost_id = lost_shipping(client, lab)

    recovered = client.post(f"{run_url(lab, crash_id)}act", {"action": "recover"}, **HTMX)
    retried = client.post(f"{run_url(lab, lost_id)}act", {"action": "retry", "dead_letter": "dl-1"}, **HTMX)

    assert "recovered: replayed" in assert_run_partial(recovered)
    assert "Status: <strong>retried</strong>" in assert_run_partial(retried)
    assert "HX-Push-Url" not in recovered and "HX-Push-Url" not in retried


def test_an_htmx_fork_answers_the_new_runs_partial_and_pushes_its_url(client):
    lab = open_sagas(client)
    run_id = start(client, lab)
    acted(client, lab, run_id, "run")
    original = stream(lab, run_id)

    response = client.post(f"{run_url(lab, run_id)}act", {"action": "step", "at": "2"}, **HTMX)

    assert response.status_code == 200
    page = assert_run_partial(response)
    fork_id = re.search(r'data-run="([0-9a-f]+)"', page).group(1)
    assert fork_id != run_id
    assert response["HX-Push-Url"] == run_url(lab, fork_id)
    assert step_count(page) == 3
    assert 'data-at=""' in page  # the new run is shown at its head, not pinned
    assert stream(lab, run_id) == original


def test_an_htmx_reset_pushes_the_new_runs_url(client):
    lab = open_sagas(client)
    run_id = start(client, lab)
    acted(client, lab, run_id, "step")

    response = client.post(f"{run_url(lab, run_id)}act", {"action": "reset"}, **HTMX)

    page = assert_run_partial(response)
    new_id = re.search(r'data-run="([0-9a-f]+)"', page).group(1)
    assert new_id != run_id
    assert response["HX-Push-Url"] == run_url(lab, new_id)
    assert step_count(page) == 0


def test_an_htmx_refusal_is_a_422_partial(client):
    lab = open_sagas(client)
    run_id = start(client, lab)
    before = store.head(lab.id)

    response = client.post(f"{run_url(lab, run_id)}act", {"action": "recover"}, **HTMX)

    assert response.status_code == 422
    page = assert_run_partial(response)
    assert "Nothing has crashed: there is nothing to recover." in page
    assert "HX-Push-Url" not in response
    assert store.head(lab.id) == before


# --- Who may see what -----------------------------------------------------------------------------------------------


# --- Escaping -------------------------------------------------------------------------------------------------------


def assert_escaped(page: str) -> None:
    assert "<script>alert" not in page
    assert "<img src=x" not in page
    assert "&lt;script&gt;alert(" in page


def test_html_in_the_customer_name_is_escaped_on_the_run_page(client):
    lab = open_sagas(client)
    run_id = start(client, lab, customer=XSS, **{"item-1-sku": "<b>book</b>"})
    acted(client, lab, run_id, "run")

    for response in (client.get(run_url(lab, run_id)), client.get(f"{run_url(lab, run_id)}?at=1"),
                     client.get(run_url(lab, run_id), **HTMX), act(client, lab, run_id, "step")):
        page = response.content.decode()
        assert_escaped(page)
        assert "<b>book" not in page
    assert load(lab, run_id).order["customer"] == XSS  # stored as typed, escaped when shown
    fork = client.post(f"{run_url(lab, run_id)}act", {"action": "step", "at": "1"}, **HTMX).content.decode()
    assert_escaped(fork)


def test_html_in_the_customer_name_is_escaped_on_the_refused_lab_page(client):
    lab = open_sagas(client)

    response = client.post(f"/labs/{lab.id}/sagas/start", form(customer=XSS, seed=XSS, **{"item-1-qty": "-1"}))

    assert response.status_code == 422
    page = response.content.decode()
    assert_escaped(page)
    assert 'value="&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;&quot;&gt;&lt;img' in page


def test_html_in_the_customer_name_is_escaped_on_the_lab_page_and_the_raw_log(client):
    lab = open_sagas(client)
    start(client, lab, customer=XSS)

    assert "<script>alert" not in client.get(f"/labs/{lab.id}/sagas/").content.decode()
    raw = client.get(f"/labs/{lab.id}/bank/").content.decode()  # the event panel shows the saga's events raw
    assert "<script>alert" not in raw and "<img src=x" not in raw


def test_a_too_long_customer_is_refused_in_plain_words(client):
    lab = open_sagas(client)

    assert_422(client.post(f"/labs/{lab.id}/sagas/start", form(customer="A" * 101)),
               "The customer's name must be at most 100 characters.")


# --- Without JavaScript ---------------------------------------------------------------------------------------------


def test_the_lab_page_works_without_javascript(client, presets):
    lab = open_sagas(client)
    start(client, lab)

    found = assert_works_without_javascript(client.get(f"/labs/{lab.id}/sagas/").content.decode())

    actions = {f["action"] for f in found.forms}
    assert {f"/labs/{lab.id}/sagas/start", f"/labs/{lab.id}/sagas/preset"} <= actions
    # The start form, as the page fills it in, starts a run.
    start_form = next(f for f in found.forms if f.get("id") == "start-form")
    assert start_form["method"] == "post"
    response = post_plainly(client, start_form, fault=[], mode="orchestration", customer="Ada")
    assert response.status_code == 302
    run = load(lab, run_id_of(response, lab))
    assert run.order["items"] == [{"sku": "book", "qty": 1, "price": "12.50"}]


def test_every_state_of_the_run_page_works_without_javascript(client):
    lab = open_sagas(client)
    fresh = start(client, lab)
    predicting = start(client, lab, fault="payment_declined")
    acted(client, lab, predicting, "step")
    acted(client, lab, predicting, "step")
    acted(client, lab, predicting, "step")
    crashed = start(client, lab, fault="orchestrator_crash", **{"orchestrator_crash-after_step": "4"})
    acted(client, lab, crashed, "run")
    lost = lost_shipping(client, lab)
    done = acted(client, lab, start(client, lab), "run")
    pages = {
        "fresh": run_url(lab, fresh), "predicting": run_url(lab, predicting), "crashed": run_url(lab, crashed),
        "dead-lettered": run_url(lab, lost), "done": run_url(lab, done), "pinned": f"{run_url(lab, done)}?at=3",
    }

    seen_buttons = set()
    for name, url in pages.items():
        response = client.get(url)
        assert response.status_code == 200, name
        found = assert_works_without_javascript(response.content.decode())
        for f in found.forms:
            if f["action"].endswith("/act"):
                assert f["method"] == "post", (name, f)
                assert f["fields"].get("action") in ("step", "run", "recover", "faults", "retry", "compensate",
                                                     "refund_anyway", "reset"), (name, f)
                seen_buttons.add(f["fields"]["action"])
    assert seen_buttons == {"step", "run", "recover", "faults", "retry", "compensate", "refund_anyway", "reset"}
    page = client.get(pages["predicting"]).content.decode()
    assert "Predict, then observe" in page
    assert 'name="predict"' in page


def test_the_run_pages_forms_do_what_they_say_when_posted_plainly(client):
    lab = open_sagas(client)
    run_id = start(client, lab)
    acted(client, lab, run_id, "run")
    pinned = controls(client.get(f"{run_url(lab, run_id)}?at=2").content.decode())

    # "Inject" on a pinned view, posted exactly as the page fills it in: a what-if run with that fault.
    inject = next(f for f in pinned.forms if f.get("class") == "inject")
    response = post_plainly(client, inject, kind="shipping_failed")
    fork_id = run_id_of(response, lab)
    assert fork_id != run_id
    assert load(lab, fork_id).faults == [{"kind": "shipping_failed"}]
    # The Step button of the fork's page steps it.
    page = controls(client.get(run_url(lab, fork_id)).content.decode())
    step = next(f for f in page.forms if f["fields"].get("action") == "step")
    assert run_id_of(post_plainly(client, step), lab) == fork_id
    assert load(lab, fork_id).steps == 3


# --- The preset fixture -----------------------------------------------------------------------------------------------


def test_loading_the_presets_twice_is_harmless_and_writes_no_events():
    events, labs = StoredEvent.objects.count(), Lab.objects.count()

    call_command("loaddata", "saga_presets", verbosity=0)
    first = list(Preset.objects.values_list("slug", "title", "description", "position", "start"))
    call_command("loaddata", "saga_presets", verbosity=0)

    assert list(Preset.objects.values_list("slug", "title", "description", "position", "start")) == first
    assert [slug for slug, *_ in first] == list(PRESETS)
    assert StoredEvent.objects.count() == events
    assert Lab.objects.count() == labs


EXPECTED = {
    "happy-path": {"state": "completed", "charged": 1, "refunded": 0, "shipped": 1, "order": "completed"},
    "payment-declined": {"state": "compensated", "charged": 0, "shipped": 0, "order": "cancelled"},
    "shipping-failed": {"state": "compensated", "charged": 1, "refunded": 1, "held": 0, "shipped": 0,
                        "order": "cancelled"},
    "duplicate-delivery": {"state": "completed", "charged": 1, "shipped": 1},
    "duplicate-without-idempotency": {"state": "completed", "charged": 2},
    "orchestrator-crash": {"state": "completed", "charged": 1, "shipped": 1, "recovered": True},
    "message-lost-dead-letter": {"state": "dead_lettered", "shipped": 0, "refunded": 0, "dead_letters": 1},
    "choreography-shipping-failed": {"state": "compensated", "refunded": 1, "held": 0, "order": "cancelled"},
    "late-payment-refused": {"state": "compensated", "charged": 0, "held": 0, "shipped": 0, "order": "cancelled"},
    "stuck-after-pivot": {"state": "dead_lettered", "charged": 1, "held": 1, "shipped": 1, "dead_letters": 1},
}


@pytest.mark.parametrize("slug", PRESETS)
def test_every_preset_ends_where_its_description_says(presets, slug):
    lab, _token = create_lab()
    preset = Preset.objects.get(pk=slug)

    run = services.start(lab, preset.start)
    run = services.act(lab, run.id, {"input": "run"})
    recovered = False
    if run.sim.crashed:
        run = services.act(lab, run.id, {"input": "recover"})
        run = services.act(lab, run.id, {"input": "run"})
        recovered = True

    expected = EXPECTED[slug]
    payments, inventory, orders = (run.services()[name] for name in ("payments", "inventory", "orders"))
    assert run.state == expected["state"]
    assert run.mode == preset.start["mode"]
    assert not run.sim.pending()
    assert recovered is expected.get("recovered", False)
    for key, actual in (("charged", payments["charged"]), ("refunded", payments["refunded"]),
                        ("held", payments["held"]), ("shipped", inventory["shipped"]), ("order", orders["order"]),
                        ("dead_letters", len(run.dead_letters()))):
        if key in expected:
            assert actual == expected[key], (key, actual)
    # What it appended is the run, replayable from the log.
    again = services.load(lab, run.id)
    assert (again.state, again.steps, again.version) == (run.state, run.steps, run.version)
