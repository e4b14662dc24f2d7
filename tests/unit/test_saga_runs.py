"""Saga runs stored in a lab's log (eventlab.sagas.handlers over the in-memory store): the learner's inputs replayed
on the engine — determinism, going back to a step, forking, faults mid-run, crashes and recovery, dead letters and a
person's action on them, idempotency, predict-then-observe, pending compensations, and validation in plain words."""

import pytest

from eventlab.eventstore.core import InMemoryEventStore
from eventlab.sagas import handlers
from eventlab.sagas.runs import Invalid, parse_faults, parse_start, pending_compensations

LOG = "lab-1"
RUN = "run-1"
ORDER = {"customer": "Ada", "items": [{"sku": "book", "qty": 1, "price": "12.50"}]}
MODES = ["orchestration", "choreography"]
DOWN_FOR_GOOD = {"kind": "service_down", "service": "inventory", "steps": 200}


def new_store() -> InMemoryEventStore:
    store = InMemoryEventStore()
    store.create_log(LOG)
    return store


def begin(store, run_id=RUN, mode="orchestration", faults=(), seed=1, order=ORDER):
    started = parse_start({"mode": mode, "seed": seed, "order": order, "faults": list(faults)})
    return handlers.start(store, LOG, run_id, started)[0]


def act(store, given, run_id=RUN):
    return handlers.act(store, LOG, run_id, given)[0]


def step(store, run_id=RUN, **extra):
    return act(store, {"input": "step", **extra}, run_id)


def run_to_end(store, run_id=RUN):
    return act(store, {"input": "run"}, run_id)


def stored(store, run_id=RUN):
    """The run's stream as (version, type, data): everything but the random ids and wall-clock times."""
    return [(e.version, e.type, e.data) for e in store.read_stream(LOG, handlers.stream_name(run_id))]


def version(store, run_id=RUN) -> int:
    return len(store.read_stream(LOG, handlers.stream_name(run_id)))


def load(store, run_id=RUN, at_step=None):
    return handlers.load(store, LOG, run_id, at_step)


def refused(do, *fragments) -> str:
    """`do()` raises Invalid whose message says all of `fragments`."""
    with pytest.raises(Invalid) as caught:
        do()
    message = str(caught.value)
    for fragment in fragments:
        assert fragment in message, message
    return message


def play(store, mode, run_id=RUN):
    """The same inputs, whatever the store: two steps, the second pick, a fault mid-run, then run to the end."""
    begin(store, run_id, mode, seed=7)
    step(store, run_id)
    step(store, run_id)
    second = load(store, run_id).pending()[1]["id"]
    step(store, run_id, pick=second)
    act(store, {"input": "faults", "faults": [{"kind": "drop", "message": "PaymentReserved"}]}, run_id)
    return run_to_end(store, run_id)


# --- Determinism ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_the_same_start_and_inputs_give_the_same_run_through_the_store(mode):
    first_store, second_store = new_store(), new_store()

    first, second = play(first_store, mode), play(second_store, mode)

    assert first.step_list() == second.step_list()
    assert first.history == second.history
    assert first.as_dict() == second.as_dict()
    # What was stored is the same too, event for event (type, data with step and at_ms), ids and times aside.
    assert stored(first_store) == stored(second_store)
    assert all("step" in data and "at_ms" in data for _, kind, data in stored(first_store)
               if kind not in handlers.INPUTS and kind != "SagaRunStarted")


def test_a_run_id_changes_nothing_but_the_run_id():
    store = new_store()

    play(store, "orchestration", "run-a")
    play(store, "orchestration", "run-b")

    a, b = stored(store, "run-a"), stored(store, "run-b")
    assert a[0][2].pop("run_id") == "run-a" and b[0][2].pop("run_id") == "run-b"
    assert a == b


def test_another_seed_gives_other_timings_so_the_comparison_above_means_something():
    one, other = new_store(), new_store()
    begin(one, seed=1)
    begin(other, seed=2)

    assert [s["at_ms"] for s in run_to_end(one).step_list()] != [s["at_ms"] for s in run_to_end(other).step_list()]


def test_asking_for_a_prompt_changes_nothing_in_the_run():
    faults = [{"kind": "drop", "message": "CreateOrder"}, {"kind": "duplicate", "message": "ReservePayment"}]
    asked, plain = new_store(), new_store()
    begin(asked, faults=faults)
    begin(plain, faults=faults)

    run = load(asked)
    prompts = 0
    while not run.done:
        prompts += run.prompt() is not None  # worked out on a copy: the real run's random source is untouched
        run.act({"input": "step"})

    assert prompts >= 2
    assert run.history == run_to_end(plain).history


# --- Back to a step, and what-if forks ------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_loading_at_step_k_gives_the_run_as_it_was_after_k_steps(mode):
    store = new_store()
    snapshots = [begin(store, mode=mode).as_dict()]
    while not load(store).done:
        run = step(store)
        snapshots.append(run.as_dict())
        if run.steps == 3:  # back at step 3 is the run right after step 3, before this fault came in
            act(store, {"input": "faults", "faults": [{"kind": "duplicate", "message": "ItemsShipped"}]})
    whole = load(store)

    for k, then in enumerate(snapshots):
        back = load(store, at_step=k)
        assert back.steps == k
        assert back.state == then["state"]
        assert back.step_list() == whole.step_list()[:k] == then["steps"]
        assert back.services() == then["services"]
        assert back.as_dict() == then
    assert version(store) == len(stored(store))  # going back appends nothing


@pytest.mark.parametrize("mode", MODES)
def test_a_fork_at_step_k_is_a_new_stream_with_the_same_first_k_steps_and_can_diverge(mode):
    store = new_store()
    begin(store, mode=mode)
    original = run_to_end(store)
    before = version(store)

    forked, appended = handlers.fork(store, LOG, RUN, 3, "run-2")

    assert appended.events[0].stream == "saga-run-2"
    assert (forked.id, forked.started["forked_from"], forked.started["fork_step"]) == ("run-2", RUN, 3)
    assert forked.as_dict()["forked_from"] == RUN and forked.as_dict()["fork_step"] == 3
    assert forked.steps == 3
    assert forked.step_list() == original.step_list()[:3]
    assert version(store) == before  # the original is untouched
    # The fork's stream holds the original's first three steps, as they were stored.
    fork_events = stored(store, "run-2")
    assert [(t, d) for _, t, d in fork_events[1:]] == [(t, d) for _, t, d in stored(store)[1:len(fork_events)]]
    # What if shipping had failed? The fork compensates; the original stays completed.
    act(store, {"input": "faults", "faults": [{"kind": "shipping_failed"}]}, "run-2")
    what_if = run_to_end(store, "run-2")
    assert what_if.state == "compensated"
    assert load(store).state == "completed"
    assert load(store, "run-2").started["forked_from"] == RUN  # survives a reload


@pytest.mark.parametrize("at_step", [-1, 99, True, "3", None])
def test_a_fork_outside_the_run_is_refused_and_appends_nothing(at_step):
    store = new_store()
    begin(store)
    step(store)
    head = store.head(LOG)

    refused(lambda: handlers.fork(store, LOG, RUN, at_step, "run-2"), "at_step", "0 to 1")

    assert store.head(LOG) == head


def test_an_unknown_run_is_an_unknown_run():
    store = new_store()

    with pytest.raises(handlers.UnknownRun):
        load(store, "nope")
    with pytest.raises(handlers.UnknownRun):
        step(store, "nope")


# --- Stepping ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_run_steps_until_nothing_is_in_flight(mode):
    store = new_store()
    begin(store, mode=mode)

    run = run_to_end(store)

    assert (run.state, run.done, run.pending()) == ("completed", True, [])
    assert [e.type for e in store.read_stream(LOG, "saga-run-1")].count("SagaStepTaken") == run.steps
    assert load(store).as_dict() == run.as_dict()


def test_stepping_or_running_a_finished_run_is_refused_in_plain_words():
    store = new_store()
    begin(store)
    run_to_end(store)
    head = store.head(LOG)

    refused(lambda: step(store), "Nothing is in flight", "finished", "completed")
    refused(lambda: run_to_end(store), "Nothing is in flight", "completed")

    assert store.head(LOG) == head


def test_picking_a_message_not_in_flight_is_refused_and_appends_nothing():
    store = new_store()
    begin(store)
    step(store)
    before = version(store)

    refused(lambda: step(store, pick="m999"), "'m999'", "not in flight")
    refused(lambda: step(store, pick="m1"), "'m1'", "not in flight")  # delivered already

    assert version(store) == before


def test_picking_a_message_delivers_that_one():
    store = new_store()
    begin(store)
    run = step(store)
    step(store)
    pending = load(store).pending()
    assert len(pending) >= 2

    run = step(store, pick=pending[1]["id"])

    assert run.step_list()[-1]["message_id"] == pending[1]["id"]
    assert [m["id"] for m in run.pending()].count(pending[0]["id"]) == 1  # the first still waits


# --- Faults mid-run ------------------------------------------------------------------------------------------------


def test_a_fault_injected_mid_run_acts():
    store = new_store()
    begin(store)
    for _ in range(3):  # OrderCreated delivered: ReservePayment is on its way to payments
        run = step(store)
    assert [m["type"] for m in run.pending()][0] == "ReservePayment"

    run = act(store, {"input": "faults", "faults": [{"kind": "payment_declined"}]})
    assert run.services()["payments"]["declining"] is True
    run = run_to_end(store)

    assert run.state == "compensated"
    assert run.services()["payments"]["held"] == 0
    assert run.services()["orders"]["order"] == "cancelled"
    assert {"kind": "payment_declined"} in run.as_dict()["faults"]
    injected = [d for _, t, d in stored(store) if t == "SagaFaultsInjected"]
    assert injected == [{"input": "faults", "faults": [{"kind": "payment_declined"}]}]


def test_injected_faults_are_stored_with_their_defaults_filled_in():
    store = new_store()
    begin(store)
    step(store)

    act(store, {"input": "faults", "faults": [{"kind": "delay", "message": "OrderCreated"}]})

    injected = [d for _, t, d in stored(store) if t == "SagaFaultsInjected"]
    assert injected[0]["faults"] == [{"kind": "delay", "message": "OrderCreated", "nth": 1, "ms": 5_000}]


@pytest.mark.parametrize("after_step", [1, 3])
def test_a_crash_at_or_before_the_current_step_is_refused(after_step):
    store = new_store()
    begin(store)
    for _ in range(3):
        step(store)
    before = version(store)

    refused(lambda: act(store, {"input": "faults", "faults": [{"kind": "orchestrator_crash", "after_step": after_step}]}),
            "after_step", "from 4")

    assert version(store) == before
    act(store, {"input": "faults", "faults": [{"kind": "orchestrator_crash", "after_step": 4}]})
    run = run_to_end(store)
    assert run.state == "completed"  # it restarted by itself after 1,000 ms
    assert "NodeCrashed" in [e.type for e in run.history]


def test_a_crash_in_choreography_is_refused_mid_run_too():
    store = new_store()
    begin(store, mode="choreography")

    refused(lambda: act(store, {"input": "faults", "faults": [{"kind": "orchestrator_crash", "after_step": 5}]}),
            "no orchestrator", "choreography")


# --- A crashed orchestrator that waits for a person -----------------------------------------------------------------


def test_a_crashed_orchestrator_without_restart_stops_the_run_until_recover():
    store = new_store()
    begin(store, faults=[{"kind": "orchestrator_crash", "after_step": 4, "restart_after_ms": None}])

    run = run_to_end(store)

    assert run.sim.crashed == {"orchestrator"}
    assert run.as_dict()["crashed"] == ["orchestrator"]
    assert run.state not in ("completed", "compensated", "dead_lettered")
    assert not run.done
    head = store.head(LOG)
    refused(lambda: step(store), "recover")
    refused(lambda: run_to_end(store), "recover")
    assert store.head(LOG) == head

    act(store, {"input": "recover"})
    recovered = run_to_end(store)

    plain_store = new_store()
    begin(plain_store)
    plain = run_to_end(plain_store)
    assert (recovered.state, recovered.done, recovered.sim.crashed) == ("completed", True, set())
    assert recovered.services() == plain.services()  # charged once, shipped once: the crash cost nothing
    assert "SagaRecoverRequested" in [t for _, t, _ in stored(store)]


def test_recover_when_nothing_crashed_is_refused():
    store = new_store()
    begin(store)
    before = version(store)

    refused(lambda: act(store, {"input": "recover"}), "Nothing has crashed")

    assert version(store) == before


# --- Dead letters and the person who acts on them --------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_a_dead_letter_retried_while_still_down_dead_letters_again_then_only_refund_anyway_undoes_the_order(mode):
    store = new_store()
    begin(store, mode=mode, faults=[DOWN_FOR_GOOD])

    run = run_to_end(store)
    assert run.state == "dead_lettered"
    assert [(d["id"], d["status"]) for d in run.dead_letters()] == [("dl-1", "open")]
    assert pending_compensations(run) == []
    refused(lambda: step(store), "dead-lettered", "Retry or compensate")

    # Retry: inventory is still down, so the same message is dead-lettered again.
    act(store, {"input": "retry", "dead_letter": "dl-1"})
    run = run_to_end(store)
    assert run.state == "dead_lettered"
    assert [(d["id"], d["status"]) for d in run.dead_letters()] == [("dl-1", "retried"), ("dl-2", "open")]
    assert run.dead_letters()[1]["message"] == run.dead_letters()[0]["message"]

    # Compensate: ShipItems is the pivot, so Inventory is asked first to cancel the shipment (and remember it). It is
    # still down, so nobody can say whether the items left: that request is dead-lettered in turn, nothing refunded.
    act(store, {"input": "compensate", "dead_letter": "dl-2"})
    run = run_to_end(store)
    assert run.state == "dead_lettered"
    assert [(d["message"], d["status"]) for d in run.dead_letters()][-1] == ("CancelShipment", "open")
    assert run.services()["payments"]["held"] == 1

    # Refund anyway: a person's business decision — the payment is refunded and the order cancelled.
    act(store, {"input": "refund_anyway", "dead_letter": "dl-3"})
    run = run_to_end(store)
    assert (run.state, run.done) == ("compensated", True)
    assert run.services()["payments"]["held"] == 0
    assert run.services()["orders"]["order"] == "cancelled"
    assert run.services()["inventory"]["shipped"] == 0
    assert [d["status"] for d in run.dead_letters()] == ["retried", "compensated", "refunded anyway"]
    assert [d["action"] for _, t, d in stored(store) if t == "OperatorActed"] == ["retry", "compensate",
                                                                                  "refund_anyway"]


@pytest.mark.parametrize("mode", MODES)
def test_acting_twice_on_the_same_dead_letter_is_refused_and_appends_nothing(mode):
    store = new_store()
    begin(store, mode=mode, faults=[DOWN_FOR_GOOD])
    run_to_end(store)
    act(store, {"input": "compensate", "dead_letter": "dl-1"})
    before = version(store)

    refused(lambda: act(store, {"input": "compensate", "dead_letter": "dl-1"}), "dl-1", "already", "compensated")
    refused(lambda: act(store, {"input": "retry", "dead_letter": "dl-1"}), "dl-1", "already")
    refused(lambda: act(store, {"input": "retry", "dead_letter": "dl-7"}), "No dead letter 'dl-7'")

    assert version(store) == before


# --- Stock ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_an_order_for_more_than_the_stock_cannot_ship_even_split_over_two_lines(mode):
    # Stock is counted per sku, over every line of the order: two lines of 6 books are 12 (> the 10 in stock).
    one_line = new_store()
    begin(one_line, mode=mode, order={"customer": "Ada", "items": [{"sku": "book", "qty": 12, "price": "1.00"}]})
    assert run_to_end(one_line).state == "compensated"
    two_lines = new_store()
    begin(two_lines, mode=mode, order={"customer": "Ada", "items": [{"sku": "book", "qty": 6, "price": "1.00"},
                                                                     {"sku": "book", "qty": 6, "price": "1.00"}]})

    run = run_to_end(two_lines)

    assert run.services()["inventory"]["stock"]["book"] >= 0  # today: -2
    assert run.state == "compensated"  # today: completed


# --- Idempotency ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("idempotency_off", "charged"), [(True, 2), (False, 1)])
def test_a_duplicate_reserve_payment_charges_twice_only_without_idempotency(idempotency_off, charged):
    store = new_store()
    faults = [{"kind": "duplicate", "message": "ReservePayment"}]
    if idempotency_off:
        faults.append({"kind": "idempotency_off", "service": "payments"})
    begin(store, faults=faults)

    run = run_to_end(store)

    assert run.state == "completed"
    assert run.services()["payments"]["charged"] == charged
    assert run.services()["payments"]["idempotent"] is not idempotency_off


def test_idempotency_switched_off_mid_run_survives_a_reload():
    store = new_store()
    begin(store, faults=[{"kind": "duplicate", "message": "ReservePayment"}])
    step(store)
    act(store, {"input": "faults", "faults": [{"kind": "idempotency_off", "service": "payments"}]})

    run_to_end(store)

    assert load(store).services()["payments"]["charged"] == 2


# --- Predict, then observe -------------------------------------------------------------------------------------------


def test_no_prompt_when_the_next_step_goes_as_planned():
    store = new_store()
    run = begin(store)
    assert run.prompt() is None
    while not run.done:
        run = step(store)
        assert run.prompt() is None


def test_a_prompt_before_a_step_that_hits_an_injected_fault():
    store = new_store()
    begin(store, faults=[{"kind": "drop", "message": "CreateOrder"}])
    run = step(store)  # PlaceOrder delivered: CreateOrder is next, and will be dropped

    prompt = run.prompt()

    assert prompt is not None
    assert (prompt["step"], prompt["message"], prompt["to"]) == (2, "CreateOrder", "orders")
    keys = [c["key"] for c in prompt["choices"]]
    assert len(keys) == len(set(keys)) == 4
    assert "dropped" in keys and "as_planned" in keys
    assert all(c["label"] for c in prompt["choices"])
    assert load(store).prompt() == prompt  # the same question after a reload: stable per step


def test_a_prediction_is_recorded_right_or_wrong_and_stored_with_its_step():
    store = new_store()
    begin(store, faults=[{"kind": "drop", "message": "CreateOrder"}])
    step(store)

    right = step(store, predict="dropped")
    wrong = step(store, predict="crash")

    assert right.predictions[0] == {"step": 2, "predicted": "dropped", "happened": "dropped", "right": True,
                                    "asked": True}
    assert wrong.predictions[-1] == {"step": 3, "predicted": "crash", "happened": "as_planned", "right": False,
                                     "asked": False}
    steps_taken = [d for _, t, d in stored(store) if t == "SagaStepTaken"]
    assert [d.get("prediction", {}).get("right") for d in steps_taken] == [None, True, False]
    assert steps_taken[1]["prediction"]["happened"] == "dropped"


def test_an_unknown_prediction_is_refused():
    store = new_store()
    begin(store)
    before = version(store)

    refused(lambda: step(store, predict="maybe"), "Unknown prediction 'maybe'")

    assert version(store) == before


def test_predictions_survive_a_reload_unchanged():
    # A prediction is recorded once, and a reload (or a later write, which loads first) does not record it again.
    store = new_store()
    begin(store, faults=[{"kind": "drop", "message": "CreateOrder"}])
    step(store)
    step(store, predict="dropped")
    step(store, predict="crash")
    recorded = [d["prediction"] for _, t, d in stored(store) if t == "SagaStepTaken" and "prediction" in d]
    assert [p["step"] for p in recorded] == [2, 3]

    reloaded = load(store)

    assert reloaded.predictions == recorded  # today: steps [2, 2, 3, 3]


# --- What would undo the saga ----------------------------------------------------------------------------------------


def under_way(run) -> str | None:
    """The command the orchestrator is waiting on, as its log says."""
    issued = [e.data["command"] for e in run.history if e.type == "CommandIssued"]
    return issued[-1] if issued and run.state not in ("completed", "compensated") else None


def test_pending_compensations_follow_the_step_under_way_in_orchestration():
    store = new_store()
    run = begin(store)
    seen = {}
    while not run.done:
        run = step(store)
        seen.setdefault(under_way(run), pending_compensations(run))
        assert run.as_dict()["pending_compensations"] == pending_compensations(run)

    assert seen["CreateOrder"] == []
    assert seen["ReservePayment"] == ["CancelOrder"]
    assert seen["ShipItems"] == ["RefundPayment", "CancelOrder"]
    assert seen["CompleteOrder"] == []
    assert pending_compensations(run) == []


def test_pending_compensations_in_choreography():
    store = new_store()
    begin(store, mode="choreography")

    after = [pending_compensations(step(store)) for _ in range(4)]

    # Start fired; OrderPlaced handled (payment under way); OrderCreated handled (shipping under way); shipped.
    assert after == [[], ["CancelOrder"], ["RefundPayment", "CancelOrder"], []]
    assert pending_compensations(run_to_end(store)) == []


def test_nothing_is_pending_before_the_start_nor_once_compensated():
    store = new_store()
    run = begin(store, faults=[{"kind": "shipping_failed"}])
    assert pending_compensations(run) == []

    run = run_to_end(store)

    assert run.state == "compensated"
    assert pending_compensations(run) == []


# --- Validation in plain words ---------------------------------------------------------------------------------------


def start_body(**changes):
    return {"mode": "orchestration", "seed": 1, "order": ORDER, "faults": [], **changes}


def order_with(**item):
    return {"customer": "Ada", "items": [{"sku": "book", "qty": 1, "price": "12.50", **item}]}


@pytest.mark.parametrize(("body", "message"), [
    pytest.param(start_body(order={"customer": "Ada", "items": []}), "No items in order.", id="no-items"),
    pytest.param(start_body(order=order_with(qty=-1)), "Item 1's quantity must be a whole number from 1 to 1,000.",
                 id="negative-qty"),
    pytest.param(start_body(order=order_with(qty=0)), "Item 1's quantity", id="zero-qty"),
    pytest.param(start_body(order=order_with(qty=1.5)), "Item 1's quantity", id="fractional-qty"),
    pytest.param(start_body(order=order_with(price="12.505")), "with at most 2 decimal places", id="three-decimals"),
    pytest.param(start_body(order=order_with(price="-1.00")), "must be more than 0", id="negative-price"),
    pytest.param(start_body(order=order_with(price="NaN")), 'like "12.50"', id="nan-price"),
    pytest.param(start_body(order=order_with(price="lots")), 'like "12.50"', id="word-price"),
    pytest.param(start_body(order={"customer": "  ", "items": ORDER["items"]}), "The customer's name", id="no-name"),
    pytest.param(start_body(order=None), "An order is an object", id="no-order"),
    pytest.param(start_body(faults=[{"kind": "meteor"}]), "Unknown fault kind 'meteor'", id="unknown-kind"),
    pytest.param(start_body(faults=[{"kind": "payment_declined", "service": "payments"}]),
                 "A payment_declined fault has no field 'service'.", id="unknown-field"),
    pytest.param(start_body(faults=[{"kind": "drop", "message": "CreateOrder", "steps": 2}]),
                 "A drop fault has no field 'steps'.", id="field-of-another-kind"),
    pytest.param(start_body(mode="choreography", faults=[{"kind": "orchestrator_crash", "after_step": 3}]),
                 "There is no orchestrator to crash in choreography mode.", id="crash-in-choreography"),
    pytest.param(start_body(mode="pipeline"), "The mode must be 'orchestration' or 'choreography'.", id="bad-mode"),
    pytest.param(start_body(faults=[{"kind": "payment_declined"}] * 21), "At most 20 faults at once.",
                 id="too-many-faults"),
    pytest.param(start_body(faults={"kind": "payment_declined"}), "Faults must be a list.", id="faults-not-a-list"),
    pytest.param(start_body(seed=True), "The seed must be a whole number from 0 to 2,147,483,647.", id="seed-bool"),
    pytest.param(start_body(seed=-1), "The seed must be a whole number from 0", id="seed-negative"),
    pytest.param(start_body(seed="1"), "The seed must be a whole number", id="seed-text"),
    pytest.param("not an object", "Start a saga with a JSON object", id="not-an-object"),
])
def test_a_start_the_lab_cannot_take_is_refused_in_plain_words(body, message):
    refused(lambda: parse_start(body), message)


@pytest.mark.parametrize(("fault", "message"), [
    ({"kind": "service_down", "service": "billing"}, "The service must be one of orders, payments, inventory."),
    ({"kind": "service_down", "service": "payments", "steps": 0}, "steps must be a whole number from 1"),
    ({"kind": "drop", "message": "Teleport"}, "The message must be one of the flow's"),
    ({"kind": "duplicate", "message": "ReservePayment", "nth": 0}, "nth must be a whole number from 1 to 100."),
    ({"kind": "delay", "message": "ShipItems", "ms": 600_001}, "ms must be a whole number from 1 to 600,000."),
    ({"kind": "orchestrator_crash"}, "after_step must be a whole number from 1"),
    ({"kind": "orchestrator_crash", "after_step": 2, "restart_after_ms": -5}, "restart_after_ms"),
    ({"kind": "idempotency_off"}, "The service must be one of"),
    ({"service": "payments"}, 'A fault is an object with a "kind".'),
    ("payment_declined", 'A fault is an object with a "kind".'),
])
def test_a_fault_the_lab_cannot_take_is_refused_in_plain_words(fault, message):
    refused(lambda: parse_faults([fault], "orchestration"), message)


def test_a_valid_start_is_normalised():
    started = parse_start({"order": {"customer": " Ada ", "items": [{"sku": "book", "qty": 2, "price": "5"}]},
                           "faults": [{"kind": "service_down", "service": "payments"},
                                      {"kind": "orchestrator_crash", "after_step": 2}]})

    assert started == {
        "mode": "orchestration", "seed": 1,
        "order": {"order_id": "order-1", "customer": "Ada", "items": [{"sku": "book", "qty": 2, "price": "5.00"}],
                  "amount": "10.00"},
        "faults": [{"kind": "service_down", "service": "payments", "steps": 3},
                   {"kind": "orchestrator_crash", "after_step": 2, "restart_after_ms": 1_000}],
    }


def test_a_lost_place_order_is_explained_not_called_finished():
    store = new_store()
    begin(store, faults=[{"kind": "drop", "message": "PlaceOrder", "nth": 1}])
    run = step(store)
    assert run.state == "started" and not run.sim.pending()
    refused(lambda: step(store), "still started", "a message was lost that nobody waits for")
