"""Two-phase commit on the pure engine: the protocol step by step, and a failure matrix — every fault kind at every
protocol point (and crashes combined with other faults), several seeds — holding the course's promises:
atomicity at every step, commit only when every vote was Yes, blocked only where the protocol really blocks (the
coordinator down after participants voted Yes), presumed abort, and no lock left held once everything recovered."""

import itertools

import pytest

from eventlab.twopc.domain import (
    OTHER_ORDER_AT_MS,
    PARTICIPANTS,
    PROTOCOL_MESSAGES,
    VOTE_TIMEOUT_MS,
    decision,
    folded,
    outcome,
    two_phase_commit,
)

ORDER = {"order_id": "order-1", "customer": "Ada", "amount": "12.50",
         "items": [{"sku": "book", "qty": 1, "price": "12.50"}]}


def run(faults=(), seed=1, participants=PARTICIPANTS, order=ORDER):
    sim = two_phase_commit(order, seed=seed, faults=list(faults), participants=tuple(participants))
    sim.run()
    return sim


def states(sim) -> dict[str, str]:
    return {name: node.state for name, node in folded(sim).items() if name != "coordinator"}


def recover_all(sim) -> None:
    """Bring back whatever is down, as many times as it takes (each crash fault acts once)."""
    for _ in range(5):
        if not sim.crashed:
            return
        for node in sorted(sim.crashed):
            sim.recover(node)
        sim.run()
    assert not sim.crashed


def types(sim) -> list[str]:
    return [e.type for e in sim.history]


# --- The protocol, told step by step -------------------------------------------------------------------------------


def test_everyone_votes_yes_the_decision_is_logged_before_it_is_sent_and_all_commit():
    sim = run()
    assert outcome(sim) == "committed"
    assert set(states(sim).values()) == {"committed"}
    kinds = types(sim)
    decided = kinds.index("DecisionLogged")
    # Every participant prepared (took its locks) before the decision; every commit came after it was logged.
    assert [i for i, t in enumerate(kinds) if t == "Prepared"][-1] < decided
    assert min(i for i, t in enumerate(kinds) if t == "Committed") > decided
    assert kinds[-1] == "MessageDelivered" and sim.history[-1].data["type"] == "TransactionCommitted"
    coordinator = folded(sim)["coordinator"]
    # Nothing is logged before prepare (TransactionBegun is a note in its memory); commit forced, end lazily.
    assert [(e.type, e.data["forced"]) for e in coordinator.log] == [("DecisionLogged", True),
                                                                     ("TransactionEnded", False)]
    assert "forced" not in next(e for e in sim.history if e.type == "TransactionBegun").data
    assert all(not node.locks for name, node in folded(sim).items() if name != "coordinator")


def test_each_participant_locks_its_own_rows():
    sim = two_phase_commit({**ORDER, "items": [{"sku": "book", "qty": 1, "price": "1"},
                                               {"sku": "pen", "qty": 2, "price": "1"},
                                               {"sku": "book", "qty": 1, "price": "1"}]})
    while "DecisionLogged" not in types(sim):
        sim.step()
    locks = {name: node.locks for name, node in folded(sim).items() if name != "coordinator"}
    assert locks == {"orders": ["order:order-1"], "payments": ["account:Ada"],
                     "inventory": ["stock:book", "stock:pen"]}


def test_the_other_order_waits_for_the_stock_row_until_inventory_commits():
    sim = run()
    waited = [e for e in sim.history if e.type == "LockGranted" and e.data["txn"] == "txn-other-order"]
    assert len(waited) == 1 and waited[0].data["waited_ms"] > 0
    committed = next(e for e in sim.history if e.type == "Committed" and e.data["node"] == "inventory")
    assert waited[0].at_ms == committed.at_ms  # granted the moment the lock was released


def test_the_other_order_queued_behind_a_crashed_participant_gets_the_row_when_it_recovers_and_commits():
    sim = run([{"kind": "participant_crash", "participant": "inventory", "at": "after_vote",
                "restart_after_ms": None}])
    assert any(e.type == "LockWaiting" for e in sim.history)  # inventory had locked the row while doing its work
    assert not any(e.type == "LockGranted" for e in sim.history)
    recover_all(sim)
    granted = [e for e in sim.history if e.type == "LockGranted"]
    committed = next(e for e in sim.history if e.type == "Committed" and e.data["node"] == "inventory")
    assert len(granted) == 1 and granted[0].at_ms == committed.at_ms


def test_locks_are_taken_while_the_transaction_does_its_work_before_prepare():
    sim = run()
    kinds = types(sim)
    for name in PARTICIPANTS:
        work = next(i for i, e in enumerate(sim.history) if e.type == "WorkDone" and e.data["node"] == name)
        prepared = next(i for i, e in enumerate(sim.history) if e.type == "Prepared" and e.data["node"] == name)
        assert work < kinds.index("TransactionBegun") < prepared
    waiting = next(e for e in sim.history if e.type == "LockWaiting")
    assert waiting.at_ms < next(e.at_ms for e in sim.history if e.type == "Prepared" and
                                e.data["node"] == "inventory")  # the other order waits before any prepare


def test_the_other_order_queued_behind_the_lock_does_not_ask_again():
    sim = run([{"kind": "coordinator_crash", "at": "before_decision", "restart_after_ms": None}])
    assert sum(1 for e in sim.history if e.type == "MessageSent" and e.data["type"] == "LockRequest") == 1
    assert any(e.type == "MessageDelivered" and e.data["type"] == "LockQueued" for e in sim.history)
    recover_all(sim)
    granted = [e for e in sim.history if e.type == "LockGranted"]
    assert len(granted) == 1 and granted[0].data["waited_ms"] == granted[0].at_ms - OTHER_ORDER_AT_MS


def test_one_no_vote_rolls_everyone_back_even_those_that_voted_yes():
    sim = run([{"kind": "vote_no", "participant": "payments"}])
    assert outcome(sim) == "aborted"
    assert set(states(sim).values()) == {"aborted"}
    rolled_back = {e.data["node"] for e in sim.history if e.type == "RolledBack"}
    assert rolled_back == {"orders", "inventory"}  # payments aborted when it voted No
    decision = next(e for e in sim.history if e.type == "DecisionLogged")
    # Presumed abort: the abort is logged lazily and names nobody; only those that may be prepared hear it.
    assert decision.data == {"node": "coordinator", "decision": "abort", "reason": "payments voted No",
                             "forced": False, "participants": []}
    assert {e.data["to"] for e in sim.history if e.type == "MessageSent" and e.data["type"] == "Rollback"} == {
        "orders", "inventory"}


def test_an_order_inventory_cannot_fill_is_a_no_vote():
    sim = run(order={**ORDER, "items": [{"sku": "book", "qty": 11, "price": "1.00"}]})
    assert outcome(sim) == "aborted"
    assert any(e.type == "VotedNo" and e.data["reason"] == "out of stock: book" for e in sim.history)


def test_a_vote_later_than_the_timeout_aborts_and_changes_nothing_when_it_arrives():
    sim = run([{"kind": "delay", "message": "VoteYes", "nth": 1, "ms": 5_000}])
    assert outcome(sim) == "aborted"
    timed_out = next(e for e in sim.history if e.type == "VoteTimedOut")
    assert timed_out.at_ms >= VOTE_TIMEOUT_MS
    assert sum(1 for e in sim.history if e.type == "DecisionLogged") == 1


def test_a_lost_commit_is_sent_again_until_acknowledged():
    sim = run([{"kind": "drop", "message": "Commit", "nth": 1}])
    assert outcome(sim) == "committed"
    assert "DecisionResent" in types(sim)
    assert set(states(sim).values()) == {"committed"}


def test_the_coordinator_down_after_prepare_blocks_the_participants_in_doubt_until_it_recovers():
    sim = run([{"kind": "coordinator_crash", "at": "before_decision", "restart_after_ms": None}])
    assert outcome(sim) == "blocked"
    nodes = folded(sim)
    for name in PARTICIPANTS:
        assert nodes[name].state == "prepared" and nodes[name].locks  # holding locks, unable to decide alone
    assert sum(1 for e in sim.history if e.type == "InDoubt") == 3
    assert any(e.type == "MessageLost" and e.data["type"] == "DecisionRequest" for e in sim.history)
    recover_all(sim)
    # Presumed abort: no decision in its log, so the recovered coordinator answers abort (writing nothing).
    assert not [e for e in sim.history if e.type == "DecisionLogged"]
    assert any(e.type == "PresumedAbort" for e in sim.history)
    assert outcome(sim) == "aborted"
    assert all(not node.locks for name, node in folded(sim).items() if name != "coordinator")


def test_a_coordinator_that_crashes_after_logging_commit_commits_when_it_recovers():
    sim = run([{"kind": "coordinator_crash", "at": "after_decision", "restart_after_ms": None}])
    assert outcome(sim) == "blocked"
    recover_all(sim)
    assert outcome(sim) == "committed"
    assert set(states(sim).values()) == {"committed"}


def test_a_coordinator_that_restarts_by_itself_finishes_without_help():
    sim = run([{"kind": "coordinator_crash", "at": "after_decision", "restart_after_ms": 1_500}])
    assert not sim.crashed
    assert outcome(sim) == "committed"


def test_a_participant_that_crashes_after_voting_yes_keeps_its_locks_and_commits_when_it_recovers():
    sim = run([{"kind": "participant_crash", "participant": "inventory", "at": "after_vote",
                "restart_after_ms": None}])
    nodes = folded(sim)
    assert nodes["coordinator"].decision == "commit"
    assert nodes["inventory"].state == "prepared" and nodes["inventory"].locks == ["stock:book"]
    assert outcome(sim) == "committed"  # decided; inventory applies it once it is back
    recover_all(sim)
    assert "DecisionAsked" in types(sim)
    assert set(states(sim).values()) == {"committed"}
    assert folded(sim)["coordinator"].state == "done"


def test_a_participant_that_crashes_before_voting_aborts_on_its_own_when_it_recovers():
    sim = run([{"kind": "participant_crash", "participant": "payments", "at": "before_vote",
                "restart_after_ms": None}])
    assert outcome(sim) == "aborted"
    recover_all(sim)
    assert set(states(sim).values()) == {"aborted"}
    assert folded(sim)["coordinator"].state == "done"


def test_the_same_inputs_give_the_same_run_and_another_seed_another_timing():
    faults = [{"kind": "drop", "message": "VoteYes", "nth": 2}]
    assert run(faults).history == run(faults).history
    assert [e.at_ms for e in run(faults, seed=2).history] != [e.at_ms for e in run(faults).history]


# --- The failure matrix ------------------------------------------------------------------------------------------

CRASHES = [
    *[{"kind": "participant_crash", "participant": p, "at": at, "restart_after_ms": restart}
      for p in PARTICIPANTS for at in ("before_vote", "after_vote") for restart in (None, 500)],
    *[{"kind": "coordinator_crash", "at": at, "restart_after_ms": restart}
      for at in ("before_decision", "after_decision") for restart in (None, 1_500)],
]
SINGLE = [
    [],
    *[[{"kind": "vote_no", "participant": p}] for p in PARTICIPANTS],
    *[[crash] for crash in CRASHES],
    *[[{"kind": kind, "message": message, "nth": nth, **({"ms": ms} if kind == "delay" else {})}]
      for kind, ms in (("drop", 0), ("delay", 500), ("delay", 5_000))
      for message in PROTOCOL_MESSAGES for nth in (1, 2, 3)],
]
COMBINED = [
    [coordinator, other]
    for coordinator in CRASHES if coordinator["kind"] == "coordinator_crash"
    for other in [{"kind": "vote_no", "participant": "inventory"},
                  {"kind": "participant_crash", "participant": "payments", "at": "after_vote",
                   "restart_after_ms": None},
                  {"kind": "drop", "message": "Prepare", "nth": 2},
                  {"kind": "drop", "message": "Commit", "nth": 1}]
]
# Both variants everywhere; the options (a read-only participant, cooperative termination) on every single fault;
# one-phase commit on a single participant's faults.
VARIANTS = ({"protocol": "presumed_abort"}, {"protocol": "presumed_nothing"})
OPTIONS = ({"protocol": "presumed_abort", "read_only": ("orders",)},
           {"protocol": "presumed_abort", "read_only": ("orders", "payments", "inventory")},
           {"protocol": "presumed_abort", "cooperative": True}, {"protocol": "presumed_nothing", "cooperative": True})
MATRIX = [
    *[(faults, seed, participants, options) for faults, seed, participants, options in itertools.product(
        SINGLE + COMBINED, (1, 2, 3), (PARTICIPANTS, ("payments", "inventory")), VARIANTS)
      if all(f.get("participant", participants[0]) in participants for f in faults)],
    *[(faults, 1, PARTICIPANTS, options) for faults, options in itertools.product(SINGLE + COMBINED, OPTIONS)],
    *[(faults, seed, ("payments",), {**variant, "one_phase": True})
      for faults, seed, variant in itertools.product(SINGLE, (1, 2), VARIANTS)
      if all(f.get("participant", "payments") == "payments" for f in faults)],
]


def name(faults, seed, participants, options) -> str:
    described = "+".join("-".join(str(v) for v in f.values()) for f in faults) or "no-fault"
    extra = "-".join(f"{k}={'+'.join(v) if isinstance(v, tuple) else v}" for k, v in options.items())
    return f"{described}|seed{seed}|{'-'.join(participants)}|{extra}"


def check_atomic(sim) -> None:
    durable = states(sim)
    assert not ({"committed", "aborted"} <= set(durable.values())), durable
    if "committed" in durable.values():
        assert all(node.vote in ("yes", "read_only") or node.state == "committed"
                   for name, node in folded(sim).items() if name != "coordinator")


def test_the_matrix_is_big():
    assert len(MATRIX) > 1_500


@pytest.mark.parametrize(("faults", "seed", "participants", "options"), MATRIX, ids=[name(*row) for row in MATRIX])
def test_every_fault_at_every_protocol_point_keeps_the_promises(faults, seed, participants, options):
    """Atomicity at every step, blocked only with the coordinator down after Yes votes (cooperative termination
    can unblock only when a peer knows the outcome or had not voted: Bernstein, Hadzilacos & Goodman ch. 7),
    presumed abort, no lock left after recovery, determinism — for presumed abort and presumed nothing (Mohan,
    Lindsay & Obermarck 1986) and the read-only, one-phase and cooperative options."""
    sim = two_phase_commit(ORDER, seed=seed, faults=faults, participants=participants, **options)
    while sim.pending():
        sim.step()
        check_atomic(sim)  # at every step, not only at the end
    before = outcome(sim)
    coordinator_down_for_good = any(f["kind"] == "coordinator_crash" and f["restart_after_ms"] is None
                                    for f in faults)
    if before == "blocked":
        assert coordinator_down_for_good and "coordinator" in sim.crashed
        assert any(node.state == "prepared" for name, node in folded(sim).items() if name != "coordinator")
    if not coordinator_down_for_good:
        assert before != "blocked"

    recover_all(sim)
    check_atomic(sim)
    nodes = folded(sim)
    coordinator = nodes.pop("coordinator")
    final = {node.state for node in nodes.values()} - {"read_only"} or {"committed"}  # all read-only: committed
    assert final in ({"committed"}, {"aborted"}), final
    assert outcome(sim) == {"committed": "committed", "aborted": "aborted"}[final.pop()]
    if outcome(sim) == "committed":
        assert decision(sim) == "commit"
        if any(e.type == "Prepared" for e in sim.history):  # not read-only nor one-phase: commit logged, then end
            assert coordinator.state == "done" and coordinator.decision == "commit"
    else:  # presumed abort: an abort record (lazy, forgotten at once) or none at all — never a commit record
        assert coordinator.decision in ("abort", None)
    assert all(not node.locks and not node.waiting for node in nodes.values())
    if not faults:
        assert outcome(sim) == "committed"
    if any(f["kind"] == "vote_no" for f in faults):
        assert outcome(sim) == "aborted"
    # Deterministic: the same inputs replay to the same history.
    again = two_phase_commit(ORDER, seed=seed, faults=faults, participants=participants, **options)
    again.run()
    recover_all(again)
    assert again.history == sim.history
