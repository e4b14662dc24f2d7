"""Saga vs 2PC on the pure engines (eventlab.compare.compare and .matrix): the scenarios map faults as the API says,
the numbers read off each run are right, and the failure matrix ends every row in the course's words — with the
invariants the course teaches (2PC is atomic and blocks only when the coordinator is down; a saga never does a side
effect twice unless idempotency is off)."""

import time

import pytest

from eventlab.compare import compare, matrix
from eventlab.sagas.runs import SagaRun
from eventlab.sagas.runs import parse_start as saga_start
from eventlab.sim.runlog import Invalid
from eventlab.twopc.runs import TwoPCRun
from eventlab.twopc.runs import parse_start as twopc_start

ORDER = {"customer": "Ada", "items": [{"sku": "book", "qty": 1, "price": "12.50"}]}


def pair(scenario: str, seed: int = 1, order=None) -> tuple[SagaRun, TwoPCRun]:
    saga, twopc = compare.starts({"scenario": scenario, "seed": seed, "order": order or ORDER})
    return SagaRun("s1", saga_start(saga)), TwoPCRun("t1", twopc_start(twopc))


def to_the_end(run, recover: bool = True):
    """Step as a learner pressing Step would; recover by hand when something is down."""
    while True:
        while run.sim.pending():
            run.act({"input": "step"})
        if not (recover and run.sim.crashed):
            return run
        run.act({"input": "recover"})


@pytest.fixture(scope="module")
def ran():
    return matrix.run_matrix(seed=1)


# --- Scenarios --------------------------------------------------------------------------------------------------------


def test_the_scenarios_map_faults_as_the_api_says():
    scenarios = compare.SCENARIOS
    assert list(scenarios) == ["none", "payment_declined", "shipping_failed", "controller_crash", "reply_lost",
                               "reply_delayed"]
    assert scenarios["payment_declined"].twopc_faults == ({"kind": "vote_no", "participant": "payments"},)
    assert scenarios["shipping_failed"].twopc_faults == ({"kind": "vote_no", "participant": "inventory"},)
    crash = scenarios["controller_crash"]
    assert crash.saga_faults[0]["kind"] == "orchestrator_crash" and crash.saga_faults[0]["restart_after_ms"] is None
    assert crash.twopc_faults == ({"kind": "coordinator_crash", "at": "before_decision", "restart_after_ms": None},)
    assert scenarios["reply_lost"].twopc_faults[0]["message"] == "VoteYes"
    assert scenarios["reply_delayed"].twopc_faults[0]["ms"] == 5_000
    for scenario in scenarios.values():
        # Each 2PC fault list is exactly the counterpart of the saga's, fault by fault.
        assert [compare.counterpart(f) for f in scenario.saga_faults] == list(scenario.twopc_faults)
        assert scenario.label and scenario.look_for


def test_counterpart_maps_messages_to_the_protocols_own():
    assert compare.counterpart({"kind": "drop", "message": "PaymentReserved", "nth": 2}) == \
        {"kind": "drop", "message": "VoteYes", "nth": 2}
    assert compare.counterpart({"kind": "delay", "message": "CompleteOrder", "nth": 1, "ms": 9}) == \
        {"kind": "delay", "message": "Commit", "nth": 1, "ms": 9}
    assert compare.counterpart({"kind": "drop", "message": "CancelOrder"})["message"] == "Rollback"
    with pytest.raises(ValueError, match="no counterpart"):
        compare.counterpart({"kind": "idempotency_off", "service": "payments"})


def test_both_runs_get_the_same_order_and_seed():
    saga, twopc = pair("payment_declined", seed=7, order={"customer": "Bo", "items": [{"sku": "pen", "qty": 2,
                                                                                     "price": "1.25"}]})
    assert saga.order == twopc.order == {"order_id": "order-7", "customer": "Bo", "amount": "2.50",
                                         "items": [{"sku": "pen", "qty": 2, "price": "1.25"}]}
    assert saga.started["seed"] == twopc.started["seed"] == 7
    assert saga.mode == "orchestration"
    assert compare.scenario_of(saga.faults, twopc.faults).key == "payment_declined"
    assert compare.scenario_of([], [{"kind": "vote_no", "participant": "orders"}]) is None


@pytest.mark.parametrize(("data", "message"), [
    ({"scenario": "nope"}, "Pick one of the scenarios"),
    ({}, "Pick one of the scenarios"),
    ({"scenario": "none", "seed": -1}, "seed"),
    ({"scenario": "none", "seed": "x"}, "seed"),
    ({"scenario": "none", "order": {"customer": "", "items": []}}, "customer"),
    ({"scenario": "none", "order": {"customer": "Ada", "items": [{"sku": "b", "qty": 0, "price": "1"}]}}, "quantity"),
])
def test_bad_starts_are_refused_in_plain_words(data, message):
    with pytest.raises(Invalid, match=message):
        compare.starts(data)


# --- The numbers ------------------------------------------------------------------------------------------------------


def test_no_failure_numbers():
    saga, twopc = (to_the_end(run) for run in pair("none"))
    s, t = compare.saga_numbers(saga), compare.twopc_numbers(twopc)
    assert (s["outcome"], t["outcome"]) == ("completed", "committed")
    # The saga: nothing locked, nobody blocked; its 8 messages are the 4 commands and their 4 replies.
    assert (s["rows_locked"], s["lock_ms"], s["blocked_ms"]) == (0, 0, 0)
    assert s["messages"] == 8 and s["steps"] == saga.steps == 9
    # 2PC: three rows locked until the commit; 3 Prepare + 3 votes + 3 Commit + 3 Ack.
    assert t["messages"] == 12
    assert t["rows_locked"] == 3 and t["lock_ms"] == twopc.lock_ms() > 0
    assert t["longest_lock_ms"] == max(h["ms"] for h in t["locks"])
    assert all(h["until_ms"] is not None for h in t["locks"])
    assert t["blocked_ms"] == twopc.blocked_ms() > 0  # the other order waited for the stock row
    # Atomic commitment, not a global snapshot: in phase 2 a reader of two databases can see one committed and
    # the other not yet (each applies the decision when it reaches it).
    assert t["readers"].startswith("Uncommitted changes stayed behind locks (account:Ada, order:order-1, "
                                   f"stock:book); a reader waited {t['blocked_ms']} ms. Yet in phase 2 a reader of "
                                   "two databases could see ")
    assert t["split"] and t["midway"] == [{"step": t["split"]["from_step"], "text": t["midway"][0]["text"]}]
    # What a reader could see of the saga: each step committed, one after another.
    assert [m["text"] for m in s["midway"]] == [
        "order pending", "order pending, payment reserved", "order pending, payment reserved, items shipped",
        "order completed, payment reserved, items shipped"]
    assert s["midway"][-1]["final"] and not any(m.get("final") for m in s["midway"][:-1])
    assert s["readers"].startswith("3 intermediate states, each committed")


def test_timers_are_not_counted_as_messages():
    saga, twopc = (to_the_end(run) for run in pair("reply_lost"))
    timers = [e for e in saga.history if e.type == "TimerSet"]
    assert timers
    sent = [e for e in saga.history if e.type == "MessageSent" and "client" not in (e.data["from"], e.data["to"])]
    assert compare.saga_numbers(saga)["messages"] == len(sent)
    assert compare.twopc_numbers(twopc)["messages"] == twopc.messages_sent()


def test_shipping_failed_the_saga_shows_the_refund_2pc_shows_nothing():
    saga, twopc = (to_the_end(run) for run in pair("shipping_failed"))
    s, t = compare.saga_numbers(saga), compare.twopc_numbers(twopc)
    assert (s["outcome"], t["outcome"]) == ("compensated", "rolled back")
    assert s["compensations"] == ["RefundPayment", "CancelOrder"]
    assert "order pending, payment reserved" in [m["text"] for m in s["midway"]]
    assert "The payment was taken, then refunded" in s["readers"]
    # Inventory locked the stock row while doing its work, then voted No: nothing was committed anywhere.
    assert "stock:book" in t["readers"] and "phase 2" not in t["readers"] and not t["split"]
    assert 0 < t["blocked_ms"] < 100  # the other order waited only until inventory voted No and let go


def test_payment_declined():
    saga, twopc = (to_the_end(run) for run in pair("payment_declined"))
    s, t = compare.saga_numbers(saga), compare.twopc_numbers(twopc)
    assert (s["outcome"], t["outcome"]) == ("compensated", "rolled back")
    assert s["compensations"] == ["CancelOrder"]
    assert s["readers"] == "1 intermediate state, committed: “order pending”."
    assert "account:Ada" in t["readers"] and not t["split"]  # locked during the work, then rolled back


def test_controller_crash_the_saga_waits_2pc_blocks():
    saga, twopc = pair("controller_crash")
    to_the_end(saga, recover=False)
    to_the_end(twopc, recover=False)
    s, t = compare.saga_numbers(saga), compare.twopc_numbers(twopc)
    assert s["outcome"] == "waiting for recovery" and s["crashed"] == ["orchestrator"]
    assert s["blocked_ms"] == 0 and s["rows_locked"] == 0
    assert t["outcome"] == "blocked until recovery" and t["crashed"] == ["coordinator"]
    assert all(h["until_ms"] is None for h in t["locks"])  # still held, in doubt
    assert t["blocked_ms"] > 20_000  # the other order waits as long as the coordinator is down
    # A person recovers both: the saga carries on from its log; the coordinator presumes abort.
    to_the_end(saga)
    to_the_end(twopc)
    s, t = compare.saga_numbers(saga), compare.twopc_numbers(twopc)
    assert (s["outcome"], t["outcome"]) == ("completed", "rolled back")
    assert s["recovered"] and t["recovered"]
    table = compare.course_table(s, t)
    assert [row["aspect"] for row in table] == ["Locks", "Failure handling", "Scalability", "Complexity"]
    assert "recovered from its log" in table[1]["twopc"] and "recovered from its saga log" in table[1]["saga"]
    assert f"another order blocked {t['blocked_ms']:,} ms" in table[2]["twopc"]
    assert "others blocked 0 ms" in table[2]["saga"]
    assert f"held up to {t['longest_lock_ms']:,} ms" in table[0]["twopc"]


@pytest.mark.parametrize("scenario", ["reply_lost", "reply_delayed"])
def test_a_lost_or_late_reply_the_saga_retries_2pc_aborts(scenario):
    saga, twopc = (to_the_end(run) for run in pair(scenario))
    compared = compare.compare(saga, twopc)
    assert compared["saga"]["outcome"] == "completed"
    assert compared["twopc"]["outcome"] == "rolled back"
    assert compared["scenario"].key == scenario
    assert any(e.type == "RetryScheduled" for e in saga.history)
    assert any(e.type == "VoteTimedOut" for e in twopc.history)


def test_numbers_midway_count_locks_still_held():
    _, twopc = pair("none")
    for _ in range(5):  # prepared, not yet decided
        twopc.act({"input": "step"})
    t = compare.twopc_numbers(twopc)
    assert t["outcome"] == "in progress"
    assert any(h["until_ms"] is None for h in t["locks"])
    assert t["lock_ms"] == twopc.lock_ms()


# --- The failure matrix -----------------------------------------------------------------------------------------------


def test_every_fault_at_every_protocol_point_is_a_case():
    keys = set(matrix.CASES)
    assert len(keys) == len(matrix.cases())  # keys are unique
    for p in ("orders", "payments", "inventory"):
        assert f"twopc/vote_no/{p}" in keys
        for at in ("before_vote", "after_vote"):
            assert f"twopc/participant_crash/{p}/{at}" in keys
    for at in ("before_decision", "after_decision"):
        assert f"twopc/coordinator_crash/{at}" in keys
    for kind in ("drop", "delay"):
        for message in ("Prepare", "VoteYes", "VoteNo", "Commit", "Rollback", "Ack", "DecisionRequest"):
            for nth in (1, 2, 3):
                assert f"twopc/{kind}/{message}/{nth}" in keys
    assert {"saga/payment_declined", "saga/shipping_failed"} <= keys
    for service in ("orders", "payments", "inventory"):
        assert f"saga/idempotency_off/{service}" in keys
        assert any(k.startswith(f"saga/service_down/{service}/") for k in keys)
    for kind in ("drop", "duplicate", "delay"):
        for message in matrix.SAGA_MESSAGES:
            assert f"saga/{kind}/{message}" in keys
    for step in range(1, matrix.SAGA_STEPS + 1):
        assert {f"saga/orchestrator_crash/{step}/restart", f"saga/orchestrator_crash/{step}/manual"} <= keys


def test_the_matrix_runs_fast(ran):
    started = time.perf_counter()
    matrix.run_matrix(seed=2)
    assert time.perf_counter() - started < 3  # in memory on the pure engines (it takes a few hundredths here)
    assert len(ran["twopc"]) + len(ran["saga"]) + len(ran["skipped"]) == len(matrix.CASES)


def test_every_row_ends_in_the_courses_words(ran):
    assert {row.outcome for row in ran["twopc"]} == {"committed", "rolled back", "blocked until recovery"}
    assert {row.final for row in ran["twopc"]} <= {"committed", "rolled back"}
    assert {row.outcome for row in ran["saga"]} == {"completed", "compensated", "dead-lettered"}
    for row in ran["twopc"] + ran["saga"]:
        assert row.steps > 0 and row.messages > 0
        assert row.as_dict()["outcome"] in matrix.OUTCOMES


def test_no_2pc_row_ends_with_mixed_commit_and_rollback(ran):
    for row in ran["twopc"]:
        assert row.consistent, (row.case.key, row.notes)
        assert not any("disagree" in note or "locks still held" in note for note in row.notes)


def test_2pc_blocks_only_when_the_coordinator_crashes(ran):
    blocked = [row for row in ran["twopc"] if row.outcome == "blocked until recovery"]
    assert {row.case.key for row in blocked} == {
        f"{prefix}/coordinator_crash/{at}" for prefix in ("twopc", "twopc/presumed_nothing")
        for at in ("before_decision", "after_decision")} | {
        f"twopc/{protocol}/cooperative/blocked" for protocol in ("presumed_abort", "presumed_nothing")}
    for row in blocked:
        assert row.recovered and row.blocked_ms > 0
    by_key = {row.case.key: row for row in ran["twopc"]}
    # Presumed abort without a decision in the log; the logged commit is sent again after it.
    assert by_key["twopc/coordinator_crash/before_decision"].final == "rolled back"
    assert by_key["twopc/coordinator_crash/after_decision"].final == "committed"


def test_2pc_rows_the_course_names(ran):
    by_key = {row.case.key: row for row in ran["twopc"]}
    for p in ("orders", "payments", "inventory"):
        assert by_key[f"twopc/vote_no/{p}"].outcome == "rolled back"  # one No -> everyone rolls back
        assert by_key[f"twopc/participant_crash/{p}/before_vote"].outcome == "rolled back"
        # It voted Yes before crashing: the others commit; it learns the decision when it is back.
        assert by_key[f"twopc/participant_crash/{p}/after_vote"].outcome == "committed"
        assert by_key[f"twopc/participant_crash/{p}/after_vote"].recovered
    assert by_key["twopc/drop/VoteYes/1"].outcome == "rolled back"  # a missing vote aborts after the timeout
    assert by_key["twopc/delay/VoteYes/1"].outcome == "rolled back"
    assert by_key["twopc/drop/Commit/1"].outcome == "committed"  # the decision is sent again
    assert by_key["twopc/drop/Ack/1"].outcome == "committed"
    assert not any(row.recovered for row in ran["twopc"] if "crash" not in (row.case.fault or {"kind": ""})["kind"])


def test_2pc_variant_and_option_rows(ran):
    """The matrix shows what differs per variant (Mohan, Lindsay & Obermarck 1986): presumed abort forces nothing
    and acknowledges nothing for an abort; presumed nothing forces and acknowledges it. Read-only, one-phase and
    cooperative rows (Gray & Reuter; Bernstein, Hadzilacos & Goodman ch. 7) end atomic."""
    by_key = {row.case.key: row for row in ran["twopc"]}
    pa, pn = by_key["twopc/vote_no/payments"], by_key["twopc/presumed_nothing/vote_no/payments"]
    assert (pa.outcome, pn.outcome) == ("rolled back", "rolled back")
    assert (pa.forced, pa.acks, pa.messages) == (2, 0, 8)  # only the two Prepared records
    assert (pn.forced, pn.acks, pn.messages) == (6, 2, 10)  # + coordinator abort, 3 participant aborts
    commit_pa, commit_pn = by_key["twopc/presumed_abort/read_only/orders"], by_key[
        "twopc/presumed_nothing/read_only/orders"]
    assert (commit_pa.forced, commit_pa.messages) == (5, 10) and (commit_pn.forced, commit_pn.messages) == (7, 12)
    assert by_key["twopc/presumed_abort/one_phase"].messages == 2
    unblocks = by_key["twopc/presumed_abort/cooperative/unblocks"]
    assert unblocks.outcome == "rolled back" and "learned the outcome from a peer" in " ".join(unblocks.notes)
    assert by_key["twopc/presumed_abort/cooperative/blocked"].outcome == "blocked until recovery"
    assert all(row.consistent for row in ran["twopc"])


def test_saga_rows_the_course_names(ran):
    by_key = {row.case.key: row for row in ran["saga"]}
    assert by_key["saga/payment_declined"].outcome == "compensated"
    assert by_key["saga/shipping_failed"].outcome == "compensated"
    assert by_key["saga/drop/PaymentReserved"].outcome == "completed"  # retried with the same command id
    assert by_key["saga/service_down/inventory/30"].outcome == "dead-lettered"
    assert any("waiting for a person" in note for note in by_key["saga/service_down/inventory/30"].notes)
    for step in range(1, matrix.SAGA_STEPS + 1):
        restart, manual = by_key[f"saga/orchestrator_crash/{step}/restart"], \
            by_key[f"saga/orchestrator_crash/{step}/manual"]
        # A crash changes nothing about how the saga ends: it recovers from its log.
        assert restart.outcome == manual.outcome == "completed"
        assert restart.restarted and not restart.recovered
        assert manual.recovered and not manual.restarted
    # The saga never blocks anyone: no locks.
    assert all(row.lock_ms == 0 and row.blocked_ms == 0 for row in ran["saga"])


def test_a_saga_does_a_side_effect_twice_only_without_idempotency(ran):
    doubled = {row.case.key for row in ran["saga"] if not row.consistent}
    assert doubled == {"saga/idempotency_off/payments", "saga/idempotency_off/inventory"}
    by_key = {row.case.key: row for row in ran["saga"]}
    assert "charged 2 times" in by_key["saga/idempotency_off/payments"].notes
    assert by_key["saga/duplicate/ReservePayment"].consistent  # the same duplicate, idempotent: charged once


def test_faults_that_never_act_are_left_out(ran):
    skipped = {case.key for case in ran["skipped"]}
    assert "twopc/drop/VoteNo/2" in skipped  # only one participant votes No
    assert not any(key.startswith("saga/") for key in skipped)
    kept = {row.case.key for row in ran["twopc"]}
    assert "twopc/drop/VoteNo/1" in kept and "twopc/drop/Rollback/2" in kept
    assert "twopc/drop/Rollback/3" in skipped  # presumed abort: no Rollback to the No voter


def test_failure_path_messages_run_with_the_failure_that_sends_them():
    case = matrix.case("saga/drop/RefundPayment")
    assert case.faults == [{"kind": "shipping_failed"}, {"kind": "drop", "message": "RefundPayment", "nth": 1}]
    assert case.while_ == "while shipping fails"
    assert matrix.case("twopc/delay/Rollback/2").faults[0] == {"kind": "vote_no", "participant": "payments"}


def test_a_row_replays_the_same_in_a_run_as_in_the_matrix(ran):
    """What the replay button starts in the lab, stepped to the end as a learner would, ends as the row says."""
    for row in ran["twopc"][::5] + ran["saga"][::5]:
        started = matrix.start(row.case, seed=1)
        if row.case.protocol == "saga":
            run = to_the_end(SagaRun("r", saga_start(started)))
            outcome = matrix.SAGA_OUTCOMES[run.state]
        else:
            run = to_the_end(TwoPCRun("r", twopc_start(started)))
            outcome = matrix.TWOPC_OUTCOMES[run.outcome]
        assert (outcome, run.steps) == (row.final, row.steps), row.case.key


def test_the_matrix_is_deterministic(ran):
    again = matrix.run_matrix(seed=1)
    assert [r.as_dict() for r in again["twopc"] + again["saga"]] == [r.as_dict() for r in ran["twopc"] + ran["saga"]]


def test_an_unknown_row_is_refused():
    for key in ("nope", "twopc/drop/VoteYes/9"):
        with pytest.raises(Invalid, match="No row"):
            matrix.case(key)
    for key in ("", None, 5):
        with pytest.raises(Invalid, match="Say which row of the failure matrix to replay."):
            matrix.case(key)
