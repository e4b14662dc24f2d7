"""Two-phase commit for one order, as nodes of the simulation engine. Pure Python, no Django.

The coordinator asks every participant (the orders, payments and inventory databases) to prepare. A participant that
can commit takes its locks, writes `Prepared` to its own log and votes Yes; one that cannot votes No. Once every vote
is in, the coordinator writes its decision to its log — commit if all voted Yes, otherwise roll back — and only then
sends it. Participants apply it, release their locks and acknowledge; when all have, the transaction ends.

What the course teaches, and what these nodes do:
- One No (or a vote that does not arrive before the 2,000 ms vote timeout) -> everyone rolls back.
- A participant that voted Yes cannot decide alone: if the decision does not come, it asks the coordinator
  (`DecisionRequest`, backing off) and keeps its locks — it is *in doubt*. With the coordinator down, it stays so:
  the protocol blocks until the coordinator is recovered from its log.
- The coordinator's log holds only what it wrote durably: the transaction, its decision, the end. Votes and
  acknowledgements live in memory, so a coordinator that recovers with no decision in its log presumes abort;
  one that finds a decision sends it again.
- A participant recovers from its own log: prepared -> in doubt again (it asks); never voted -> it aborts on its own.
- Another order for the same stock (`other`) asks inventory for the same row while the transaction may hold it: it
  waits on the lock, and how long it waited is what "time blocked" measures.
"""

from __future__ import annotations

from typing import Any

from eventlab.sim.engine import Context, Fault, Message, SimEvent, Simulation

PARTICIPANTS = ("orders", "payments", "inventory")
VOTE_TIMEOUT_MS = 2_000
ACK_TIMEOUT_MS = 1_000  # then the decision is sent again to whoever has not acknowledged, backing off
ACK_RESENDS = 4
DECISION_TIMEOUT_MS = 2_000  # an in-doubt participant asks the coordinator after this, then backs off
DECISION_ASKS = 3
OTHER_ORDER_AT_MS = 61  # when the other order's request for the same stock arrives (inventory has prepared)
OTHER_ORDER_TIMEOUT_MS = 1_000
OTHER_ORDER_RETRIES = 3
STOCK_PER_SKU = 10
COORDINATOR_LOG = ("TransactionBegun", "DecisionLogged", "TransactionEnded")  # what survives a coordinator crash
PROTOCOL_MESSAGES = ("Prepare", "VoteYes", "VoteNo", "Commit", "Rollback", "Ack", "DecisionRequest")
CRASH_POINTS = {"participant": ("before_vote", "after_vote"), "coordinator": ("before_decision", "after_decision")}


def rows(participant: str, order: dict[str, Any]) -> list[str]:
    """The rows a participant locks to prepare this order."""
    if participant == "orders":
        return [f"order:{order['order_id']}"]
    if participant == "payments":
        return [f"account:{order['customer']}"]
    return [f"stock:{sku}" for sku in dict.fromkeys(item["sku"] for item in order["items"])]


class Coordinator:
    name = "coordinator"

    def __init__(self) -> None:
        self.state = "idle"  # idle -> collecting -> committing | aborting -> done
        self.txn: dict[str, Any] = {}
        self.decision: str | None = None
        self.log: list[SimEvent] = []
        # In memory only (lost in a crash):
        self.votes: dict[str, str] = {}
        self.acks: set[str] = set()

    def apply(self, event: SimEvent) -> None:
        if event.type not in COORDINATOR_LOG:
            return  # what it noted in passing (votes, acks) is not in its log
        self.log.append(event)
        if event.type == "TransactionBegun":
            self.state, self.txn = "collecting", {k: v for k, v in event.data.items() if k != "node"}
        elif event.type == "DecisionLogged":
            self.decision = event.data["decision"]
            self.state = "committing" if self.decision == "commit" else "aborting"
        elif event.type == "TransactionEnded":
            self.state = "done"

    @property
    def participants(self) -> list[str]:
        return self.txn.get("participants", [])

    def handle(self, message: Message, ctx: Context) -> None:
        kind, payload = message.type, message.payload
        if kind == "BeginTransaction":
            ctx.record("TransactionBegun", txn=payload["txn"], order=payload["order"],
                       participants=payload["participants"])
            for participant in self.participants:
                ctx.send(participant, "Prepare", txn=payload["txn"], order=payload["order"])
            ctx.timer(VOTE_TIMEOUT_MS, "VoteTimeout", txn=payload["txn"])
        elif kind in ("VoteYes", "VoteNo"):
            self.voted(ctx, message.source, "yes" if kind == "VoteYes" else "no")
        elif kind == "VoteTimeout" and self.state == "collecting":
            missing = [p for p in self.participants if p not in self.votes]
            ctx.record("VoteTimedOut", missing=missing)
            self.decide(ctx, "abort", f"no vote from {', '.join(missing)} in {VOTE_TIMEOUT_MS:,} ms")
        elif kind == "Ack":
            self.acked(ctx, message.source)
        elif kind == "AckTimeout":
            self.resend(ctx, payload["attempt"])
        elif kind == "DecisionRequest" and self.decision is not None:
            ctx.record("DecisionResent", participant=message.source, decision=self.decision)
            self.send_decision(ctx, [message.source])

    def voted(self, ctx: Context, participant: str, vote: str) -> None:
        if self.state != "collecting":
            if self.decision == "abort" and vote == "no":
                self.acked(ctx, participant)  # it has rolled back on its own: as good as an acknowledgement
            return  # a vote after the decision changes nothing
        self.votes[participant] = vote
        ctx.record("VoteReceived", participant=participant, vote=vote)
        if vote == "no":
            self.decide(ctx, "abort", f"{participant} voted No")
        elif all(self.votes.get(p) == "yes" for p in self.participants):
            self.decide(ctx, "commit", "every participant voted Yes")

    def decide(self, ctx: Context, decision: str, reason: str) -> None:
        ctx.cancel_timers("VoteTimeout")
        if ctx.crash_point("before_decision"):
            return
        ctx.record("DecisionLogged", decision=decision, reason=reason)
        if ctx.crash_point("after_decision"):
            return
        self.send_decision(ctx, self.participants)
        ctx.timer(ACK_TIMEOUT_MS, "AckTimeout", attempt=1)

    def send_decision(self, ctx: Context, participants: list[str]) -> None:
        for participant in participants:
            ctx.send(participant, "Commit" if self.decision == "commit" else "Rollback", txn=self.txn["txn"])

    def acked(self, ctx: Context, participant: str) -> None:
        if self.decision is None or participant in self.acks or self.state == "done":
            return
        self.acks.add(participant)
        ctx.record("AckReceived", participant=participant)
        if self.acks >= set(self.participants):
            ctx.cancel_timers("AckTimeout")
            ctx.record("TransactionEnded", outcome="committed" if self.decision == "commit" else "aborted")
            ctx.send("client", "TransactionCommitted" if self.decision == "commit" else "TransactionAborted",
                     txn=self.txn["txn"])

    def resend(self, ctx: Context, attempt: int) -> None:
        missing = [p for p in self.participants if p not in self.acks]
        if self.state == "done" or not missing:
            return
        if attempt > ACK_RESENDS:
            ctx.record("WaitingForAcks", participants=missing)  # they will ask when they are back
            return
        ctx.record("DecisionResent", participant=", ".join(missing), decision=self.decision, attempt=attempt)
        self.send_decision(ctx, missing)
        ctx.timer(ACK_TIMEOUT_MS * 2 ** attempt, "AckTimeout", attempt=attempt + 1)

    def resume(self, ctx: Context) -> None:
        """Rebuilt from its log after a crash: finish what the log says, or presume abort if it decided nothing."""
        if self.state == "collecting":
            ctx.record("DecisionLogged", decision="abort", presumed=True,
                       reason="recovered with no decision in its log: presumed abort")
        if self.state in ("committing", "aborting"):
            self.send_decision(ctx, self.participants)
            ctx.timer(ACK_TIMEOUT_MS, "AckTimeout", attempt=1)


class Participant:
    """A resource manager (one service's database): prepares by taking locks, votes, applies the decision."""

    def __init__(self, name: str, txn: str, vote_no: bool = False):
        self.name, self.txn, self.vote_no = name, txn, vote_no
        self.state = "working"  # working -> prepared -> committed | aborted
        self.vote: str | None = None
        self.items: list[dict[str, Any]] = []  # what a commit takes out of stock (inventory)
        self.locks: list[str] = []
        self.locked_at: int | None = None
        self.waiting: list[dict[str, Any]] = []  # other transactions waiting for one of its locked rows
        self.stock: dict[str, int] = {}

    def apply(self, event: SimEvent) -> None:
        data = event.data
        if event.type == "Prepared":
            self.state, self.vote, self.items = "prepared", "yes", data["items"]
            self.locks, self.locked_at = list(data["locks"]), event.at_ms
        elif event.type == "VotedNo":
            self.state, self.vote = "aborted", "no"
        elif event.type in ("Committed", "RolledBack"):
            self.state = "committed" if event.type == "Committed" else "aborted"
            self.locks, self.locked_at = [], None
            for item in data.get("items", []) if event.type == "Committed" else []:
                self.stock[item["sku"]] = self.left(item["sku"]) - item["qty"]
        elif event.type == "LockWaiting":
            self.waiting.append({"txn": data["txn"], "row": data["row"], "since": data["since_ms"]})
        elif event.type == "LockGranted":
            self.waiting = [w for w in self.waiting if w["txn"] != data["txn"]]

    def left(self, sku: str) -> int:
        return self.stock.get(sku, STOCK_PER_SKU)

    def handle(self, message: Message, ctx: Context) -> None:
        kind, payload = message.type, message.payload
        if kind == "Prepare":
            self.prepare(ctx, message)
        elif kind in ("Commit", "Rollback"):
            self.finish(ctx, "commit" if kind == "Commit" else "abort")
        elif kind == "DecisionTimeout" and self.state == "prepared":
            self.ask(ctx, payload["attempt"])
        elif kind == "LockRequest":
            if any(w["txn"] == payload["txn"] for w in self.waiting):
                return  # asked again while already queued
            if payload["row"] in self.locks:
                ctx.record("LockWaiting", txn=payload["txn"], row=payload["row"], holder=self.txn,
                           since_ms=payload["first_ms"])
                ctx.send(message.source, "LockQueued", txn=payload["txn"], row=payload["row"])
            else:
                ctx.record("LockGranted", txn=payload["txn"], row=payload["row"],
                           waited_ms=ctx.now_ms - payload["first_ms"])
                ctx.send(message.source, "LockGranted", txn=payload["txn"], row=payload["row"])

    def prepare(self, ctx: Context, message: Message) -> None:
        if self.state != "working":  # a Prepare sent again: the same vote again
            ctx.send(message.source, "VoteYes" if self.vote == "yes" else "VoteNo", txn=message.payload["txn"])
            return
        if ctx.crash_point("before_vote"):
            return
        txn, order = self.txn, message.payload["order"]
        reason = self.refusal(order)
        if reason:
            ctx.record("VotedNo", txn=txn, reason=reason)
            ctx.send(message.source, "VoteNo", txn=txn)
            return
        locks = rows(self.name, order)
        ctx.record("Prepared", txn=txn, locks=locks, items=order["items"] if self.name == "inventory" else [])
        ctx.send(message.source, "VoteYes", txn=txn)
        if ctx.crash_point("after_vote"):
            return
        ctx.timer(DECISION_TIMEOUT_MS, "DecisionTimeout", attempt=1)

    def refusal(self, order: dict[str, Any]) -> str | None:
        if self.vote_no:
            return {"payments": "card declined", "inventory": "cannot ship",
                    "orders": "order refused"}.get(self.name, "refused")
        if self.name == "inventory":
            wanted: dict[str, int] = {}
            for item in order["items"]:
                wanted[item["sku"]] = wanted.get(item["sku"], 0) + item["qty"]
            short = [sku for sku, qty in wanted.items() if qty > self.left(sku)]
            if short:
                return f"out of stock: {', '.join(short)}"
        return None

    def finish(self, ctx: Context, decision: str) -> None:
        if self.state == "prepared" or (self.state == "working" and decision == "abort"):
            ctx.cancel_timers("DecisionTimeout")
            if decision == "commit":
                ctx.record("Committed", txn=self.txn, items=self.items)
            else:
                ctx.record("RolledBack", txn=self.txn)
            self.grant_waiting(ctx)
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
        ctx.timer(DECISION_TIMEOUT_MS * 2 ** attempt, "DecisionTimeout", attempt=attempt + 1)

    def resume(self, ctx: Context) -> None:
        """Rebuilt from its own log after a crash."""
        if self.state == "prepared":
            self.ask(ctx, 1)  # in doubt again: it voted Yes, so it must learn the decision
        elif self.state == "working":
            ctx.record("RolledBack", txn=self.txn, reason="lost its work in the crash before voting: aborts alone")
            ctx.send("coordinator", "VoteNo", txn=self.txn)
        else:
            ctx.send("coordinator", "Ack", txn=self.txn, decision="commit" if self.state == "committed" else "abort")


class Client:
    """Whoever placed the order: it asks the coordinator to run the transaction and hears the outcome."""

    name = "client"

    def apply(self, event: SimEvent) -> None:
        pass

    def handle(self, message: Message, ctx: Context) -> None:
        pass


class OtherOrder(Client):
    """Another order for the same stock: its request for the row waits while the transaction holds the lock. A
    request that gets no answer (inventory is down) is sent again after 1, 2 and 4 s; then the order gives up."""

    name = "other"

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


def two_phase_commit(order: dict[str, Any], seed: int = 1, faults: list[dict[str, Any]] = (),
                     participants: tuple[str, ...] = PARTICIPANTS,
                     settings: dict[str, dict[str, Any]] | None = None) -> Simulation:
    """A ready-to-step simulation of one distributed transaction; the other order's request for the same stock is
    on its way too (when inventory takes part)."""
    engine_faults, settings_ = faults_from(list(faults))
    if settings is not None:  # the caller keeps this dict to change participants later (inject)
        settings.update(settings_)
        settings_ = settings
    txn = transaction_id(order)

    def participant(name: str):
        return lambda: Participant(name, txn, **settings_[name])

    nodes = {"client": Client, "coordinator": Coordinator, **{name: participant(name) for name in participants}}
    if "inventory" in participants:
        nodes["other"] = OtherOrder
    sim = Simulation(nodes, seed=seed, faults=engine_faults)
    sim.send("client", "coordinator", "BeginTransaction",
             {"txn": txn, "order": dict(order), "participants": list(participants)})
    if "inventory" in participants:
        sku = order["items"][0]["sku"]
        request = {"txn": "txn-other-order", "row": f"stock:{sku}", "first_ms": OTHER_ORDER_AT_MS, "attempt": 1}
        sim.send("other", "inventory", "LockRequest", request, delay_ms=OTHER_ORDER_AT_MS)
        sim.send("other", "other", "RequestTimeout", {"request": request},
                 delay_ms=OTHER_ORDER_AT_MS + OTHER_ORDER_TIMEOUT_MS, timer=True)
    return sim


# --- Reading a run ----------------------------------------------------------------------------------------------


def folded(sim: Simulation) -> dict[str, Any]:
    """Every node's durable state, folded from the run's history (right even while a node is down)."""
    nodes: dict[str, Any] = {"coordinator": Coordinator()}
    for name in sim.nodes:
        if name in PARTICIPANTS:
            nodes[name] = Participant(name, txn="")
    for event in sim.history:
        node = nodes.get(event.data.get("node"))
        if node is not None:
            node.apply(event)
    return nodes


def outcome(sim: Simulation) -> str:
    """committed | aborted | blocked | in_progress (see the module's docstring)."""
    nodes = folded(sim)
    coordinator = nodes.pop("coordinator")
    in_doubt = [name for name, p in nodes.items() if p.state == "prepared" and name not in sim.crashed]
    if "coordinator" in sim.crashed and in_doubt:
        return "blocked"
    if sim.pending():
        return "in_progress"
    if coordinator.decision == "commit":
        return "committed"
    if coordinator.decision == "abort" or all(p.state == "aborted" for p in nodes.values()):
        return "aborted"
    return "in_progress"
