"""The saga lab's pictures, laid out in Python (pure) and drawn by templates as SVG: the sequence diagram, the state
machine with the remaining path and the compensations that would run, and the trace waterfall.

Every picture is a projection of the run's events; colour is never the only signal (compensations are dashed and
labelled, dropped messages end in a cross and say so).
"""

from __future__ import annotations

from typing import Any

from eventlab.sim.engine import DELIVERIES, SimEvent
from eventlab.sim.sequence import layout

from .domain import KIND_MEANS, TRANSACTION_KINDS
from .runs import FORWARD, IF_IT_FAILS, SagaRun, progress

COMPENSATIONS = {"CancelOrder", "OrderCancelled", "RefundPayment", "PaymentRefunded", "CancelShipment",
                 "ShipmentCancelled"}
FAILURES = {"PaymentFailed", "ShippingFailed"}
NOTES = {  # saga-level events worth a note beside the diagram
    "SagaCompensating": "compensating", "SagaCompleted": "completed", "SagaCompensated": "compensated",
    "SagaDeadLettered": "dead-lettered", "PublishDeadLettered": "dead-lettered", "DeadLetterRetried": "retried",
    "OperatorActed": "a person acted", "NodeDown": "down", "RetryScheduled": "retry scheduled",
    "CommandRefused": "refused a late original (it remembers a compensation)",
    "CompensationRefused": "compensation refused: the items had shipped (the pivot)",
    "OperatorActionRefused": "a person's action refused",
    "LateReplyIgnored": "late reply ignored (the saga had moved on)",
}


def lanes(run: SagaRun) -> list[str]:
    names = ["client", "orchestrator", "orders", "payments", "inventory"]
    if run.mode == "choreography":
        names.remove("orchestrator")
    if any(e.data.get("node") == "operator" or e.data.get("from") == "operator" for e in run.history):
        names.append("operator")
    return names


def sequence(run: SagaRun) -> dict[str, Any]:
    """The sequence diagram: one row per step, an arrow per message delivered (or dropped, lost, delayed);
    compensations red, dashed and labelled."""
    duplicates = {e.data["copy"] for e in run.history if e.type == "MessageDuplicated"}

    def style(data: dict[str, Any]) -> tuple[list[str], str]:
        message, kinds = data["type"], []
        label = message
        if message in COMPENSATIONS:
            kinds.append("compensation")
            label += " (compensation)"
        if message in FAILURES:
            kinds.append("failure")
        if message == "Ack":
            kinds.append("ack")
        if data["id"] in duplicates:
            kinds.append("duplicate")
            label += " (duplicate)"
        return kinds, label

    def note(event: SimEvent) -> tuple[str, str] | None:
        if event.type not in NOTES:
            return None
        text = NOTES[event.type]
        if event.type == "RetryScheduled":
            text = f"retry {event.data['command']} in {event.data['after_ms']} ms"
        return f"{event.data['node']}: {text}", event.type

    return layout(run.history, run.steps, [(name, name) for name in lanes(run)], style, note)


# --- The state machine ----------------------------------------------------------------------------------------------

LABELS = {"CreateOrder": "Create order", "ReservePayment": "Reserve payment", "ShipItems": "Ship items",
          "CompleteOrder": "Complete order", "RefundPayment": "Refund payment", "CancelOrder": "Cancel order",
          "completed": "Completed", "compensated": "Compensated", "dead_lettered": "Dead-lettered",
          "CancelShipment": "Cancel shipment"}
BOX_W, BOX_H = 120, 56
# What happens if the step under way never answers (its retries run out), and why that is safe.
IF_SILENT = {
    "CreateOrder": "retries, then cancels the order — safe even if CreateOrder was only delayed: Orders remembers "
                   "the cancellation and refuses a late CreateOrder",
    "ReservePayment": "retries, then refunds and cancels — safe even if ReservePayment was only delayed: Payments "
                      "remembers the refund and refuses a late ReservePayment",
    "ShipItems": "retries, then a dead letter: the items may have shipped (the pivot). A person's Compensate first "
                 "asks Inventory to cancel the shipment; if it already shipped, the saga goes forward",
    "CompleteOrder": "retries, then a dead letter: after the pivot only going forward is right (Retry). Compensate "
                     "is refused; Refund anyway is a business decision",
}
PLACES = {  # (x, y) of each box: the forward path on top, the compensations below, right to left
    "CreateOrder": (10, 30), "ReservePayment": (180, 30), "ShipItems": (350, 30), "CompleteOrder": (520, 30),
    "completed": (690, 30), "RefundPayment": (350, 140), "CancelOrder": (180, 140), "compensated": (10, 140),
    "dead_lettered": (690, 140),
}
EDGES = [  # (from, to, label, compensation?)
    ("CreateOrder", "ReservePayment", "OrderCreated", False),
    ("ReservePayment", "ShipItems", "PaymentReserved", False),
    ("ShipItems", "CompleteOrder", "ItemsShipped", False),
    ("CompleteOrder", "completed", "OrderCompleted", False),
    ("ReservePayment", "CancelOrder", "PaymentFailed", True),
    ("ShipItems", "RefundPayment", "ShippingFailed", True),
    ("RefundPayment", "CancelOrder", "PaymentRefunded", True),
    ("CancelOrder", "compensated", "OrderCancelled", True),
]


def state_machine(run: SagaRun) -> dict[str, Any]:
    done, current = progress(run)
    state = run.state
    would = list(IF_IT_FAILS.get(current, ())) if current and state != "dead_lettered" else []
    remaining = [] if current is None or current not in FORWARD else list(FORWARD[FORWARD.index(current) + 1:])
    boxes = []
    for name, (x, y) in PLACES.items():
        classes = []
        if name in done:
            classes.append("done")
        if name == current and state not in ("dead_lettered",):
            classes.append("current")
        if name == state:
            classes.append("current final")
        if name in remaining or (name == "completed" and current in FORWARD):
            classes.append("remaining")
        if name in would:
            classes.append("would")
        status = ("now" if "current" in classes else "done" if "done" in classes
                  else "if it fails" if "would" in classes else "to do" if "remaining" in classes else "")
        kind = TRANSACTION_KINDS.get(name, "")
        boxes.append({"name": name, "label": LABELS[name], "x": x, "y": y, "classes": " ".join(classes),
                      "status": status, "kind": kind, "h": BOX_H})
    edges = []
    for source, target, label, compensation in EDGES:
        (x1, y1), (x2, y2) = PLACES[source], PLACES[target]
        if y1 == y2:  # along a row: the label above the top row, below the bottom one
            (sx, ex) = (x1 + BOX_W, x2) if x2 > x1 else (x1, x2 + BOX_W)
            sy = ey = y1 + BOX_H // 2
            lx, ly, anchor = (sx + ex) // 2, (y1 - 8 if y1 < 100 else y1 + BOX_H + 16), "middle"
        else:  # down from a step to its compensation: the label beside the line
            sx, sy, ex, ey = x1 + BOX_W // 2, y1 + BOX_H, x2 + BOX_W // 2, y2
            lx, ly, anchor = sx + 6, (sy + ey) // 2 + 4, "start"
        edges.append({"x1": sx, "y1": sy, "x2": ex, "y2": ey, "label": label, "compensation": compensation,
                      "lx": lx, "ly": ly, "anchor": anchor})
    return {
        "boxes": boxes, "edges": edges, "current": LABELS.get(current or state, state), "done": done,
        "remaining": [LABELS[s] for s in remaining], "would": [LABELS[s] for s in would], "state": state,
        "kind": TRANSACTION_KINDS.get(current or ""), "kind_means": KIND_MEANS.get(TRANSACTION_KINDS.get(current or "")),
        "if_silent": IF_SILENT.get(current or "", "retries, then a dead letter for a person"),
        "kinds": [{"step": LABELS[s], "kind": k, "means": KIND_MEANS[k]} for s, k in TRANSACTION_KINDS.items()],
        "width": 820, "height": 236,
    }


# --- The trace waterfall -------------------------------------------------------------------------------------------


def waterfall(run: SagaRun) -> dict[str, Any]:
    """One trace across every hop: a span per message, from sent to delivered (or dropped, lost, still in flight)."""
    sent: dict[str, Any] = {}
    ends: dict[str, tuple[int, str]] = {}
    for event in run.history:
        if event.type in ("MessageSent", "TimerSet"):
            sent[event.data["id"]] = event
        elif event.type == "NodeCrashed":
            for lost in event.data["timers_lost"]:
                ends[lost] = (event.at_ms, "lost in the crash")
        elif event.type in DELIVERIES or event.type == "TimerCancelled":
            outcome = {"MessageDelivered": "ok", "TimerFired": "fired", "MessageDropped": "dropped",
                       "MessageLost": "lost", "MessageDelayed": "delayed", "TimerCancelled": "cancelled"}[event.type]
            if event.type != "MessageDelayed":
                ends[event.data["id"]] = (event.at_ms, outcome)
    horizon = max([run.sim.clock_ms, 1] + [m.due_ms for m in run.sim.pending()])
    spans = []
    for message_id, event in sent.items():
        end, outcome = ends.get(message_id, (None, "in flight"))
        if outcome == "cancelled":
            continue  # a timeout that never had to fire
        start = event.at_ms
        stop = end if end is not None else event.data["due_ms"]
        data = event.data
        spans.append({
            "id": message_id, "parent": data.get("causation_id") or "", "service": data["to"], "name": data["type"],
            "from": data["from"], "start_ms": start, "duration_ms": stop - start, "outcome": outcome,
            "left": round(100 * start / horizon, 2), "width": max(round(100 * (stop - start) / horizon, 2), 0.6),
            "timer": event.type == "TimerSet",
        })
    return {"trace_id": run.trace_id, "spans": spans, "horizon_ms": horizon}
