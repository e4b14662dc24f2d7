"""The two-phase commit lab's pictures, laid out in Python (pure) and drawn by templates as SVG: the sequence diagram
of the protocol's messages, and the protocol's state — the coordinator with its durable log and the votes it holds
only in memory, each participant with its vote, its locked rows and whether it is in doubt, the other order waiting
on a lock — with the outcome in a plain sentence and the run's numbers.

Every picture is a projection of the run's events; colour is never the only signal (No votes and rollbacks are
dashed and labelled, lost messages end in a cross and say so, states and badges are words).
"""

from __future__ import annotations

from typing import Any

from eventlab.sim.engine import SimEvent
from eventlab.sim.sequence import layout

from .domain import variant_label
from .runs import TwoPCRun

LANES = [("client", "client"), ("coordinator", "coordinator"), ("orders", "orders"), ("payments", "payments"),
         ("inventory", "inventory"), ("other", "other order")]
MESSAGE_KINDS = {  # message type -> (extra kinds, label)
    "Prepare": (["prepare"], "Prepare"),
    "VoteYes": (["vote-yes"], "VoteYes"),
    "VoteNo": (["abort", "vote-no"], "VoteNo (votes No)"),
    "VoteReadOnly": (["vote-yes"], "VoteReadOnly (leaves)"),
    "CommitOnePhase": (["commit"], "CommitOnePhase"),
    "PeerDecisionRequest": (["ask"], "PeerDecisionRequest"),
    "PeerDecision": (["ask"], "PeerDecision"),
    "Work": (["lock"], "Work"),
    "WorkDone": (["lock"], "WorkDone"),
    "Commit": (["commit"], "Commit"),
    "Rollback": (["abort", "rollback"], "Rollback (abort)"),
    "Ack": (["ack"], "Ack"),
    "DecisionRequest": (["ask"], "DecisionRequest"),
    "TransactionAborted": (["abort"], "TransactionAborted"),
    "LockRequest": (["lock"], "LockRequest"),
    "LockGranted": (["lock"], "LockGranted"),
}
OUTCOME_LABELS = {"committed": "Committed", "aborted": "Aborted", "blocked": "Blocked", "in_progress": "In progress"}
VOTE_WORDS = {"yes": "Yes", "no": "No", "read_only": "read-only", None: "not yet"}
LONGEST = 60  # characters of a name or row shown inside a picture (the tables beside it show them whole)


def short(text: str, longest: int = LONGEST) -> str:
    return text if len(text) <= longest else text[:longest - 1] + "…"


def variant(run: TwoPCRun) -> dict[str, Any]:
    """The run's protocol variant and options, in words."""
    return {**run.options, "label": variant_label(run.options)}


def lanes(run: TwoPCRun) -> list[tuple[str, str]]:
    return [(name, label) for name, label in LANES if name in run.sim.nodes]


# --- The sequence diagram -----------------------------------------------------------------------------------------


def style(data: dict[str, Any]) -> tuple[list[str], str]:
    kinds, label = MESSAGE_KINDS.get(data["type"], ([], data["type"]))
    return list(kinds), label


def note(event: SimEvent) -> tuple[str, str] | None:
    """What a node wrote or suffered, as a note beside the diagram (None: not worth one)."""
    data, node = event.data, event.data.get("node")
    kind = event.type
    if kind == "TransactionBegun":
        return "coordinator: transaction begun (in memory: nothing is logged before prepare)", "log"
    if kind == "DecisionLogged":
        how = "forced" if data.get("forced") else "not forced; then forgotten"
        return f"decision logged: {data['decision']} ({how})", "decision"
    if kind == "TransactionEnded":
        return f"coordinator log: transaction ended ({data['outcome']}, not forced)", "log"
    if kind == "PresumedAbort":
        to = "every resource manager" if "," in data["participant"] else data["participant"]
        return short(f"presumed abort: no record, so abort to {to}"), "abort"
    if kind == "WorkDone":
        return short(f"{node} did its work: {data['mode']} locks on {', '.join(data['locks'])}"), "waits"
    if kind == "VotedReadOnly":
        return f"{node} votes read-only: no log record, shared locks released, it leaves", "committed"
    if kind == "ReadOnlyFinished":
        return "coordinator: every vote read-only — nothing logged, no phase 2", "decision"
    if kind == "OnePhaseFinished":
        return f"one-phase commit: {data['participant']} decided {data['decision']} alone", "decision"
    if kind == "LearnedFromPeer":
        return f"{node} learns {data['decision']} from {data['peer']} (cooperative termination)", "recovered"
    if kind == "PeerInDoubt":
        return f"{node} asked {data['peer']}: in doubt too, cannot help", "in-doubt"
    if kind == "VoteTimedOut":
        return f"vote timeout: no vote from {', '.join(data['missing'])}", "abort"
    if kind == "Prepared":
        return short(f"{node} prepared (forced), votes Yes: locks durable {', '.join(data['locks'])}"), "prepared"
    if kind == "VotedNo":
        return f"{node} votes No: {data['reason']}", "abort"
    if kind == "Committed":
        return f"{node} committed: locks released", "committed"
    if kind == "RolledBack":
        why = f" ({data['reason']})" if data.get("reason") else ""
        return f"{node} rolled back{why}: locks released", "abort"
    if kind == "InDoubt":
        return f"{node} in doubt: stops asking, keeps its locks", "in-doubt"
    if kind == "DecisionAsked":
        return f"{node} in doubt: asks for the decision (#{data['attempt']})", "ask"
    if kind == "DecisionResent":
        return short(f"coordinator sends {data['decision']} again to {data['participant']}"), "resend"
    if kind == "WaitingForAcks":
        return short(f"coordinator stops re-sending; waits for {', '.join(data['participants'])} to ask"), "ask"
    if kind == "LockWaiting":
        return short(f"other order waits for {data['row']}: locked"), "waits"
    if kind == "LockGranted":
        return short(f"other order gets {data['row']} after {data['waited_ms']:,} ms"), "granted"
    if kind == "NodeCrashed":
        lost = "the votes in its memory lost" if node == "coordinator" else "memory lost"
        return f"{node} crashed: {lost}, its log kept", "crash"
    if kind == "NodeRecovered":
        return f"{node} recovered: replayed its log ({data['replayed']} entries)", "recovered"
    return None


def sequence(run: TwoPCRun) -> dict[str, Any]:
    """One row per step: Prepare, the votes, the decision and the acknowledgements; VoteNo and Rollback red,
    dashed and labelled; the coordinator's decision written to its log drawn as a note."""
    return layout(run.history, run.steps, lanes(run), style, note)


# --- The protocol's state -----------------------------------------------------------------------------------------


def votes_forgotten(run: TwoPCRun) -> bool:
    """The coordinator heard votes, then crashed: it does not remember them (they were only in memory)."""
    heard = False
    for event in run.history:
        if event.type == "VoteReceived":
            heard = True
        elif event.type == "NodeCrashed" and event.data["node"] == "coordinator" and heard:
            return not run.votes()
    return False


def other_order(run: TwoPCRun, participants: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
    """The other order for the same stock: waiting on inventory's lock, granted it, or not there yet."""
    if "other" not in run.sim.nodes:
        return None
    waiting = [w for p in participants.values() for w in p["waiting"]]
    if waiting:
        w = waiting[0]
        return {"status": "waiting", "row": w["row"], "blocked_ms": w["waited_ms"],
                "text": f"waits for {w['row']}: blocked {w['waited_ms']:,} ms so far",
                "lines": [f"waits for {w['row']}", f"blocked {w['waited_ms']:,} ms so far"]}
    blocked = run.blocked_ms()
    for event in reversed(run.history):
        if event.type == "LockGranted" and event.data.get("node") in participants:
            row = event.data["row"]
            lines = [f"got {row}", f"after {blocked:,} ms blocked" if blocked else "at once: it was free"]
            return {"status": "granted", "row": row, "blocked_ms": blocked, "text": " ".join(lines), "lines": lines}
        if event.type == "OtherOrderGaveUp":
            lines = [f"gave up on {event.data['row']}", f"after {blocked:,} ms: {event.data['reason']}"]
            return {"status": "gave_up", "row": event.data["row"], "blocked_ms": blocked, "text": " ".join(lines),
                    "lines": lines}
        if event.type == "MessageLost" and event.data["type"] == "LockRequest":
            lines = [f"lost its request for {event.data['payload']['row']}:", "inventory was down; it will ask again"]
            return {"status": "lost", "row": event.data["payload"]["row"], "blocked_ms": blocked,
                    "text": " ".join(lines), "lines": lines}
    request = next((m for m in run.sim.pending() if m.type == "LockRequest"), None)
    row = request.payload["row"] if request else ""
    lines = [f"will ask for {row}", f"at {request.due_ms:,} ms"] if request else ["has not asked"]
    return {"status": "coming", "row": row, "blocked_ms": 0, "text": " ".join(lines), "lines": lines}


def explain(run: TwoPCRun, coordinator: dict[str, Any], participants: dict[str, dict[str, Any]]) -> str:
    """The outcome in one plain sentence or two."""
    outcome, decision = run.outcome, coordinator["decision"]
    down = [name for name, p in participants.items() if p["state"] == "crashed"]
    down_text = " and ".join(down)
    if outcome == "blocked":
        sentence = ("Participants voted Yes and the coordinator is down: they cannot decide alone and hold their locks "
                    "until it recovers.")
        if run.options["cooperative"] and any(e.type == "PeerInDoubt" for e in run.history):
            sentence += (" They asked each other (cooperative termination), but every one that answered voted Yes "
                         "and is in doubt too: nobody knows the outcome.")
        if decision:
            return sentence + f" Its log already holds the decision ({decision}): recovering it sends it again."
        return sentence + " Its log holds no decision: when it recovers it presumes abort."
    if outcome == "committed" and run.options["one_phase"]:
        return ("One participant, so one-phase commit: no prepare, no vote — it committed on its own (one forced "
                "record) and answered; the coordinator logged nothing.")
    if outcome == "committed" and not decision:
        return ("Every participant voted read-only: nothing to write, so nothing was logged and there was no second "
                "phase.")
    if outcome == "committed":
        sentence = ("Every participant voted Yes and the coordinator logged commit" if not run.options["read_only"]
                    else "Every vote was Yes or read-only and the coordinator logged commit")
        if down:
            return sentence + (f", but {down_text} is down and still holds its locks: it commits when it recovers "
                               "and asks the coordinator.")
        return sentence + ": every participant committed and released its locks."
    if outcome == "aborted":
        reason = next((e["data"].get("reason") for e in coordinator["log"] if e["type"] == "DecisionLogged"), None)
        learned = any(e.type == "LearnedFromPeer" for e in run.history)
        presumed = any(e.type == "PresumedAbort" for e in run.history)
        if reason:
            forced = "" if run.options["protocol"] == "presumed_nothing" else " (not forced)"
            sentence = f"The coordinator logged abort{forced} ({reason})"
        elif learned:
            sentence = "In-doubt participants asked a peer that knew (cooperative termination) and aborted"
        elif presumed:
            sentence = "The coordinator found no decision in its log and presumed abort"
        else:
            sentence = "Nothing was committed"
        if down:
            return sentence + f", but {down_text} is down: it rolls back when it recovers."
        return sentence + ": every participant rolled back and released its locks, even those that voted Yes."
    if coordinator["state"] == "crashed":
        return "The coordinator is down and nothing is in flight: recover it to carry on."
    if decision is None:
        heard = len(run.votes())
        return (f"Phase 1, prepare: the coordinator has {heard} of {len(participants)} votes. A participant that "
                "voted Yes holds its locks until it hears the decision.")
    applied = sum(1 for p in participants.values() if p["durable_state"] in ("committed", "aborted"))
    return (f"Phase 2: the coordinator logged {decision}; {applied} of {len(participants)} participants have "
            "applied it.")


BOX_W, COORD_H, PART_H, OTHER_H, PART_Y, OTHER_Y, WIDTH = 250, 96, 104, 64, 160, 304, 820


def protocol(run: TwoPCRun) -> dict[str, Any]:
    """The protocol's state now: the coordinator, the participants, the other order, the outcome and the numbers,
    with a picture's layout (boxes and the lines between them)."""
    coordinator = run.coordinator()
    participants = run.participant_states()
    votes = run.votes()
    forgotten = votes_forgotten(run)
    other = other_order(run, participants)
    outcome = run.outcome
    coordinator = {
        **coordinator,
        "presumed": any(e.type == "PresumedAbort" for e in run.history),
        "one_phase": run.options["one_phase"],
        "votes": [{"participant": name, "vote": VOTE_WORDS[votes[name]] if name in votes
                   else "forgotten" if forgotten else "not heard yet"} for name in run.participants],
        "votes_heard": len(votes), "votes_forgotten": forgotten,
    }
    cards = []
    for name, p in participants.items():
        cards.append({
            "name": name, **p, "crashed": p["state"] == "crashed", "vote_text": VOTE_WORDS[p["vote"]],
            "locks": [{"row": row, "held_ms": p["locked_ms"]} for row in p["locks"]],
            "waiting": [{**w, "who": "other order" if w["txn"] == "txn-other-order" else w["txn"]}
                        for w in p["waiting"]],
        })
    # The picture: the coordinator on top, a line to each participant (labelled with its vote as the coordinator
    # heard it), the other order under inventory.
    gap = (WIDTH - len(cards) * BOX_W) // (len(cards) + 1)
    coord_box = {"x": (WIDTH - BOX_W) // 2, "y": 10, "w": BOX_W, "h": COORD_H}
    boxes, lines = [], []
    for index, card in enumerate(cards):
        box = {"x": gap + index * (BOX_W + gap), "y": PART_Y, "w": BOX_W, "h": PART_H}
        boxes.append({**box, "card": card})
        heard = votes.get(card["name"])
        lines.append({"x1": coord_box["x"] + BOX_W // 2, "y1": coord_box["y"] + COORD_H,
                      "x2": box["x"] + BOX_W // 2, "y2": PART_Y, "no": heard == "no",
                      "label": f"vote heard: {VOTE_WORDS[heard]}" if heard else "no vote heard"})
    other_box = None
    if other is not None:
        inventory = next(b for b in boxes if b["card"]["name"] == "inventory")
        texts = [{"text": short(line, 36), "y": OTHER_Y + 38 + 18 * i} for i, line in enumerate(other["lines"])]
        other_box = {"x": inventory["x"], "y": OTHER_Y, "w": BOX_W, "h": OTHER_H, "lines": texts,
                     "waiting": other["status"] == "waiting", "line_x": inventory["x"] + BOX_W // 2}
    return {
        "outcome": outcome, "outcome_label": OUTCOME_LABELS[outcome],
        "sentence": explain(run, coordinator, participants),
        "coordinator": coordinator, "participants": cards, "other": other,
        "numbers": {"steps": run.steps, "messages": run.messages_sent(), "lock_ms": run.lock_ms(),
                    "blocked_ms": run.blocked_ms(), "clock_ms": run.sim.clock_ms},
        "picture": {"coordinator": coord_box, "boxes": boxes, "lines": lines, "other": other_box,
                    "width": WIDTH, "height": (OTHER_Y + OTHER_H if other_box else PART_Y + PART_H) + 10},
        "desc": describe(coordinator, cards, other),
    }


def describe(coordinator: dict[str, Any], cards: list[dict[str, Any]], other: dict[str, Any] | None) -> str:
    """The picture in words, for its <desc>."""
    decision = f"decision {coordinator['decision']}" if coordinator["decision"] else "no decision logged"
    parts = [f"Coordinator: {coordinator['state']}, {decision}."]
    for card in cards:
        locks = (f"holds {len(card['locks'])} lock{'s' if len(card['locks']) != 1 else ''} for "
                 f"{card['locked_ms']:,} ms") if card["locks"] else "holds no locks"
        doubt = ", in doubt" if card["in_doubt"] else ""
        parts.append(f"{card['name']}: {card['state']}, vote {card['vote_text']}{doubt}, {locks}.")
    if other is not None:
        parts.append(f"The other order {other['text']}.")
    return " ".join(parts)
