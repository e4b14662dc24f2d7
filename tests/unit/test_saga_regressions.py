"""The counterexamples the saga fault-plan search (test_saga_invariants.py) found before the services kept a semantic
lock, each shrunk and kept as a plain test. Each one broke a promise the course makes; each now holds.

The fix is what real sagas do — Chris Richardson, Microservices Patterns, ch. 4, "Countermeasures for handling the
lack of isolation": a *semantic lock* (each service remembers the compensations it applied for an order, so a late
original is refused), and the *transaction kinds*: CreateOrder and ReservePayment are compensatable, ShipItems is the
pivot (after it the saga only goes forward), CompleteOrder is retriable.
"""

import pytest

from eventlab.sagas.domain import TRANSACTION_KINDS
from tests.unit.test_saga_invariants import broken, drive


def every(kind, message, n=4, **extra):
    """The same fault on the first `n` sendings of a message: every attempt of the orchestrator's retries."""
    return [{"kind": kind, "message": message, "nth": i, **extra} for i in range(1, n + 1)]


def outcome(mode, faults, actions=()):
    plan = {"mode": mode, "seed": 0, "faults": list(faults), "actions": list(actions)}
    assert broken(plan) == []
    run, acted = drive(plan)
    services = run.services()
    refused = [(e.data["node"], e.data["command"]) for e in run.history if e.type == "CommandRefused"]
    return run, acted, services, refused


COMPENSATE = {"after": 0, "action": "compensate"}


def test_the_transaction_kinds_are_named_in_the_domain():
    """Richardson ch. 4: compensatable transactions, then the pivot, then retriable ones."""
    assert TRANSACTION_KINDS == {"CreateOrder": "compensatable", "ReservePayment": "compensatable",
                                 "ShipItems": "pivot", "CompleteOrder": "retriable"}


def test_a_create_order_delayed_past_the_retries_is_refused_after_the_order_was_cancelled():
    """Semantic lock (Richardson ch. 4): every CreateOrder was delayed 9 s, so the orchestrator gave up and cancelled
    an order Orders had never seen. Before: the late CreateOrder then created the order — a compensated saga with a
    pending order. Now Orders remembers the cancellation and refuses it."""
    run, _, services, refused = outcome("orchestration", every("delay", "CreateOrder", ms=9_000))
    assert run.state == "compensated"
    assert services["orders"]["order"] == "cancelled"
    assert ("orders", "CreateOrder") in refused


def test_a_reserve_payment_delayed_past_the_retries_takes_no_money_after_the_refund():
    """Semantic lock (Richardson ch. 4): every ReservePayment was delayed 9 s; the orchestrator refunded (nothing yet)
    and cancelled. Before: the late ReservePayment then charged the customer for a cancelled order. Now Payments
    remembers the refund and refuses it."""
    run, _, services, refused = outcome("orchestration", every("delay", "ReservePayment", ms=9_000))
    assert run.state == "compensated"
    assert (services["payments"]["charged"], services["payments"]["held"]) == (0, 0)
    assert ("payments", "ReservePayment") in refused


def test_compensating_a_stuck_ship_items_whose_items_shipped_is_refused_and_the_saga_completes():
    """Pivot (Richardson ch. 4): every ItemsShipped reply was lost, so the saga was dead-lettered at ShipItems though
    the items had left. Before: the person's Compensate refunded and cancelled a shipped order. Now the compensation
    first asks Inventory to cancel the shipment; Inventory says it shipped, so the saga goes forward and completes."""
    run, acted, services, refused = outcome("orchestration", every("drop", "ItemsShipped"), [COMPENSATE])
    assert acted == ["compensate"]
    assert run.state == "completed"
    assert (services["payments"]["held"], services["inventory"]["shipped"]) == (1, 1)
    assert ("inventory", "CancelShipment") in refused
    assert run.dead_letters()[0]["status"] == "compensation refused (the items had shipped)"


def test_a_ship_items_delayed_past_a_persons_compensation_ships_nothing():
    """Semantic lock (Richardson ch. 4): every ShipItems was delayed 30 s; the person compensated the dead letter.
    Before: the late ShipItems shipped a refunded, cancelled order. Now the compensation cancelled the shipment at
    Inventory first, and Inventory refuses the late ShipItems."""
    run, _, services, refused = outcome("orchestration", every("delay", "ShipItems", ms=30_000), [COMPENSATE])
    assert run.state == "compensated"
    assert (services["payments"]["held"], services["inventory"]["shipped"]) == (0, 0)
    assert ("inventory", "ShipItems") in refused


def test_compensate_at_complete_order_is_refused_and_refund_anyway_is_a_business_decision():
    """Retriable after the pivot (Richardson ch. 4): every CompleteOrder was lost, so the saga was dead-lettered at
    CompleteOrder — the items had shipped. Before: Compensate refunded and cancelled a shipped order. Now Compensate
    is refused (the plan's first action changes nothing); only Refund anyway refunds and cancels."""
    actions = [COMPENSATE, {"after": 0, "action": "refund_anyway"}]
    run, acted, services, _ = outcome("orchestration", every("drop", "CompleteOrder"), actions)
    assert acted == ["refund_anyway"]
    assert run.state == "compensated"
    assert (services["orders"]["order"], services["payments"]["held"], services["inventory"]["shipped"]) == (
        "cancelled", 0, 1)


def test_in_choreography_a_late_payment_reserved_ships_nothing_after_a_persons_compensation():
    """Semantic lock in choreography (Richardson ch. 4): PaymentReserved was delayed 30 s every time it was
    published; the person compensated. Before: the late event made Inventory ship and Orders complete a refunded
    order. Now the person's compensation cancels the shipment at Inventory first, which then refuses the event."""
    run, _, services, refused = outcome("choreography", every("delay", "PaymentReserved", ms=30_000), [COMPENSATE])
    assert run.state == "compensated"
    assert (services["payments"]["held"], services["inventory"]["shipped"]) == (0, 0)
    assert ("inventory", "ShipItems") in refused


def test_in_choreography_compensating_after_the_items_shipped_is_refused():
    """Pivot in choreography (Richardson ch. 4): Orders was down and acknowledgements were lost, so OrderPlaced was
    dead-lettered while the rest of the saga went on and shipped. Before: the person's Compensate refunded and
    cancelled a shipped order. Now Inventory answers that the items shipped, and the saga completes."""
    faults = [{"kind": "service_down", "service": "orders", "steps": 1},
              {"kind": "service_down", "service": "orders", "steps": 3},
              {"kind": "drop", "message": "Ack", "nth": 1}, {"kind": "drop", "message": "Ack", "nth": 2}]
    run, _, services, _ = outcome("choreography", faults, [COMPENSATE])
    assert run.state == "completed"
    assert (services["payments"]["held"], services["inventory"]["shipped"]) == (1, 1)
    assert any(e.type == "CompensationRefused" for e in run.history)


@pytest.mark.parametrize("resend", [
    {"kind": "orchestrator_crash", "after_step": 3, "restart_after_ms": 1_000},  # the recovered orchestrator re-sends
    {"kind": "drop", "message": "PaymentReserved", "nth": 1},  # the orchestrator retries
])
def test_a_refund_releases_everything_held_even_a_duplicate_charge(resend):
    """Semantic lock (Richardson ch. 4): idempotency off on Payments and a ReservePayment sent again charged twice
    (what idempotency off teaches); shipping then failed. Before: the refund released one charge, so a payment
    stayed held for a cancelled order. Now a refund releases whatever is held for the order."""
    faults = [{"kind": "shipping_failed"}, {"kind": "idempotency_off", "service": "payments"}, resend]
    run, _, services, _ = outcome("orchestration", faults)
    assert run.state == "compensated"
    assert (services["payments"]["charged"], services["payments"]["held"]) == (2, 0)


def test_in_choreography_a_persons_compensation_is_resent_until_acknowledged():
    """In choreography the person tells the services directly. Inventory was down for a while, so PaymentReserved was
    dead-lettered; the person compensated, and the network lost the RefundPayment. Before: the order was cancelled
    with the payment still held. Now the person's messages go out from an outbox, re-sent until acknowledged."""
    faults = [{"kind": "service_down", "service": "inventory", "steps": 7},
              {"kind": "drop", "message": "RefundPayment", "nth": 1}]
    run, _, services, _ = outcome("choreography", faults, [COMPENSATE])
    assert run.state == "compensated"
    assert (services["orders"]["order"], services["payments"]["held"]) == ("cancelled", 0)


@pytest.mark.parametrize(("mode", "faults"), [
    ("orchestration", [{"kind": "idempotency_off", "service": "orders"},
                       {"kind": "delay", "message": "CreateOrder", "nth": 1, "ms": 2_500}]),
    ("choreography", [{"kind": "idempotency_off", "service": "orders"}, {"kind": "drop", "message": "Ack", "nth": 1}]),
])
def test_a_late_create_order_never_creates_a_finished_order_again(mode, faults):
    """The order id is the business key: with idempotency off on Orders, a late CreateOrder (or a re-sent
    OrderPlaced) arrived after the order had completed. Before: Orders created it again — a completed saga with a
    pending order, and in choreography a saga that never ended. Now Orders answers and creates nothing."""
    run, _, services, _ = outcome(mode, faults)
    assert run.state == "completed"
    assert services["orders"]["order"] == "completed"
