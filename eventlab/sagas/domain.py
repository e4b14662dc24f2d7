"""The order saga, orchestrated, as nodes of the simulation engine. Pure Python, no Django.

Place order -> Orders creates it -> Payments reserves payment -> Inventory ships -> the order completes.
Compensations: PaymentFailed -> CancelOrder; ShippingFailed -> RefundPayment, then CancelOrder.
Every command carries a command id that stays the same across retries, and each service keeps an inbox of the ids it
has processed, so a duplicate or a retry is answered again without being done twice (unless a fault switches that
off for a service). The orchestrator waits 2,000 ms (virtual) for each reply, retries after 100, 200 and 400 ms, then
compensates — or, where compensating is no longer possible or is what failed, dead-letters the saga for a person.
A crashed orchestrator is rebuilt from its own events and re-sends the command it was waiting on.

In choreography (below) there is no controller: each service reacts to the previous one's event and publishes its
own at least once (an outbox, re-sent until acknowledged); receivers process each event id once.

The transaction kinds (Richardson, Microservices Patterns ch. 4): CreateOrder and ReservePayment are compensatable
(CancelOrder, RefundPayment undo them), ShipItems is the pivot (once the items are on their way the saga can only go
forward), CompleteOrder is retriable (it cannot fail for a business reason: retry it until it is done).

Sagas lack isolation, so each service keeps a semantic lock (ch. 4, "Countermeasures for handling the lack of
isolation"): it remembers the compensations it applied for an order — Orders a cancelled order (even one it never
created), Payments a refunded payment (a refund releases everything held for the order), Inventory a cancelled
shipment — and refuses a late original that arrives afterwards (it answers, and does nothing). That is what makes it
safe for the orchestrator to compensate when CreateOrder or ReservePayment never answers: if the command was only
delayed, it is refused when it lands. Replies that arrive after the saga moved on never change its state.

A person can act on a dead-lettered saga (the `operator` node): retry the stuck step, or compensate what was done.
Compensating a stuck ShipItems first asks Inventory to cancel the shipment: if the items already shipped (the pivot
happened) the compensation is refused and the saga goes forward. After the pivot only "refund anyway" — a business
decision, not a rollback — refunds the payment and cancels the order, whether or not the items ship.
The lab around these engines (runs stored in the lab log, replay, the pictures) is in runs.py and views.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from eventlab.sim.engine import Context, Fault, Message, Node, SimEvent, Simulation

REPLY_TIMEOUT_MS = 2_000
BACKOFF_MS = (100, 200, 400)
RESTART_AFTER_MS = 1_000
STOCK_PER_SKU = 10  # what the inventory holds of each item when a run starts
FINAL = {"completed", "compensated", "dead_lettered"}

# Richardson's transaction kinds, in the order the saga runs them (the pages and the state machine read this).
TRANSACTION_KINDS = {"CreateOrder": "compensatable", "ReservePayment": "compensatable", "ShipItems": "pivot",
                     "CompleteOrder": "retriable"}
KIND_MEANS = {
    "compensatable": "can be undone by a compensating transaction",
    "pivot": "the go/no-go point: once it succeeds the saga can only go forward",
    "retriable": "after the pivot: cannot fail for a business reason, so it is retried until done",
}
OPERATOR_ACTIONS = ("retry", "compensate", "refund_anyway")
# A dead letter's step, by what was stuck: the command (orchestration) or the event waiting for delivery
# (choreography: the event that would make the next step happen).
STUCK_STEP = {
    "OrderPlaced": "CreateOrder", "OrderCreated": "ReservePayment", "PaymentReserved": "ShipItems",
    "ItemsShipped": "CompleteOrder", "CreateOrder": "CreateOrder", "ReservePayment": "ReservePayment",
    "ShipItems": "ShipItems", "CompleteOrder": "CompleteOrder", "CancelShipment": "ShipItems",
}
COMPENSATE_REFUSED = ("Compensate is refused: ShipItems, the pivot, has happened — the items are on their way, so "
                      "this saga can only go forward (CompleteOrder is retriable: Retry it). Refunding an order that "
                      "has shipped is a business decision: Refund anyway.")
ANYWAY_REFUSED = ("Refund anyway is only for a saga stuck at or after the pivot (ShipItems, CompleteOrder): "
                  "before it, Compensate undoes everything.")


def operator_refusal(stuck: str | None, action: str) -> str | None:
    """Why a person's action on a dead letter stuck at `stuck` (a command or a choreographed event) is refused,
    or None if it may go ahead."""
    if action not in OPERATOR_ACTIONS:
        return f"Unknown action {str(action)[:40]!r}: retry, compensate or refund_anyway."
    step = STUCK_STEP.get(stuck or "")
    if action == "compensate" and step == "CompleteOrder":
        return COMPENSATE_REFUSED
    if action == "refund_anyway" and step not in ("ShipItems", "CompleteOrder"):
        return ANYWAY_REFUSED
    return None


# What the orchestrator does next when a reply arrives: (next command, its service) or a final state.
NEXT = {
    "OrderCreated": ("ReservePayment", "payments"),
    "PaymentReserved": ("ShipItems", "inventory"),
    "ItemsShipped": ("CompleteOrder", "orders"),
    "PaymentFailed": ("CancelOrder", "orders"),
    "ShippingFailed": ("RefundPayment", "payments"),
    "PaymentRefunded": ("CancelOrder", "orders"),
    # A service refused a late original (it remembers a compensation): compensate the rest, as for a failure.
    "OrderRefused": ("CancelOrder", "orders"),
    "PaymentRefused": ("CancelOrder", "orders"),
    "ShippingRefused": ("RefundPayment", "payments"),
    # A person's compensation of a stuck ShipItems: Inventory cancelled the shipment (and remembers it).
    "ShipmentCancelled": ("RefundPayment", "payments"),
}
COMPENSATING_ON = {"PaymentFailed", "ShippingFailed", "OrderRefused", "PaymentRefused", "ShippingRefused"}
FINISHED_BY = {"OrderCompleted": "completed", "OrderCancelled": "compensated"}
# When a command's retries run out: what undoes what may have happened, or None (a person must look: dead letter).
# Compensating a compensatable step that never answered is safe: the service remembers the compensation (a semantic
# lock), so if the command was only delayed it is refused when it lands.
ON_GIVING_UP = {
    "CreateOrder": ("CancelOrder", "orders"),
    "ReservePayment": ("RefundPayment", "payments"),
    "ShipItems": None,  # the pivot: the items may be on their way — a person decides
    "CompleteOrder": None,  # retriable, after the pivot: only completing is right
    "CancelShipment": None,
    "RefundPayment": None,
    "CancelOrder": None,
}


class Service:
    """A service with its own local state and an inbox of processed command ids (its idempotency record)."""

    name = ""

    def __init__(self, idempotent: bool = True, failing: bool = False):
        self.idempotent, self.failing = idempotent, failing
        self.inbox: dict[str, dict[str, Any]] = {}  # command id -> the reply it got

    def apply(self, event: SimEvent) -> None:
        if event.type == "CommandProcessed":
            self.inbox[event.data["command_id"]] = event.data["reply"]
        self.evolve(event)

    def evolve(self, event: SimEvent) -> None:
        """Fold one of the service's domain events into its state."""

    def handle(self, message: Message, ctx: Context) -> None:
        command_id = message.payload["command_id"]
        if self.idempotent and command_id in self.inbox:
            reply = self.inbox[command_id]  # seen before: answer again, do nothing again
        else:
            reply_type, facts = self.decide(message)
            reply = {"type": reply_type, "order_id": message.payload["order_id"], "command_id": command_id}
            for event_type, data in facts:
                ctx.record(event_type, **data)
            ctx.record("CommandProcessed", command_id=command_id, command=message.type, reply=reply)
        ctx.send(message.source, reply["type"], **{k: v for k, v in reply.items() if k != "type"})

    def decide(self, message: Message) -> tuple[str, list[tuple[str, dict[str, Any]]]]:
        raise NotImplementedError


def refused(order_id: str, command: str, reason: str) -> tuple[str, dict[str, Any]]:
    """The fact a service records when its semantic lock refuses a late original: answered, nothing done."""
    return "CommandRefused", {"order_id": order_id, "command": command, "reason": reason}


class Orders(Service):
    name = "orders"

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.orders: dict[str, str] = {}  # order id -> pending | completed | cancelled

    def evolve(self, event: SimEvent) -> None:
        status = {"OrderCreated": "pending", "OrderCompleted": "completed", "OrderCancelled": "cancelled"}
        if event.type in status:
            self.orders[event.data["order_id"]] = status[event.type]

    def decide(self, message):
        order_id = message.payload["order_id"]
        status = self.orders.get(order_id)
        if message.type == "CreateOrder" and status == "cancelled":  # the semantic lock: it was compensated
            return "OrderRefused", [refused(order_id, "CreateOrder", "the order was cancelled before it arrived")]
        if message.type == "CompleteOrder" and status == "cancelled":
            return "CompletionRefused", [refused(order_id, "CompleteOrder", "the order was cancelled")]
        answered = {"CreateOrder": "OrderCreated", "CompleteOrder": "OrderCompleted", "CancelOrder": "OrderCancelled"}
        already = {"CreateOrder": status is not None, "CompleteOrder": status == "completed",
                   "CancelOrder": status == "cancelled"}
        if already[message.type]:  # the order id is the business key: done once, answered again
            return answered[message.type], []
        event = answered
        facts = {"order_id": order_id}
        if message.type == "CreateOrder":
            facts.update(customer=message.payload.get("customer", ""), amount=message.payload.get("amount", "0.00"))
        return event[message.type], [(event[message.type], facts)]


class Payments(Service):
    name = "payments"

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.charges: list[str] = []  # order ids, once per reservation taken
        self.refunds: list[str] = []  # order ids, once per reservation released
        self.compensated: set[str] = set()  # the semantic lock: orders whose payment was refunded (or cancelled)

    def evolve(self, event: SimEvent) -> None:
        if event.type == "PaymentReserved":
            self.charges.append(event.data["order_id"])
        elif event.type == "PaymentRefunded":
            self.refunds.extend([event.data["order_id"]] * event.data.get("released", 1))
            self.compensated.add(event.data["order_id"])

    def held(self, order_id: str) -> int:
        return self.charges.count(order_id) - self.refunds.count(order_id)

    def refund(self, order_id: str) -> tuple[str, dict[str, Any]]:
        """Release everything held for the order (nothing, if nothing was taken) and remember the refund."""
        return "PaymentRefunded", {"order_id": order_id, "released": max(self.held(order_id), 0)}

    def decide(self, message):
        order_id = message.payload["order_id"]
        if message.type == "RefundPayment":
            if order_id in self.compensated and self.held(order_id) <= 0:
                return "PaymentRefunded", []  # refunded before: answered again
            return "PaymentRefunded", [self.refund(order_id)]
        if order_id in self.compensated:  # the semantic lock: a late ReservePayment takes nothing
            return "PaymentRefused", [refused(order_id, "ReservePayment", "the payment was refunded before it arrived")]
        if self.failing:
            return "PaymentFailed", [("PaymentFailed", {"order_id": order_id, "reason": "card declined"})]
        return "PaymentReserved", [("PaymentReserved", {"order_id": order_id, "amount": message.payload["amount"]})]


class Inventory(Service):
    name = "inventory"

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.shipments: list[str] = []
        self.stock: dict[str, int] = {}  # sku -> units left (STOCK_PER_SKU of each until something ships)
        self.cancelled: set[str] = set()  # the semantic lock: orders whose shipment was cancelled

    def evolve(self, event: SimEvent) -> None:
        if event.type == "ShipmentCancelled":
            self.cancelled.add(event.data["order_id"])
        elif event.type == "ItemsShipped":
            self.shipments.append(event.data["order_id"])
            for item in event.data.get("items", []):
                self.stock[item["sku"]] = self.left(item["sku"]) - item["qty"]

    def left(self, sku: str) -> int:
        return self.stock.get(sku, STOCK_PER_SKU)

    def decide(self, message):
        order_id = message.payload["order_id"]
        if message.type == "CancelShipment":
            if order_id in self.shipments:  # the pivot happened: nothing to cancel
                return "ShipmentAlreadyMade", [refused(order_id, "CancelShipment", "the items have already shipped")]
            facts = [] if order_id in self.cancelled else [("ShipmentCancelled", {"order_id": order_id})]
            return "ShipmentCancelled", facts
        if order_id in self.cancelled:  # the semantic lock: a late ShipItems ships nothing
            return "ShippingRefused", [refused(order_id, "ShipItems", "the shipment was cancelled before it arrived")]
        items = message.payload.get("items", [])
        wanted: dict[str, int] = {}
        for item in items:
            wanted[item["sku"]] = wanted.get(item["sku"], 0) + item["qty"]
        short = [sku for sku, qty in wanted.items() if qty > self.left(sku)]
        if self.failing or short:
            reason = f"out of stock: {', '.join(short)}" if short else "the warehouse could not ship"
            return "ShippingFailed", [("ShippingFailed", {"order_id": order_id, "reason": reason})]
        return "ItemsShipped", [("ItemsShipped", {"order_id": order_id, "items": items})]


@dataclass
class Pending:
    command: str
    target: str
    command_id: str
    attempt: int
    issued_at: int  # tells this sending's timeout apart from an older one's (e.g. from before a crash)


# What a person's "compensate" on a dead letter sends first, by the command that was stuck.
COMPENSATE_STUCK = {
    "CreateOrder": ("CancelOrder", "orders"),
    "ReservePayment": ("RefundPayment", "payments"),
    "ShipItems": ("CancelShipment", "inventory"),  # the pivot may have happened: ask Inventory first
    "CancelShipment": ("CancelShipment", "inventory"),
    "RefundPayment": ("RefundPayment", "payments"),
    "CancelOrder": ("CancelOrder", "orders"),
    # CompleteOrder: refused (operator_refusal) — unless a person refunds anyway: RefundPayment, then CancelOrder
}
OPERATOR_MESSAGES = {"retry": "RetryDeadLetter", "compensate": "CompensateDeadLetter",
                     "refund_anyway": "RefundAnywayDeadLetter"}


@dataclass
class Orchestrator:
    """The saga's controller. Its state is a fold of its own events, so a crash loses nothing it recorded."""

    name: str = "orchestrator"
    status: str = "new"
    order: dict[str, Any] = field(default_factory=dict)
    pending: Pending | None = None
    stuck: Pending | None = None  # the command a dead letter is waiting on
    resumes_as: str = "running"  # the status a retried dead letter goes back to

    def apply(self, event: SimEvent) -> None:
        data = event.data
        if event.type == "SagaStarted":
            self.status, self.order = "running", data["order"]
        elif event.type == "CommandIssued":
            self.pending = Pending(data["command"], data["target"], data["command_id"], data["attempt"], event.at_ms)
        elif event.type == "SagaCompensating":
            self.status = "compensating"
        elif event.type == "CompensationRefused":  # the pivot had happened: forward only
            self.status = "running"
        elif event.type == "SagaDeadLettered":
            self.stuck, self.pending, self.resumes_as = self.pending, None, self.status
            self.status = "dead_lettered"
        elif event.type == "DeadLetterRetried":
            self.status, self.stuck = self.resumes_as, None
        elif event.type in ("SagaCompleted", "SagaCompensated"):
            self.status = "completed" if event.type == "SagaCompleted" else "compensated"
            self.pending = None

    def handle(self, message: Message, ctx: Context) -> None:
        if message.type == "PlaceOrder":
            if self.status == "new":  # a duplicate PlaceOrder starts nothing again
                ctx.record("SagaStarted", order=message.payload)
                self.issue(ctx, "CreateOrder", "orders")
        elif message.type in OPERATOR_MESSAGES.values():
            self.operator(ctx, message)
        elif message.type in ("ReplyTimeout", "Retry") and self.status in FINAL:
            return
        elif not message.timer and not (self.pending and message.payload.get("command_id") == self.pending.command_id):
            # A late or duplicate reply to a command already answered, or the refusal of a late original: the saga
            # has moved on, and nothing it receives now takes it back. It is noted, never acted on.
            ctx.record("LateReplyIgnored", reply=message.type, command_id=message.payload.get("command_id"),
                       status=self.status)
        elif message.type == "ReplyTimeout":
            self.timed_out(ctx, message.payload)
        elif message.type == "Retry":
            if self.pending and self.pending.command_id == message.payload["command_id"]:
                self.issue(ctx, self.pending.command, self.pending.target, self.pending.attempt + 1)
        else:
            self.replied(ctx, message.type)

    def resume(self, ctx: Context) -> None:
        """After a crash: the timers died with the old process, so ask again (same command id: no harm done)."""
        if self.pending and self.status not in FINAL:
            self.issue(ctx, self.pending.command, self.pending.target, self.pending.attempt)

    def replied(self, ctx: Context, reply: str) -> None:
        ctx.cancel_timers("ReplyTimeout", command_id=self.pending.command_id)
        ctx.record("ReplyReceived", reply=reply, command_id=self.pending.command_id)
        if reply in FINISHED_BY:
            final = FINISHED_BY[reply]
            ctx.record("SagaCompleted" if final == "completed" else "SagaCompensated")
            return
        if reply == "ShipmentAlreadyMade":  # the pivot happened before the compensation reached Inventory
            ctx.record("CompensationRefused", reason="the items had already shipped (ShipItems is the pivot): "
                                                     "the saga goes forward and completes the order")
            self.issue(ctx, "CompleteOrder", "orders")
            return
        if reply not in NEXT:
            ctx.record("ReplyIgnored", reply=reply)
            return
        if reply in COMPENSATING_ON and self.status != "compensating":
            ctx.record("SagaCompensating", reason=reply)
        self.issue(ctx, *NEXT[reply])

    def timed_out(self, ctx: Context, payload: dict[str, Any]) -> None:
        pending = self.pending
        if not pending or (pending.command_id, pending.issued_at) != (payload["command_id"], payload["issued_at"]):
            return  # a reply came in time, or the command was sent again since
        if pending.attempt <= len(BACKOFF_MS):
            ctx.record("RetryScheduled", command=pending.command, attempt=pending.attempt + 1,
                       after_ms=BACKOFF_MS[pending.attempt - 1])
            ctx.timer(BACKOFF_MS[pending.attempt - 1], "Retry", command_id=pending.command_id)
            return
        undo = ON_GIVING_UP[pending.command]
        if undo is None or self.status == "compensating":
            ctx.record("SagaDeadLettered", command=pending.command, target=pending.target, attempts=pending.attempt,
                       reason=f"no reply to {pending.command} after {pending.attempt} attempts")
            return
        ctx.record("SagaCompensating", reason=f"no reply to {pending.command}")
        self.issue(ctx, *undo)

    def operator(self, ctx: Context, message: Message) -> None:
        """A person acts on the dead letter: send the stuck command again, undo what was done (refused after the
        pivot), or — a business decision — refund and cancel anyway."""
        if self.status != "dead_lettered" or self.stuck is None:
            return  # already dealt with
        stuck = self.stuck
        action = {v: k for k, v in OPERATOR_MESSAGES.items()}[message.type]
        refusal = operator_refusal(stuck.command, action)
        if refusal:
            ctx.record("OperatorActionRefused", action=action, command=stuck.command, reason=refusal)
            return
        if action == "retry":
            ctx.record("DeadLetterRetried", command=stuck.command, by="operator")
            self.issue(ctx, stuck.command, stuck.target)
        elif action == "compensate":
            ctx.record("SagaCompensating", reason=f"an operator compensated the stuck {stuck.command}")
            self.issue(ctx, *COMPENSATE_STUCK[stuck.command])
        else:
            ctx.record("SagaCompensating", anyway=True,
                       reason=f"an operator refunded anyway, stuck at {stuck.command} (a business decision)")
            self.issue(ctx, "RefundPayment", "payments")  # whether or not the items ship: decided

    def issue(self, ctx: Context, command: str, target: str, attempt: int = 1) -> None:
        order = self.order
        command_id = f"{order['order_id']}:{command}"
        ctx.record("CommandIssued", command=command, target=target, command_id=command_id, attempt=attempt)
        ctx.send(target, command, order_id=order["order_id"], customer=order.get("customer", ""),
                 amount=order.get("amount", "0.00"), items=order.get("items", []), command_id=command_id)
        ctx.timer(REPLY_TIMEOUT_MS, "ReplyTimeout", command_id=command_id, issued_at=ctx.now_ms)


class Client:
    """Whoever placed the order: it only sends PlaceOrder."""

    name = "client"

    def apply(self, event: SimEvent) -> None:
        pass

    def handle(self, message: Message, ctx: Context) -> None:
        pass


FAULT_KINDS = ("payment_declined", "shipping_failed", "service_down", "drop", "duplicate", "delay",
               "orchestrator_crash", "idempotency_off")
SERVICES = ("orders", "payments", "inventory")


def faults_from(specs: list[dict[str, Any]]) -> tuple[list[Fault], dict[str, dict[str, Any]]]:
    """The API's fault specs (already validated) -> engine faults, and settings for the services."""
    engine: list[Fault] = []
    settings: dict[str, dict[str, Any]] = {name: {} for name in SERVICES}
    for spec in specs:
        kind = spec["kind"]
        if kind == "payment_declined":
            settings["payments"]["failing"] = True
        elif kind == "shipping_failed":
            settings["inventory"]["failing"] = True
        elif kind == "idempotency_off":
            settings[spec["service"]]["idempotent"] = False
        elif kind == "service_down":
            engine.append(Fault("down", node=spec["service"], steps=spec.get("steps", 3)))
        elif kind in ("drop", "duplicate", "delay"):
            engine.append(Fault(kind, message=spec["message"], nth=spec.get("nth", 1), ms=spec.get("ms", 0)))
        elif kind == "orchestrator_crash":
            engine.append(Fault("crash", node="orchestrator", after_step=spec["after_step"],
                                restart_after_ms=spec.get("restart_after_ms", RESTART_AFTER_MS)))
        else:
            raise ValueError(f"Unknown fault kind {kind!r}.")
    return engine, settings


def inject(sim: Simulation, settings: dict[str, dict[str, Any]], specs: list[dict[str, Any]]) -> None:
    """More faults for a run in progress. Service settings change the running services and the ones a crash would
    rebuild (the factories read `settings`)."""
    engine_faults, more = faults_from(specs)
    sim.inject(engine_faults)
    for service, changes in more.items():
        settings[service].update(changes)
        for key, value in changes.items():
            setattr(sim.live[service], key, value)


class Configured:
    """A service's node factory: the node made with the service's settings as they are when it is made (a crashed
    service comes back with what was injected since). A class, not a lambda, so a run pickles (a snapshot)."""

    __slots__ = ("node", "settings", "name")

    def __init__(self, node: type, settings: dict[str, dict[str, Any]], name: str):
        self.node, self.settings, self.name = node, settings, name

    def __call__(self) -> Node:
        return self.node(**self.settings[self.name])


def orchestrated_saga(order: dict[str, Any], seed: int = 1, faults: Sequence[dict[str, Any]] = (),
                      settings: dict[str, dict[str, Any]] | None = None) -> Simulation:
    """A ready-to-step simulation of one order saga, the PlaceOrder already on its way."""
    engine_faults, settings_ = faults_from(list(faults))
    if settings is not None:  # the caller keeps this dict to change services later (inject)
        settings.update(settings_)
        settings_ = settings
    sim = Simulation(
        {
            "client": Client,
            "orchestrator": Orchestrator,
            "orders": Configured(Orders, settings_, "orders"),
            "payments": Configured(Payments, settings_, "payments"),
            "inventory": Configured(Inventory, settings_, "inventory"),
            "operator": Operator,
        },
        seed=seed,
        faults=engine_faults,
    )
    sim.send("client", "orchestrator", "PlaceOrder", dict(order))
    return sim


# --- Choreography: the same business flow, services reacting to each other's events, no controller ------------------


class Choreographed:
    """Mixed into a service: it reacts to events, and publishes its own at least once — each stays in its outbox,
    re-sent after a timeout with backoff, until the receiver acknowledges it; after the last retry it is
    dead-lettered. Receivers acknowledge everything and process each event id once (their inbox)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.outbox: dict[str, dict[str, Any]] = {}
        self.seen: set[str] = set()
        self.dead_letters: dict[str, dict[str, Any]] = {}  # event id -> the outbox entry given up on

    def apply(self, event: SimEvent) -> None:
        data = event.data
        if event.type == "Published":
            self.outbox[data["event_id"]] = {**data, "issued_at": event.at_ms}
        elif event.type == "Acknowledged":
            self.outbox.pop(data["event_id"], None)
        elif event.type == "EventProcessed":
            self.seen.add(data["event_id"])
        elif event.type == "PublishDeadLettered":
            self.dead_letters[data["event_id"]] = self.outbox.pop(data["event_id"])
        elif event.type == "DeadLetterRetried":
            self.dead_letters.pop(data["event_id"], None)
        self.evolve(event)

    def handle(self, message: Message, ctx: Context) -> None:
        payload = message.payload
        if message.type == "Ack":
            if payload["event_id"] in self.outbox:
                ctx.cancel_timers("Redeliver", event_id=payload["event_id"])
                ctx.record("Acknowledged", event_id=payload["event_id"])
        elif message.type == "Redeliver":
            self.redeliver(ctx, payload)
        elif message.type == "RetryDeadLetter":
            entry = self.dead_letters.get(payload["event_id"])
            if entry is not None:
                ctx.record("DeadLetterRetried", event_id=entry["event_id"], by="operator")
                self.publish(ctx, entry["target"], entry["event"], entry["order"], 1)
        else:
            event_id = payload["event_id"]
            if message.source != self.name:
                ctx.send(message.source, "Ack", event_id=event_id)
            if self.idempotent and event_id in self.seen:
                return  # processed before: acknowledged again, not done again
            ctx.record("EventProcessed", event_id=event_id, event=message.type)
            order = payload["order"]
            for fact, data, target in self.react(message.type, order):
                ctx.record(fact, order_id=order["order_id"], **data)
                if target:
                    self.publish(ctx, target, fact, order, 1)

    def publish(self, ctx: Context, target: str, event_type: str, order: dict[str, Any], attempt: int) -> None:
        event_id = f"{order['order_id']}:{event_type}"
        ctx.record("Published", event_id=event_id, event=event_type, target=target, order=order, attempt=attempt)
        ctx.send(target, event_type, order_id=order["order_id"], event_id=event_id, order=order)
        ctx.timer(REPLY_TIMEOUT_MS, "Redeliver", event_id=event_id, issued_at=ctx.now_ms)

    def redeliver(self, ctx: Context, payload: dict[str, Any]) -> None:
        entry = self.outbox.get(payload["event_id"])
        if entry is None or entry["issued_at"] != payload["issued_at"]:
            return  # acknowledged, or sent again since
        if entry["attempt"] > len(BACKOFF_MS):
            ctx.record("PublishDeadLettered", event_id=entry["event_id"], event=entry["event"],
                       target=entry["target"], reason=f"{entry['target']} never acknowledged {entry['event']}")
            return
        # Re-send at once (the timeout already waited); the growing gap comes from the next timeout's backoff.
        self.publish(ctx, entry["target"], entry["event"], entry["order"], entry["attempt"] + 1)

    def resume(self, ctx: Context) -> None:
        for entry in list(self.outbox.values()):
            self.publish(ctx, entry["target"], entry["event"], entry["order"], entry["attempt"])

    def react(self, incoming: str, order: dict[str, Any]) -> list[tuple[str, dict[str, Any], str | None]]:
        """The facts this service records on `incoming` (type, extra data), each with who to tell (None: nobody)."""
        raise NotImplementedError

    def decided(self, command: str, order: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """What the orchestrated service would decide for `command`: (fact, its data without the order id)."""
        reply, facts = self.decide(Message("", command, "", self.name, {**order, "command_id": ""}, 0, 0))
        data = dict(facts[0][1]) if facts else {}
        data.pop("order_id", None)
        return reply, data


def refusal(command: str, reason: str) -> tuple[str, dict[str, Any], None]:
    """A choreographed service's semantic lock refusing a late event: recorded, nobody told."""
    return "CommandRefused", {"command": command, "reason": reason}, None


class ChoreographedOrders(Choreographed, Orders):
    def react(self, incoming, order):
        status = self.orders.get(order["order_id"])
        if incoming == "OrderPlaced":
            if status == "cancelled":  # the semantic lock: a late OrderPlaced creates nothing
                return [refusal("CreateOrder", "the order was cancelled before it arrived")]
            if status is not None:  # created before (the order id is the business key)
                return []
            return [("OrderCreated", self.decided("CreateOrder", order)[1], "payments")]
        if incoming == "ItemsShipped":
            if status == "cancelled":
                return [refusal("CompleteOrder", "the order was cancelled")]
            return [] if status == "completed" else [("OrderCompleted", {}, None)]
        if incoming in ("PaymentFailed", "PaymentRefunded", "CancelOrder"):  # CancelOrder: from the operator
            return [] if status == "cancelled" else [("OrderCancelled", {}, None)]
        return []


class ChoreographedPayments(Choreographed, Payments):
    def react(self, incoming, order):
        if incoming == "OrderCreated":
            fact, data = self.decided("ReservePayment", order)
            if fact == "PaymentRefused":  # the semantic lock: a late OrderCreated takes nothing
                return [refusal("ReservePayment", data["reason"])]
            return [(fact, data, "orders" if fact == "PaymentFailed" else "inventory")]
        if incoming == "ShippingFailed":
            fact, data = self.refund(order["order_id"])
            return [("PaymentRefunded", {"released": data["released"]}, "orders")]
        if incoming == "RefundPayment":  # from the operator
            fact, data = self.refund(order["order_id"])
            return [("PaymentRefunded", {"released": data["released"]}, None)]
        return []


class ChoreographedInventory(Choreographed, Inventory):
    def react(self, incoming, order):
        if incoming == "PaymentReserved":
            fact, data = self.decided("ShipItems", order)
            if fact == "ShippingRefused":  # the semantic lock: a late PaymentReserved ships nothing
                return [refusal("ShipItems", data["reason"])]
            return [(fact, data, "payments" if fact == "ShippingFailed" else "orders")]
        if incoming == "CancelShipment":  # from the operator: cancel it, or say the pivot happened
            fact, data = self.decided("CancelShipment", order)
            return [(fact, data, "operator")]
        return []


class ChoreographedClient(Choreographed, Service):
    """Places the order, and keeps placing it until the orders service acknowledges it."""

    name = "client"

    def react(self, incoming, order):
        return [("OrderPlaced", {}, "orders")] if incoming == "Start" else []


class Operator(Choreographed, Service):
    """A person at a console, acting on a dead letter: retry the stuck message, compensate the order, or refund
    anyway. In orchestration it tells the orchestrator; in choreography (no controller) it tells the services itself,
    from its own outbox (re-sent until acknowledged): first Inventory, to cancel the shipment (the pivot may have
    happened), then — if it was cancelled, or if the person refunds anyway — Payments and Orders."""

    name = "operator"

    def handle(self, message: Message, ctx: Context) -> None:
        if message.type != "Act":
            super().handle(message, ctx)  # acknowledgements, re-sending, Inventory's answer
            return
        act = message.payload
        ctx.record("OperatorActed", action=act["action"], dead_letter=act["dead_letter"])
        order = act["order"]
        if act["mode"] == "orchestration":
            ctx.send("orchestrator", OPERATOR_MESSAGES[act["action"]], dead_letter=act["dead_letter"])
        elif act["action"] == "retry":
            ctx.send(act["holder"], "RetryDeadLetter", event_id=act["event_id"])
        elif act["action"] == "refund_anyway":  # whether or not the items ship: decided
            for fact, data, target in self.undo(order):
                ctx.record(fact, order_id=order["order_id"], **data)
                self.publish(ctx, target, fact, order, 1)
        else:
            self.publish(ctx, "inventory", "CancelShipment", order, 1)

    @staticmethod
    def undo(order: dict[str, Any]) -> list[tuple[str, dict[str, Any], str | None]]:
        return [("RefundPayment", {}, "payments"), ("CancelOrder", {}, "orders")]

    def react(self, incoming, order):
        if incoming == "ShipmentCancelled":
            return self.undo(order)
        if incoming == "ShipmentAlreadyMade":
            return [("CompensationRefused", {"reason": "the items had already shipped (ShipItems is the pivot): "
                                                       "the saga goes forward"}, None)]
        return []


def choreography_status(sim: Simulation, order_id: str) -> str:
    """No controller holds the saga's state: it is read off the services."""
    services = [sim.live[n] for n in ("client", "orders", "payments", "inventory", "operator")]
    order = services[1].orders.get(order_id)
    if order == "completed":
        return "completed"
    if order == "cancelled":
        return "compensated"
    if any(s.dead_letters for s in services):
        return "dead_lettered"
    failed = [e for e in sim.history if e.type in COMPENSATING_ON and e.data.get("order_id") == order_id]
    if failed:
        return "compensating"
    return "running" if order else "started"


def choreographed_saga(order: dict[str, Any], seed: int = 1, faults: Sequence[dict[str, Any]] = (),
                       settings: dict[str, dict[str, Any]] | None = None) -> Simulation:
    engine_faults, settings_ = faults_from([f for f in faults if f["kind"] != "orchestrator_crash"])
    if settings is not None:
        settings.update(settings_)
        settings_ = settings
    sim = Simulation(
        {
            "client": ChoreographedClient,
            "orders": Configured(ChoreographedOrders, settings_, "orders"),
            "payments": Configured(ChoreographedPayments, settings_, "payments"),
            "inventory": Configured(ChoreographedInventory, settings_, "inventory"),
            "operator": Operator,
        },
        seed=seed,
        faults=engine_faults,
    )
    start = {"order_id": order["order_id"], "event_id": f"{order['order_id']}:Start", "order": dict(order)}
    sim.send("client", "client", "Start", start, delay_ms=0, timer=True)
    return sim
