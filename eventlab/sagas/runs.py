"""A saga run in a lab: the inputs that make it (start, steps, faults, recover, a person's action on a dead letter),
validated, and replayed on the pure engine. Pure Python, no Django.

A run is reproducible from its inputs, so the lab stores the inputs and the engine's events in the lab log, and
rebuilds a run (at any step: "Back") by replaying the inputs. Forking replays the inputs up to a step into a new run.
"""

from __future__ import annotations

import copy
import hashlib
from typing import Any

from eventlab.sim.engine import DELIVERIES, ENGINE_EVENTS, SimEvent
from eventlab.sim.runlog import MAX_STEPS, REPLAY_DROPS, Invalid
from eventlab.sim.validate import fault_specs, parse_order, whole

from .domain import (
    FINAL,
    OPERATOR_ACTIONS,
    SERVICES,
    STUCK_STEP,
    TRANSACTION_KINDS,
    Orchestrator,
    choreographed_saga,
    choreography_status,
    inject,
    operator_refusal,
    orchestrated_saga,
)

MODES = ("orchestration", "choreography")
MAX_FAULTS = 20
MAX_DELAY_MS = 600_000
MESSAGE_TYPES = (
    "CreateOrder", "OrderCreated", "ReservePayment", "PaymentReserved", "PaymentFailed", "ShipItems", "ItemsShipped",
    "ShippingFailed", "RefundPayment", "PaymentRefunded", "CancelOrder", "OrderCancelled", "CompleteOrder",
    "OrderCompleted", "PlaceOrder", "OrderPlaced", "Ack", "CancelShipment", "ShipmentCancelled", "ShipmentAlreadyMade",
    "OrderRefused", "PaymentRefused", "ShippingRefused",
)


FAULT_FIELDS = {
    "payment_declined": set(),
    "shipping_failed": set(),
    "service_down": {"service", "steps"},
    "drop": {"message", "nth"},
    "duplicate": {"message", "nth"},
    "delay": {"message", "nth", "ms"},
    "orchestrator_crash": {"after_step", "restart_after_ms"},
    "idempotency_off": {"service"},
}


def parse_faults(data: Any, mode: str, after_step: int = 0) -> list[dict[str, Any]]:
    """Fault specs as the API takes them, checked and with defaults filled in. `after_step`: the run's step now
    (a crash must come later)."""
    return [_fault(kind, spec, mode, after_step) for kind, spec in fault_specs(data, FAULT_FIELDS, MAX_FAULTS)]


def _fault(kind: str, spec: dict[str, Any], mode: str, after_step: int) -> dict[str, Any]:
    fault: dict[str, Any] = {"kind": kind}
    if "service" in FAULT_FIELDS[kind]:
        if spec.get("service") not in SERVICES:
            raise Invalid(f"The service must be one of {', '.join(SERVICES)}.")
        fault["service"] = spec["service"]
    if kind == "service_down":
        fault["steps"] = whole(spec.get("steps", 3), "steps", 1, MAX_STEPS)
    if "message" in FAULT_FIELDS[kind]:
        if spec.get("message") not in MESSAGE_TYPES:
            raise Invalid(f"The message must be one of the flow's: {', '.join(MESSAGE_TYPES)}.")
        fault["message"] = spec["message"]
        fault["nth"] = whole(spec.get("nth", 1), "nth", 1, 100)
    if kind == "delay":
        fault["ms"] = whole(spec.get("ms", 5_000), "ms", 1, MAX_DELAY_MS)
    if kind == "orchestrator_crash":
        if mode != "orchestration":
            raise Invalid("There is no orchestrator to crash in choreography mode.")
        fault["after_step"] = whole(spec.get("after_step"), "after_step", after_step + 1, MAX_STEPS)
        restart = spec.get("restart_after_ms", 1_000)
        fault["restart_after_ms"] = None if restart is None else whole(restart, "restart_after_ms", 0, MAX_DELAY_MS)
    return fault


def parse_start(data: Any) -> dict[str, Any]:
    """A new run's definition: mode, seed, order, faults."""
    if not isinstance(data, dict):
        raise Invalid("Start a saga with a JSON object: mode, seed, order, faults.")
    mode = data.get("mode", "orchestration")
    if mode not in MODES:
        raise Invalid("The mode must be 'orchestration' or 'choreography'.")
    seed = whole(data.get("seed", 1), "The seed", 0, 2**31 - 1)
    order = parse_order(data.get("order"), f"order-{seed}")
    return {"mode": mode, "seed": seed, "order": order, "faults": parse_faults(data.get("faults", []), mode)}


# --- Predict, then observe ----------------------------------------------------------------------------------------

OUTCOMES = {
    "as_planned": "It is delivered and handled as planned: the saga moves on.",
    "dropped": "The network loses the message: nobody receives it (only a timeout will notice).",
    "duplicated": "The message is delivered twice.",
    "delayed": "The message is held up in the network and arrives late.",
    "service_down": "The receiving service is down, so the message is lost.",
    "crash": "The orchestrator crashes after this step and loses everything in memory.",
    "declined": "Payments declines the card (PaymentFailed): the saga starts compensating.",
    "shipping_failed": "Inventory cannot ship (ShippingFailed): the payment will be refunded.",
    "dead_letter": "Retries are exhausted: the saga is dead-lettered for a person to look at.",
    "double_charge": "Payments charges the customer a second time.",
}


def classify(events: list[SimEvent], charged_before: int) -> str:
    """Which outcome a step's events show (the most telling one first)."""
    types = [e.type for e in events]
    if "NodeCrashed" in types:
        return "crash"
    if "SagaDeadLettered" in types or "PublishDeadLettered" in types:
        return "dead_letter"
    if types.count("PaymentReserved") and charged_before:
        return "double_charge"
    for event_type, outcome in (("MessageDropped", "dropped"), ("MessageDuplicated", "duplicated"),
                                ("MessageDelayed", "delayed"), ("MessageLost", "service_down"),
                                ("PaymentFailed", "declined"), ("ShippingFailed", "shipping_failed")):
        if event_type in types:
            return outcome
    return "as_planned"


# --- A run ---------------------------------------------------------------------------------------------------------


class SagaRun:
    """One saga run, rebuilt from its inputs. `act` checks an input against the run as it is, applies it, and
    returns the engine's events it caused. A SimulationRun (eventlab.sim.protocol)."""

    run_is_an_input = False  # RunLog steps a "run" input until nothing is in flight

    def __init__(self, run_id: str, started: dict[str, Any]):
        self.id, self.started = run_id, started
        self.mode, self.order = started["mode"], started["order"]
        self.faults = list(started["faults"])
        self.settings: dict[str, dict[str, Any]] = {}
        make = orchestrated_saga if self.mode == "orchestration" else choreographed_saga
        self.sim = make(self.order, seed=started["seed"], faults=self.faults, settings=self.settings)
        self.inputs: list[dict[str, Any]] = []
        self.predictions: list[dict[str, Any]] = []
        self.version = 0  # the version of the run's stream in the log this run was loaded or saved at
        self.stale = ""  # set by RunLog (why the run takes no more input)

    # --- acting ---------------------------------------------------------------------------------------------------

    def act(self, given: dict[str, Any]) -> list[SimEvent]:
        before = len(self.sim.history)
        kind = given["input"]
        if kind == "step":
            self._step(given)
        elif kind == "faults":
            faults = parse_faults(given["faults"], self.mode, self.steps)
            inject(self.sim, self.settings, faults)
            self.faults.extend(faults)
            given = {**given, "faults": faults}
        elif kind == "recover":
            if not self.sim.crashed:
                raise Invalid("Nothing has crashed: there is nothing to recover.")
            for node in sorted(self.sim.crashed):
                self.sim.recover(node)
        elif kind in OPERATOR_ACTIONS:
            self._operator(kind, given.get("dead_letter"))
        else:
            raise Invalid(f"Unknown input {kind!r}.")
        self.inputs.append(given)
        return self.sim.history[before:]

    def recorded(self, given: dict[str, Any]) -> dict[str, Any]:
        """What the log keeps of an input just taken: with the learner's prediction and how it turned out."""
        if given["input"] == "step" and self.predictions and self.predictions[-1]["step"] == self.steps:
            return {**given, "prediction": self.predictions[-1]}
        return dict(given)

    def replayed(self, data: dict[str, Any], until_step: int | None = None) -> None:
        """Take an input again from the log (a prediction is remembered, not asked again)."""
        self.act({k: v for k, v in data.items() if k not in REPLAY_DROPS})
        if "prediction" in data:
            self.predictions.append(data["prediction"])

    def _step(self, given: dict[str, Any]) -> None:
        pending = self.sim.pending()
        if not pending:
            raise Invalid(self.idle_reason())
        if self.steps >= MAX_STEPS:
            raise Invalid(f"A run takes at most {MAX_STEPS:,} steps.")
        pick = given.get("pick")
        if pick is not None and (not isinstance(pick, str) or pick not in {m.id for m in pending}):
            raise Invalid(f"Message {str(pick)[:40]!r} is not in flight.")
        predicted = given.get("predict")
        if predicted is not None and (not isinstance(predicted, str) or predicted not in OUTCOMES):
            raise Invalid(f"Unknown prediction {str(predicted)[:40]!r}.")
        prompt = self.prompt() if predicted is not None else None
        charged = self.charged()
        self.sim.step(pick)
        if predicted is not None:
            happened = classify([e for e in self.sim.history if e.step == self.steps], charged)
            self.predictions.append({"step": self.steps, "predicted": predicted, "happened": happened,
                                     "right": predicted == happened, "asked": prompt is not None})

    def _operator(self, action: str, dead_letter: Any) -> None:
        letter = next((d for d in self.dead_letters() if d["id"] == dead_letter), None)
        if letter is None:
            raise Invalid(f"No dead letter {str(dead_letter)[:40]!r} in this run.")
        if letter["status"] != "open":
            raise Invalid(f"Dead letter {letter['id']} was already dealt with ({letter['status']}).")
        if self.mode == "orchestration" and "orchestrator" in self.sim.crashed:
            raise Invalid("The orchestrator is down: recover it first.")
        refusal = operator_refusal(letter["message"], action)
        if refusal:
            raise Invalid(refusal)
        self.sim.act("operator", "Act", {"action": action, "dead_letter": letter["id"], "mode": self.mode,
                                         "holder": letter["node"], "event_id": letter.get("event_id"),
                                         "stuck": letter["message"], "order": self.order})

    def idle_reason(self) -> str:
        if self.sim.crashed:
            return "Nothing is in flight and the orchestrator is down: recover it to carry on."
        if self.state == "dead_lettered":
            return "Nothing is in flight: the saga is dead-lettered. Retry or compensate the dead letter."
        if self.state not in FINAL:  # e.g. the PlaceOrder itself was lost: nobody waits for it, nothing times out
            return f"Nothing is in flight, yet the saga is still {self.state}: a message was lost that nobody " \
                   "waits for, so nothing will move it on. Reset, or fork from an earlier step."
        return f"Nothing is in flight: the saga has finished ({self.state})."

    # --- reading --------------------------------------------------------------------------------------------------

    @property
    def steps(self) -> int:
        return self.sim.steps

    @property
    def history(self) -> list[SimEvent]:
        return self.sim.history

    @property
    def state(self) -> str:
        """The saga's state, read off its log (so it is right even while the orchestrator is down)."""
        if self.mode == "choreography":
            return choreography_status(self.sim, self.order["order_id"])
        saga = Orchestrator()
        for event in self.history:
            if event.data.get("node") == "orchestrator" and event.type not in ENGINE_EVENTS:
                saga.apply(event)
        return "started" if saga.status == "new" else saga.status

    @property
    def done(self) -> bool:
        return self.state in FINAL and not self.sim.pending()

    @property
    def trace_id(self) -> str:
        return hashlib.sha256(f"trace:{self.id}".encode()).hexdigest()[:32]

    def charged(self) -> int:
        return self.sim.live["payments"].charges.count(self.order["order_id"])

    def step_list(self) -> list[dict[str, Any]]:
        """One entry per step: what was delivered (or fired, dropped, delayed, lost)."""
        return [
            {"step": e.step, "type": e.type, "from": e.data["from"], "to": e.data["to"], "message": e.data["type"],
             "message_id": e.data["id"], "at_ms": e.at_ms}
            for e in self.history if e.type in DELIVERIES and e.step > 0
        ]

    def dead_letters(self) -> list[dict[str, Any]]:
        letters: list[dict[str, Any]] = []
        for event in self.history:
            if event.type in ("SagaDeadLettered", "PublishDeadLettered"):
                letters.append({
                    "id": f"dl-{len(letters) + 1}", "node": event.data["node"],
                    "message": event.data.get("command") or event.data.get("event"),
                    "target": event.data.get("target"), "event_id": event.data.get("event_id"),
                    "reason": event.data["reason"], "step": event.step, "at_ms": event.at_ms, "status": "open",
                })
                message = letters[-1]["message"]
                step = STUCK_STEP.get(message or "")
                letters[-1].update({
                    "stuck_step": step, "kind": TRANSACTION_KINDS.get(step or ""),
                    "compensate_refusal": operator_refusal(message, "compensate"),
                    "refund_anyway": operator_refusal(message, "refund_anyway") is None,
                })
            elif event.type == "OperatorActed":
                for letter in letters:
                    if letter["id"] == event.data["dead_letter"]:
                        letter["status"] = {"retry": "retried", "compensate": "compensated",
                                            "refund_anyway": "refunded anyway"}[event.data["action"]]
            elif event.type == "CompensationRefused":  # Inventory had shipped: the pivot happened, forward only
                for letter in letters:
                    if letter["status"] == "compensated":
                        letter["status"] = "compensation refused (the items had shipped)"
                        letter["refusal"] = event.data["reason"]
        return letters

    def saga_log(self) -> list[dict[str, Any]]:
        """The orchestrator's own events (what a recovery replays), each marked if a recovery replayed it."""
        log: list[dict[str, Any]] = []
        for event in self.history:
            if event.type == "NodeRecovered" and event.data["node"] == "orchestrator":
                for entry in log:
                    entry["replayed"] = True
            elif event.data.get("node") == "orchestrator" and event.type not in ENGINE_EVENTS:
                details = {k: v for k, v in event.data.items() if k not in ("node", "order")}
                log.append({"step": event.step, "at_ms": event.at_ms, "type": event.type, "data": details,
                            "replayed": False})
        return log

    def pending(self) -> list[dict[str, Any]]:
        return [{"id": m.id, "type": m.type, "from": m.source, "to": m.target, "due_ms": m.due_ms, "timer": m.timer}
                for m in self.sim.pending()]

    def services(self) -> dict[str, dict[str, Any]]:
        """Each service's local state and inbox of processed message ids."""
        live, order_id = self.sim.live, self.order["order_id"]
        orders, payments, inventory = live["orders"], live["payments"], live["inventory"]
        inbox = {name: sorted(getattr(live[name], "seen", None) or live[name].inbox) for name in SERVICES}
        outbox = {name: sorted(getattr(live[name], "outbox", {})) for name in SERVICES}
        skus = [item["sku"] for item in self.order["items"]]
        return {
            "orders": {"order": orders.orders.get(order_id, "none"), "inbox": inbox["orders"],
                       "remembers": "a cancellation" if orders.orders.get(order_id) == "cancelled" else None,
                       "outbox": outbox["orders"], "idempotent": orders.idempotent},
            "payments": {"charged": payments.charges.count(order_id), "refunded": payments.refunds.count(order_id),
                         "held": payments.held(order_id), "amount": self.order["amount"], "declining": payments.failing,
                         "remembers": "a refund" if order_id in payments.compensated else None,
                         "inbox": inbox["payments"], "outbox": outbox["payments"], "idempotent": payments.idempotent},
            "inventory": {"shipped": inventory.shipments.count(order_id),
                          "remembers": "a cancelled shipment" if order_id in inventory.cancelled else None,
                          "stock": {sku: inventory.left(sku) for sku in skus}, "failing": inventory.failing,
                          "inbox": inbox["inventory"], "outbox": outbox["inventory"],
                          "idempotent": inventory.idempotent},
        }

    def prompt(self) -> dict[str, Any] | None:
        """Predict, then observe: when the next step is about to hit an injected failure, what the learner is asked
        (the answer is worked out on a copy of the run; the learner sees only the choices)."""
        if not self.sim.pending():
            return None
        ahead = copy.deepcopy(self.sim)
        charged = self.charged()
        ahead.step()
        happened = classify([e for e in ahead.history if e.step == ahead.steps], charged)
        if happened == "as_planned":
            return None
        others = [key for key in OUTCOMES if key not in (happened, "as_planned")]
        start = (self.steps * 3) % len(others)
        picked = {happened, "as_planned", *(others + others)[start:start + 2]}  # four choices, stable per step
        next_message = ahead.history[[e.type in DELIVERIES for e in ahead.history].index(True, len(self.history))]
        return {
            "step": self.steps + 1,
            "message": next_message.data["type"], "to": next_message.data["to"],
            "choices": [{"key": key, "label": label} for key, label in OUTCOMES.items() if key in picked],
        }

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "mode": self.mode, "state": self.state, "done": self.done, "step": self.steps,
            "seed": self.started["seed"], "order": self.order, "faults": list(self.faults), "clock_ms": self.sim.clock_ms,
            "steps": self.step_list(), "pending": self.pending(), "crashed": sorted(self.sim.crashed),
            "services": self.services(), "dead_letters": self.dead_letters(), "trace_id": self.trace_id,
            "pending_compensations": pending_compensations(self),
            "forked_from": self.started.get("forked_from"), "fork_step": self.started.get("fork_step"),
        }


# --- Where the saga is, and what would undo it ------------------------------------------------------------------

FORWARD = ("CreateOrder", "ReservePayment", "ShipItems", "CompleteOrder")
BACKWARD = ("RefundPayment", "CancelOrder")
# The facts that show a step was done, in either mode.
DONE_BY = {"OrderCreated": "CreateOrder", "PaymentReserved": "ReservePayment", "ItemsShipped": "ShipItems",
           "OrderCompleted": "CompleteOrder", "PaymentRefunded": "RefundPayment", "OrderCancelled": "CancelOrder"}
# If the step now under way fails, these compensations run (the course's rules); none: a person must look.
IF_IT_FAILS = {"CreateOrder": (), "ReservePayment": ("CancelOrder",), "ShipItems": ("RefundPayment", "CancelOrder"),
               "CompleteOrder": (), "RefundPayment": (), "CancelOrder": (), "CancelShipment": ()}


def progress(run: SagaRun) -> tuple[list[str], str | None]:
    """The saga's steps done so far (in order) and the one under way (None when final)."""
    done: list[str] = []
    for event in run.history:
        step = DONE_BY.get(event.type)
        if step and event.data.get("node") in SERVICES and step not in done:
            done.append(step)
    state = run.state
    if state in ("completed", "compensated"):
        return done, None
    issued = [e.data["command"] for e in run.history if e.type == "CommandIssued"]
    if run.mode == "orchestration" and issued:
        current = issued[-1]
    elif state == "compensating" or "RefundPayment" in done:
        current = next((s for s in BACKWARD if s not in done), "CancelOrder")
        if "ShippingFailed" not in {e.type for e in run.history} and current == "RefundPayment":
            current = "CancelOrder"
    else:
        current = next((s for s in FORWARD if s not in done), "CompleteOrder")
    return done, current


def pending_compensations(run: SagaRun) -> list[str]:
    done, current = progress(run)
    if current is None or run.state == "dead_lettered":
        return []
    return [c for c in IF_IT_FAILS[current] if c not in done]
