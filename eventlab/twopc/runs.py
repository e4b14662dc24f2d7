"""A two-phase commit run in a lab: the inputs that make it (start, steps, faults, recover), validated, and replayed
on the pure engine; what the pages and the API read off it. Pure Python, no Django."""

from __future__ import annotations

import copy
import hashlib
import json
from functools import lru_cache
from typing import Any, cast

from eventlab.sim.engine import DELIVERIES, SimEvent, network_messages
from eventlab.sim.runlog import MAX_STEPS, REPLAY_DROPS, Invalid, RunLog, run_to_the_end
from eventlab.sim.validate import fault_specs, parse_order, whole

from .domain import (
    CRASH_POINTS,
    MESSAGES,
    OTHER_ORDER_AT_MS,
    PARTICIPANTS,
    PROTOCOL_LABELS,
    PROTOCOLS,
    Coordinator,
    OtherOrder,
    folded,
    inject,
    log_writes,
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
        if spec.get("message") not in MESSAGES:
            raise Invalid(f"The message must be one of the protocol's: {', '.join(MESSAGES)}.")
        fault["message"] = spec["message"]
        fault["nth"] = whole(spec.get("nth", 1), "nth", 1, 100)
    if kind == "delay":
        fault["ms"] = whole(spec.get("ms", 5_000), "ms", 1, MAX_DELAY_MS)
    return fault


def _flag(value: Any, name: str) -> bool:
    if value is None:
        return False
    if not isinstance(value, bool):
        raise Invalid(f"{name} is true or false.")
    return value


def parse_options(data: dict[str, Any], participants: list[str]) -> dict[str, Any]:
    """The protocol variant and its options, checked against the participants (raises Invalid in plain words)."""
    protocol = data.get("protocol")
    protocol = "presumed_abort" if protocol is None else protocol
    if protocol not in PROTOCOLS:
        raise Invalid("The protocol is presumed_abort (the default) or presumed_nothing (basic two-phase commit).")
    read_only = data.get("read_only")
    read_only = [] if read_only is None else read_only
    if (not isinstance(read_only, list) or any(p not in participants for p in read_only)
            or len(set(read_only)) != len(read_only)):
        raise Invalid(f"read_only lists participants of this transaction ({', '.join(participants)}), each once.")
    one_phase, cooperative = _flag(data.get("one_phase"), "one_phase"), _flag(data.get("cooperative"), "cooperative")
    if one_phase and len(participants) != 1:
        raise Invalid(f"One-phase commit needs exactly one participant; this transaction has {len(participants)}: "
                      "with more, someone must collect votes first.")
    if one_phase and cooperative:
        raise Invalid("Cooperative termination is for participants in doubt; with one-phase commit nobody is.")
    if cooperative and len(participants) < 2:
        raise Invalid("Cooperative termination needs at least two participants to ask each other.")
    return {"protocol": protocol, "read_only": [p for p in participants if p in read_only], "one_phase": one_phase,
            "cooperative": cooperative}


def parse_start(data: Any) -> dict[str, Any]:
    """A new run's definition: seed, participants, order, faults, and the protocol's variant and options."""
    if not isinstance(data, dict):
        raise Invalid("Start a transaction with a JSON object: seed, participants, order, faults, protocol, options.")
    seed = whole(data.get("seed", 1), "The seed", 0, 2**31 - 1)
    participants = data.get("participants", list(PARTICIPANTS))
    if (not isinstance(participants, list) or not participants or any(p not in PARTICIPANTS for p in participants)
            or len(set(participants)) != len(participants)):
        raise Invalid(f"The participants are one or more of {', '.join(PARTICIPANTS)}, each once.")
    participants = [p for p in PARTICIPANTS if p in participants]
    order = data.get("order")  # absent or null: the default order; anything else must be a valid order
    order = parse_order(DEFAULT_ORDER if order is None else order, f"order-{seed}")
    return {"seed": seed, "participants": participants, "order": order,
            "faults": parse_faults(data.get("faults", []), participants), **parse_options(data, participants)}


def options_of(started: dict[str, Any]) -> dict[str, Any]:
    """A run's variant and options (runs stored before they existed: presumed abort, none)."""
    return {"protocol": started.get("protocol", "presumed_abort"), "read_only": list(started.get("read_only", [])),
            "one_phase": bool(started.get("one_phase")), "cooperative": bool(started.get("cooperative"))}


# --- Predict, then observe ----------------------------------------------------------------------------------------

OUTCOMES = {
    "as_planned": "It is delivered and handled as planned.",
    "dropped": "The network loses the message: nobody receives it (only a timeout will notice).",
    "delayed": "The message is held up in the network and arrives late.",
    "lost_down": "The receiver is down, so the message is lost.",
    "vote_no": "The participant votes No: the coordinator will abort.",
    "participant_crash": "The participant crashes and loses its memory; its log survives.",
    "coordinator_crash_undecided": "The coordinator crashes before it logs a decision: the votes in its memory "
                                   "are lost.",
    "coordinator_crash_decided": "The coordinator logs its decision, then crashes before sending it.",
}


def classify(events: list[SimEvent]) -> str:
    """Which outcome a step's events show (the most telling one first)."""
    types = [e.type for e in events]
    crashed = [e.data["node"] for e in events if e.type == "NodeCrashed"]
    if "coordinator" in crashed:
        return "coordinator_crash_decided" if "DecisionLogged" in types else "coordinator_crash_undecided"
    if crashed:
        return "participant_crash"
    for event_type, key in (("MessageDropped", "dropped"), ("MessageDelayed", "delayed"),
                            ("MessageLost", "lost_down"), ("VotedNo", "vote_no")):
        if event_type in types:
            return key
    return "as_planned"


class TwoPCRun:
    """One distributed transaction, rebuilt from its inputs. A SimulationRun (eventlab.sim.protocol)."""

    run_is_an_input = False  # RunLog steps a "run" input until nothing is in flight

    def __init__(self, run_id: str, started: dict[str, Any]):
        self.id, self.started = run_id, started
        self.order, self.participants = started["order"], started["participants"]
        self.faults = list(started["faults"])
        self.settings: dict[str, dict[str, Any]] = {}
        self.options = options_of(started)
        self.sim = two_phase_commit(self.order, seed=started["seed"], faults=self.faults,
                                    participants=tuple(self.participants), settings=self.settings,
                                    protocol=self.options["protocol"], read_only=tuple(self.options["read_only"]),
                                    one_phase=self.options["one_phase"], cooperative=self.options["cooperative"])
        self.inputs: list[dict[str, Any]] = []
        self.predictions: list[dict[str, Any]] = []
        self.version = 0
        self.stale = ""  # set by RunLog (why the run takes no more input)

    # --- acting ---------------------------------------------------------------------------------------------------

    def act(self, given: dict[str, Any]) -> list[SimEvent]:
        before = len(self.sim.history)
        kind = given["input"]
        if kind == "step":
            self._step(given.get("pick"), given.get("predict"))
        elif kind == "faults":
            faults = parse_faults(given["faults"], self.participants)
            inject(self.sim, self.settings, faults)
            self.faults.extend(faults)
            given = {**given, "faults": faults}
        elif kind == "recover":
            node = given.get("node")
            if not self.sim.crashed:
                raise Invalid("Nothing has crashed: there is nothing to recover.")
            if node is not None and (not isinstance(node, str) or node not in self.sim.crashed):
                raise Invalid(f"{str(node)[:40]!r} has not crashed; down now: {', '.join(sorted(self.sim.crashed))}.")
            for name in [node] if node else sorted(self.sim.crashed):
                self.sim.recover(name)
        else:
            raise Invalid(f"Unknown input {kind!r}.")
        self.inputs.append(given)
        return self.sim.history[before:]

    def _step(self, pick: Any, predicted: Any = None) -> None:
        pending = self.sim.pending()
        if not pending:
            raise Invalid(self.idle_reason())
        if self.steps >= MAX_STEPS:
            raise Invalid(f"A run takes at most {MAX_STEPS:,} steps.")
        if pick is not None and (not isinstance(pick, str) or pick not in {m.id for m in pending}):
            raise Invalid(f"Message {str(pick)[:40]!r} is not in flight.")
        if predicted is not None and (not isinstance(predicted, str) or predicted not in OUTCOMES):
            raise Invalid(f"Unknown prediction {str(predicted)[:40]!r}: one of {', '.join(OUTCOMES)}.")
        asked = self.prompt() is not None if predicted is not None else False
        self.sim.step(pick)
        if predicted is not None:
            happened = classify([e for e in self.sim.history if e.step == self.steps])
            self.predictions.append({"step": self.steps, "predicted": predicted, "happened": happened,
                                     "right": predicted == happened, "asked": asked})

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

    def prompt(self) -> dict[str, Any] | None:
        """Predict, then observe: when the next step is about to meet a fault (a lost, late or refused message, a
        crash, a No vote), what the learner is asked first (worked out on a copy of the run)."""
        if not self.sim.pending():
            return None
        ahead = copy.deepcopy(self.sim)
        message = ahead.pending()[0]
        ahead.step()
        happened = classify([e for e in ahead.history if e.step == ahead.steps])
        if happened == "as_planned":
            return None
        others = [key for key in OUTCOMES if key not in (happened, "as_planned")]
        start = (self.steps * 3) % len(others)
        picked = {happened, "as_planned", *(others + others)[start:start + 2]}  # four choices, stable per step
        return {"step": self.steps + 1, "message": message.type, "to": message.target,
                "choices": [{"key": key, "label": label} for key, label in OUTCOMES.items() if key in picked]}

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
    def history(self) -> list[SimEvent]:
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
        durable = folded(self.sim)["coordinator"]
        state = "crashed" if "coordinator" in self.sim.crashed else cast(Coordinator, self.sim.live["coordinator"]).state
        return {"state": state, "decision": durable.decision,
                "log": [{"step": e.step, "at_ms": e.at_ms, "type": e.type,
                         "data": {k: v for k, v in e.data.items() if k not in ("node", "order")}}
                        for e in durable.log]}

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
        """Each participant's locks: which rows, in which mode, taken when it did its work (since_ms), durable from
        its Prepared record (prepared_ms, None if it never prepared), released when (until_ms; None: still held),
        and for how long so far."""
        holds: list[dict[str, Any]] = []
        open_: dict[str, dict[str, Any]] = {}
        for event in self.history:
            node: str = event.data.get("node", "")
            if event.type == "WorkDone":
                open_[node] = {"participant": node, "rows": list(event.data["locks"]), "mode": event.data["mode"],
                               "since_ms": event.at_ms, "prepared_ms": None, "until_ms": None}
                holds.append(open_[node])
            elif event.type == "Prepared" and node in open_:
                open_[node]["prepared_ms"] = event.at_ms
            elif node in open_ and (event.type in RELEASES or (
                    event.type == "NodeCrashed" and open_[node]["prepared_ms"] is None)):
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

    def costs(self) -> dict[str, Any]:
        """What the protocol cost so far: log writes (forced and not) per node, messages by type, acknowledgements
        — the numbers the presumed-abort and presumed-nothing variants differ in."""
        return costs(self.history, ["coordinator", *self.participants])

    def readers(self) -> dict[str, Any]:
        """What another reader could see: 2PC gives atomic commitment, not a global snapshot. Each participant
        applies the decision when it reaches it, so between the first and the last to apply it a reader of two
        databases can see one committed and the other not yet."""
        return readers(self.history, self.participants)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "outcome": self.outcome, "done": self.done, "step": self.steps,
            "seed": self.started["seed"], "order": self.order, "participants_list": self.participants,
            "faults": list(self.faults), "clock_ms": self.sim.clock_ms,
            "coordinator": self.coordinator(), "participants": self.participant_states(), "votes": self.votes(),
            "blocked_ms": self.blocked_ms(), "lock_ms": self.lock_ms(), "messages": self.messages_sent(),
            "steps": self.step_list(), "pending": self.pending(), "crashed": sorted(self.sim.crashed),
            "trace_id": self.trace_id, **self.options, "costs": self.costs(), "readers": self.readers(),
            "prompt": self.prompt(), "predictions": self.predictions,
            "forked_from": self.started.get("forked_from"), "fork_step": self.started.get("fork_step"),
        }


RELEASES = ("Committed", "RolledBack", "VotedNo", "VotedReadOnly")


def costs(history: list[SimEvent], nodes: list[str]) -> dict[str, Any]:
    writes = log_writes(history)
    sent = [e for e in history if e.type == "MessageSent" and e.data["from"] not in ("client", OtherOrder.name)
            and e.data["to"] not in ("client", OtherOrder.name)]
    by_type: dict[str, int] = {}
    for event in sent:
        by_type[event.data["type"]] = by_type.get(event.data["type"], 0) + 1
    per_node = {node: {"forced": [e.type for e in writes if e.data["node"] == node and e.data["forced"]],
                       "lazy": [e.type for e in writes if e.data["node"] == node and not e.data["forced"]]}
                for node in nodes}
    return {"forced": sum(1 for e in writes if e.data["forced"]), "lazy": sum(1 for e in writes if not e.data["forced"]),
            "coordinator_forced": len(per_node["coordinator"]["forced"]),
            "participants_forced": sum(len(v["forced"]) for k, v in per_node.items() if k != "coordinator"),
            "messages": len(sent), "acks": by_type.get("Ack", 0), "by_type": by_type, "per_node": per_node}


def readers(history: list[SimEvent], participants: list[str]) -> dict[str, Any]:
    applied: dict[str, tuple[str, int, int]] = {}  # participant -> (what, step, at_ms), for commits and rollbacks
    for event in history:
        node = event.data.get("node")
        if node in participants and event.type in ("Committed", "RolledBack") and node not in applied:
            applied[node] = ("committed" if event.type == "Committed" else "rolled back", event.step, event.at_ms)
    commits = sorted((at, step, node) for node, (what, step, at) in applied.items() if what == "committed")
    writers = [p for p in participants if p in applied or any(
        e.type == "Prepared" and e.data.get("node") == p for e in history)]
    split: dict[str, Any] | None = None
    if commits:
        first, last = commits[0], commits[-1]
        together = [c[2] for c in commits if c[1] == first[1]]
        everyone = len(commits) == len(writers)
        if not (everyone and last[1] == first[1]):
            split = {"from_step": first[1], "until_step": last[1] if everyone else None, "first": together,
                     "not_yet": [p for p in writers if p not in together], "ms": last[0] - first[0] if everyone else None}
    if split:
        until = (f"until step {split['until_step']}, {split['ms']:,} ms later" if split["until_step"] is not None
                 else "so far")
        text = (f"A split: from step {split['from_step']}, {' and '.join(split['first'])} had committed while "
                f"{', '.join(split['not_yet'])} had not yet applied the decision ({until}). A reader of both "
                "databases could see the order half done: there it waits on a lock, or (reading the last committed "
                "version) sees the old value.")
    elif commits:
        text = "Every participant committed in the same step: no reader could see one committed and not another."
    elif applied:
        text = "Nothing was committed anywhere: every change was rolled back; readers only waited on the locks."
    else:
        text = "Nothing committed yet: uncommitted changes stay behind the participants' locks."
    return {"split": split, "text": text}


def side_by_side(started: dict[str, Any]) -> list[dict[str, Any]]:
    """This run's start (its order, seed, participants, faults and options) run to the end under each variant on the
    pure engine — a crashed node recovered as a person would — with what each cost: the presumed-abort and
    presumed-nothing columns of the run page. Seeded, so worked out once per start in this process (read only)."""
    return _side_by_side(json.dumps(started, sort_keys=True))


@lru_cache(maxsize=64)
def _side_by_side(started_json: str) -> list[dict[str, Any]]:
    started = json.loads(started_json)
    columns = []
    for protocol in PROTOCOLS:
        run = TwoPCRun(f"side-{protocol}", {**started, "protocol": protocol})
        run.sim.run(max_steps=MAX_STEPS)
        blocked = run.outcome == "blocked"
        run_to_the_end(run)
        spent = run.costs()
        columns.append({"protocol": protocol, "label": PROTOCOL_LABELS[protocol], "outcome": run.outcome,
                        "blocked": blocked, "coordinator_forced": spent["coordinator_forced"],
                        "participants_forced": spent["participants_forced"], "forced": spent["forced"],
                        "lazy": spent["lazy"], "messages": spent["messages"], "acks": spent["acks"],
                        "steps": run.steps})
    return columns


LOG = RunLog("twopc", TwoPCRun, "TwoPCRunStarted",
             {"step": "TwoPCStepTaken", "faults": "TwoPCFaultsInjected", "recover": "TwoPCRecoverRequested"})
