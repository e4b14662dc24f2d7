"""Two-phase commit for one order, as nodes of the simulation engine. Pure Python, no Django.

The transaction first does its work: the client (the application) asks each participant — the orders, payments and
inventory databases — to do its part, and each takes its locks as it goes (exclusive row locks; shared ones for a
participant with nothing to write). Then the client asks the coordinator to commit, and the protocol runs:

Phase 1. The coordinator sends Prepare. A participant that can commit force-writes `Prepared` to its own log (its
locks become durable: they survive a crash until the decision) and votes Yes; one that cannot votes No and rolls back.
Phase 2. With every vote in, the coordinator decides — commit only if every vote was Yes — and only then sends it.

Two variants to pick (Mohan, Lindsay & Obermarck, "Transaction Management in the R* Distributed Database Management
System", ACM TODS 1986):
- **presumed nothing** — the basic protocol (R*'s "2P"): every decision, commit or abort, is force-logged by the
  coordinator and by every participant, and acknowledged; the coordinator writes a non-forced end record after the
  last acknowledgement.
- **presumed abort** (PA, the default): commits as above; an abort is neither force-logged nor acknowledged — the
  coordinator writes a non-forced abort record and forgets the transaction at once, and whoever finds no record
  (the coordinator after a crash, or when asked) answers abort. No record is written before the prepare phase.
Options: a participant with nothing to write votes **read-only** under PA (no log record, its shared locks released,
no phase-2 message); **one-phase commit** with a single participant (no prepare: the participant decides); and
**cooperative termination** (Bernstein, Hadzilacos & Goodman, ch. 7): an in-doubt participant also asks its peers,
and learns the outcome if one of them knows it (or had not voted, and so may abort) — but stays blocked when every
peer voted Yes and is in doubt too.

Log records carry `forced` (True: on stable storage before the node goes on; False: written lazily, to the log
buffer). A crash right after a lazy write loses it: in this lab that is the coordinator crashing just after deciding a
presumed-abort abort (its crash point "after_decision") — it recovers with no record and presumes abort anyway. Lazy
records written before a later forced one, or long before a crash, are kept (the lab has no other crash point there).

What the course teaches, and what these nodes do:
- One No (or a vote that does not arrive before the 2,000 ms vote timeout) -> everyone rolls back.
- A participant that voted Yes cannot decide alone: if the decision does not come, it asks the coordinator
  (`DecisionRequest`, backing off) and keeps its locks — it is *in doubt*. With the coordinator down, it stays so.
- The coordinator's log holds only its decision and the end. Votes and acknowledgements live in memory. Recovered
  with a decision to finish, it sends it again; with none (or a PA abort, already forgotten), it presumes abort and
  tells the resource managers it is configured with, as an XA transaction manager's recovery does.
- A participant recovers from its own log: prepared -> in doubt again (it asks); never voted -> it aborts on its own
  (its locks were in memory only).
- Another order for the same stock (`other`) asks inventory for the same row while the transaction may hold it: it
  waits on the lock, and how long it waited is what "time blocked" measures.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

from eventlab.sim.engine import Context, Fault, Message, Node, SimEvent, Simulation

PARTICIPANTS = ("orders", "payments", "inventory")
PROTOCOLS = ("presumed_abort", "presumed_nothing")
PROTOCOL_LABELS = {"presumed_abort": "presumed abort", "presumed_nothing": "presumed nothing (basic 2PC)"}


def variant_label(options: dict[str, Any]) -> str:
    """A run's protocol variant and options, in words (the defaults where an option is not given)."""
    parts = [PROTOCOL_LABELS[options.get("protocol", "presumed_abort")]]
    if options.get("read_only"):
        parts.append(f"read-only: {', '.join(options['read_only'])}")
    if options.get("one_phase"):
        parts.append("one-phase commit")
    if options.get("cooperative"):
        parts.append("cooperative termination")
    return "; ".join(parts)

VOTE_TIMEOUT_MS = 2_000
ACK_TIMEOUT_MS = 1_000  # then the decision is sent again to whoever has not acknowledged, backing off
ACK_RESENDS = 4
DECISION_TIMEOUT_MS = 2_000  # an in-doubt participant asks the coordinator after this, then backs off
DECISION_ASKS = 3
OTHER_ORDER_AT_MS = 61  # when the other order's request for the same stock arrives (inventory has done its work)
OTHER_ORDER_TIMEOUT_MS = 1_000
OTHER_ORDER_RETRIES = 3
STOCK_PER_SKU = 10
COORDINATOR_LOG = ("DecisionLogged", "TransactionEnded")  # what survives a coordinator crash
PROTOCOL_MESSAGES = ("Prepare", "VoteYes", "VoteNo", "Commit", "Rollback", "Ack", "DecisionRequest")
OPTION_MESSAGES = ("VoteReadOnly", "CommitOnePhase", "PeerDecisionRequest", "PeerDecision")
MESSAGES = PROTOCOL_MESSAGES + OPTION_MESSAGES  # every message a fault may drop or delay
CRASH_POINTS = {"participant": ("before_vote", "after_vote"), "coordinator": ("before_decision", "after_decision")}


def rows(participant: str, order: dict[str, Any]) -> list[str]:
    """The rows a participant locks while it does its part of this order."""
    if participant == "orders":
        return [f"order:{order['order_id']}"]
    if participant == "payments":
        return [f"account:{order['customer']}"]
    return [f"stock:{sku}" for sku in dict.fromkeys(item["sku"] for item in order["items"])]


def log_writes(history: list[SimEvent], node: str | None = None) -> list[SimEvent]:
    """The log records written (forced or not), in order, by one node or by all."""
    return [e for e in history if "forced" in e.data and (node is None or e.data.get("node") == node)]


class Coordinator:
    name = "coordinator"

    def __init__(self, protocol: str = "presumed_abort", sites: tuple[str, ...] = PARTICIPANTS) -> None:
        self.protocol, self.sites = protocol, tuple(sites)  # configuration, not state: it knows its resource managers
        self.state = "idle"  # idle -> collecting | one_phase -> committing | aborting -> done
        self.decision: str | None = None
        self.told: list[str] = []  # who the decision goes to (in the decision record when it is forced)
        self.log: list[SimEvent] = []
        # In memory only (lost in a crash):
        self.txn: dict[str, Any] = {}
        self.votes: dict[str, str] = {}
        self.acks: set[str] = set()

    @property
    def presumed_abort(self) -> bool:
        return self.protocol == "presumed_abort"

    def apply(self, event: SimEvent) -> None:
        if event.type not in COORDINATOR_LOG:
            return  # what it noted in passing (the transaction, votes, acks) is not in its log
        self.log.append(event)
        if event.type == "DecisionLogged":
            self.decision, self.told = event.data["decision"], list(event.data.get("participants", []))
            forgets = self.decision == "abort" and self.presumed_abort
            self.state = "done" if forgets else "committing" if self.decision == "commit" else "aborting"
        elif event.type == "TransactionEnded":
            self.state = "done"

    @property
    def participants(self) -> list[str]:
        participants: list[str] = self.txn.get("participants", [])
        return participants

    def handle(self, message: Message, ctx: Context) -> None:
        kind, payload = message.type, message.payload
        if kind == "BeginTransaction":
            self.txn = {"txn": payload["txn"], "participants": list(payload["participants"])}
            one_phase = payload.get("one_phase") and len(self.participants) == 1
            ctx.record("TransactionBegun", txn=payload["txn"], participants=payload["participants"],
                       one_phase=bool(one_phase))  # a note, not a log record: nothing is forced before prepare
            if one_phase:
                self.state, self.txn["order"] = "one_phase", payload["order"]
                ctx.send(self.participants[0], "CommitOnePhase", txn=payload["txn"], order=payload["order"])
                ctx.timer(ACK_TIMEOUT_MS, "OnePhaseTimeout", attempt=1)
                return
            self.state = "collecting"
            for participant in self.participants:
                ctx.send(participant, "Prepare", txn=payload["txn"], participants=self.participants)
            ctx.timer(VOTE_TIMEOUT_MS, "VoteTimeout", txn=payload["txn"])
        elif kind in ("VoteYes", "VoteNo", "VoteReadOnly"):
            self.voted(ctx, message.source, {"VoteYes": "yes", "VoteNo": "no", "VoteReadOnly": "read_only"}[kind])
        elif kind == "VoteTimeout" and self.state == "collecting":
            missing = [p for p in self.participants if p not in self.votes]
            ctx.record("VoteTimedOut", missing=missing)
            self.decide(ctx, "abort", f"no vote from {', '.join(missing)} in {VOTE_TIMEOUT_MS:,} ms")
        elif kind in ("Ack", "VoteNo") and self.state == "one_phase":  # its answer (VoteNo: it lost its work)
            ctx.cancel_timers("OnePhaseTimeout")
            self.decision, self.state = payload.get("decision", "abort"), "done"
            ctx.record("OnePhaseFinished", participant=message.source, decision=self.decision)
            self.tell_client(ctx)
        elif kind == "OnePhaseTimeout" and self.state == "one_phase" and payload["attempt"] <= ACK_RESENDS:
            ctx.record("DecisionResent", participant=self.participants[0], decision="one-phase commit",
                       attempt=payload["attempt"])  # no answer: it asks again (the participant answers the same)
            ctx.send(self.participants[0], "CommitOnePhase", txn=self.txn["txn"], order=self.txn["order"])
            ctx.timer(ACK_TIMEOUT_MS * 2 ** payload["attempt"], "OnePhaseTimeout", attempt=payload["attempt"] + 1)
        elif kind == "Ack":
            self.acked(ctx, message.source)
        elif kind == "AckTimeout":
            self.resend(ctx, payload["attempt"])
        elif kind == "DecisionRequest":
            self.answer(ctx, message.source)

    def voted(self, ctx: Context, participant: str, vote: str) -> None:
        if self.state != "collecting":
            return  # a vote after the decision changes nothing
        self.votes[participant] = vote
        ctx.record("VoteReceived", participant=participant, vote=vote)
        if vote == "no":
            self.decide(ctx, "abort", f"{participant} voted No")
        elif all(p in self.votes for p in self.participants):
            if all(v == "read_only" for v in self.votes.values()):
                self.state, self.decision = "done", "commit"
                ctx.cancel_timers("VoteTimeout")
                ctx.record("ReadOnlyFinished", reason="every participant voted read-only: nothing to log, "
                                                      "no second phase")
                self.tell_client(ctx)
            else:
                self.decide(ctx, "commit", "every participant voted Yes" if "read_only" not in self.votes.values()
                            else "every vote was Yes or read-only")

    def decide(self, ctx: Context, decision: str, reason: str) -> None:
        ctx.cancel_timers("VoteTimeout")
        if ctx.crash_point("before_decision"):
            return
        # The decision goes to whoever may be prepared: not to a No voter (it has rolled back) nor a read-only one.
        told = [p for p in self.participants if self.votes.get(p) not in ("no", "read_only")]
        forced = decision == "commit" or not self.presumed_abort
        if not forced and ctx.crash_point("after_decision"):
            return  # decided, but the lazy abort record was still in the log buffer: lost with the crash
        ctx.record("DecisionLogged", decision=decision, reason=reason, forced=forced,
                   participants=told if forced else [])
        if forced and ctx.crash_point("after_decision"):
            return
        self.told = told
        self.send_decision(ctx, told)
        if not forced:  # presumed abort: no acknowledgements, no end record; it forgets the transaction now
            self.tell_client(ctx)
        elif not told:
            self.end(ctx)
        else:
            ctx.timer(ACK_TIMEOUT_MS, "AckTimeout", attempt=1)

    def send_decision(self, ctx: Context, participants: list[str], presumed: bool = False) -> None:
        """The decision in the log, or (`presumed`) the abort presumed when there is no record of one."""
        extra = {"presumed": True} if presumed else {}
        decision = "abort" if presumed else self.decision
        for participant in participants:
            ctx.send(participant, "Commit" if decision == "commit" else "Rollback", txn=self.txn.get("txn"),
                     **extra)

    def answer(self, ctx: Context, participant: str) -> None:
        """A participant asks for the decision: the one it knows, none yet (still collecting votes), or abort when
        it finds no record of the transaction (presumed abort)."""
        if self.state == "collecting":
            return  # undecided: the vote timeout will decide
        if self.decision is not None and not (self.decision == "abort" and self.state == "done"):
            ctx.record("DecisionResent", participant=participant, decision=self.decision)
            self.send_decision(ctx, [participant])
            return
        ctx.record("PresumedAbort", participant=participant,
                   reason="no record of the transaction: it answers abort")
        self.send_decision(ctx, [participant], presumed=True)

    def acked(self, ctx: Context, participant: str) -> None:
        if self.state not in ("committing", "aborting") or participant in self.acks or participant not in self.told:
            return
        self.acks.add(participant)
        ctx.record("AckReceived", participant=participant)
        if self.acks >= set(self.told):
            self.end(ctx)

    def end(self, ctx: Context) -> None:
        ctx.cancel_timers("AckTimeout")
        ctx.record("TransactionEnded", outcome="committed" if self.decision == "commit" else "aborted",
                   forced=False)
        self.tell_client(ctx)

    def tell_client(self, ctx: Context) -> None:
        if self.txn:
            ctx.send("client", "TransactionCommitted" if self.decision == "commit" else "TransactionAborted",
                     txn=self.txn["txn"])

    def resend(self, ctx: Context, attempt: int) -> None:
        missing = [p for p in self.told if p not in self.acks]
        if self.state in ("done", "idle") or not missing:
            return
        if attempt > ACK_RESENDS:
            ctx.record("WaitingForAcks", participants=missing)  # they will ask when they are back
            return
        ctx.record("DecisionResent", participant=", ".join(missing), decision=self.decision, attempt=attempt)
        self.send_decision(ctx, missing)
        ctx.timer(ACK_TIMEOUT_MS * 2 ** attempt, "AckTimeout", attempt=attempt + 1)

    def resume(self, ctx: Context) -> None:
        """Rebuilt from its log after a crash: finish what the log says, or presume abort if it finds nothing."""
        if self.state in ("committing", "aborting"):
            self.send_decision(ctx, self.told)
            ctx.timer(ACK_TIMEOUT_MS, "AckTimeout", attempt=1)
        elif self.decision != "commit":
            # No record of the transaction (never decided), or a presumed-abort abort, forgotten: abort is the
            # answer; its recovery tells the resource managers it is configured with (an XA recovery scan).
            ctx.record("PresumedAbort", participant=", ".join(self.sites),
                       reason="recovered with no decision in its log: presumed abort")
            self.send_decision(ctx, list(self.sites), presumed=True)
            self.decision = None
            self.state = "done"


class Participant:
    """A resource manager (one service's database): does its part (taking locks), prepares, votes, applies the
    decision."""

    def __init__(self, name: str, txn: str, vote_no: bool = False, read_only: bool = False,
                 protocol: str = "presumed_abort", cooperative: bool = False):
        self.name, self.txn, self.vote_no = name, txn, vote_no
        self.read_only, self.protocol, self.cooperative = read_only, protocol, cooperative
        self.state = "idle"  # idle -> working -> prepared | read_only -> committed | aborted
        self.vote: str | None = None
        self.order: dict[str, Any] = {}
        self.items: list[dict[str, Any]] = []  # what a commit takes out of stock (inventory)
        self.locks: list[str] = []
        self.lock_mode = "shared" if read_only else "exclusive"
        self.locked_at: int | None = None
        self.peers: list[str] = []
        self.waiting: list[dict[str, Any]] = []  # other transactions waiting for one of its locked rows
        self.stock: dict[str, int] = {}

    @property
    def presumed_abort(self) -> bool:
        return self.protocol == "presumed_abort"

    def apply(self, event: SimEvent) -> None:
        data = event.data
        if event.type == "WorkDone":
            self.state, self.order = "working", data["order"]
            self.locks, self.locked_at = list(data["locks"]), event.at_ms
        elif event.type == "Prepared":
            self.state, self.vote, self.items = "prepared", "yes", data["items"]
            self.locks, self.peers = list(data["locks"]), list(data.get("peers", []))
            if self.locked_at is None:
                self.locked_at = event.at_ms
        elif event.type == "VotedReadOnly":
            self.state, self.vote = "read_only", "read_only"
            self.locks, self.locked_at = [], None
        elif event.type == "VotedNo":
            self.state, self.vote = "aborted", "no"
            self.locks, self.locked_at = [], None
        elif event.type in ("Committed", "RolledBack"):
            self.state = "committed" if event.type == "Committed" else "aborted"
            self.locks, self.locked_at = [], None
            for item in data.get("items", []) if event.type == "Committed" else []:
                self.stock[item["sku"]] = self.left(item["sku"]) - item["qty"]
        elif event.type == "NodeCrashed" and self.state == "working":
            self.locks, self.locked_at = [], None  # its work and its lock table were in memory only
        elif event.type == "LockWaiting":
            self.waiting.append({"txn": data["txn"], "row": data["row"], "since": data["since_ms"]})
        elif event.type == "LockGranted":
            self.waiting = [w for w in self.waiting if w["txn"] != data["txn"]]

    def left(self, sku: str) -> int:
        return self.stock.get(sku, STOCK_PER_SKU)

    def handle(self, message: Message, ctx: Context) -> None:
        kind, payload = message.type, message.payload
        if kind == "Work":
            if self.state == "idle":
                ctx.record("WorkDone", txn=self.txn, order=payload["order"], locks=rows(self.name, payload["order"]),
                           mode=self.lock_mode)
            ctx.send(message.source, "WorkDone", txn=self.txn)
        elif kind == "Prepare":
            self.prepare(ctx, message)
        elif kind == "CommitOnePhase":
            self.one_phase(ctx, message)
        elif kind in ("Commit", "Rollback"):
            self.finish(ctx, "commit" if kind == "Commit" else "abort")
        elif kind == "DecisionTimeout" and self.state == "prepared":
            self.ask(ctx, payload["attempt"])
        elif kind == "PeerDecisionRequest":
            self.tell_peer(ctx, message.source)
        elif kind == "PeerDecision" and self.state == "prepared":
            if payload["decision"] is None:
                ctx.record("PeerInDoubt", peer=message.source, txn=self.txn)
                return
            ctx.record("LearnedFromPeer", peer=message.source, decision=payload["decision"], txn=self.txn)
            self.finish(ctx, payload["decision"])
        elif kind == "LockRequest":
            if any(w["txn"] == payload["txn"] for w in self.waiting):
                return  # asked again while already queued
            if payload["row"] in self.locks:
                ctx.record("LockWaiting", txn=payload["txn"], row=payload["row"], holder=self.txn,
                           since_ms=payload["first_ms"], mode=self.lock_mode)
                ctx.send(message.source, "LockQueued", txn=payload["txn"], row=payload["row"])
            else:
                ctx.record("LockGranted", txn=payload["txn"], row=payload["row"],
                           waited_ms=ctx.now_ms - payload["first_ms"])
                ctx.send(message.source, "LockGranted", txn=payload["txn"], row=payload["row"])

    def prepare(self, ctx: Context, message: Message) -> None:
        if self.state not in ("idle", "working"):  # a Prepare sent again: the same vote again
            vote = {"yes": "VoteYes", "read_only": "VoteReadOnly"}.get(self.vote or "", "VoteNo")
            ctx.send(message.source, vote, txn=message.payload["txn"])
            return
        if ctx.crash_point("before_vote"):
            return
        txn = self.txn
        reason = self.refusal(self.order)
        if reason:
            self.release(ctx, "VotedNo", txn=txn, reason=reason, forced=not self.presumed_abort)
            ctx.send(message.source, "VoteNo", txn=txn)
            return
        if self.read_only and self.presumed_abort:
            # Nothing to write: it votes read-only, writes no log record, releases its shared locks and leaves.
            self.release(ctx, "VotedReadOnly", txn=txn)
            ctx.send(message.source, "VoteReadOnly", txn=txn)
            return
        peers = [p for p in message.payload.get("participants", []) if p != self.name]
        ctx.record("Prepared", txn=txn, locks=list(self.locks), items=self.work_items(), peers=peers, forced=True)
        ctx.send(message.source, "VoteYes", txn=txn)
        if ctx.crash_point("after_vote"):
            return
        ctx.timer(DECISION_TIMEOUT_MS, "DecisionTimeout", attempt=1)

    def work_items(self) -> list[dict[str, Any]]:
        return self.order.get("items", []) if self.name == "inventory" and not self.read_only else []

    def one_phase(self, ctx: Context, message: Message) -> None:
        """The only participant: it decides itself, in one local commit (Gray & Reuter's one-phase commit)."""
        if self.state in ("committed", "aborted"):
            ctx.send(message.source, "Ack", txn=self.txn, decision="commit" if self.state == "committed" else "abort")
            return
        if ctx.crash_point("before_vote"):
            return
        reason = self.refusal(self.order)
        if reason:
            self.release(ctx, "RolledBack", txn=self.txn, reason=reason, forced=False)
            ctx.send(message.source, "Ack", txn=self.txn, decision="abort")
            return
        self.release(ctx, "Committed", txn=self.txn, items=self.work_items(), forced=True)
        ctx.send(message.source, "Ack", txn=self.txn, decision="commit")

    def refusal(self, order: dict[str, Any]) -> str | None:
        if self.vote_no:
            return {"payments": "card declined", "inventory": "cannot ship",
                    "orders": "order refused"}.get(self.name, "refused")
        if self.name == "inventory" and not self.read_only:
            wanted: dict[str, int] = {}
            for item in order.get("items", []):
                wanted[item["sku"]] = wanted.get(item["sku"], 0) + item["qty"]
            short = [sku for sku, qty in wanted.items() if qty > self.left(sku)]
            if short:
                return f"out of stock: {', '.join(short)}"
        return None

    def release(self, ctx: Context, event_type: str, **data: Any) -> None:
        """Record the event that ends its part (its locks go with it), cancel its timers, let waiters in."""
        ctx.cancel_timers("DecisionTimeout")
        ctx.record(event_type, **data)
        self.grant_waiting(ctx)

    def finish(self, ctx: Context, decision: str) -> None:
        acks = decision == "commit" or not self.presumed_abort  # presumed abort: an abort is not acknowledged
        if self.state == "prepared" or (self.state in ("idle", "working") and decision == "abort"):
            if decision == "commit":
                self.release(ctx, "Committed", txn=self.txn, items=self.items, forced=True)
            else:
                self.release(ctx, "RolledBack", txn=self.txn, forced=not self.presumed_abort)
        elif self.state != {"commit": "committed", "abort": "aborted"}[decision]:
            return  # read-only (it left after phase 1), or a presumed abort reaching one that committed alone
        if acks:
            ctx.send("coordinator", "Ack", txn=self.txn, decision=decision)

    def grant_waiting(self, ctx: Context) -> None:
        for waiter in list(self.waiting):
            ctx.record("LockGranted", txn=waiter["txn"], row=waiter["row"], waited_ms=ctx.now_ms - waiter["since"])
            ctx.send("other", "LockGranted", txn=waiter["txn"], row=waiter["row"])

    def ask(self, ctx: Context, attempt: int) -> None:
        if attempt > DECISION_ASKS:
            ctx.record("InDoubt", txn=self.txn, reason="no decision: it keeps its locks until the coordinator is back")
            return
        ctx.record("DecisionAsked", txn=self.txn, attempt=attempt)
        ctx.send("coordinator", "DecisionRequest", txn=self.txn)
        if self.cooperative and attempt == 1:  # the cooperative termination protocol: ask the others too
            for peer in self.peers:
                ctx.send(peer, "PeerDecisionRequest", txn=self.txn)
        ctx.timer(DECISION_TIMEOUT_MS * 2 ** attempt, "DecisionTimeout", attempt=attempt + 1)

    def tell_peer(self, ctx: Context, peer: str) -> None:
        """A peer in doubt asks: the outcome if it knows it; if it has not voted, it aborts now (it may: without its
        Yes nothing can commit); if it is in doubt too (or left read-only), it cannot help."""
        if self.state in ("idle", "working"):
            self.release(ctx, "RolledBack", txn=self.txn, forced=not self.presumed_abort,
                         reason=f"asked by {peer} before it voted: aborts on its own")
        known = {"committed": "commit", "aborted": "abort"}.get(self.state)
        ctx.send(peer, "PeerDecision", txn=self.txn, decision=known)

    def resume(self, ctx: Context) -> None:
        """Rebuilt from its own log after a crash."""
        if self.state == "prepared":
            self.ask(ctx, 1)  # in doubt again: it voted Yes, so it must learn the decision
        elif self.state in ("idle", "working"):
            self.release(ctx, "RolledBack", txn=self.txn, forced=not self.presumed_abort,
                         reason="lost its work in the crash before voting: aborts alone")
            ctx.send("coordinator", "VoteNo", txn=self.txn)
        elif self.state == "committed" or not self.presumed_abort:
            ctx.send("coordinator", "Ack", txn=self.txn, decision="commit" if self.state == "committed" else "abort")


class Client:
    """Whoever placed the order: it has each participant do its part of the work (they take their locks), then
    asks the coordinator to commit, and hears the outcome."""

    name = "client"

    def __init__(self, txn: str = "", order: dict[str, Any] | None = None, participants: tuple[str, ...] = (),
                 one_phase: bool = False) -> None:
        self.txn, self.order, self.participants, self.one_phase = txn, order or {}, list(participants), one_phase
        self.done: set[str] = set()

    def apply(self, event: SimEvent) -> None:
        pass

    def handle(self, message: Message, ctx: Context) -> None:
        if message.type == "StartWork":
            for participant in self.participants:
                ctx.send(participant, "Work", txn=self.txn, order=self.order)
        elif message.type == "WorkDone" and message.source not in self.done:
            self.done.add(message.source)
            if self.done >= set(self.participants):
                ctx.send("coordinator", "BeginTransaction", txn=self.txn, order=self.order,
                         participants=self.participants, one_phase=self.one_phase)


class OtherOrder:
    """Another order for the same stock: its request for the row waits while the transaction holds the lock. A
    request that gets no answer (inventory is down) is sent again after 1, 2 and 4 s; then the order gives up."""

    name = "other"

    def apply(self, event: SimEvent) -> None:
        pass

    def handle(self, message: Message, ctx: Context) -> None:
        if message.type in ("LockQueued", "LockGranted"):
            ctx.cancel_timers("RequestTimeout")
        elif message.type == "RequestTimeout":
            request = message.payload["request"]
            if request["attempt"] > OTHER_ORDER_RETRIES:
                ctx.record("OtherOrderGaveUp", row=request["row"],
                           reason=f"no answer from inventory after {request['attempt']} requests")
                return
            ask_for_row(ctx, {**request, "attempt": request["attempt"] + 1})


def ask_for_row(ctx: Context, request: dict[str, Any]) -> None:
    ctx.send("inventory", "LockRequest", **request)
    ctx.timer(OTHER_ORDER_TIMEOUT_MS * 2 ** (request["attempt"] - 1), "RequestTimeout", request=request)


# --- Faults and the simulation -------------------------------------------------------------------------------------

FAULT_KINDS = ("vote_no", "participant_crash", "coordinator_crash", "drop", "delay")


def faults_from(specs: list[dict[str, Any]]) -> tuple[list[Fault], dict[str, dict[str, Any]]]:
    """The API's fault specs (already validated) -> engine faults, and settings for the participants."""
    engine: list[Fault] = []
    settings: dict[str, dict[str, Any]] = {name: {} for name in PARTICIPANTS}
    for spec in specs:
        kind = spec["kind"]
        if kind == "vote_no":
            settings[spec["participant"]]["vote_no"] = True
        elif kind in ("participant_crash", "coordinator_crash"):
            node = spec["participant"] if kind == "participant_crash" else "coordinator"
            engine.append(Fault("crash", node=node, at=spec["at"], restart_after_ms=spec.get("restart_after_ms")))
        elif kind in ("drop", "delay"):
            engine.append(Fault(kind, message=spec["message"], nth=spec.get("nth", 1), ms=spec.get("ms", 0)))
        else:
            raise ValueError(f"Unknown fault kind {kind!r}.")
    return engine, settings


def inject(sim: Simulation, settings: dict[str, dict[str, Any]], specs: list[dict[str, Any]]) -> None:
    """More faults for a run in progress (a No vote takes effect if the participant has not voted yet)."""
    engine_faults, more = faults_from(specs)
    sim.inject(engine_faults)
    for name, changes in more.items():
        settings[name].update(changes)
        if name in sim.live:
            for key, value in changes.items():
                setattr(sim.live[name], key, value)


def transaction_id(order: dict[str, Any]) -> str:
    return f"txn-{order['order_id']}"


def two_phase_commit(order: dict[str, Any], seed: int = 1, faults: Sequence[dict[str, Any]] = (),
                     participants: tuple[str, ...] = PARTICIPANTS,
                     settings: dict[str, dict[str, Any]] | None = None, protocol: str = "presumed_abort",
                     read_only: tuple[str, ...] = (), one_phase: bool = False,
                     cooperative: bool = False) -> Simulation:
    """A ready-to-step simulation of one distributed transaction (its work first, then the commit protocol); the
    other order's request for the same stock is on its way too (when inventory takes part)."""
    engine_faults, settings_ = faults_from(list(faults))
    if settings is not None:  # the caller keeps this dict to change participants later (inject)
        settings.update(settings_)
        settings_ = settings
    txn = transaction_id(order)
    participants = tuple(participants)
    one_phase = one_phase and len(participants) == 1

    def participant(name: str) -> partial[Participant]:
        return partial(_participant, name, txn, settings_, read_only=name in read_only, protocol=protocol,
                       cooperative=cooperative)

    nodes: dict[str, Callable[[], Node]] = {"client": partial(Client, txn, dict(order), participants, one_phase),
             "coordinator": partial(Coordinator, protocol, participants),
             **{name: participant(name) for name in participants}}
    if "inventory" in participants:
        nodes["other"] = OtherOrder
    sim = Simulation(nodes, seed=seed, faults=engine_faults)
    sim.send("client", "client", "StartWork", {"txn": txn}, delay_ms=0, timer=True)
    if "inventory" in participants:
        sku = order["items"][0]["sku"]
        request = {"txn": "txn-other-order", "row": f"stock:{sku}", "first_ms": OTHER_ORDER_AT_MS, "attempt": 1}
        sim.send("other", "inventory", "LockRequest", request, delay_ms=OTHER_ORDER_AT_MS)
        sim.send("other", "other", "RequestTimeout", {"request": request},
                 delay_ms=OTHER_ORDER_AT_MS + OTHER_ORDER_TIMEOUT_MS, timer=True)
    return sim


def _participant(name: str, txn: str, settings: dict[str, dict[str, Any]], **config: Any) -> Participant:
    return Participant(name, txn, **settings[name], **config)


# --- Reading a run ----------------------------------------------------------------------------------------------


def folded(sim: Simulation) -> dict[str, Any]:
    """Every node's durable state, folded from the run's history (right even while a node is down)."""
    nodes: dict[str, Any] = {"coordinator": Coordinator()}
    for name in sim.nodes:
        if name in PARTICIPANTS:
            nodes[name] = Participant(name, txn="")
    for event in sim.history:
        node = nodes.get(event.data.get("node", ""))
        if node is not None:
            node.apply(event)
    return nodes


def decision(sim: Simulation) -> str | None:
    """The outcome decided, by whoever decided it: the coordinator's log, or (read-only, one-phase) its note."""
    for event in sim.history:
        if event.type == "DecisionLogged":
            decided: str = event.data["decision"]
            return decided
        if event.type in ("ReadOnlyFinished", "OnePhaseFinished"):
            noted: str = event.data.get("decision", "commit")
            return noted
    return None


def outcome(sim: Simulation) -> str:
    """committed | aborted | blocked | in_progress (see the module's docstring)."""
    nodes = folded(sim)
    nodes.pop("coordinator")
    in_doubt = [name for name, p in nodes.items() if p.state == "prepared" and name not in sim.crashed]
    if "coordinator" in sim.crashed and in_doubt:
        return "blocked"
    if sim.pending():
        return "in_progress"
    decided = decision(sim)
    if decided == "commit" or any(p.state == "committed" for p in nodes.values()):
        return "committed"
    if decided == "abort" or all(p.state in ("aborted", "read_only") for p in nodes.values()):
        return "aborted"
    return "in_progress"
