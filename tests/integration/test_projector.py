"""The projector against the database: pause, resume, rebuild, add a read model, async mode, and exactly once.

The invariant behind every test: a read model always equals a fresh fold (`readmodels.rebuild`) of the events up to
its checkpoint, and once caught up, of the whole log.
"""

import threading

import pytest
from django.db import connection

from eventlab.bank import services
from eventlab.bank.projections import ALL, CATALOGUE, DEFAULT
from eventlab.eventstore import readmodels
from eventlab.eventstore.core import NewEvent
from eventlab.eventstore.models import Checkpoint
from eventlab.eventstore.projector import Projector
from eventlab.eventstore.recorder import DjangoEventStore
from eventlab.labs import readmodels as lab_readmodels
from eventlab.labs.services import projector, store


def run(lab, command: str, account_id: str, **fields):
    return services.execute(lab, {"command": command, "account_id": account_id, **fields})


def some_history(lab) -> None:
    """Two accounts, a few deposits and withdrawals (one of them large), one account closed."""
    run(lab, "OpenAccount", "acc-1", owner="Ann")
    run(lab, "OpenAccount", "acc-2", owner="Bob")
    run(lab, "Deposit", "acc-1", amount="100.00")
    run(lab, "Deposit", "acc-2", amount="2500.00")
    run(lab, "Withdraw", "acc-1", amount="30.00")
    run(lab, "Withdraw", "acc-2", amount="2500.00")
    run(lab, "CloseAccount", "acc-2")


def checkpoint(lab, name: str) -> Checkpoint:
    return Checkpoint.objects.get(lab=lab.id, projection=name)


def lag(lab, name: str) -> int:
    return next(m["lag"] for m in lab_readmodels.status(lab)["read_models"] if m["name"] == name)


def fresh_fold(lab, name: str, up_to: int | None = None) -> dict:
    events = store.read_log(lab.id)
    if up_to is not None:
        events = [e for e in events if e.position <= up_to]
    return readmodels.rebuild(ALL[name], events)


@pytest.mark.django_db
class TestInline:
    def test_default_read_models_follow_every_command_in_the_same_transaction(self, lab):
        some_history(lab)
        for projection in DEFAULT:
            # Caught up to the head with no lag, and equal to a fresh fold of the log.
            assert checkpoint(lab, projection.name).position == store.head(lab.id) == 7
            assert lag(lab, projection.name) == 0
            assert projector.docs(lab.id, projection.name) == fresh_fold(lab, projection.name)
        assert projector.docs(lab.id, "balances")["acc-1"]["balance"] == "70.00"
        assert projector.docs(lab.id, "balances")["acc-2"]["status"] == "closed"

    def test_a_refused_command_moves_no_read_model(self, lab):
        some_history(lab)
        before = projector.docs(lab.id, "summary")
        with pytest.raises(services.Rejected):
            run(lab, "Withdraw", "acc-1", amount="1000.00")
        assert projector.docs(lab.id, "summary") == before
        assert checkpoint(lab, "summary").position == 7


@pytest.mark.django_db
class TestPauseResumeRebuild:
    def test_pause_stops_updates_and_the_lag_shows(self, lab):
        some_history(lab)
        before = projector.docs(lab.id, "balances")
        # The learner pauses the balances read model, then keeps banking.
        lab_readmodels.act(lab, "balances", "pause")
        run(lab, "Deposit", "acc-1", amount="5.00")
        run(lab, "Deposit", "acc-1", amount="6.00")
        # The write side moved on; the paused read side did not.
        assert store.head(lab.id) == 9
        assert checkpoint(lab, "balances").position == 7
        assert lag(lab, "balances") == 2
        assert projector.docs(lab.id, "balances") == before
        # Other read models were not paused.
        assert lag(lab, "statements") == 0
        # A catch-up that is not forced respects the pause.
        assert projector.catch_up(lab.id, "balances") == 0

    def test_resume_catches_up(self, lab):
        some_history(lab)
        lab_readmodels.act(lab, "balances", "pause")
        run(lab, "Deposit", "acc-1", amount="5.00")
        # Resuming applies what was missed, straight away.
        lab_readmodels.act(lab, "balances", "resume")
        assert lag(lab, "balances") == 0
        assert projector.docs(lab.id, "balances")["acc-1"]["balance"] == "75.00"
        assert projector.docs(lab.id, "balances") == fresh_fold(lab, "balances")

    def test_rebuild_refills_to_exactly_what_it_was(self, lab):
        some_history(lab)
        before = {p.name: projector.docs(lab.id, p.name) for p in DEFAULT}
        for projection in DEFAULT:
            # Forget the read model and replay it from position 0.
            lab_readmodels.act(lab, projection.name, "rebuild")
            assert projector.docs(lab.id, projection.name) == before[projection.name]
            assert checkpoint(lab, projection.name).position == 7

    def test_rebuild_empties_then_catch_up_refills(self, lab):
        some_history(lab)
        before = projector.docs(lab.id, "statements")
        projector.rebuild(lab.id, "statements")
        # Between the two, the read model is empty at checkpoint 0: still a fold of the first 0 events.
        assert projector.docs(lab.id, "statements") == {}
        assert checkpoint(lab, "statements").position == 0
        assert projector.catch_up(lab.id, "statements") == 7
        assert projector.docs(lab.id, "statements") == before

    def test_a_paused_rebuild_stays_empty_until_resumed(self, lab):
        some_history(lab)
        lab_readmodels.act(lab, "summary", "pause")
        lab_readmodels.act(lab, "summary", "rebuild")
        assert projector.docs(lab.id, "summary") == {}
        assert lag(lab, "summary") == 7
        lab_readmodels.act(lab, "summary", "resume")
        assert projector.docs(lab.id, "summary") == fresh_fold(lab, "summary")

    def test_read_models_at_different_checkpoints_each_apply_only_what_they_miss(self, lab):
        some_history(lab)
        # Statements forgets everything (and is not refilled yet); the others stay at the head.
        projector.rebuild(lab.id, "statements")
        # The next command brings every inline read model level, whatever its starting point.
        run(lab, "Deposit", "acc-1", amount="1.00")
        for projection in DEFAULT:
            assert checkpoint(lab, projection.name).position == 8
            assert projector.docs(lab.id, projection.name) == fresh_fold(lab, projection.name)

    def test_catching_up_in_small_steps_equals_a_fresh_fold_at_every_checkpoint(self, lab):
        some_history(lab)
        projector.rebuild(lab.id, "statements")
        # One event per transaction, as a slowed-down projector runs.
        for position in range(1, 8):
            assert projector.catch_up(lab.id, "statements", limit=1, force=True) == 1
            assert checkpoint(lab, "statements").position == position
            assert projector.docs(lab.id, "statements") == fresh_fold(lab, "statements", up_to=position)
        assert projector.catch_up(lab.id, "statements", limit=1) == 0


@pytest.mark.django_db
class TestCatalogue:
    @pytest.mark.parametrize("name", [p.name for p in CATALOGUE])
    def test_enabling_a_catalogue_read_model_fills_it_from_history(self, lab, name):
        some_history(lab)
        # Not there until the learner adds it.
        assert projector.docs(lab.id, name) == {}
        assert not Checkpoint.objects.filter(lab=lab.id, projection=name).exists()
        lab_readmodels.act(lab, name, "enable")
        # It starts at position 0 and catches up on the whole history at once.
        assert checkpoint(lab, name).position == 7
        assert projector.docs(lab.id, name) == fresh_fold(lab, name)
        assert projector.docs(lab.id, name)  # the history has something for it
        # From then on it follows new commands too.
        run(lab, "Deposit", "acc-1", amount="1000.00")
        assert projector.docs(lab.id, name) == fresh_fold(lab, name)

    def test_large_transactions_lists_exactly_the_large_ones(self, lab):
        some_history(lab)
        lab_readmodels.act(lab, "large_transactions", "enable")
        docs = projector.docs(lab.id, "large_transactions")
        assert [(d["type"], d["amount"]) for d in docs.values()] == [
            ("MoneyDeposited", "2500.00"),
            ("MoneyWithdrawn", "-2500.00"),
        ]

    def test_enabling_twice_changes_nothing(self, lab):
        some_history(lab)
        lab_readmodels.act(lab, "daily_totals", "enable")
        before = projector.docs(lab.id, "daily_totals")
        lab_readmodels.act(lab, "daily_totals", "enable")
        assert projector.docs(lab.id, "daily_totals") == before
        assert checkpoint(lab, "daily_totals").position == 7

    def test_an_unknown_read_model_is_refused(self, lab):
        with pytest.raises(lab_readmodels.UnknownReadModel, match="no read model called 'nope'"):
            lab_readmodels.act(lab, "nope", "enable")
        with pytest.raises(KeyError):
            projector.enable(lab.id, "nope")


@pytest.mark.django_db
class TestAsync:
    def test_async_mode_catches_up_after_commit_not_before(self, lab, django_capture_on_commit_callbacks):
        some_history(lab)
        lab_readmodels.act(lab, "balances", "configure", mode="async")
        # The command commits; the async projection does not run inside its transaction…
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            run(lab, "Deposit", "acc-1", amount="5.00")
        assert checkpoint(lab, "balances").position == 7
        assert lag(lab, "balances") == 1
        # …but the inline ones did.
        assert lag(lab, "statements") == 0
        # After the commit, the projector runs and catches up.
        for callback in callbacks:
            callback()
        assert lag(lab, "balances") == 0
        assert projector.docs(lab.id, "balances")["acc-1"]["balance"] == "75.00"

    def test_async_mode_with_no_delay_is_caught_up_once_committed(self, lab, django_capture_on_commit_callbacks):
        some_history(lab)
        for projection in ALL.values():
            lab_readmodels.act(lab, projection.name, "enable")
            lab_readmodels.act(lab, projection.name, "configure", mode="async", delay_ms=0)
        with django_capture_on_commit_callbacks(execute=True):
            run(lab, "Deposit", "acc-1", amount="1500.00")
            run(lab, "Withdraw", "acc-1", amount="20.00")
        for name in ALL:
            assert lag(lab, name) == 0
            assert projector.docs(lab.id, name) == fresh_fold(lab, name)

    def test_a_slowed_down_projection_is_left_to_the_live_feed(self, lab, django_capture_on_commit_callbacks):
        some_history(lab)
        # A delay makes the read model async and leaves it to the feed that applies one event at a time.
        lab_readmodels.act(lab, "summary", "configure", delay_ms=500)
        assert checkpoint(lab, "summary").mode == Checkpoint.Mode.ASYNC
        with django_capture_on_commit_callbacks(execute=True):
            run(lab, "Deposit", "acc-1", amount="5.00")
        assert lag(lab, "summary") == 1
        # Stepping it by hand, as the feed would, brings it level.
        assert projector.catch_up(lab.id, "summary", limit=1) == 1
        assert projector.docs(lab.id, "summary") == fresh_fold(lab, "summary")


class MovesTheCheckpointMeanwhile(DjangoEventStore):
    """A store whose first read lets another projector catch up first: the race the CAS must catch."""

    def __init__(self, other: Projector, name: str):
        super().__init__()
        self.other, self.name, self.fired = other, name, False

    def read_log(self, log, after=0, limit=None):
        events = super().read_log(log, after, limit)
        if not self.fired:
            self.fired = True
            self.other.catch_up(log, self.name)
        return events


@pytest.mark.django_db
@pytest.mark.parametrize("name", [p.name for p in DEFAULT])
def test_a_checkpoint_moved_by_another_projector_makes_this_one_undo_its_batch(lab, name):
    some_history(lab)
    projector.rebuild(lab.id, name)
    # Half the history is already applied.
    projector.catch_up(lab.id, name, limit=3)
    # This projector reads events 4..7; meanwhile another one applies them and moves the checkpoint to 7.
    racer = Projector(ALL.values(), store=MovesTheCheckpointMeanwhile(Projector(ALL.values()), name))
    assert racer.catch_up(lab.id, name) == 0
    # Its compare-and-set failed, so its batch was rolled back: the read model still equals a fold of the log up to
    # its checkpoint, with no event applied twice.
    position = checkpoint(lab, name).position
    assert projector.docs(lab.id, name) == fresh_fold(lab, name, up_to=position)
    projector.catch_up(lab.id, name)
    assert projector.docs(lab.id, name) == fresh_fold(lab, name)


@pytest.mark.django_db(transaction=True)
def test_two_projectors_catching_up_at_once_never_double_apply():
    from eventlab.labs.services import create_lab

    lab, _ = create_lab()
    writer = DjangoEventStore()
    # 1,500 bank events written straight to the log, so no read model has seen any of them.
    for a in range(10):
        account = f"acc-{a}"
        events = [NewEvent("AccountOpened", {"account_id": account, "owner": "Ann"})]
        events += [
            NewEvent("MoneyDeposited", {"account_id": account, "amount": f"{n}.00", "currency": "USD"}, 2)
            for n in range(1, 150)
        ]
        writer.append(lab.id, f"account-{account}", events, 0)
    for projection in CATALOGUE:
        projector.enable(lab.id, projection.name)

    def catch_up_in_small_batches(results: list) -> None:
        # Each thread has its own projector and its own connection; both chase the same checkpoints.
        mine = Projector(ALL.values())
        applied = 0
        try:
            for _ in range(200):
                moved = sum(mine.catch_up(lab.id, name, limit=50) for name in ALL)
                applied += moved
                if not moved:
                    break
            results.append(applied)
        except BaseException as exc:  # reported to the test, not swallowed
            results.append(exc)
        finally:
            connection.close()

    results: list = []
    threads = [threading.Thread(target=catch_up_in_small_batches, args=(results,)) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert all(isinstance(r, int) for r in results), results
    # Between them they applied each event to each read model exactly once…
    assert sum(results) == 1500 * len(ALL)
    # …so every read model equals a fresh fold of the log.
    for name in ALL:
        assert checkpoint(lab, name).position == 1500
        assert projector.docs(lab.id, name) == fresh_fold(lab, name)


@pytest.mark.django_db
def test_a_slowed_projection_keeps_its_pace_however_many_tabs_drive_it(lab):
    some_history(lab)
    lab_readmodels.act(lab, "summary", "configure", delay_ms=5000)
    Checkpoint.objects.filter(lab=lab.id, projection="summary").update(position=0, moved_at=None)
    # The first tab to ask applies one event…
    assert projector.catch_up_slowly(lab.id, "summary") == 1
    # …and every other tab asking within the delay applies nothing: one event per 5 s, not one per tab.
    assert [projector.catch_up_slowly(lab.id, "summary") for _tab in range(5)] == [0] * 5
    assert checkpoint(lab, "summary").position == 1
    # Set back to instant, it is no longer driven slowly (the normal catch-up takes over).
    lab_readmodels.act(lab, "summary", "configure", delay_ms=0)
    assert projector.catch_up_slowly(lab.id, "summary") == 0
    assert lag(lab, "summary") == 0
