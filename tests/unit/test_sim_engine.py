"""The deterministic simulator the saga, 2PC and resilience labs share: ordering, faults, crash and replay."""

from eventlab.sim.engine import ENGINE_EVENTS, Context, Fault, Message, SimEvent, Simulation


class Counter:
    """A node that counts `Add` messages, replies `Added` to the sender, and can set itself a timer."""

    def __init__(self, name: str = "counter"):
        self.name = name
        self.total = 0

    def apply(self, event: SimEvent) -> None:
        if event.type == "Counted":
            self.total = event.data["total"]

    def handle(self, message: Message, ctx: Context) -> None:
        if message.type == "Add":
            ctx.record("Counted", total=self.total + message.payload["n"])
            ctx.send(message.source, "Added", total=self.total)
        elif message.type == "Remind":
            ctx.record("Reminded", at=ctx.now_ms)


class Client:
    def __init__(self):
        self.name = "client"
        self.replies: list[int] = []

    def apply(self, event: SimEvent) -> None:
        if event.type == "ReplySeen":
            self.replies.append(event.data["total"])

    def handle(self, message: Message, ctx: Context) -> None:
        ctx.record("ReplySeen", total=message.payload["total"])


def simulation(seed=1, faults=()):
    sim = Simulation({"counter": Counter, "client": Client}, seed=seed, faults=list(faults))
    for n in (1, 2, 3):
        sim.send("client", "counter", "Add", {"n": n})
    return sim


def kinds(sim):
    return [(e.type, e.data.get("type"), e.data.get("id")) for e in sim.history]


def test_the_same_seed_and_faults_give_the_same_run_step_for_step():
    first, second = simulation(seed=7), simulation(seed=7)
    first.run()
    second.run()
    assert first.history == second.history
    assert first.live["counter"].total == 6


def test_messages_are_delivered_in_due_time_order_and_the_clock_follows():
    sim = simulation()
    times = []
    while (event := sim.step()) is not None:
        times.append(event.at_ms)
    assert times == sorted(times)
    assert sim.clock_ms == times[-1]


def test_a_learner_can_pick_which_message_is_delivered_next():
    sim = simulation()
    last = sim.pending()[-1]
    delivered = sim.step(pick=last.id)
    assert delivered.data["id"] == last.id
    assert sim.live["counter"].total == last.payload["n"]


def test_drop_loses_the_nth_message_of_a_type():
    sim = simulation(faults=[Fault("drop", message="Add", nth=2)])
    sim.run()
    assert sim.live["counter"].total == 4  # 1 + 3: the second Add (n=2) never arrived
    assert [e.data["payload"]["n"] for e in sim.history if e.type == "MessageDropped"] == [2]


def test_duplicate_delivers_a_message_twice():
    sim = simulation(faults=[Fault("duplicate", message="Add", nth=1)])
    sim.run()
    assert sim.live["counter"].total == 7  # the n=1 Add counted twice: this node is not idempotent
    assert sum(1 for e in sim.history if e.type == "MessageDuplicated") == 1


def test_delay_moves_a_message_later_once():
    sim = simulation(faults=[Fault("delay", message="Add", nth=1, ms=5_000)])
    sim.run()
    delivered = [e for e in sim.history if e.type == "MessageDelivered" and e.data["type"] == "Add"]
    assert [e.data["payload"]["n"] for e in delivered][-1] == 1
    assert delivered[-1].at_ms >= 5_000


def test_a_crashed_node_forgets_and_recovery_replays_its_own_events():
    sim = simulation()
    sim.step()
    sim.step()
    total = sim.live["counter"].total
    sim.crash("counter")
    assert sim.live["counter"].total == 0  # memory gone
    replayed = sim.recover("counter")
    assert replayed == 2 and sim.live["counter"].total == total
    assert not any(e.type in ENGINE_EVENTS for e in sim.history if e.type == "Counted")


def test_messages_to_a_crashed_node_are_lost_until_it_restarts_by_itself():
    sim = simulation(faults=[Fault("crash", node="counter", after_step=1, restart_after_ms=1_000)])
    sim.run()
    assert [e.type for e in sim.history if e.type.startswith("Node")] == ["NodeCrashed", "NodeRecovered"]
    assert any(e.type == "MessageLost" for e in sim.history)


def test_a_node_down_for_n_steps_loses_what_arrives_meanwhile():
    sim = simulation(faults=[Fault("down", node="counter", steps=2)])
    sim.run()
    lost = [e for e in sim.history if e.type == "MessageLost"]
    counted = [e for e in sim.history if e.type == "MessageDelivered" and e.data["type"] == "Add"]
    assert len(lost) == 2 and len(counted) == 1
    assert sim.live["counter"].total == counted[0].data["payload"]["n"]


def test_timers_are_messages_to_oneself():
    sim = Simulation({"counter": Counter})
    sim.send("counter", "counter", "Remind", {}, delay_ms=2_000, timer=True)
    fired = sim.step()
    assert fired.type == "TimerFired" and fired.at_ms == 2_000
    assert sim.history[-1].type == "Reminded"
