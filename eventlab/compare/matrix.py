"""The failure matrix: every fault at every protocol point, for two-phase commit and for the orchestrated saga, each
run on the pure engine to the end (a crashed node recovered, and the run carried on, when that is what it takes).
Pure Python, no Django; the whole matrix runs in memory in well under a second.

Each row says how it ended, in the course's words — committed / rolled back / blocked until recovery for 2PC,
completed / compensated / dead-lettered for the saga — how many steps it took, and whether a person had to recover a
crashed node. A message that only flows on a failure path (a VoteNo, a Rollback, a refund) is faulted while that
failure happens too (the row says "while …"). A fault whose message is never sent in that run (a third VoteNo)
cannot act: that row is left out and listed as skipped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from eventlab.sagas.domain import SERVICES
from eventlab.sagas.runs import SagaRun
from eventlab.sagas.runs import parse_start as saga_start
from eventlab.sim.runlog import MAX_STEPS, Invalid, run_to_the_end
from eventlab.twopc.domain import CRASH_POINTS, PARTICIPANTS, PROTOCOL_MESSAGES, PROTOCOLS, folded, variant_label
from eventlab.twopc.runs import DEFAULT_ORDER, TwoPCRun
from eventlab.twopc.runs import parse_start as twopc_start

from .compare import messages_sent

DELAY_MS = 5_000  # past both protocols' 2,000 ms timeouts
RESTART_MS = 1_000
SAGA_MESSAGES = ("CreateOrder", "OrderCreated", "ReservePayment", "PaymentReserved", "PaymentFailed", "ShipItems",
                 "ItemsShipped", "ShippingFailed", "RefundPayment", "PaymentRefunded", "CancelOrder",
                 "OrderCancelled", "CompleteOrder", "OrderCompleted")
DOWN_STEPS = (3, 30)  # a short outage the retries ride out, and one that outlasts them
SAGA_STEPS = 9  # the happy path's steps: the orchestrator crashes after each one in turn
FIRST_COMMAND = {"orders": "CreateOrder", "payments": "ReservePayment", "inventory": "ShipItems"}

# Messages sent only on a failure path, and the failure that makes them flow.
DECLINED = ({"kind": "payment_declined"}, "while the payment is declined")
SHIPPING_FAILS = ({"kind": "shipping_failed"}, "while shipping fails")
SAGA_CONTEXT = {"PaymentFailed": DECLINED, "CancelOrder": DECLINED, "OrderCancelled": DECLINED,
                "ShippingFailed": SHIPPING_FAILS, "RefundPayment": SHIPPING_FAILS, "PaymentRefunded": SHIPPING_FAILS}
VOTES_NO = ({"kind": "vote_no", "participant": "payments"}, "while payments votes No")
VOTE_LOST = ({"kind": "drop", "message": "VoteYes", "nth": 1}, "while the first vote is lost")
TWOPC_CONTEXT: dict[str, tuple[dict[str, Any] | None, str]] = {"VoteNo": VOTES_NO, "Rollback": VOTES_NO, "DecisionRequest": VOTE_LOST}

SAGA_OUTCOMES = {"completed": "completed", "compensated": "compensated", "dead_lettered": "dead-lettered"}
TWOPC_OUTCOMES = {"committed": "committed", "aborted": "rolled back", "blocked": "blocked until recovery"}
OUTCOMES = ("committed", "rolled back", "blocked until recovery", "completed", "compensated", "dead-lettered")
NTH = ("first", "second", "third")


@dataclass(frozen=True)
class Case:
    """One row to run: the fault under test and, when its message needs one, the failure that makes it flow."""

    key: str  # stable across runs of the matrix: what the replay button sends back
    protocol: str  # "twopc" | "saga"
    fault: dict[str, Any] | None  # None: an option's row (no fault)
    label: str
    point: str  # where in the protocol it strikes
    context: tuple[dict[str, Any], ...] = ()
    while_: str = ""
    options: dict[str, Any] = field(default_factory=dict)  # 2PC: the variant and options (participants too)

    @property
    def faults(self) -> list[dict[str, Any]]:
        return [dict(f) for f in self.context] + ([dict(self.fault)] if self.fault else [])


@dataclass
class Row:
    case: Case
    outcome: str  # one of OUTCOMES
    final: str  # how it ended after any recovery (= outcome unless it was blocked)
    steps: int
    recovered: bool  # a person had to recover a crashed node
    restarted: bool  # a crashed node came back by itself
    messages: int
    lock_ms: int = 0
    blocked_ms: int = 0
    notes: list[str] = field(default_factory=list)
    consistent: bool = True  # every participant ended the same way / no money or goods out of place
    forced: int = 0  # 2PC: forced log writes
    acks: int = 0  # 2PC: acknowledgements sent

    def as_dict(self) -> dict[str, Any]:
        return {"key": self.case.key, "slug": self.case.key.replace("/", "-").replace("_", "-").lower(),
                "protocol": self.case.protocol, "label": self.case.label,
                "point": self.case.point, "while": self.case.while_, "faults": self.case.faults,
                "outcome": self.outcome, "final": self.final, "steps": self.steps, "recovered": self.recovered,
                "restarted": self.restarted, "messages": self.messages, "lock_ms": self.lock_ms,
                "blocked_ms": self.blocked_ms, "notes": self.notes, "consistent": self.consistent,
                "forced": self.forced, "acks": self.acks, "options": self.case.options,
                "variant": variant_label(self.case.options)}


# --- The cases -------------------------------------------------------------------------------------------------------


def twopc_cases() -> list[Case]:
    """Every fault at every point under presumed abort (keys `twopc/…`) and presumed nothing
    (`twopc/presumed_nothing/…`), then the options' rows."""
    cases = []
    for protocol in PROTOCOLS:
        prefix = "twopc" if protocol == "presumed_abort" else f"twopc/{protocol}"
        cases += [Case(f"{prefix}/{case.key.removeprefix('twopc/')}", "twopc", case.fault, case.label, case.point,
                       case.context, case.while_, {"protocol": protocol}) for case in _twopc_faults()]
    crash = {"kind": "coordinator_crash", "at": "before_decision", "restart_after_ms": None}
    one = {"participants": ["payments"], "one_phase": True}
    for protocol in PROTOCOLS:
        cases.append(Case(f"twopc/{protocol}/read_only/orders", "twopc", None,
                          "orders has nothing to write", "orders' vote", options={"protocol": protocol,
                                                                                   "read_only": ["orders"]}))
        cases.append(Case(f"twopc/{protocol}/cooperative/unblocks", "twopc", crash,
                          "the coordinator crashes; a peer knows", "coordinator, before decision",
                          ({"kind": "vote_no", "participant": "inventory"},), "while inventory votes No",
                          {"protocol": protocol, "cooperative": True}))
        cases.append(Case(f"twopc/{protocol}/cooperative/blocked", "twopc", crash,
                          "the coordinator crashes; all in doubt", "coordinator, before decision",
                          options={"protocol": protocol, "cooperative": True}))
        cases.append(Case(f"twopc/{protocol}/one_phase", "twopc", None, "one participant: one-phase commit",
                          "payments' commit", options={"protocol": protocol, **one}))
        cases.append(Case(f"twopc/{protocol}/one_phase/crash", "twopc",
                          {"kind": "participant_crash", "participant": "payments", "at": "before_vote",
                           "restart_after_ms": None},
                          "one-phase: payments crashes", "payments, before it decides",
                          options={"protocol": protocol, **one}))
    return cases


def _twopc_faults() -> list[Case]:
    cases = [Case(f"twopc/vote_no/{p}", "twopc", {"kind": "vote_no", "participant": p}, f"{p} votes No",
                  f"the vote from {p}") for p in PARTICIPANTS]
    for p in PARTICIPANTS:
        for at in CRASH_POINTS["participant"]:
            cases.append(Case(f"twopc/participant_crash/{p}/{at}", "twopc",
                              {"kind": "participant_crash", "participant": p, "at": at, "restart_after_ms": None},
                              f"{p} crashes", f"{p}, {at.replace('_', ' ')}"))
    for at in CRASH_POINTS["coordinator"]:
        cases.append(Case(f"twopc/coordinator_crash/{at}", "twopc",
                          {"kind": "coordinator_crash", "at": at, "restart_after_ms": None},
                          "the coordinator crashes", f"coordinator, {at.replace('_', ' ')}"))
    for kind in ("drop", "delay"):
        for message in PROTOCOL_MESSAGES:
            context, while_ = TWOPC_CONTEXT.get(message, (None, ""))
            for nth in (1, 2, 3):
                fault = {"kind": kind, "message": message, "nth": nth}
                if kind == "delay":
                    fault["ms"] = DELAY_MS
                verb = "lost" if kind == "drop" else f"delayed {DELAY_MS:,} ms"
                cases.append(Case(f"twopc/{kind}/{message}/{nth}", "twopc", fault,
                                  f"the {NTH[nth - 1]} {message} {verb}", f"{message} #{nth}",
                                  (context,) if context else (), while_))
    return cases


def saga_cases() -> list[Case]:
    cases = [Case("saga/payment_declined", "saga", {"kind": "payment_declined"}, "the payment is declined",
                  "ReservePayment"),
             Case("saga/shipping_failed", "saga", {"kind": "shipping_failed"}, "shipping fails", "ShipItems")]
    for service in SERVICES:
        for steps in DOWN_STEPS:
            cases.append(Case(f"saga/service_down/{service}/{steps}", "saga",
                              {"kind": "service_down", "service": service, "steps": steps},
                              f"{service} is down for {steps} steps", f"the next delivery to {service}"))
    for kind in ("drop", "duplicate", "delay"):
        for message in SAGA_MESSAGES:
            context, while_ = SAGA_CONTEXT.get(message, (None, ""))
            fault = {"kind": kind, "message": message, "nth": 1}
            if kind == "delay":
                fault["ms"] = DELAY_MS
            verb = {"drop": "lost", "duplicate": "delivered twice", "delay": f"delayed {DELAY_MS:,} ms"}[kind]
            cases.append(Case(f"saga/{kind}/{message}", "saga", fault, f"{message} {verb}", message,
                              (context,) if context else (), while_))
    for restart in (RESTART_MS, None):
        for step in range(1, SAGA_STEPS + 1):
            how = "restarts by itself" if restart else "waits for a person"
            cases.append(Case(f"saga/orchestrator_crash/{step}/{'restart' if restart else 'manual'}", "saga",
                              {"kind": "orchestrator_crash", "after_step": step, "restart_after_ms": restart},
                              f"the orchestrator crashes and {how}", f"after step {step}"))
    for service in SERVICES:
        duplicate = {"kind": "duplicate", "message": FIRST_COMMAND[service], "nth": 1}
        cases.append(Case(f"saga/idempotency_off/{service}", "saga", {"kind": "idempotency_off", "service": service},
                          f"{service} without idempotency", FIRST_COMMAND[service],
                          (duplicate,), f"while {FIRST_COMMAND[service]} is delivered twice"))
    return cases


def cases() -> list[Case]:
    return twopc_cases() + saga_cases()


CASES = {case.key: case for case in cases()}


def case(key: Any) -> Case:
    if not isinstance(key, str) or not key:
        raise Invalid("Say which row of the failure matrix to replay.")
    found = CASES.get(key)
    if found is None:
        raise Invalid(f"No row {str(key)[:60]!r} in the failure matrix.")
    return found


def start(case_: Case, seed: int = 1, order: dict[str, Any] | None = None) -> dict[str, Any]:
    """The start of this row's run, as its lab takes it (to replay it there)."""
    order = order or DEFAULT_ORDER
    if case_.protocol == "saga":
        return {"mode": "orchestration", "seed": seed, "order": order, "faults": case_.faults}
    return {"seed": seed, "order": order, "faults": case_.faults, **case_.options}


# --- Running a row ---------------------------------------------------------------------------------------------------


def _acted(case_: Case, history: list[Any]) -> bool:
    """Did the fault under test act in this run (its message was sent, its node got there)?"""
    if case_.fault is None:
        return True  # an option's row, no fault
    fault, kind = case_.fault, case_.fault["kind"]
    engine = {"drop": "MessageDropped", "delay": "MessageDelayed", "duplicate": "MessageDuplicated"}
    if kind in engine:
        return any(e.type == engine[kind] and e.data["type"] == fault["message"] for e in history)
    if kind in ("participant_crash", "coordinator_crash", "orchestrator_crash"):
        node = {"participant_crash": fault.get("participant"), "coordinator_crash": "coordinator",
                "orchestrator_crash": "orchestrator"}[kind]
        return any(e.type == "NodeCrashed" and e.data["node"] == node for e in history)
    if kind == "service_down":
        return any(e.type == "NodeDown" and e.data["node"] == fault["service"] for e in history)
    return True  # a No vote, a decline, a failing warehouse, idempotency off: set from the start


def run_twopc(case_: Case, seed: int = 1) -> Row | None:
    run = TwoPCRun(case_.key, twopc_start(start(case_, seed)))
    run.sim.run(max_steps=MAX_STEPS)
    if not _acted(case_, run.history):
        return None
    blocked = run.outcome == "blocked"
    recovered = run_to_the_end(run)
    final = TWOPC_OUTCOMES.get(run.outcome, run.outcome)
    states = {p.state for name, p in folded(run.sim).items() if name != "coordinator"} - {"read_only"}
    held = [name for name, p in run.participant_states().items() if p["locks"]]
    notes = []
    if len(states - {"idle", "working"}) > 1:
        notes.append("participants disagree: " + ", ".join(sorted(states)))
    if held:
        notes.append("locks still held by " + ", ".join(held))
    if recovered:
        notes.append("recovered " + ", ".join(sorted(_recovered_nodes(run))) + " by hand")
    if any(e.type == "LearnedFromPeer" for e in run.history):
        notes.append("in-doubt participants learned the outcome from a peer")
    costs = run.costs()
    return Row(case_, "blocked until recovery" if blocked else final, final, run.steps, recovered,
               _restarted(run), messages_sent(run), run.lock_ms(), run.blocked_ms(), notes,
               consistent=len(states) <= 1 and not held, forced=costs["forced"], acks=costs["acks"])


def run_saga(case_: Case, seed: int = 1) -> Row | None:
    run = SagaRun(case_.key, saga_start(start(case_, seed)))
    run.sim.run(max_steps=MAX_STEPS)
    if not _acted(case_, run.history):
        return None
    recovered = run_to_the_end(run)
    outcome = SAGA_OUTCOMES.get(run.state, run.state)
    services = run.services()
    charged, held, shipped = (services["payments"]["charged"], services["payments"]["held"],
                              services["inventory"]["shipped"])
    order = services["orders"]["order"]
    notes, consistent = [], True
    if charged > 1:
        notes.append(f"charged {charged} times")
    if shipped > 1:
        notes.append(f"shipped {shipped} times")
    if order == "cancelled" and held > 0:
        notes.append("money held for a cancelled order")
        consistent = False
    if shipped and not charged:
        notes.append("shipped unpaid")
        consistent = False
    if charged > 1 or shipped > 1:
        consistent = False  # a side effect done twice
    for letter in run.dead_letters():
        notes.append(f"waiting for a person: {letter['reason']}")
    if recovered:
        notes.append("recovered the orchestrator by hand")
    return Row(case_, outcome, outcome, run.steps, recovered, _restarted(run), messages_sent(run), notes=notes,
               consistent=consistent)


def _recovered_nodes(run: Any) -> set[str]:
    return {e.data["node"] for e in run.history if e.type == "NodeRecovered"}


def _restarted(run: Any) -> bool:
    return any(e.type == "TimerFired" and e.data["type"] == "Restart" for e in run.history)


def run_case(case_: Case, seed: int = 1) -> Row | None:
    """The row's run to the end, or None when its fault never got to act."""
    return (run_twopc if case_.protocol == "twopc" else run_saga)(case_, seed)


def run_matrix(seed: int = 1) -> dict[str, Any]:
    """Every row, for both protocols: {"twopc": [rows], "saga": [rows], "skipped": [cases], "counts": {...}}."""
    result: dict[str, Any] = {"twopc": [], "saga": [], "skipped": [], "seed": seed}
    for case_ in cases():
        row = run_case(case_, seed)
        if row is None:
            result["skipped"].append(case_)
        else:
            result[case_.protocol].append(row)
    result["counts"] = {protocol: _counts(result[protocol]) for protocol in ("twopc", "saga")}
    return result


def _counts(rows: list[Row]) -> list[tuple[str, int]]:
    counts: dict[str, int] = {}
    for row in rows:
        counts[row.outcome] = counts.get(row.outcome, 0) + 1
    return [(outcome, counts[outcome]) for outcome in OUTCOMES if outcome in counts]
