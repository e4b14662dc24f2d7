"""Two-phase commit runs stored in a lab's log (eventlab.twopc.runs.LOG over the in-memory store): the learner's
inputs replayed on the engine — determinism, loading, going back to a step, forking, faults mid-run, crashes and
recovery (of every node, or the one named), refusals in plain words that append nothing, the step cap — and the
numbers the lab shows: time the other order was blocked, lock time, protocol messages, each node's state."""

import pytest

from eventlab.eventstore.core import InMemoryEventStore, NewEvent
from eventlab.sim import runlog
from eventlab.sim.runlog import UnknownRun
from eventlab.twopc import runs
from eventlab.twopc.domain import COORDINATOR_LOG, OTHER_ORDER_AT_MS
from eventlab.twopc.runs import LOG, Invalid, parse_faults, parse_start

LAB = "lab-1"
RUN = "run-1"
ORDER = {"customer": "Ada", "items": [{"sku": "book", "qty": 1, "price": "12.50"}]}
INPUTS = {"TwoPCStepTaken", "TwoPCFaultsInjected", "TwoPCRecoverRequested"}
CRASH_BEFORE_DECISION = {"kind": "coordinator_crash", "at": "before_decision"}
CRASH_AFTER_DECISION = {"kind": "coordinator_crash", "at": "after_decision"}
INVENTORY_CRASH = {"kind": "participant_crash", "participant": "inventory", "at": "after_vote"}


def new_store() -> InMemoryEventStore:
    store = InMemoryEventStore()
    store.create_log(LAB)
    return store


def begin(store, run_id=RUN, faults=(), seed=1, participants=None, order=ORDER):
    body = {"seed": seed, "order": order, "faults": list(faults)}
    if participants is not None:
        body["participants"] = list(participants)
    return LOG.start(store, LAB, run_id, parse_start(body))[0]


def act(store, given, run_id=RUN):
    return LOG.act(store, LAB, run_id, given)[0]


def step(store, run_id=RUN, **extra):
    return act(store, {"input": "step", **extra}, run_id)


def run_to_end(store, run_id=RUN):
    return act(store, {"input": "run"}, run_id)


def recover(store, run_id=RUN, **extra):
    return act(store, {"input": "recover", **extra}, run_id)


def inject(store, faults, run_id=RUN):
    return act(store, {"input": "faults", "faults": faults}, run_id)


def load(store, run_id=RUN, at_step=None):
    return LOG.load(store, LAB, run_id, at_step)


def stored(store, run_id=RUN):
    """The run's stream as (version, type, data): everything but the random ids and wall-clock times."""
    return [(e.version, e.type, e.data) for e in store.read_stream(LAB, LOG.stream_name(run_id))]


def version(store, run_id=RUN) -> int:
    return len(store.read_stream(LAB, LOG.stream_name(run_id)))


def refused(do, *fragments) -> str:
    """`do()` raises Invalid whose message says all of `fragments`."""
    with pytest.raises(Invalid) as caught:
        do()
    message = str(caught.value)
    for fragment in fragments:
        assert fragment in message, message
    return message


def step_until(store, done, run_id=RUN):
    """Step until `done(run)` (at most 100 steps)."""
    run = load(store, run_id)
    for _ in range(100):
        if done(run):
            return run
        run = step(store, run_id)
    raise AssertionError("never happened")


def delivered(run) -> list[str]:
    return [s["message"] for s in run.step_list()]


def play(store, run_id=RUN):
    """The same inputs, whatever the store: steps, a pick, a fault mid-run, a crash, recover, run to the end."""
    begin(store, run_id, seed=7)
    step(store, run_id)
    second = load(store, run_id).pending()[1]["id"]
    step(store, run_id, pick=second)
    inject(store, [CRASH_BEFORE_DECISION, {"kind": "drop", "message": "Ack"}], run_id)
    run_to_end(store, run_id)
    recover(store, run_id)
    return run_to_end(store, run_id)


# --- Determinism, and loading ----------------------------------------------------------------------------------------


def test_the_same_start_and_inputs_give_the_same_run_and_the_same_stored_stream():
    first_store, second_store = new_store(), new_store()

    first, second = play(first_store), play(second_store)

    assert first.outcome == "aborted"  # presumed abort after the recovery: the inputs did something
    assert first.history == second.history
    assert first.as_dict() == second.as_dict()
    assert stored(first_store) == stored(second_store)
    # Every engine event is stored with its step and virtual time.
    assert all("step" in data and "at_ms" in data for _, kind, data in stored(first_store)
               if kind not in INPUTS and kind != "TwoPCRunStarted")


def test_a_run_id_changes_nothing_but_the_run_id():
    store = new_store()

    play(store, "run-a")
    play(store, "run-b")

    a, b = stored(store, "run-a"), stored(store, "run-b")
    assert a[0][2].pop("run_id") == "run-a" and b[0][2].pop("run_id") == "run-b"
    assert a == b


def test_another_seed_gives_other_timings_so_the_comparisons_above_mean_something():
    one, other = new_store(), new_store()
    begin(one, seed=1)
    begin(other, seed=2)

    assert [s["at_ms"] for s in run_to_end(one).step_list()] != [s["at_ms"] for s in run_to_end(other).step_list()]


def test_the_start_is_stored_as_validated_and_every_input_after_it():
    store = new_store()
    begin(store, faults=[{"kind": "delay", "message": "VoteYes"}])
    step(store)
    inject(store, [{"kind": "vote_no", "participant": "orders"}])
    run_to_end(store)

    events = stored(store)

    assert events[0][1:] == ("TwoPCRunStarted", {
        "run_id": RUN, "seed": 1, "participants": ["orders", "payments", "inventory"],
        "order": {"order_id": "order-1", "customer": "Ada", "items": [{"sku": "book", "qty": 1, "price": "12.50"}],
                  "amount": "12.50"},
        "faults": [{"kind": "delay", "message": "VoteYes", "nth": 1, "ms": 5_000}], "protocol": "presumed_abort", "read_only": [], "one_phase": False, "cooperative": False})
    assert [v for v, _, _ in events] == list(range(1, len(events) + 1))
    inputs = [(kind, data) for _, kind, data in events if kind in INPUTS]
    assert inputs[0] == ("TwoPCStepTaken", {"input": "step"})
    assert inputs[1] == ("TwoPCFaultsInjected",
                         {"input": "faults", "faults": [{"kind": "vote_no", "participant": "orders"}]})
    assert [kind for kind, _ in inputs[2:]] == ["TwoPCStepTaken"] * (load(store).steps - 1)


def test_loading_a_run_gives_the_live_run_after_every_input():
    store = new_store()
    inputs = [
        {"input": "step"}, {"input": "step"},
        {"input": "faults", "faults": [{"kind": "drop", "message": "DecisionRequest"}]},
        {"input": "run"}, {"input": "recover", "node": "inventory"}, {"input": "run"},
        {"input": "recover"}, {"input": "run"},
    ]
    live = begin(store, faults=[INVENTORY_CRASH, CRASH_AFTER_DECISION])
    assert load(store).as_dict() == live.as_dict()

    for given in inputs:
        live = act(store, given)
        loaded = load(store)
        assert loaded.as_dict() == live.as_dict(), given
        assert loaded.history == live.history
        assert loaded.version == live.version == version(store)

    assert live.outcome == "committed" and live.done


def test_an_unknown_run_is_an_unknown_run_and_a_saga_stream_is_not_a_twopc_run():
    store = new_store()
    store.append(LAB, "twopc-other", [NewEvent("SomethingElse", {})], expected_version=0)

    for do in (lambda: load(store, "nope"), lambda: step(store, "nope"), lambda: run_to_end(store, "nope"),
               lambda: recover(store, "nope"), lambda: LOG.fork(store, LAB, "nope", 0, "run-2"),
               lambda: load(store, "other")):
        with pytest.raises(UnknownRun):
            do()


# --- Back to a step, and what-if forks --------------------------------------------------------------------------------


def test_loading_at_step_k_gives_the_run_as_it_was_after_k_steps():
    store = new_store()
    snapshots = [begin(store, faults=[CRASH_BEFORE_DECISION]).as_dict()]
    while load(store).sim.pending():
        run = step(store)
        snapshots.append(run.as_dict())
        if run.steps == 3:  # back at step 3 is the run right after step 3, before this fault came in
            inject(store, [{"kind": "drop", "message": "DecisionRequest"}])
    recover(store)  # after the last step: the last snapshot is before the recovery
    run_to_end(store)
    whole = load(store)
    assert whole.outcome == "aborted" and whole.steps > len(snapshots) - 1

    for k, then in enumerate(snapshots):
        back = load(store, at_step=k)
        assert back.steps == k
        assert back.step_list() == whole.step_list()[:k] == then["steps"]
        assert back.as_dict() == then
    assert load(store, at_step=len(snapshots) - 1).outcome == "blocked"
    assert load(store, at_step=whole.steps).as_dict() == whole.as_dict()
    assert version(store) == len(stored(store))  # going back appends nothing


def test_a_fork_at_step_k_shares_the_first_k_steps_and_leaves_the_original_untouched():
    store = new_store()
    begin(store)
    original = run_to_end(store)
    before = stored(store)

    forked, appended = LOG.fork(store, LAB, RUN, 2, "run-2")

    assert appended.events[0].stream == "twopc-run-2"
    assert (forked.id, forked.started["forked_from"], forked.started["fork_step"]) == ("run-2", RUN, 2)
    assert (forked.as_dict()["forked_from"], forked.as_dict()["fork_step"]) == (RUN, 2)
    assert forked.steps == 2
    assert forked.step_list() == original.step_list()[:2]
    assert stored(store) == before  # the original is untouched
    fork_events = stored(store, "run-2")
    assert fork_events[0][2]["forked_from"] == RUN
    assert [(t, d) for _, t, d in fork_events[1:]] == [(t, d) for _, t, d in before[1:len(fork_events)]]
    # What if orders voted No? At step 2 its work (and so its Prepare) is still to come.
    what_if = inject(store, [{"kind": "vote_no", "participant": "orders"}], "run-2")
    assert "Work" in [m["type"] for m in what_if.pending() if m["to"] == "orders"]
    assert run_to_end(store, "run-2").outcome == "aborted"
    assert load(store).outcome == "committed"
    assert stored(store) == before
    assert load(store, "run-2").started["forked_from"] == RUN  # survives a reload


def test_a_fork_of_a_fork_and_a_fork_at_step_0():
    store = new_store()
    begin(store)
    run_to_end(store)

    LOG.fork(store, LAB, RUN, 0, "run-2")
    zero = load(store, "run-2")
    assert (zero.steps, zero.step_list(), zero.outcome) == (0, [], "in_progress")
    step(store, "run-2")
    LOG.fork(store, LAB, "run-2", 1, "run-3")

    assert load(store, "run-3").started["forked_from"] == "run-2"
    assert run_to_end(store, "run-3").step_list() == load(store).step_list()


@pytest.mark.parametrize("at_step", [-1, 2, 99, True, "1", None, 1.0])
def test_a_fork_outside_the_run_is_refused_and_appends_nothing(at_step):
    store = new_store()
    begin(store)
    step(store)
    head = store.head(LAB)

    refused(lambda: LOG.fork(store, LAB, RUN, at_step, "run-2"), "at_step", "0 to 1")

    assert store.head(LAB) == head


# --- Stepping ------------------------------------------------------------------------------------------------------


def test_run_steps_until_nothing_is_in_flight_and_stores_one_step_input_per_step():
    store = new_store()
    begin(store)

    run = run_to_end(store)

    assert (run.outcome, run.done, run.pending(), run.sim.crashed) == ("committed", True, [], set())
    assert [t for _, t, _ in stored(store)].count("TwoPCStepTaken") == run.steps == len(run.step_list())
    assert delivered(run)[0] == "StartWork" and delivered(run)[-1] == "TransactionCommitted"
    assert delivered(run).index("BeginTransaction") > max(i for i, m in enumerate(delivered(run)) if m == "WorkDone")


def test_picking_a_message_delivers_that_one_and_the_others_still_wait():
    store = new_store()
    begin(store)
    run = step(store)
    pending = run.pending()
    assert [m["type"] for m in pending[:3]] == ["Work"] * 3

    run = step(store, pick=pending[2]["id"])

    assert run.step_list()[-1]["message_id"] == pending[2]["id"]
    assert run.step_list()[-1]["to"] == pending[2]["to"]
    assert {pending[0]["id"], pending[1]["id"]} <= {m["id"] for m in run.pending()}
    assert [d for _, t, d in stored(store) if t == "TwoPCStepTaken"][-1] == {"input": "step", "pick": pending[2]["id"]}
    assert load(store).as_dict() == run.as_dict()  # the pick is replayed


@pytest.mark.parametrize("pick", ["m999", "m1", 7])
def test_picking_a_message_not_in_flight_is_refused_and_appends_nothing(pick):
    store = new_store()
    begin(store)
    step(store)  # m1 (BeginTransaction) is delivered already
    before = version(store)

    refused(lambda: step(store, pick=pick), repr(pick), "not in flight")

    assert version(store) == before


def test_stepping_or_running_a_finished_run_is_refused_in_plain_words_and_appends_nothing():
    store = new_store()
    begin(store)
    run_to_end(store)
    head = store.head(LAB)

    assert refused(lambda: step(store)) == "Nothing is in flight: the transaction has finished (committed)."
    assert refused(lambda: run_to_end(store)) == "Nothing is in flight: the transaction has finished (committed)."

    assert store.head(LAB) == head


def test_stepping_or_running_while_nothing_moves_and_a_node_is_down_names_recover():
    store = new_store()
    begin(store, faults=[CRASH_BEFORE_DECISION])
    run_to_end(store)
    head = store.head(LAB)

    message = refused(lambda: step(store), "coordinator is down", "recover")
    assert refused(lambda: run_to_end(store)) == message

    assert store.head(LAB) == head


def test_two_nodes_down_are_both_named():
    store = new_store()
    begin(store, faults=[CRASH_AFTER_DECISION, INVENTORY_CRASH])
    run = run_to_end(store)
    assert run.sim.crashed == {"coordinator", "inventory"}

    refused(lambda: step(store), "coordinator and inventory are down", "recover")


def test_a_run_never_takes_more_than_max_steps(monkeypatch):
    monkeypatch.setattr(runs, "MAX_STEPS", 5)
    monkeypatch.setattr(runlog, "MAX_STEPS", 5)
    store = new_store()
    begin(store)

    run = run_to_end(store)
    assert run.steps == 5 and run.sim.pending()
    head = store.head(LAB)

    refused(lambda: step(store), "at most 5 steps")

    assert store.head(LAB) == head
    assert load(store).steps == 5


def test_running_a_run_already_at_max_steps_is_refused_in_plain_words(monkeypatch):
    monkeypatch.setattr(runs, "MAX_STEPS", 5)
    monkeypatch.setattr(runlog, "MAX_STEPS", 5)
    store = new_store()
    begin(store)
    run_to_end(store)
    head = store.head(LAB)

    refused(lambda: run_to_end(store), "at most 5 steps")

    assert store.head(LAB) == head


def test_an_unknown_input_is_refused():
    store = new_store()
    begin(store)
    before = version(store)

    refused(lambda: act(store, {"input": "teleport"}), "Unknown input 'teleport'")

    assert version(store) == before


# --- Faults mid-run ------------------------------------------------------------------------------------------------


def test_a_vote_no_injected_before_the_vote_aborts_the_transaction():
    store = new_store()
    begin(store)
    run = step(store)  # the work has started: payments has not voted yet
    assert "Work" in [m["type"] for m in run.pending() if m["to"] == "payments"]

    run = inject(store, [{"kind": "vote_no", "participant": "payments"}])
    assert {"kind": "vote_no", "participant": "payments"} in run.as_dict()["faults"]
    run = run_to_end(store)

    assert run.outcome == "aborted"
    assert run.votes()["payments"] == "no"
    states = run.participant_states()
    assert states["payments"]["vote"] == "no"
    assert {name: s["state"] for name, s in states.items()} == dict.fromkeys(states, "aborted")
    assert all(s["locks"] == [] for s in states.values())
    assert run.coordinator()["decision"] == "abort"
    assert load(store).as_dict() == run.as_dict()  # the injected fault is replayed


def test_a_vote_no_injected_after_the_participant_voted_yes_changes_nothing():
    store = new_store()
    begin(store)
    run = step_until(store, lambda r: r.votes().get("payments") == "yes")
    assert run.participant_states()["payments"]["state"] == "prepared"

    inject(store, [{"kind": "vote_no", "participant": "payments"}])

    assert run_to_end(store).outcome == "committed"


def test_a_coordinator_crash_injected_mid_run_acts():
    store = new_store()
    begin(store)
    step(store)

    inject(store, [CRASH_AFTER_DECISION])
    run = run_to_end(store)

    assert run.outcome == "blocked"
    assert run.coordinator()["state"] == "crashed" and run.coordinator()["decision"] == "commit"


def test_injected_faults_are_stored_with_their_defaults_filled_in():
    store = new_store()
    begin(store)
    step(store)

    inject(store, [{"kind": "delay", "message": "VoteYes"}, {"kind": "drop", "message": "Commit"},
                   {"kind": "participant_crash", "participant": "orders", "at": "before_vote"}])

    injected = [d for _, t, d in stored(store) if t == "TwoPCFaultsInjected"]
    assert injected == [{"input": "faults", "faults": [
        {"kind": "delay", "message": "VoteYes", "nth": 1, "ms": 5_000},
        {"kind": "drop", "message": "Commit", "nth": 1},
        {"kind": "participant_crash", "participant": "orders", "at": "before_vote", "restart_after_ms": None}]}]


@pytest.mark.parametrize(("faults", "message"), [
    ([{"kind": "meteor"}], "Unknown fault kind 'meteor'"),
    ([{"kind": "vote_no", "participant": "inventory"}], "one of this transaction's: orders, payments."),
    ("vote_no", "Faults must be a list."),
    ([{"kind": "vote_no", "participant": "orders"}] * 21, "At most 20 faults at once."),
])
def test_faults_the_run_cannot_take_are_refused_mid_run_and_append_nothing(faults, message):
    store = new_store()
    begin(store, participants=["orders", "payments"])
    step(store)
    before = stored(store)

    refused(lambda: inject(store, faults), message)

    assert stored(store) == before
    assert run_to_end(store).outcome == "committed"  # nothing of the refused faults was kept


# --- Crashes and recovery ------------------------------------------------------------------------------------------


def test_a_coordinator_down_before_its_decision_blocks_until_recover_then_presumes_abort():
    store = new_store()
    begin(store, faults=[CRASH_BEFORE_DECISION])

    run = run_to_end(store)
    assert (run.outcome, run.done, run.sim.crashed) == ("blocked", False, {"coordinator"})
    assert all(s["in_doubt"] and s["locks"] for s in run.participant_states().values())

    run = recover(store)
    assert run.sim.crashed == set()
    assert [e.data["node"] for e in run.history if e.type == "NodeRecovered"] == ["coordinator"]
    run = run_to_end(store)

    assert (run.outcome, run.done) == ("aborted", True)
    assert run.coordinator()["log"] == []  # presumed abort: no record, so the answer is abort, written nowhere
    assert any(e.type == "PresumedAbort" for e in run.history)
    assert all(s["state"] == "aborted" and s["locks"] == [] and not s["in_doubt"]
               for s in run.participant_states().values())
    assert [t for _, t, _ in stored(store)].count("TwoPCRecoverRequested") == 1


def test_a_coordinator_down_after_its_decision_resends_it_when_recovered():
    store = new_store()
    begin(store, faults=[CRASH_AFTER_DECISION])
    assert run_to_end(store).outcome == "blocked"

    recover(store)
    run = run_to_end(store)

    assert (run.outcome, run.done) == ("committed", True)
    assert all(s["state"] == "committed" for s in run.participant_states().values())


def test_recover_a_named_node_restarts_only_that_one():
    store = new_store()
    begin(store, faults=[CRASH_AFTER_DECISION, INVENTORY_CRASH])
    run_to_end(store)

    run = recover(store, node="inventory")

    assert run.sim.crashed == {"coordinator"}
    assert run.participant_states()["inventory"]["state"] == "prepared"  # back, and in doubt: it asks
    assert [d for _, t, d in stored(store) if t == "TwoPCRecoverRequested"] == [{"input": "recover",
                                                                                 "node": "inventory"}]
    assert run_to_end(store).outcome == "blocked"  # the coordinator is still down
    recover(store, node="coordinator")
    run = run_to_end(store)
    assert (run.outcome, run.done) == ("committed", True)


def test_a_participant_down_after_voting_yes_still_lets_the_others_commit_and_commits_once_recovered():
    store = new_store()
    begin(store, faults=[INVENTORY_CRASH])

    run = run_to_end(store)
    assert (run.outcome, run.done, run.sim.crashed) == ("committed", False, {"inventory"})
    inventory = run.participant_states()["inventory"]
    assert (inventory["state"], inventory["durable_state"], inventory["locks"]) == ("crashed", "prepared",
                                                                                   ["stock:book"])
    assert run.coordinator()["state"] == "committing"  # it has not heard inventory's acknowledgement

    recover(store)
    run = run_to_end(store)

    assert (run.outcome, run.done) == ("committed", True)
    assert {name: s["state"] for name, s in run.participant_states().items()} == {
        "orders": "committed", "payments": "committed", "inventory": "committed"}
    assert run.coordinator()["state"] == "done"


@pytest.mark.parametrize("node", ["payments", "coordinator", "nobody"])
def test_recovering_a_node_that_is_not_down_is_refused_and_appends_nothing(node):
    store = new_store()
    begin(store, faults=[INVENTORY_CRASH])
    run_to_end(store)
    before = stored(store)

    refused(lambda: recover(store, node=node), repr(node), "has not crashed", "down now: inventory")

    assert stored(store) == before


def test_recover_when_nothing_crashed_is_refused_and_appends_nothing():
    store = new_store()
    begin(store)
    before = version(store)

    assert refused(lambda: recover(store)) == "Nothing has crashed: there is nothing to recover."
    refused(lambda: recover(store, node="coordinator"), "Nothing has crashed")

    assert version(store) == before


def test_a_coordinator_that_restarts_by_itself_needs_no_recover():
    store = new_store()
    begin(store, faults=[{**CRASH_BEFORE_DECISION, "restart_after_ms": 500}])

    run = run_to_end(store)

    assert (run.outcome, run.done, run.sim.crashed) == ("aborted", True, set())


# --- The numbers -----------------------------------------------------------------------------------------------------


def granted_waits(run) -> list[int]:
    return [e.data["waited_ms"] for e in run.history if e.type == "LockGranted" and e.data["txn"] == "txn-other-order"]


def test_blocked_ms_is_how_long_the_other_order_waited_for_the_stock_row():
    store = new_store()
    run = begin(store)
    assert run.blocked_ms() == 0

    run = run_to_end(store)

    committed_at = next(e.at_ms for e in run.history if e.type == "Committed" and e.data["node"] == "inventory")
    assert granted_waits(run) == [committed_at - OTHER_ORDER_AT_MS]
    assert run.blocked_ms() == committed_at - OTHER_ORDER_AT_MS > 0
    assert run.as_dict()["blocked_ms"] == run.blocked_ms()


def test_blocked_ms_grows_while_the_coordinator_is_down_and_stops_once_the_lock_is_released():
    store = new_store()
    begin(store, faults=[CRASH_BEFORE_DECISION])
    run = step_until(store, lambda r: r.sim.crashed)
    seen = []
    while run.sim.pending():
        run = step(store)
        waiting = run.participant_states()["inventory"]["waiting"]
        assert [w["txn"] for w in waiting] == ["txn-other-order"]
        assert run.blocked_ms() == run.sim.clock_ms - OTHER_ORDER_AT_MS == waiting[0]["waited_ms"]
        seen.append(run.blocked_ms())
    assert seen == sorted(seen) and seen[-1] > seen[0] + 10_000

    recover(store)
    run = run_to_end(store)

    assert run.participant_states()["inventory"]["waiting"] == []
    assert run.blocked_ms() == granted_waits(run)[0] >= seen[-1]


def test_nothing_is_blocked_without_inventory():
    store = new_store()
    begin(store, participants=["orders", "payments"], faults=[CRASH_BEFORE_DECISION])

    run = run_to_end(store)

    assert run.outcome == "blocked"
    assert run.blocked_ms() == 0
    assert "other" not in run.sim.nodes
    assert set(run.participant_states()) == {"orders", "payments"}


def test_lock_ms_counts_every_locked_row_for_as_long_as_it_is_held():
    one_sku, two_skus = new_store(), new_store()
    begin(one_sku)
    begin(two_skus, order={"customer": "Ada", "items": [{"sku": "book", "qty": 1, "price": "1.00"},
                                                        {"sku": "pen", "qty": 1, "price": "1.00"}]})

    one, two = run_to_end(one_sku), run_to_end(two_skus)

    def held(run, name):  # from the work (locks are taken then, before prepare) to the commit
        prepared = next(e.at_ms for e in run.history if e.type == "WorkDone" and e.data["node"] == name)
        released = next(e.at_ms for e in run.history if e.type == "Committed" and e.data["node"] == name)
        return released - prepared

    assert one.lock_ms() == sum(held(one, name) for name in ("orders", "payments", "inventory"))
    assert two.participant_states()["inventory"]["locks"] == []
    assert two.lock_ms() == sum(held(two, name) for name in ("orders", "payments")) + 2 * held(two, "inventory")
    assert one.as_dict()["lock_ms"] == one.lock_ms()


def test_locks_held_in_doubt_count_up_to_now():
    store = new_store()
    begin(store, faults=[CRASH_BEFORE_DECISION])
    run = step_until(store, lambda r: r.sim.crashed)
    before, clock = run.lock_ms(), run.sim.clock_ms

    run = step(store)

    states = run.participant_states()
    assert all(s["locked_ms"] > 0 for s in states.values())
    assert run.lock_ms() == sum(s["locked_ms"] * len(s["locks"]) for s in states.values())
    assert run.lock_ms() - before == 3 * (run.sim.clock_ms - clock)


def test_messages_sent_counts_the_protocols_messages_only():
    store = new_store()
    run = begin(store)
    assert run.messages_sent() == 0  # the client's BeginTransaction and the other order's request do not count

    run = run_to_end(store)

    types = [e.data["type"] for e in run.history if e.type == "MessageSent"]
    assert "LockRequest" in types and "LockGranted" in types and "TransactionCommitted" in types
    assert any(e.type == "TimerSet" for e in run.history)
    # Prepare, a vote and the decision for each participant, and its acknowledgement: 4 x 3.
    assert run.messages_sent() == 12 == run.as_dict()["messages"]


def test_a_lost_commit_costs_one_more_message():
    store = new_store()
    begin(store, faults=[{"kind": "drop", "message": "Commit"}])

    run = run_to_end(store)

    assert run.outcome == "committed"
    assert run.messages_sent() == 13


def test_participant_states_show_locks_votes_in_doubt_and_who_waits():
    store = new_store()
    begin(store, faults=[CRASH_BEFORE_DECISION])
    run = step_until(store, lambda r: r.sim.crashed)

    states = run.participant_states()

    assert {name: (s["state"], s["vote"], s["locks"], s["in_doubt"]) for name, s in states.items()} == {
        "orders": ("prepared", "yes", ["order:order-1"], True),
        "payments": ("prepared", "yes", ["account:Ada"], True),
        "inventory": ("prepared", "yes", ["stock:book"], True),
    }
    assert [w["row"] for w in states["inventory"]["waiting"]] == ["stock:book"]
    assert states["orders"]["waiting"] == [] and states["payments"]["waiting"] == []


def test_participant_states_before_anything_happened():
    store = new_store()

    run = begin(store)

    assert run.participant_states() == {name: {
        "state": "idle", "durable_state": "idle", "vote": None, "locks": [], "locked_ms": 0,
        "in_doubt": False, "waiting": []} for name in ("orders", "payments", "inventory")}


def test_the_coordinator_shows_only_its_durable_log_and_crashed_while_down():
    store = new_store()
    begin(store, faults=[CRASH_AFTER_DECISION])
    run = step_until(store, lambda r: r.votes())
    assert run.coordinator()["state"] == "collecting"
    assert run.coordinator()["log"] == []  # nothing before the decision: no VoteReceived, no TransactionBegun

    run = run_to_end(store)

    coordinator = run.coordinator()
    assert (coordinator["state"], coordinator["decision"]) == ("crashed", "commit")
    assert [e["type"] for e in coordinator["log"]] == ["DecisionLogged"]
    assert all(e["type"] in COORDINATOR_LOG for e in coordinator["log"])
    assert all(set(e) == {"step", "at_ms", "type", "data"} for e in coordinator["log"])
    assert all("node" not in e["data"] and "order" not in e["data"] for e in coordinator["log"])
    assert coordinator["log"][0]["data"]["participants"] == ["orders", "payments", "inventory"]

    recover(store)
    coordinator = run_to_end(store).coordinator()
    assert (coordinator["state"], coordinator["decision"]) == ("done", "commit")
    assert [e["type"] for e in coordinator["log"]] == list(COORDINATOR_LOG)


def test_the_votes_the_coordinator_heard_are_forgotten_when_it_crashes():
    store = new_store()
    begin(store, faults=[CRASH_BEFORE_DECISION])
    run = step_until(store, lambda r: len(r.votes()) == 2)
    assert set(run.votes().values()) == {"yes"}

    run = step_until(store, lambda r: r.sim.crashed)  # the third Yes arrives: it would decide, and crashes

    assert run.votes() == {}
    assert run.as_dict()["votes"] == {}
    assert load(store, at_step=run.steps - 1).votes() != {}  # back one step, it had heard them


# --- Validation in plain words ---------------------------------------------------------------------------------------


def start_body(**changes):
    return {"seed": 1, "participants": ["orders", "payments", "inventory"], "order": ORDER, "faults": [], **changes}


def order_with(**item):
    return {"customer": "Ada", "items": [{"sku": "book", "qty": 1, "price": "12.50", **item}]}


def test_a_valid_start_is_normalised_with_the_defaults():
    assert parse_start({}) == {
        "seed": 1, "participants": ["orders", "payments", "inventory"],
        "order": {"order_id": "order-1", "customer": "Ada", "items": [{"sku": "book", "qty": 1, "price": "12.50"}],
                  "amount": "12.50"},
        "faults": [], "protocol": "presumed_abort", "read_only": [], "one_phase": False, "cooperative": False,
    }
    started = parse_start({"seed": 3, "participants": ["inventory", "orders"], "order": None,
                           "faults": [{"kind": "coordinator_crash", "at": "after_decision", "restart_after_ms": 0},
                                      {"kind": "delay", "message": "Ack", "nth": 100, "ms": 600_000}]})
    assert started["participants"] == ["orders", "inventory"]  # in the protocol's order
    assert started["order"]["order_id"] == "order-3" and started["order"]["customer"] == "Ada"
    assert started["faults"] == [
        {"kind": "coordinator_crash", "at": "after_decision", "restart_after_ms": 0},
        {"kind": "delay", "message": "Ack", "nth": 100, "ms": 600_000}]


PARTICIPANTS_MESSAGE = "The participants are one or more of orders, payments, inventory, each once."


@pytest.mark.parametrize(("body", "message"), [
    pytest.param(start_body(order={"customer": "Ada", "items": []}), "No items in order.", id="no-items"),
    pytest.param(start_body(order=order_with(qty=-1)), "Item 1's quantity must be a whole number from 1 to 1,000.",
                 id="negative-qty"),
    pytest.param(start_body(order=order_with(qty=0)), "Item 1's quantity", id="zero-qty"),
    pytest.param(start_body(order=order_with(price="12.505")), "with at most 2 decimal places", id="three-decimals"),
    pytest.param(start_body(order={"customer": "  ", "items": ORDER["items"]}), "The customer's name", id="no-name"),
    pytest.param(start_body(order={"customer": "x" * 101, "items": ORDER["items"]}), "at most 100 characters",
                 id="long-name"),
    pytest.param(start_body(order="Ada's book"), "An order is an object", id="order-text"),
    pytest.param(start_body(order={}), "The customer's name must be some text.", id="order-empty-object"),
    pytest.param(start_body(order=[]), "An order is an object", id="order-empty-list"),
    pytest.param(start_body(participants=[]), PARTICIPANTS_MESSAGE, id="no-participants"),
    pytest.param(start_body(participants=["orders", "billing"]), PARTICIPANTS_MESSAGE, id="unknown-participant"),
    pytest.param(start_body(participants=["orders", "orders"]), PARTICIPANTS_MESSAGE, id="duplicate-participant"),
    pytest.param(start_body(participants="orders"), PARTICIPANTS_MESSAGE, id="participants-text"),
    pytest.param(start_body(participants=None), PARTICIPANTS_MESSAGE, id="participants-null"),
    pytest.param(start_body(participants=[["orders"]]), PARTICIPANTS_MESSAGE, id="participants-nested"),
    pytest.param(start_body(participants=["orders", "payments"],
                            faults=[{"kind": "vote_no", "participant": "inventory"}]),
                 "The participant must be one of this transaction's: orders, payments.", id="fault-outside-txn"),
    pytest.param(start_body(faults=[{"kind": "meteor"}]),
                 "Unknown fault kind 'meteor'. The kinds are: vote_no, participant_crash, coordinator_crash, drop, "
                 "delay.", id="unknown-kind"),
    pytest.param(start_body(faults={"kind": "vote_no"}), "Faults must be a list.", id="faults-not-a-list"),
    pytest.param(start_body(faults=None), "Faults must be a list.", id="faults-null"),
    pytest.param(start_body(faults=[{"kind": "drop", "message": "Ack"}] * 21), "At most 20 faults at once.",
                 id="too-many-faults"),
    pytest.param(start_body(seed=True), "The seed must be a whole number from 0 to 2,147,483,647.", id="seed-bool"),
    pytest.param(start_body(seed=-1), "The seed must be a whole number from 0", id="seed-negative"),
    pytest.param(start_body(seed=2**31), "The seed must be a whole number", id="seed-too-big"),
    pytest.param(start_body(seed="1"), "The seed must be a whole number", id="seed-text"),
    pytest.param("not an object", "Start a transaction with a JSON object", id="not-an-object"),
    pytest.param(None, "Start a transaction with a JSON object", id="null"),
])
def test_a_start_the_lab_cannot_take_is_refused_in_plain_words(body, message):
    refused(lambda: parse_start(body), message)


ALL = ["orders", "payments", "inventory"]


@pytest.mark.parametrize(("fault", "message"), [
    ({"kind": "meteor"}, "Unknown fault kind 'meteor'"),
    ({"kind": "x" * 5_000}, "Unknown fault kind 'xxxx"),
    ({"kind": "vote_no"}, "The participant must be one of this transaction's: orders, payments, inventory."),
    ({"kind": "vote_no", "participant": "billing"}, "The participant must be one of this transaction's"),
    ({"kind": "vote_no", "participant": "coordinator"}, "The participant must be one of this transaction's"),
    ({"kind": "vote_no", "participant": ["payments"]}, "The participant must be one of this transaction's"),
    ({"kind": "vote_no", "participant": "payments", "at": "before_vote"}, "A vote_no fault has no field 'at'."),
    ({"kind": "drop", "message": "Commit", "ms": 5}, "A drop fault has no field 'ms'."),
    ({"kind": "coordinator_crash", "participant": "orders", "at": "before_decision"},
     "A coordinator_crash fault has no field 'participant'."),
    ({"kind": "participant_crash", "participant": "orders"},
     "A participant_crash happens at one of: before_vote, after_vote."),
    ({"kind": "participant_crash", "participant": "orders", "at": "before_decision"},
     "A participant_crash happens at one of: before_vote, after_vote."),
    ({"kind": "coordinator_crash", "at": "after_vote"},
     "A coordinator_crash happens at one of: before_decision, after_decision."),
    ({"kind": "coordinator_crash", "at": 3}, "A coordinator_crash happens at one of"),
    ({"kind": "coordinator_crash", "at": "before_decision", "restart_after_ms": -1},
     "restart_after_ms must be a whole number from 0 to 600,000."),
    ({"kind": "coordinator_crash", "at": "before_decision", "restart_after_ms": 600_001}, "restart_after_ms"),
    ({"kind": "participant_crash", "participant": "orders", "at": "after_vote", "restart_after_ms": "soon"},
     "restart_after_ms must be a whole number"),
    ({"kind": "drop", "message": "Teleport"}, "The message must be one of the protocol's: Prepare, VoteYes"),
    ({"kind": "drop", "message": "LockRequest"}, "The message must be one of the protocol's"),
    ({"kind": "drop"}, "The message must be one of the protocol's"),
    ({"kind": "drop", "message": "Commit", "nth": 0}, "nth must be a whole number from 1 to 100."),
    ({"kind": "drop", "message": "Commit", "nth": 101}, "nth must be a whole number from 1 to 100."),
    ({"kind": "drop", "message": "Commit", "nth": 1.5}, "nth must be a whole number"),
    ({"kind": "delay", "message": "VoteYes", "ms": 0}, "ms must be a whole number from 1 to 600,000."),
    ({"kind": "delay", "message": "VoteYes", "ms": 600_001}, "ms must be a whole number from 1 to 600,000."),
    ({"kind": "delay", "message": "VoteYes", "ms": -5}, "ms must be a whole number from 1 to 600,000."),
    ({"kind": "delay", "message": "VoteYes", "ms": True}, "ms must be a whole number"),
    ({"participant": "payments"}, 'A fault is an object with a "kind".'),
    ({"kind": 3}, 'A fault is an object with a "kind".'),
    ("vote_no", 'A fault is an object with a "kind".'),
])
def test_a_fault_the_lab_cannot_take_is_refused_in_plain_words(fault, message):
    text = refused(lambda: parse_faults([fault], ALL), message)
    assert len(text) < 300  # a long input is not echoed back whole


def test_every_fault_kind_in_the_api_contract_is_taken():
    faults = parse_faults([
        {"kind": "vote_no", "participant": "payments"},
        {"kind": "participant_crash", "participant": "inventory", "at": "before_vote"},
        {"kind": "participant_crash", "participant": "inventory", "at": "after_vote"},
        {"kind": "coordinator_crash", "at": "before_decision"},
        {"kind": "coordinator_crash", "at": "after_decision", "restart_after_ms": 1_000},
        {"kind": "drop", "message": "Prepare", "nth": 1},
        {"kind": "delay", "message": "VoteNo", "ms": 5_000},
    ], ALL)

    assert [f["kind"] for f in faults] == ["vote_no", "participant_crash", "participant_crash", "coordinator_crash",
                                           "coordinator_crash", "drop", "delay"]
    assert faults[3]["restart_after_ms"] is None and faults[4]["restart_after_ms"] == 1_000


def test_a_start_with_a_bad_fault_appends_nothing():
    store = new_store()
    begin(store, "run-0")
    head = store.head(LAB)

    refused(lambda: begin(store, faults=[{"kind": "vote_no", "participant": "nobody"}]), "participant")

    assert store.head(LAB) == head
    with pytest.raises(UnknownRun):
        load(store)


def test_a_run_recorded_by_an_earlier_engine_is_shown_as_far_as_it_replays_and_takes_no_more_input():
    """The engine changed under a stored run (e.g. 2PC now does its work before prepare, so a stored pick of a message
    id may never be in flight): loading it must not fail, nothing stored is edited, and acting says why not."""
    store = new_store()
    begin(store)
    step(store)
    stream = LOG.stream_name(RUN)
    store.append(LAB, stream, [NewEvent("TwoPCStepTaken", {"input": "step", "pick": "no-such-message"})],
                 expected_version=store.read_stream(LAB, stream)[-1].version)
    stored = [e.data for e in store.read_stream(LAB, stream)]
    run = load(store)
    assert run.steps == 1 and "earlier version of the lab" in run.stale and "after step 1" in run.stale
    with pytest.raises(Invalid, match="earlier version"):
        step(store)
    assert [e.data for e in store.read_stream(LAB, stream)] == stored
    assert load(store, at_step=1).steps == 1 and not LOG.load(store, LAB, RUN, at_step=0).steps
    forked, _ = LOG.fork(store, LAB, RUN, 1, "run-2")
    assert forked.steps == 1 and step(store, "run-2").steps == 2
