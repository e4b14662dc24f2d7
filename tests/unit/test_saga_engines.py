"""The order saga on the simulation engine, orchestrated and choreographed: the happy path, each compensation, and
a failure matrix — every fault kind at every step, both modes — checked against the invariants the course teaches."""

import pytest

from eventlab.sagas.domain import FINAL, choreographed_saga, choreography_status, orchestrated_saga

ORDER = {"order_id": "o-1", "customer": "Ada", "amount": "12.50"}
FLOW = ["CreateOrder", "OrderCreated", "ReservePayment", "PaymentReserved", "ShipItems", "ItemsShipped",
        "CompleteOrder", "OrderCompleted", "PaymentFailed", "ShippingFailed", "RefundPayment", "PaymentRefunded",
        "CancelOrder", "OrderCancelled"]


def run(faults=(), seed=1, mode="orchestration"):
    start = orchestrated_saga if mode == "orchestration" else choreographed_saga
    sim = start(ORDER, seed=seed, faults=list(faults))
    sim.run(max_steps=2_000)
    assert sim.done, "a saga always ends: nothing is left in flight"
    return sim


def status(sim):
    if "orchestrator" in sim.live:
        return sim.live["orchestrator"].status
    return choreography_status(sim, ORDER["order_id"])


def check_invariants(sim, idempotent=True):
    orders, payments, inventory = (sim.live[n] for n in ("orders", "payments", "inventory"))
    assert status(sim) in FINAL
    order_status = orders.orders.get("o-1")
    if order_status == "cancelled":
        assert payments.held("o-1") == 0, "no payment stays reserved for a cancelled order"
    for shipped in inventory.shipments:
        assert payments.held(shipped) > 0, "nothing ships unpaid"
    if idempotent:
        assert payments.charges.count("o-1") <= 1, "no duplicate charge"
        assert inventory.shipments.count("o-1") <= 1, "no duplicate shipment"
    if status(sim) == "completed":
        assert order_status == "completed" and payments.held("o-1") == 1 and inventory.shipments == ["o-1"]
    if status(sim) == "compensated":
        assert order_status == "cancelled" and not inventory.shipments


def test_the_happy_path_completes():
    sim = run()
    assert status(sim) == "completed"
    issued = [e.data["command"] for e in sim.history if e.type == "CommandIssued"]
    assert issued == ["CreateOrder", "ReservePayment", "ShipItems", "CompleteOrder"]
    check_invariants(sim)


def test_a_declined_payment_cancels_the_order():
    sim = run([{"kind": "payment_declined"}])
    assert status(sim) == "compensated"
    assert [e.data["command"] for e in sim.history if e.type == "CommandIssued"][-1] == "CancelOrder"
    check_invariants(sim)


def test_failed_shipping_refunds_then_cancels():
    sim = run([{"kind": "shipping_failed"}])
    assert status(sim) == "compensated"
    issued = [e.data["command"] for e in sim.history if e.type == "CommandIssued"]
    assert issued[-2:] == ["RefundPayment", "CancelOrder"]
    check_invariants(sim)


def test_a_lost_reply_is_retried_with_backoff_and_the_same_command_id():
    sim = run([{"kind": "drop", "message": "PaymentReserved", "nth": 1}])
    retries = [e.data for e in sim.history if e.type == "RetryScheduled"]
    assert retries[0] == {"node": "orchestrator", "command": "ReservePayment", "attempt": 2, "after_ms": 100}
    assert status(sim) == "completed"
    assert sim.live["payments"].charges == ["o-1"]  # the retry was recognised: charged once


def test_without_idempotency_a_duplicate_charges_twice():
    sim = run([{"kind": "duplicate", "message": "ReservePayment"}, {"kind": "idempotency_off", "service": "payments"}])
    assert sim.live["payments"].charges == ["o-1", "o-1"]
    with_it = run([{"kind": "duplicate", "message": "ReservePayment"}])
    assert with_it.live["payments"].charges == ["o-1"]


def test_a_service_down_for_too_long_dead_letters_a_saga_that_cannot_be_undone():
    sim = run([{"kind": "service_down", "service": "inventory", "steps": 200}])
    assert status(sim) == "dead_lettered"
    assert sim.history[-1].type != "SagaCompleted"
    check_invariants(sim)


def test_a_crashed_orchestrator_recovers_from_its_log_and_finishes():
    sim = run([{"kind": "orchestrator_crash", "after_step": 6}])
    types = [e.type for e in sim.history]
    assert "NodeCrashed" in types and "NodeRecovered" in types
    assert status(sim) == "completed"
    check_invariants(sim)


def test_the_same_inputs_give_the_same_run():
    faults = [{"kind": "delay", "message": "OrderCreated", "ms": 5_000}, {"kind": "payment_declined"}]
    assert run(faults, seed=3).history == run(faults, seed=3).history


def matrix():
    steps = len(run().history)
    cases = [[{"kind": "payment_declined"}], [{"kind": "shipping_failed"}]]
    for message in FLOW:
        for kind in ("drop", "duplicate"):
            cases.append([{"kind": kind, "message": message}])
        cases.append([{"kind": "delay", "message": message, "ms": 5_000}])
    for service in ("orders", "payments", "inventory"):
        for n in (1, 2, 5, 50):
            cases.append([{"kind": "service_down", "service": service, "steps": n}])
    for after in range(1, steps):
        cases.append([{"kind": "orchestrator_crash", "after_step": after}])
    # The same faults under a declined payment or failed shipping: compensations fail too.
    for failure in ({"kind": "payment_declined"}, {"kind": "shipping_failed"}):
        for message in FLOW:
            cases.append([failure, {"kind": "drop", "message": message}])
            cases.append([failure, {"kind": "duplicate", "message": message}])
    return cases


def matrix_cases() -> list:
    """Every fault plan in both modes, except crashing the orchestrator in choreography (there is none)."""
    return [pytest.param(faults, mode, id=f"{'+'.join('-'.join(str(v) for v in spec.values()) for spec in faults)}"
                                            f"-{mode}")
            for mode in ("orchestration", "choreography") for faults in matrix()
            if mode == "orchestration" or all(f["kind"] != "orchestrator_crash" for f in faults)]


@pytest.mark.parametrize(("faults", "mode"), matrix_cases())
def test_failure_matrix_every_saga_ends_well_or_waits_for_a_person(faults, mode):
    crash_free = [f for f in faults if f["kind"] != "orchestrator_crash"]
    sim = run(faults, mode=mode)
    check_invariants(sim)
    if len(crash_free) < len(faults):
        # A crash changes nothing about how the saga ends: it recovers from its log.
        assert status(sim) == status(run(crash_free))


@pytest.mark.parametrize(("faults", "expected"), [
    ([], "completed"),
    ([{"kind": "payment_declined"}], "compensated"),
    ([{"kind": "shipping_failed"}], "compensated"),
    ([{"kind": "drop", "message": "PaymentReserved"}], "completed"),
    ([{"kind": "service_down", "service": "inventory", "steps": 100}], "dead_lettered"),
])
def test_choreography_reaches_the_same_ends_without_a_controller(faults, expected):
    sim = run(faults, mode="choreography")
    assert "orchestrator" not in sim.live
    assert status(sim) == expected
    check_invariants(sim)


def test_without_idempotency_a_redelivered_event_charges_twice_in_choreography_too():
    faults = [{"kind": "duplicate", "message": "OrderCreated"}, {"kind": "idempotency_off", "service": "payments"}]
    assert run(faults, mode="choreography").live["payments"].charges == ["o-1", "o-1"]


def test_a_reply_that_arrives_after_the_saga_moved_on_is_noted_and_changes_nothing():
    sim = run([{"kind": "delay", "message": "PaymentReserved", "nth": 1, "ms": 30_000}])
    assert status(sim) == "completed"
    late = [e.data for e in sim.history if e.type == "LateReplyIgnored"]
    assert late == [{"node": "orchestrator", "reply": "PaymentReserved", "command_id": "o-1:ReservePayment",
                     "status": "completed"}]
    assert sim.history[-1].type == "LateReplyIgnored"  # the saga ended before it, and stayed ended
    check_invariants(sim)
