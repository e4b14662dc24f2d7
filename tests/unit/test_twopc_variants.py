"""The two-phase commit variants and options, counted: forced log writes, lazy log writes, messages and
acknowledgements per protocol, as published.

References:
- C. Mohan, B. Lindsay, R. Obermarck, "Transaction Management in the R* Distributed Database Management System",
  ACM TODS 11(4), 1986: the basic protocol ("2P", called presumed nothing here) and presumed abort (PA). 2P: the
  coordinator force-writes its commit or abort record and, after every acknowledgement, writes a non-forced end
  record; each subordinate force-writes its prepare record and its commit or abort record, then acknowledges —
  4 messages per subordinate (prepare, vote, decision, ack). PA: commits exactly as 2P; an abort record is not
  forced (by anyone), names nobody, is not acknowledged and needs no end record — the coordinator may forget the
  transaction at once, and with no information about a transaction the answer is abort. A subordinate that did no
  updates votes READ ONLY, writes no log record and gets no phase-2 message; a completely read-only transaction
  writes nothing and has no second phase.
- J. Gray & A. Reuter, "Transaction Processing: Concepts and Techniques" (1993): the read-only optimisation, and
  one-phase commit when a single resource manager takes part (no prepare: it decides, 2 messages).
- P. Bernstein, V. Hadzilacos, N. Goodman, "Concurrency Control and Recovery in Database Systems" (1987), ch. 7:
  the cooperative termination protocol — an uncertain participant asks the others; it learns the decision if one
  of them knows it (or has not voted and so may abort), and stays blocked if all voted Yes and are uncertain too.
"""

import pytest

from eventlab.twopc.domain import PARTICIPANTS, decision, folded, log_writes, outcome, two_phase_commit
from eventlab.twopc.runs import TwoPCRun, costs, parse_start

ORDER = {"order_id": "order-1", "customer": "Ada", "amount": "12.50",
         "items": [{"sku": "book", "qty": 1, "price": "12.50"}]}
PA, PN = "presumed_abort", "presumed_nothing"


def finished(faults=(), participants=PARTICIPANTS, recover=True, **options):
    sim = two_phase_commit(ORDER, faults=list(faults), participants=tuple(participants), **options)
    sim.run()
    for _ in range(3):
        if not recover or not sim.crashed:
            break
        for node in sorted(sim.crashed):
            sim.recover(node)
        sim.run()
    return sim


def count(sim, participants=PARTICIPANTS):
    return costs(sim.history, ["coordinator", *participants])


def forced(sim, node):
    return [e.type for e in log_writes(sim.history, node) if e.data["forced"]]


def lazy(sim, node):
    return [e.type for e in log_writes(sim.history, node) if not e.data["forced"]]


# --- Commit: the same under both ----------------------------------------------------------------------------------


@pytest.mark.parametrize("protocol", [PA, PN])
@pytest.mark.parametrize("participants", [PARTICIPANTS, ("payments", "inventory"), ("orders",)])
def test_a_commit_with_n_participants_forces_1_plus_2n_records_and_sends_4n_messages(protocol, participants):
    """2P and PA commit alike (R*, 1986): coordinator 1 forced (commit) + 1 lazy (end, after all acks); each
    participant 2 forced (prepared, committed); 4n messages: prepare, vote, commit, ack."""
    sim = finished(participants=participants, protocol=protocol)
    n = len(participants)
    assert outcome(sim) == "committed"
    assert forced(sim, "coordinator") == ["DecisionLogged"] and lazy(sim, "coordinator") == ["TransactionEnded"]
    for name in participants:
        assert forced(sim, name) == ["Prepared", "Committed"] and lazy(sim, name) == []
    c = count(sim, participants)
    assert (c["coordinator_forced"], c["participants_forced"], c["lazy"]) == (1, 2 * n, 1)
    assert c["messages"] == 4 * n and c["by_type"] == {"Prepare": n, "VoteYes": n, "Commit": n, "Ack": n}
    end = next(i for i, e in enumerate(sim.history) if e.type == "TransactionEnded")
    assert [i for i, e in enumerate(sim.history) if e.type == "AckReceived"][-1] < end  # the end after every ack


@pytest.mark.parametrize("protocol", [PA, PN])
def test_nothing_is_written_before_the_prepare_phase(protocol):
    """No record, forced or not, before the first Prepare (PA as published; 2P has none either)."""
    sim = finished(protocol=protocol)
    first_prepare = next(i for i, e in enumerate(sim.history) if e.type == "MessageSent" and e.data["type"] == "Prepare")
    assert not log_writes(sim.history[:first_prepare])


# --- Abort: where the variants differ --------------------------------------------------------------------------------


def test_presumed_abort_one_no_vote_forces_nothing_but_the_prepared_records_and_sends_no_acks():
    """PA abort (R*, 1986): the coordinator's abort record is not forced and names nobody; the No voter and the
    participants told to abort write lazy abort records; nobody acknowledges an abort; no end record; the abort goes
    only to those that may be prepared: prepare n + votes n + abort to n-1 = 3n-1 messages."""
    sim = finished([{"kind": "vote_no", "participant": "payments"}], protocol=PA)
    assert outcome(sim) == "aborted"
    assert forced(sim, "coordinator") == [] and lazy(sim, "coordinator") == ["DecisionLogged"]
    assert forced(sim, "payments") == [] and lazy(sim, "payments") == ["VotedNo"]
    for name in ("orders", "inventory"):
        assert forced(sim, name) == ["Prepared"] and lazy(sim, name) == ["RolledBack"]
    c = count(sim)
    assert c["by_type"] == {"Prepare": 3, "VoteYes": 2, "VoteNo": 1, "Rollback": 2}
    assert c["messages"] == 3 * 3 - 1 and c["acks"] == 0
    assert not any(e.type == "TransactionEnded" for e in sim.history)


def test_presumed_nothing_one_no_vote_forces_every_abort_record_and_acknowledges_it():
    """2P abort (R*, 1986): the coordinator forces its abort record, every participant forces its abort record,
    those told acknowledge, and the coordinator writes a lazy end record: 3n-1 + (n-1) acks = 10 messages."""
    sim = finished([{"kind": "vote_no", "participant": "payments"}], protocol=PN)
    assert forced(sim, "coordinator") == ["DecisionLogged"] and lazy(sim, "coordinator") == ["TransactionEnded"]
    assert forced(sim, "payments") == ["VotedNo"]
    for name in ("orders", "inventory"):
        assert forced(sim, name) == ["Prepared", "RolledBack"]
    c = count(sim)
    assert c["by_type"] == {"Prepare": 3, "VoteYes": 2, "VoteNo": 1, "Rollback": 2, "Ack": 2}
    assert c["messages"] == 10 and c["acks"] == 2


@pytest.mark.parametrize("protocol", [PA, PN])
def test_an_abort_on_a_vote_timeout_goes_to_everyone_that_has_not_voted_no(protocol):
    """A missing vote aborts; the abort goes to every participant that may be prepared (all but No voters). PA:
    at most 3n messages, no acks; 2P: plus an ack from each."""
    sim = finished([{"kind": "drop", "message": "VoteYes", "nth": 1}], protocol=protocol)
    assert outcome(sim) == "aborted"
    decided = next(e for e in sim.history if e.type == "DecisionLogged")
    told = [e.data["to"] for e in sim.history if e.type == "MessageSent" and e.data["type"] == "Rollback"
            and e.step == decided.step]
    assert sorted(told) == sorted(PARTICIPANTS)
    c = count(sim)  # (a participant whose DecisionRequest crossed the abort is answered again)
    if protocol == PA:
        assert c["acks"] == 0 and c["coordinator_forced"] == 0 and decided.data["forced"] is False
    else:
        assert c["acks"] >= 3 and c["coordinator_forced"] == 1 and decided.data["forced"] is True


def test_a_pa_participant_told_nothing_learns_abort_by_presumption_when_the_coordinator_has_no_record():
    """Whoever finds no record aborts: the coordinator crashes before deciding; recovered, its log is empty and
    it presumes abort, writing nothing."""
    sim = finished([{"kind": "coordinator_crash", "at": "before_decision", "restart_after_ms": None}], protocol=PA)
    assert outcome(sim) == "aborted" and decision(sim) is None
    assert log_writes(sim.history, "coordinator") == []
    assert any(e.type == "PresumedAbort" for e in sim.history)


# --- Read-only -----------------------------------------------------------------------------------------------------


def test_a_read_only_participant_under_presumed_abort_writes_nothing_and_gets_no_phase_two_message():
    """R* PA read-only vote: it votes READ ONLY, writes no log record, releases its (shared) locks and gets no
    phase-2 message; the others commit as usual: 4(n-1) + 2 messages."""
    sim = finished(protocol=PA, read_only=("orders",))
    assert outcome(sim) == "committed"
    assert log_writes(sim.history, "orders") == []
    to_orders = [e.data["type"] for e in sim.history if e.type == "MessageSent" and e.data["to"] == "orders"]
    assert to_orders == ["Work", "Prepare"]
    c = count(sim)
    assert c["by_type"] == {"Prepare": 3, "VoteReadOnly": 1, "VoteYes": 2, "Commit": 2, "Ack": 2}
    assert c["messages"] == 4 * 2 + 2 and (c["coordinator_forced"], c["participants_forced"]) == (1, 4)
    orders = folded(sim)["orders"]
    assert orders.state == "read_only" and not orders.locks
    left = next(e for e in sim.history if e.type == "VotedReadOnly")
    assert left.at_ms < next(e.at_ms for e in sim.history if e.type == "DecisionLogged")  # it left after phase 1


def test_a_completely_read_only_transaction_writes_no_log_record_and_has_no_second_phase():
    sim = finished(protocol=PA, read_only=PARTICIPANTS)
    assert outcome(sim) == "committed"
    assert log_writes(sim.history) == []
    assert count(sim)["by_type"] == {"Prepare": 3, "VoteReadOnly": 3}


def test_basic_two_phase_commit_has_no_read_only_vote_a_reader_goes_through_both_phases():
    sim = finished(protocol=PN, read_only=("orders",))
    assert forced(sim, "orders") == ["Prepared", "Committed"]
    assert count(sim)["messages"] == 12


def test_a_read_only_participant_releases_its_shared_lock_at_prepare_so_the_other_order_waits_less():
    read_only = TwoPCRun("a", parse_start({"read_only": ["inventory"]}))
    plain = TwoPCRun("b", parse_start({}))
    for run in (read_only, plain):
        run.sim.run()
    hold = next(h for h in read_only.lock_holds() if h["participant"] == "inventory")
    assert hold["mode"] == "shared" and hold["prepared_ms"] is None
    assert read_only.blocked_ms() < plain.blocked_ms()


# --- One-phase commit ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("protocol", [PA, PN])
def test_one_phase_commit_with_a_single_participant_sends_two_messages_and_the_participant_forces_one_record(
        protocol):
    """Gray & Reuter: with one resource manager the coordinator skips prepare; the participant commits locally
    (one forced commit record) and answers: 2 messages, no coordinator record."""
    sim = finished(participants=("payments",), protocol=protocol, one_phase=True)
    assert outcome(sim) == "committed"
    assert log_writes(sim.history, "coordinator") == []
    assert forced(sim, "payments") == ["Committed"]
    assert count(sim, ["payments"])["by_type"] == {"CommitOnePhase": 1, "Ack": 1}
    two_phase = finished(participants=("payments",), protocol=protocol)
    assert count(two_phase, ["payments"])["messages"] == 4


def test_one_phase_commit_needs_exactly_one_participant():
    from eventlab.sim.runlog import Invalid
    with pytest.raises(Invalid, match="exactly one participant"):
        parse_start({"one_phase": True})
    assert parse_start({"one_phase": True, "participants": ["payments"]})["one_phase"] is True


# --- Cooperative termination ---------------------------------------------------------------------------------------

CRASH_BEFORE_DECISION = {"kind": "coordinator_crash", "at": "before_decision", "restart_after_ms": None}


@pytest.mark.parametrize("protocol", [PA, PN])
def test_cooperative_termination_unblocks_when_a_peer_knows_the_outcome(protocol):
    """Inventory votes No and the coordinator crashes before logging abort: orders and payments are uncertain,
    ask their peers, learn abort from inventory and roll back — with the coordinator still down."""
    sim = finished([{"kind": "vote_no", "participant": "inventory"}, CRASH_BEFORE_DECISION], recover=False,
                   protocol=protocol, cooperative=True)
    assert "coordinator" in sim.crashed and outcome(sim) == "aborted"
    learned = {e.data["node"]: (e.data["peer"], e.data["decision"]) for e in sim.history
               if e.type == "LearnedFromPeer"}
    assert learned and all(answer == ("inventory", "abort") for answer in learned.values())
    assert all(not p.locks for name, p in folded(sim).items() if name != "coordinator")


def test_without_cooperative_termination_the_same_run_blocks():
    sim = finished([{"kind": "vote_no", "participant": "inventory"}, CRASH_BEFORE_DECISION], recover=False)
    assert outcome(sim) == "blocked"


@pytest.mark.parametrize("protocol", [PA, PN])
def test_cooperative_termination_cannot_help_when_everyone_voted_yes_and_is_in_doubt(protocol):
    """Bernstein et al. ch. 7: all voted Yes and all are uncertain: nobody knows, so they stay blocked."""
    sim = finished([CRASH_BEFORE_DECISION], recover=False, protocol=protocol, cooperative=True)
    assert outcome(sim) == "blocked"
    assert {e.data["node"] for e in sim.history if e.type == "PeerInDoubt"} == set(PARTICIPANTS)
    assert not any(e.type == "LearnedFromPeer" for e in sim.history)
    assert count(sim)["by_type"]["PeerDecisionRequest"] == 6  # each of 3 asks its 2 peers


def test_a_peer_that_has_not_voted_aborts_when_asked_and_so_unblocks_the_others():
    """A participant that has not voted may abort on its own (without its Yes nothing commits): asked by an
    uncertain peer, it does, and says so."""
    faults = [{"kind": "delay", "message": "Prepare", "nth": 3, "ms": 5_000}, CRASH_BEFORE_DECISION]
    sim = finished(faults, recover=False, cooperative=True)
    assert outcome(sim) == "aborted"
    aborted_alone = [e for e in sim.history if e.type == "RolledBack" and "before it voted" in e.data.get("reason", "")]
    assert len(aborted_alone) == 1


@pytest.mark.parametrize(("protocol", "survives"), [(PA, False), (PN, True)])
def test_a_crash_right_after_deciding_abort_loses_a_lazy_record_but_not_a_forced_one(protocol, survives):
    """A lazy write sits in the log buffer: the coordinator crashing just after deciding a presumed-abort abort
    recovers with no record, and presumes abort anyway (R*, 1986: PA may forget an abort at once). The basic
    protocol forced its abort record, so it finds it and sends it again."""
    faults = [{"kind": "vote_no", "participant": "inventory"},
              {"kind": "coordinator_crash", "at": "after_decision", "restart_after_ms": None}]
    sim = finished(faults, recover=False, protocol=protocol)
    assert [e.type for e in log_writes(sim.history, "coordinator")] == (["DecisionLogged"] if survives else [])
    for node in sorted(sim.crashed):
        sim.recover(node)
    sim.run()
    assert outcome(sim) == "aborted"
    assert any(e.type == "PresumedAbort" for e in sim.history) is not survives
