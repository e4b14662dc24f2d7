"""Saga vs 2PC, side by side: the same order under the same injected failure, run as an orchestrated saga and as a
two-phase commit. Pure Python, no Django.

A scenario names one failure and its counterpart in the other protocol (the API's mapping: `payment_declined` <->
`vote_no` on payments, `orchestrator_crash` <-> `coordinator_crash`, a dropped or delayed message <-> the same
message's counterpart). The numbers read off each run are what the course's "Saga vs 2PC" table talks about: locks
held and for how long, messages sent, steps, how long other work was blocked, the outcome, and what another reader
could see midway — a saga's intermediate states, or 2PC's locked rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from eventlab.sagas.runs import SagaRun
from eventlab.sagas.runs import parse_start as saga_start
from eventlab.sim.engine import network_messages
from eventlab.sim.runlog import Invalid
from eventlab.sim.validate import whole
from eventlab.twopc.domain import OtherOrder
from eventlab.twopc.runs import DEFAULT_ORDER, TwoPCRun
from eventlab.twopc.runs import parse_start as twopc_start

# --- Scenarios -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    key: str
    label: str
    saga_faults: tuple[dict[str, Any], ...]
    twopc_faults: tuple[dict[str, Any], ...]
    look_for: str  # what the learner should watch for, in one sentence


SCENARIOS = {s.key: s for s in (
    Scenario("none", "No failure", (), (),
             "Both succeed. 2PC holds every row locked until the decision reaches it (and commits the databases "
             "one after another in phase 2); the saga shows each step as it happens."),
    Scenario("payment_declined", "The payment is declined",
             ({"kind": "payment_declined"},), ({"kind": "vote_no", "participant": "payments"},),
             "The saga cancels the order it already created; 2PC rolls back before anything is committed."),
    Scenario("shipping_failed", "Shipping fails",
             ({"kind": "shipping_failed"},), ({"kind": "vote_no", "participant": "inventory"},),
             "The saga refunds a payment it already took; in 2PC the payment was never committed."),
    Scenario("controller_crash", "The controller crashes and a person recovers it",
             ({"kind": "orchestrator_crash", "after_step": 4, "restart_after_ms": None},),
             ({"kind": "coordinator_crash", "at": "before_decision", "restart_after_ms": None},),
             "The saga just pauses (nothing is locked); 2PC's participants stay in doubt, holding their locks, "
             "until the coordinator is recovered."),
    Scenario("reply_lost", "A reply (a vote) is lost",
             ({"kind": "drop", "message": "PaymentReserved", "nth": 1},),
             ({"kind": "drop", "message": "VoteYes", "nth": 1},),
             "The saga retries the same command (idempotent) and carries on; 2PC times out and rolls everyone back."),
    Scenario("reply_delayed", "A reply (a vote) arrives after the 2 s timeout",
             ({"kind": "delay", "message": "PaymentReserved", "nth": 1, "ms": 5_000},),
             ({"kind": "delay", "message": "VoteYes", "nth": 1, "ms": 5_000},),
             "The saga retries and ignores the late reply; 2PC has already aborted when the late vote arrives."),
)}

# The API's fault mapping, message by message: a saga message and its counterpart in the 2PC protocol.
MESSAGE_COUNTERPART = {
    "CreateOrder": "Prepare", "ReservePayment": "Prepare", "ShipItems": "Prepare",
    "OrderCreated": "VoteYes", "PaymentReserved": "VoteYes", "ItemsShipped": "VoteYes",
    "PaymentFailed": "VoteNo", "ShippingFailed": "VoteNo",
    "CompleteOrder": "Commit", "RefundPayment": "Rollback", "CancelOrder": "Rollback",
    "OrderCompleted": "Ack", "PaymentRefunded": "Ack", "OrderCancelled": "Ack",
}


def counterpart(fault: dict[str, Any]) -> dict[str, Any]:
    """A saga fault's counterpart in two-phase commit."""
    kind = fault["kind"]
    if kind == "payment_declined":
        return {"kind": "vote_no", "participant": "payments"}
    if kind == "shipping_failed":
        return {"kind": "vote_no", "participant": "inventory"}
    if kind == "orchestrator_crash":
        return {"kind": "coordinator_crash", "at": "before_decision",
                "restart_after_ms": fault.get("restart_after_ms")}
    if kind in ("drop", "delay"):
        return {**fault, "message": MESSAGE_COUNTERPART[fault["message"]]}
    raise ValueError(f"A {kind} fault has no counterpart in two-phase commit.")


def starts(data: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The two runs of a comparison, from `{"scenario", "seed", "order"}`: the saga's start (orchestration) and
    2PC's, the same order and seed, each checked by its own lab (raises Invalid in plain words)."""
    scenario = SCENARIOS.get(str(data.get("scenario", "")))
    if scenario is None:
        raise Invalid(f"Pick one of the scenarios: {', '.join(s.label for s in SCENARIOS.values())}.")
    seed = whole(data.get("seed", 1), "The seed", 0, 2**31 - 1)
    order = data.get("order") or DEFAULT_ORDER
    saga = {"mode": "orchestration", "seed": seed, "order": order, "faults": [dict(f) for f in scenario.saga_faults]}
    twopc = {"seed": seed, "order": order, "faults": [dict(f) for f in scenario.twopc_faults]}
    saga_start(saga)  # validates (the lab checks again when it starts the run)
    twopc_start(twopc)
    return saga, twopc


def scenario_of(saga_faults: list[dict[str, Any]], twopc_faults: list[dict[str, Any]]) -> Scenario | None:
    """Which scenario two runs' faults are (None: a pair made some other way)."""
    for scenario in SCENARIOS.values():
        if (_parsed_saga(scenario.saga_faults) == list(saga_faults)
                and _parsed_twopc(scenario.twopc_faults) == list(twopc_faults)):
            return scenario
    return None


def _parsed_saga(faults: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    started: dict[str, Any] = saga_start({"seed": 1, "order": DEFAULT_ORDER, "faults": [dict(f) for f in faults]})
    return list(started["faults"])


def _parsed_twopc(faults: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    started: dict[str, Any] = twopc_start({"seed": 1, "faults": [dict(f) for f in faults]})
    return list(started["faults"])


# --- The numbers -----------------------------------------------------------------------------------------------------

SAGA_OUTCOMES = {"started": "in progress", "running": "in progress", "compensating": "compensating",
                 "completed": "completed", "compensated": "compensated", "dead_lettered": "dead-lettered"}
TWOPC_OUTCOMES = {"committed": "committed", "aborted": "rolled back", "blocked": "blocked until recovery",
                  "in_progress": "in progress"}
OUTSIDERS = {"client", "operator", OtherOrder.name}  # not the protocol's own messages


def saga_outcome(run: SagaRun) -> str:
    if run.sim.crashed and run.state not in ("completed", "compensated"):
        return "waiting for recovery"
    return SAGA_OUTCOMES[run.state]


def twopc_outcome(run: TwoPCRun) -> str:
    outcome = run.outcome
    if run.sim.crashed and outcome == "in_progress" and not run.sim.pending():
        return "waiting for recovery"
    return TWOPC_OUTCOMES[outcome]


def messages_sent(run: Any) -> int:
    """Messages the protocol sent over the network (not timers, not the client's, the operator's or the other
    order's)."""
    return network_messages(run.history, OUTSIDERS)


def recovered_by_hand(run: Any) -> bool:
    """A crashed node was brought back by a person (not by its own restart timer)."""
    return any(given["input"] == "recover" for given in run.inputs)


def saga_numbers(run: SagaRun) -> dict[str, Any]:
    seen = saga_readers(run)
    compensations = [e.data["command"] for e in run.history
                     if e.type == "CommandIssued" and e.data["command"] in ("RefundPayment", "CancelOrder")]
    return {
        "protocol": "saga", "outcome": saga_outcome(run), "done": run.done, "steps": run.steps,
        "clock_ms": run.sim.clock_ms, "messages": messages_sent(run), "locks": [], "rows_locked": 0,
        "longest_lock_ms": 0, "lock_ms": 0, "blocked_ms": 0,
        "compensations": list(dict.fromkeys(compensations)), "crashed": sorted(run.sim.crashed),
        "recovered": recovered_by_hand(run), "midway": seen,
        "readers": saga_reader_summary(seen, run),
    }


def twopc_numbers(run: TwoPCRun) -> dict[str, Any]:
    holds = run.lock_holds()
    rows = sorted({row for hold in holds for row in hold["rows"]})
    blocked = run.blocked_ms()
    readers = run.readers()
    split = readers["split"]
    midway = []
    if split:
        midway.append({"step": split["from_step"],
                       "text": f"{' and '.join(split['first'])} committed; {', '.join(split['not_yet'])} not yet"})
    return {
        "protocol": "twopc", "outcome": twopc_outcome(run), "done": run.done, "steps": run.steps,
        "clock_ms": run.sim.clock_ms, "messages": messages_sent(run), "locks": holds, "rows_locked": len(rows),
        "longest_lock_ms": max((h["ms"] for h in holds), default=0), "lock_ms": run.lock_ms(),
        "blocked_ms": blocked, "compensations": [], "crashed": sorted(run.sim.crashed),
        "recovered": recovered_by_hand(run), "midway": midway, "split": split,
        "readers": twopc_reader_summary(rows, blocked, readers),
    }


# --- What another reader could see midway ---------------------------------------------------------------------------


def _visible(order: str | None, charged: int, refunded: int, shipped: int) -> str:
    parts = [f"order {order}" if order else "no order yet"]
    held = charged - refunded
    if held > 1:
        parts.append(f"payment taken {held} times")
    elif held == 1:
        parts.append("payment reserved")
    elif refunded:
        parts.append("payment refunded")
    if shipped:
        parts.append("items shipped" if shipped == 1 else f"items shipped {shipped} times")
    return ", ".join(parts)


def saga_readers(run: SagaRun) -> list[dict[str, Any]]:
    """The states another reader could observe across the services, in order, each with the step it appeared at
    (the saga commits each local step at once: between steps, readers see the saga half done)."""
    order, charged, refunded, shipped = None, 0, 0, 0
    statuses = {"OrderCreated": "pending", "OrderCompleted": "completed", "OrderCancelled": "cancelled"}
    seen: list[dict[str, Any]] = []
    for event in run.history:
        node = event.data.get("node")
        if node == "orders" and event.type in statuses:
            order = statuses[event.type]
        elif node == "payments" and event.type == "PaymentReserved":
            charged += 1
        elif node == "payments" and event.type == "PaymentRefunded":
            refunded += 1
        elif node == "inventory" and event.type == "ItemsShipped":
            shipped += 1
        else:
            continue
        text = _visible(order, charged, refunded, shipped)
        if not seen or seen[-1]["text"] != text:
            seen.append({"step": event.step, "text": text})
    if run.done and seen:
        seen[-1]["final"] = True
    return seen


def saga_reader_summary(seen: list[dict[str, Any]], run: SagaRun) -> str:
    midway = [s["text"] for s in seen if not s.get("final")]
    if not midway:
        return "Nothing yet." if not run.done else "Nothing in between: only the final state."
    took_back = any("payment reserved" in text for text in midway) and "payment refunded" in seen[-1]["text"]
    states = "1 intermediate state, committed" if len(midway) == 1 else \
        f"{len(midway)} intermediate states, each committed"
    summary = f"{states}: " + "; then ".join(f"“{text}”" for text in midway) + "."
    if took_back:
        summary += " The payment was taken, then refunded: a reader saw the money leave and come back."
    return summary


def twopc_reader_summary(rows: list[str], blocked_ms: int, readers: dict[str, Any] | None = None) -> str:
    """Atomic commitment is not a global snapshot: what a reader sees depends on each database's concurrency
    control. Uncommitted changes stay behind locks; but each participant applies the decision when it reaches it."""
    locked = (f"Uncommitted changes stayed behind locks ({', '.join(rows)}); a reader waited {blocked_ms:,} ms."
              if rows else "Nothing was locked.")
    if readers and readers["split"]:
        split = readers["split"]
        until = (f"for {split['ms']:,} ms (steps {split['from_step']}–{split['until_step']})"
                 if split["until_step"] is not None else f"from step {split['from_step']} on")
        return (f"{locked} Yet in phase 2 a reader of two databases could see {' and '.join(split['first'])} "
                f"committed and {', '.join(split['not_yet'])} not yet, {until}.")
    return locked


# --- The course's table, filled in -----------------------------------------------------------------------------------


def course_table(saga: dict[str, Any], twopc: dict[str, Any]) -> list[dict[str, str]]:
    """The course's "Saga vs 2PC" table (locks, failure handling, scalability, complexity), each cell the general
    rule and what this run showed."""
    saga_comp = ", ".join(saga["compensations"]) or "none needed"
    saga_recovery = " The orchestrator was recovered from its saga log." if saga["recovered"] else ""
    twopc_recovery = " The coordinator was recovered from its log." if twopc["recovered"] else ""
    return [
        {"aspect": "Locks",
         "saga": "None across services: each step is a local transaction that commits at once. "
                 "Here: 0 rows locked, 0 ms.",
         "twopc": "Every participant locks its rows while the transaction does its work; prepare makes the locks "
                  "durable until the decision reaches it. "
                  f"Here: {twopc['rows_locked']} rows, held up to {twopc['longest_lock_ms']:,} ms "
                  f"({twopc['lock_ms']:,} row-ms in all)."},
        {"aspect": "Failure handling",
         "saga": "Compensating steps undo what was already done; where undoing is unsafe, a person decides "
                 f"(dead letter). Here: compensations {saga_comp}; outcome {saga['outcome']}.{saga_recovery}",
         "twopc": "Atomic: one No or a missing vote rolls everyone back; a coordinator crash leaves prepared "
                  f"participants in doubt, blocked until it recovers. Here: {twopc['outcome']}.{twopc_recovery}"},
        {"aspect": "Scalability",
         "saga": "Nothing waits on another service's locks, so other orders go ahead. "
                 f"Here: others blocked 0 ms; {saga['messages']} messages over {saga['steps']} steps.",
         "twopc": "Everyone waits for the slowest participant and holds locks meanwhile; throughput falls as "
                  f"transactions grow. Here: another order blocked {twopc['blocked_ms']:,} ms; "
                  f"{twopc['messages']} messages over {twopc['steps']} steps."},
        {"aspect": "Complexity",
         "saga": "You design a compensation for every step and accept that readers see intermediate states "
                 f"(here: {len([s for s in saga['midway'] if not s.get('final')])}).",
         "twopc": "The protocol does the undo for you, but needs participants that can prepare (XA), a durable "
                  "coordinator log and recovery, and it blocks when the coordinator is gone. Atomic, not "
                  "isolated by itself: what readers see depends on each database's locking"
                  + (" (here a reader could see the order half committed in phase 2)." if twopc["split"]
                     else ".")},
    ]


def compare(saga: SagaRun, twopc: TwoPCRun) -> dict[str, Any]:
    """Everything the side-by-side page shows for two runs."""
    saga_n, twopc_n = saga_numbers(saga), twopc_numbers(twopc)
    return {"saga": saga_n, "twopc": twopc_n, "table": course_table(saga_n, twopc_n),
            "scenario": scenario_of(saga.faults, twopc.faults)}
