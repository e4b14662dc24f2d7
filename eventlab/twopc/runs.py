"""A two-phase commit run in a lab: the inputs that make it (start, steps, faults, recover), validated, and replayed
on the pure engine; what the pages and the API read off it. Pure Python, no Django."""

from __future__ import annotations

import hashlib
from typing import Any

from eventlab.sim.engine import DELIVERIES, network_messages
from eventlab.sim.runlog import MAX_STEPS, Invalid, RunLog
from eventlab.sim.validate import fault_specs, parse_order, whole

from .domain import (
    CRASH_POINTS,
    OTHER_ORDER_AT_MS,
    PARTICIPANTS,
    PROTOCOL_MESSAGES,
    OtherOrder,
    folded,
    inject,
    outcome,
    two_phase_commit,
)

MAX_FAULTS = 20
MAX_DELAY_MS = 600_000
DEFAULT_ORDER = {"customer": "Ada", "items": [{"sku": "book", "qty": 1, "price": "12.50"}]}
FAULT_FIELDS = {
    "vote_no": {"participant"},
    "participant_crash": {"participant", "at", "restart_after_ms"},
    "coordinator_crash": {"at", "restart_after_ms"},
    "drop": {"message", "nth"},
    "delay": {"message", "nth", "ms"},
}


def parse_faults(data: Any, participants: list[str]) -> list[dict[str, Any]]:
    return [_fault(kind, spec, participants) for kind, spec in fault_specs(data, FAULT_FIELDS, MAX_FAULTS)]


def _fault(kind: str, spec: dict[str, Any], participants: list[str]) -> dict[str, Any]:
    fault: dict[str, Any] = {"kind": kind}
    if "participant" in FAULT_FIELDS[kind]:
        if spec.get("participant") not in participants:
            raise Invalid(f"The participant must be one of this transaction's: {', '.join(participants)}.")
        fault["participant"] = spec["participant"]
    if "at" in FAULT_FIELDS[kind]:
        points = CRASH_POINTS["participant" if kind == "participant_crash" else "coordinator"]
        if spec.get("at") not in points:
            raise Invalid(f"A {kind} happens at one of: {', '.join(points)}.")
        fault["at"] = spec["at"]
        restart = spec.get("restart_after_ms")
        fault["restart_after_ms"] = None if restart is None else whole(restart, "restart_after_ms", 0, MAX_DELAY_MS)
    if "message" in FAULT_FIELDS[kind]:
        if spec.get("message") not in PROTOCOL_MESSAGES:
            raise Invalid(f"The message must be one of the protocol's: {', '.join(PROTOCOL_MESSAGES)}.")
        fault["message"] = spec["message"]
        fault["nth"] = whole(spec.get("nth", 1), "nth", 1, 100)
    if kind == "delay":
        fault["ms"] = whole(spec.get("ms", 5_000), "ms", 1, MAX_DELAY_MS)
    return fault


def parse_start(data: Any) -> dict[str, Any]:
    """A new run's definition: seed, participants, order, faults."""
    if not isinstance(data, dict):
        raise Invalid("Start a transaction with a JSON object: seed, participants, order, faults.")
    seed = whole(data.get("seed", 1), "The seed", 0, 2**31 - 1)
    participants = data.get("participants", list(PARTICIPANTS))
    if (not isinstance(participants, list) or not participants or any(p not in PARTICIPANTS for p in participants)
            or len(set(participants)) != len(participants)):
        raise Invalid(f"The participants are one or more of {', '.join(PARTICIPANTS)}, each once.")
    participants = [p for p in PARTICIPANTS if p in participants]
    order = data.get("order")  # absent or null: the default order; anything else must be a valid order
    order = parse_order(DEFAULT_ORDER if order is None else order, f"order-{seed}")
    return {"seed": seed, "participants": participants, "order": order,
            "faults": parse_faults(data.get("faults", []), participants)}


class TwoPCRun:
    """One distributed transaction, rebuilt from its inputs."""

    def __init__(self, run_id: str, started: dict[str, Any]):
        self.id, self.started = run_id, started
        self.order, self.participants = started["order"], started["participants"]
        self.faults = list(started["faults"])
        self.settings: dict[str, dict[str, Any]] = {}
        self.sim = two_phase_commit(self.order, seed=started["seed"], faults=self.faults,
                                    participants=tuple(self.participants), settings=self.settings)
        self.inputs: list[dict[str, Any]] = []
        self.version = 0

    # --- acting ---------------------------------------------------------------------------------------------------

    def act(self, given: dict[str, Any]) -> list:
        before = len(self.sim.history)
        kind = given["input"]
        if kind == "step":
            self._step(given.get("pick"))
        elif kind == "faults":
            faults = parse_faults(given["faults"], self.participants)
            inject(self.sim, self.settings, faults)
            self.faults.extend(faults)
            given = {**given, "faults": faults}
        elif kind == "recover":
            node = given.get("node")
            if not self.sim.crashed:
                raise Invalid("Nothing has crashed: there is nothing to recover.")
            if node is not None and node not in self.sim.crashed:
                raise Invalid(f"{str(node)[:40]!r} has not crashed; down now: {', '.join(sorted(self.sim.crashed))}.")
            for name in [node] if node else sorted(self.sim.crashed):
                self.sim.recover(name)
        else:
            raise Invalid(f"Unknown input {kind!r}.")
        self.inputs.append(given)
        return self.sim.history[before:]

    def _step(self, pick: Any) -> None:
        pending = self.sim.pending()
        if not pending:
            raise Invalid(self.idle_reason())
        if self.steps >= MAX_STEPS:
            raise Invalid(f"A run takes at most {MAX_STEPS:,} steps.")
        if pick is not None and pick not in {m.id for m in pending}:
            raise Invalid(f"Message {str(pick)[:40]!r} is not in flight.")
        self.sim.step(pick)

    def recorded(self, given: dict[str, Any]) -> dict[str, Any]:
        return dict(given)

    def replayed(self, data: dict[str, Any], until_step: int | None = None) -> None:
        self.act(data)

    def idle_reason(self) -> str:
        if self.sim.crashed:
            down = " and ".join(sorted(self.sim.crashed))
            return f"Nothing is in flight and {down} {'is' if len(self.sim.crashed) == 1 else 'are'} down: " \
                   "recover to carry on."
        return f"Nothing is in flight: the transaction has finished ({self.outcome})."

    # --- reading --------------------------------------------------------------------------------------------------

    @property
    def steps(self) -> int:
        return self.sim.steps

    @property
    def history(self) -> list:
        return self.sim.history

    @property
    def outcome(self) -> str:
        return outcome(self.sim)

    @property
    def done(self) -> bool:
        return not self.sim.pending() and not self.sim.crashed

    @property
    def trace_id(self) -> str:
        return hashlib.sha256(f"trace:{self.id}".encode()).hexdigest()[:32]

    def step_list(self) -> list[dict[str, Any]]:
        return [
            {"step": e.step, "type": e.type, "from": e.data["from"], "to": e.data["to"], "message": e.data["type"],
             "message_id": e.data["id"], "at_ms": e.at_ms}
            for e in self.history if e.type in DELIVERIES and e.step > 0
        ]

    def pending(self) -> list[dict[str, Any]]:
        return [{"id": m.id, "type": m.type, "from": m.source, "to": m.target, "due_ms": m.due_ms, "timer": m.timer}
                for m in self.sim.pending()]

    def coordinator(self) -> dict[str, Any]:
        coordinator = folded(self.sim)["coordinator"]
        state = "crashed" if "coordinator" in self.sim.crashed else coordinator.state
        return {"state": state, "decision": coordinator.decision,
                "log": [{"step": e.step, "at_ms": e.at_ms, "type": e.type,
                         "data": {k: v for k, v in e.data.items() if k not in ("node", "order")}}
                        for e in coordinator.log]}

    def votes(self) -> dict[str, str]:
        """The votes the coordinator has heard (in memory: a crash forgets them)."""
        heard = {}
        for event in self.history:
            if event.type == "VoteReceived":
                heard[event.data["participant"]] = event.data["vote"]
            elif event.type == "NodeCrashed" and event.data["node"] == "coordinator":
                heard = {}
        return heard

    def participant_states(self) -> dict[str, dict[str, Any]]:
        now, nodes = self.sim.clock_ms, folded(self.sim)
        return {
            name: {
                "state": "crashed" if name in self.sim.crashed else nodes[name].state,
                "durable_state": nodes[name].state, "vote": nodes[name].vote, "locks": nodes[name].locks,
                "locked_ms": now - nodes[name].locked_at if nodes[name].locked_at is not None else 0,
                "in_doubt": nodes[name].state == "prepared",
                "waiting": [{**w, "waited_ms": now - w["since"]} for w in nodes[name].waiting],
            }
            for name in self.participants
        }

    def lock_holds(self) -> list[dict[str, Any]]:
        """Each participant's locks: which rows, from when, until when (None: still held), for how long so far."""
        holds: list[dict[str, Any]] = []
        open_: dict[str, dict[str, Any]] = {}
        for event in self.history:
            node = event.data.get("node")
            if event.type == "Prepared":
                open_[node] = {"participant": node, "rows": list(event.data["locks"]), "since_ms": event.at_ms,
                               "until_ms": None}
                holds.append(open_[node])
            elif event.type in ("Committed", "RolledBack") and node in open_:
                open_.pop(node)["until_ms"] = event.at_ms
        for hold in holds:
            hold["ms"] = (hold["until_ms"] if hold["until_ms"] is not None else self.sim.clock_ms) - hold["since_ms"]
        return holds

    def lock_ms(self) -> int:
        """How long rows were locked, over every participant, in row-ms (still-held locks count up to now)."""
        return sum(hold["ms"] * len(hold["rows"]) for hold in self.lock_holds())

    def blocked_ms(self) -> int:
        """How long the other order has waited for the stock row so far: from its first request until it got the
        row (or gave up), or until now — time inventory was down and lost its requests included."""
        if "other" not in self.sim.nodes or self.sim.clock_ms < OTHER_ORDER_AT_MS:
            return 0
        end = next((e.at_ms for e in self.history if e.type in ("LockGranted", "OtherOrderGaveUp")),
                   self.sim.clock_ms)
        return end - OTHER_ORDER_AT_MS

    def messages_sent(self) -> int:
        """The protocol's messages (not timers, not the client's or the other order's)."""
        return network_messages(self.history, {"client", OtherOrder.name})

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "outcome": self.outcome, "done": self.done, "step": self.steps,
            "seed": self.started["seed"], "order": self.order, "participants_list": self.participants,
            "faults": self.faults, "clock_ms": self.sim.clock_ms,
            "coordinator": self.coordinator(), "participants": self.participant_states(), "votes": self.votes(),
            "blocked_ms": self.blocked_ms(), "lock_ms": self.lock_ms(), "messages": self.messages_sent(),
            "steps": self.step_list(), "pending": self.pending(), "crashed": sorted(self.sim.crashed),
            "trace_id": self.trace_id,
            "forked_from": self.started.get("forked_from"), "fork_step": self.started.get("fork_step"),
        }


LOG = RunLog("twopc", TwoPCRun, "TwoPCRunStarted",
             {"step": "TwoPCStepTaken", "faults": "TwoPCFaultsInjected", "recover": "TwoPCRecoverRequested"})
