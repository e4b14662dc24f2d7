"""A small deterministic discrete-event simulator: the one engine the saga, 2PC and resilience labs stand on.

Pure Python, no Django. A run is reproducible from (its nodes, seed, fault plan, the learner's picks):
- **Nodes** hold local state that is a fold of their own events (`apply`) and handle one message at a time
  (`handle`), recording events and sending messages through the `Context` they are given.
- **The network** holds in-flight messages, each due at a time on a **virtual clock**; a timer is a message to
  oneself. `step()` delivers the earliest one (ties broken by send order), or the one the learner picks.
- **The fault plan** acts at delivery: drop, duplicate or delay the nth message of a type, take a node down for a
  number of steps, crash a node (its in-memory state is discarded; `recover` rebuilds it by replaying its events).
- **One seeded random source** for anything random (latency jitter), and ids derived from the run, never from uuid4.
Every step appends to `history` the run's events (`MessageSent`, `MessageDelivered`, `MessageDropped`, `NodeCrashed`,
the nodes' own events…); a lab stores them in its log, and the diagrams are projections of them.

Used by the saga lab (eventlab/sagas) and the two-phase commit lab (eventlab/twopc); the resilience lab is to stand
on it too.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, cast


@dataclass(frozen=True)
class Message:
    id: str
    type: str
    source: str
    target: str
    payload: dict[str, Any]
    due_ms: int
    seq: int
    causation_id: str | None = None
    timer: bool = False


@dataclass(frozen=True)
class SimEvent:
    """One thing that happened in a run, in order: what a lab appends to the run's stream."""

    step: int
    at_ms: int
    type: str
    data: dict[str, Any]


@dataclass(frozen=True)
class Fault:
    """`kind`: drop | duplicate | delay (the `nth` message of type `message`, delayed by `ms`),
    down (node `node` refuses deliveries for `steps` steps from its next delivery), crash (node `node` loses its
    memory after step `after_step`, or at the protocol point `at` the node names through `Context.crash_point`; it
    comes back after `restart_after_ms`, or only by `recover` when that is None)."""

    kind: str
    message: str | None = None
    nth: int = 1
    ms: int = 0
    node: str | None = None
    steps: int = 0
    after_step: int | None = None
    restart_after_ms: int | None = None
    at: str | None = None


class Node(Protocol):
    name: str

    def apply(self, event: SimEvent) -> None:
        """Fold one of this node's own events into its state (also how a crashed node is rebuilt)."""

    def handle(self, message: Message, ctx: Context) -> None:
        """React to one message: record events and send messages through `ctx`.

        A node may also define `resume(ctx)`, called after a crashed node is rebuilt from its events."""


class Context:
    """What a node may do while it handles a message."""

    def __init__(self, sim: Simulation, node: Node, cause: Message | None):
        self._sim, self._node, self._cause = sim, node, cause

    @property
    def now_ms(self) -> int:
        return self._sim.clock_ms

    @property
    def random(self) -> random.Random:
        return self._sim.random

    def record(self, event_type: str, **data: Any) -> None:
        event = self._sim._append(event_type, {"node": self._node.name, **data})
        self._node.apply(event)

    def send(self, target: str, message_type: str, **payload: Any) -> Message:
        return self._sim.send(self._node.name, target, message_type, payload, cause=self._cause)

    def timer(self, after_ms: int, message_type: str, **payload: Any) -> Message:
        return self._sim.send(self._node.name, self._node.name, message_type, payload, cause=self._cause,
                              delay_ms=after_ms, timer=True)

    def cancel_timers(self, message_type: str, **match: Any) -> None:
        """Cancel this node's pending timers of a type whose payload has these values (e.g. a reply arrived)."""
        self._sim.cancel_timers(self._node.name, message_type, match)

    def crash_point(self, point: str) -> bool:
        """The node reached a named point of its protocol (e.g. "before_decision"): if a fault says it crashes
        there, it crashes now (once) and the caller must stop handling. Returns whether it crashed."""
        return self._sim.crash_at(self._node.name, point)


@dataclass
class Simulation:
    nodes: dict[str, Callable[[], Node]]
    seed: int = 1
    faults: list[Fault] = field(default_factory=list)
    latency_ms: tuple[int, int] = (10, 30)

    def __post_init__(self) -> None:
        self.random = random.Random(self.seed)
        self.clock_ms = 0
        self.steps = 0
        self.history: list[SimEvent] = []
        self.live: dict[str, Node] = {name: make() for name, make in self.nodes.items()}
        self.crashed: set[str] = set()
        self._inflight: list[Message] = []
        self._sent = 0
        self._ordinal: dict[str, int] = {}  # message id -> it was the nth message of its type sent
        self._per_type: dict[str, int] = {}
        self._fired: set[int] = set()  # indexes of faults that have acted (each acts once)
        self._down_until: dict[str, int] = {}

    # --- the network -------------------------------------------------------------------------------------------------

    def send(
        self, source: str, target: str, message_type: str, payload: dict[str, Any], cause: Message | None = None,
        delay_ms: int | None = None, timer: bool = False,
    ) -> Message:
        self._sent += 1
        self._per_type[message_type] = self._per_type.get(message_type, 0) + 1
        self._ordinal[f"m{self._sent}"] = self._per_type[message_type]  # faults count messages in send order
        if delay_ms is None:
            delay_ms = self.random.randint(*self.latency_ms)
        message = Message(f"m{self._sent}", message_type, source, target, dict(payload), self.clock_ms + delay_ms,
                          self._sent, cause.id if cause else None, timer)
        self._inflight.append(message)
        self._append("TimerSet" if timer else "MessageSent", _describe(message))
        return message

    def cancel_timers(self, node: str, message_type: str, match: dict[str, Any]) -> None:
        for timer in [m for m in self._inflight if m.timer and m.target == node and m.type == message_type
                      and all(m.payload.get(k) == v for k, v in match.items())]:
            self._inflight.remove(timer)
            self._append("TimerCancelled", _describe(timer))

    def inject(self, faults: list[Fault]) -> None:
        """More faults for a run in progress; they act from the next delivery on."""
        self.faults.extend(faults)

    def act(self, node: str, message_type: str, payload: dict[str, Any]) -> None:
        """Someone outside the network (a person at a console) acts through `node` now: no delivery, no step."""
        actor = self.live[node]
        actor.handle(Message(f"act{len(self.history)}", message_type, node, node, dict(payload), self.clock_ms, 0),
                     Context(self, actor, None))

    def pending(self) -> list[Message]:
        """In-flight messages in the order they would be delivered."""
        return sorted(self._inflight, key=lambda m: (m.due_ms, m.seq))

    @property
    def done(self) -> bool:
        return not self._inflight

    def step(self, pick: str | None = None) -> SimEvent | None:
        """Deliver the next message (or the picked one). Returns the delivery's event, or None if nothing is left."""
        queue = self.pending()
        if not queue:
            return None
        message = next((m for m in queue if m.id == pick), None) if pick else queue[0]
        if message is None:
            raise KeyError(f"No message {pick!r} is in flight.")
        self._inflight.remove(message)
        self.steps += 1
        self.clock_ms = max(self.clock_ms, message.due_ms)
        outcome = self._deliver(message)
        self._after_step()
        return outcome

    def run(self, max_steps: int = 10_000) -> int:
        """Step until nothing is in flight (or `max_steps`); returns the steps taken."""
        taken = 0
        while not self.done and taken < max_steps:
            self.step()
            taken += 1
        return taken

    def _deliver(self, message: Message) -> SimEvent:
        described = _describe(message)
        if message.timer and message.type == RESTART:
            fired = self._append("TimerFired", described)
            self.recover(message.target)
            return fired
        if not message.timer:
            for kind in ("drop", "duplicate", "delay"):
                fault = self._matching(kind, message)
                if fault is None:
                    continue
                if kind == "drop":
                    return self._append("MessageDropped", described)
                if kind == "duplicate":
                    copy = self.send(message.source, message.target, message.type, message.payload,
                                     delay_ms=self.random.randint(*self.latency_ms))
                    self._append("MessageDuplicated", {**described, "copy": copy.id})
                if kind == "delay":
                    self._inflight.append(_later(message, fault.ms))
                    return self._append("MessageDelayed", {**described, "ms": fault.ms})
        target = message.target
        if target in self.crashed or self._down_until.get(target, 0) >= self.steps or self._goes_down(target):
            return self._append("MessageLost", {**described, "reason": f"{target} is down"})
        delivered = self._append("TimerFired" if message.timer else "MessageDelivered", described)
        node = self.live[target]
        node.handle(message, Context(self, node, message))
        return delivered

    def _matching(self, kind: str, message: Message) -> Fault | None:
        for index, fault in enumerate(self.faults):
            if (index not in self._fired and fault.kind == kind and fault.message == message.type
                    and fault.nth == self._ordinal[message.id]):
                self._fired.add(index)
                return fault
        return None

    def _goes_down(self, node: str) -> bool:
        for index, fault in enumerate(self.faults):
            if fault.kind == "down" and fault.node == node and index not in self._fired:
                self._fired.add(index)
                self._down_until[node] = self.steps + fault.steps - 1
                self._append("NodeDown", {"node": node, "steps": fault.steps})
                return True
        return False

    def _after_step(self) -> None:
        for fault in self.faults:
            if fault.kind == "crash" and fault.after_step == self.steps and fault.node not in self.crashed:
                self._crash_by(fault)

    def crash_at(self, node: str, point: str) -> bool:
        for index, fault in enumerate(self.faults):
            if fault.kind == "crash" and fault.node == node and fault.at == point and index not in self._fired:
                self._fired.add(index)
                self._crash_by(fault)
                return True
        return False

    def _crash_by(self, fault: Fault) -> None:
        node = cast(str, fault.node)  # a crash fault names its node
        self.crash(node)
        if fault.restart_after_ms is not None:
            self.send(node, node, RESTART, {}, delay_ms=fault.restart_after_ms, timer=True)

    # --- crash and recovery ------------------------------------------------------------------------------------------

    def crash(self, node: str) -> None:
        """The node loses everything in memory; only its recorded events survive."""
        self.crashed.add(node)
        self.live[node] = self.nodes[node]()
        lost = [m for m in self._inflight if m.timer and m.target == node]  # its timers lived in its memory
        self._inflight = [m for m in self._inflight if m not in lost]
        self._append("NodeCrashed", {"node": node, "timers_lost": [m.id for m in lost]})

    def recover(self, node: str) -> int:
        """Rebuild the node by replaying its own events; returns how many were replayed."""
        if node not in self.crashed:
            return 0
        fresh = self.nodes[node]()
        own = [e for e in self.history if e.data.get("node") == node and e.type not in ENGINE_EVENTS]
        for event in own:
            fresh.apply(event)
        self.live[node] = fresh
        self.crashed.discard(node)
        self._append("NodeRecovered", {"node": node, "replayed": len(own)})
        resume = getattr(fresh, "resume", None)
        if resume is not None:  # e.g. re-send what it was waiting on: its timers died with it
            resume(Context(self, fresh, None))
        return len(own)

    def _append(self, event_type: str, data: dict[str, Any]) -> SimEvent:
        event = SimEvent(self.steps, self.clock_ms, event_type, data)
        self.history.append(event)
        return event


RESTART = "Restart"  # a timer the engine sets for a crashed node that restarts by itself
ENGINE_EVENTS = {
    "MessageSent", "TimerSet", "MessageDelivered", "TimerFired", "MessageDropped", "MessageDuplicated",
    "MessageDelayed", "MessageLost", "NodeDown", "NodeCrashed", "NodeRecovered", "TimerCancelled",
}
DELIVERIES = {"MessageDelivered", "TimerFired", "MessageDropped", "MessageDelayed", "MessageLost"}  # one per step


def network_messages(history: list[SimEvent], outsiders: set[str]) -> int:
    """How many messages the run sent over its network between its own nodes (timers and anything to or from
    `outsiders`, such as the client, are not counted)."""
    return sum(1 for e in history if e.type == "MessageSent" and e.data["from"] not in outsiders
               and e.data["to"] not in outsiders)


def _describe(message: Message) -> dict[str, Any]:
    return {"id": message.id, "type": message.type, "from": message.source, "to": message.target,
            "payload": message.payload, "due_ms": message.due_ms, "causation_id": message.causation_id}


def _later(message: Message, ms: int) -> Message:
    return Message(message.id, message.type, message.source, message.target, message.payload, message.due_ms + ms,
                   message.seq, message.causation_id, message.timer)
