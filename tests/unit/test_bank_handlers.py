"""Command handlers over the in-memory store: idempotency, optimistic concurrency, snapshots and time travel."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from eventlab.bank.domain import (
    Account,
    CloseAccount,
    Deposit,
    MoneyDeposited,
    MoneyWithdrawn,
    OpenAccount,
    Rejected,
    Withdraw,
    fold,
    from_recorded,
    parse_command,
    stream_name,
    to_new_event,
)
from eventlab.bank.handlers import handle, load_account
from eventlab.eventstore.core import CommandIdReused, ConcurrencyError, InMemoryEventStore

LOG = "lab-1"
START = datetime(2025, 1, 1, 9, 0, tzinfo=UTC)


class Clock:
    """A clock the test moves by hand: every event is recorded one minute after the previous one."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        self.now += timedelta(minutes=1)
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(clock) -> InMemoryEventStore:
    memory = InMemoryEventStore(clock=clock)
    memory.create_log(LOG)
    return memory


def d(amount: str) -> Decimal:
    return Decimal(amount)


def replay(store: InMemoryEventStore, account_id: str, version: int) -> Account:
    """The account from a full replay of its stream's first `version` events: the truth snapshots must match."""
    return fold([from_recorded(e) for e in store.read_stream(LOG, stream_name(account_id))[:version]])


# --- Running commands ----------------------------------------------------------------------------------------------


def test_it_appends_what_the_domain_decides(store):
    # Open, deposit, withdraw: each command appends one event at the next version.
    handle(store, LOG, OpenAccount("acc-1", "Ann"))
    handle(store, LOG, Deposit("acc-1", d("50.00")))
    result = handle(store, LOG, Withdraw("acc-1", d("20.00")))
    assert [(e.type, e.version) for e in result.events] == [("MoneyWithdrawn", 3)]
    # The account loaded back holds the difference.
    assert load_account(store, LOG, "acc-1").account == Account("acc-1", "Ann", d("30.00"), "open", 3)


def test_a_refused_command_appends_nothing(store):
    handle(store, LOG, OpenAccount("acc-1", "Ann"))
    # Withdrawing from an empty account is refused…
    with pytest.raises(Rejected, match="Insufficient funds"):
        handle(store, LOG, Withdraw("acc-1", d("1.00")), command_id="cmd-1")
    # …and leaves the log exactly as it was.
    assert store.head(LOG) == 1
    assert store.find_command(LOG, "cmd-1") is None


def test_a_closed_account_stays_closed(store):
    handle(store, LOG, OpenAccount("acc-1", "Ann"))
    handle(store, LOG, CloseAccount("acc-1"))
    with pytest.raises(Rejected, match="closed"):
        handle(store, LOG, Deposit("acc-1", d("1.00")))
    assert store.stream_version(LOG, "account-acc-1") == 2


# --- Idempotent command ids --------------------------------------------------------------------------------------


def test_the_same_command_id_with_the_same_command_appends_nothing_the_second_time(store):
    handle(store, LOG, OpenAccount("acc-1", "Ann"))
    # The first deposit is applied.
    first = handle(store, LOG, Deposit("acc-1", d("10.00")), command_id="dep-1")
    assert not first.duplicate
    # A retry (say, after a lost response) is recognised: nothing new, the first result comes back.
    again = handle(store, LOG, Deposit("acc-1", d("10.00")), command_id="dep-1")
    assert again.duplicate
    assert again.events == first.events
    assert store.head(LOG) == 2
    assert load_account(store, LOG, "acc-1").account.balance == d("10.00")


def test_a_retry_is_recognised_even_if_the_account_moved_on_meanwhile(store):
    handle(store, LOG, OpenAccount("acc-1", "Ann"))
    first = handle(store, LOG, Deposit("acc-1", d("10.00")), command_id="dep-1", expected_version=1)
    handle(store, LOG, Deposit("acc-1", d("5.00")))
    # The retry carries its old expected version; it is a duplicate, not a conflict.
    again = handle(store, LOG, Deposit("acc-1", d("10.00")), command_id="dep-1", expected_version=1)
    assert again.duplicate and again.events == first.events
    assert store.head(LOG) == 3


def test_the_same_amount_spelled_differently_is_still_the_same_command(store):
    handle(store, LOG, OpenAccount("acc-1", "Ann"))
    handle(store, LOG, parse_command({"command": "Deposit", "account_id": "acc-1", "amount": "10"}), command_id="c")
    # 10.00 as a JSON number is the same deposit as "10": a duplicate, not a reused id.
    again = handle(store, LOG, parse_command({"command": "Deposit", "account_id": "acc-1", "amount": 10.0}),
                   command_id="c")
    assert again.duplicate


@pytest.mark.parametrize(
    "other",
    [Deposit("acc-1", d("10.01")), Withdraw("acc-1", d("10.00")), Deposit("acc-2", d("10.00"))],
    ids=["other-amount", "other-command", "other-account"],
)
def test_the_same_command_id_with_a_different_command_is_refused(store, other):
    handle(store, LOG, OpenAccount("acc-1", "Ann"))
    handle(store, LOG, OpenAccount("acc-2", "Bob"))
    handle(store, LOG, Deposit("acc-1", d("10.00")), command_id="dep-1")
    # Reusing the id for anything else is a client bug: refused, and nothing appended.
    with pytest.raises(CommandIdReused) as refused:
        handle(store, LOG, other, command_id="dep-1")
    assert "dep-1" in str(refused.value)
    assert store.head(LOG) == 3


# --- Optimistic concurrency ----------------------------------------------------------------------------------------


def test_a_stale_expected_version_is_a_conflict_naming_both_versions(store):
    handle(store, LOG, OpenAccount("acc-1", "Ann"))
    # Two tellers read the account at version 1; the first deposits.
    handle(store, LOG, Deposit("acc-1", d("5.00")), expected_version=1)
    # The second still believes version 1.
    with pytest.raises(ConcurrencyError) as conflict:
        handle(store, LOG, Deposit("acc-1", d("7.00")), expected_version=1)
    assert (conflict.value.expected, conflict.value.actual) == (1, 2)
    assert "expected version 1" in str(conflict.value) and "at version 2" in str(conflict.value)
    # Only the first deposit happened.
    assert load_account(store, LOG, "acc-1").account.balance == d("5.00")


def test_expected_version_zero_means_the_account_must_be_new(store):
    handle(store, LOG, OpenAccount("acc-1", "Ann"), expected_version=0)
    with pytest.raises(ConcurrencyError) as conflict:
        handle(store, LOG, Deposit("acc-1", d("1.00")), expected_version=0)
    assert (conflict.value.expected, conflict.value.actual) == (0, 1)


def test_an_expected_version_ahead_of_the_stream_is_a_conflict_too(store):
    handle(store, LOG, OpenAccount("acc-1", "Ann"))
    with pytest.raises(ConcurrencyError) as conflict:
        handle(store, LOG, Deposit("acc-1", d("1.00")), expected_version=5)
    assert (conflict.value.expected, conflict.value.actual) == (5, 1)
    assert store.head(LOG) == 1


class LosesOneRace(InMemoryEventStore):
    """A store where, once, another writer slips `sneaks_in` in between the handler's load and its append."""

    def __init__(self, clock, sneaks_in):
        super().__init__(clock)
        self.sneaks_in = sneaks_in
        self.raced = False

    def append(self, log, stream, events, expected_version, *args, **kwargs):
        if not self.raced and stream == "account-acc-1" and expected_version == 2:
            self.raced = True
            super().append(log, stream, [to_new_event(self.sneaks_in)], None)
        return super().append(log, stream, events, expected_version, *args, **kwargs)


def racing_store(clock, sneaks_in) -> LosesOneRace:
    store = LosesOneRace(clock, sneaks_in)
    store.create_log(LOG)
    handle(store, LOG, OpenAccount("acc-1", "Ann"))
    handle(store, LOG, Deposit("acc-1", d("10.00")))
    return store


def test_without_an_expected_version_the_handler_retries_a_lost_race(clock):
    store = racing_store(clock, MoneyDeposited("acc-1", "1.00", "USD"))
    # Another writer's deposit lands first; the handler reloads and applies the withdrawal on top of it.
    result = handle(store, LOG, Withdraw("acc-1", d("10.00")))
    assert store.raced
    assert result.events[0].version == 4
    assert load_account(store, LOG, "acc-1").account.balance == d("1.00")


def test_a_retried_command_is_decided_again_on_the_new_state(clock):
    store = racing_store(clock, MoneyWithdrawn("acc-1", "5.00", "USD"))
    # 8.00 was covered when first decided, but another withdrawal got in first: the retry must refuse it.
    with pytest.raises(Rejected, match="Insufficient funds"):
        handle(store, LOG, Withdraw("acc-1", d("8.00")))
    assert store.raced
    assert load_account(store, LOG, "acc-1").account.balance == d("5.00")


def test_with_an_expected_version_a_lost_race_is_the_callers_conflict(clock):
    store = racing_store(clock, MoneyDeposited("acc-1", "1.00", "USD"))
    with pytest.raises(ConcurrencyError) as conflict:
        handle(store, LOG, Withdraw("acc-1", d("1.00")), expected_version=2)
    assert (conflict.value.expected, conflict.value.actual) == (2, 3)
    assert store.head(LOG) == 3


# --- Snapshots -----------------------------------------------------------------------------------------------------


def run_history(store, commands=23, snapshot_every=10):
    """Open acc-1 and run deposits and withdrawals, `commands` events in all."""
    handle(store, LOG, OpenAccount("acc-1", "Ann"), snapshot_every=snapshot_every)
    for i in range(1, commands):
        command = Withdraw("acc-1", d("3.00")) if i % 4 == 0 else Deposit("acc-1", d(f"{i}.25"))
        handle(store, LOG, command, snapshot_every=snapshot_every)


@pytest.mark.parametrize("every", [1, 3, 10])
def test_a_snapshot_is_taken_every_n_events(store, every):
    run_history(store, commands=23, snapshot_every=every)
    stream = "account-acc-1"
    # The newest snapshot at or before each version is the last multiple of N.
    for version in range(1, 24):
        snapshot = store.latest_snapshot(LOG, stream, at_most_version=version)
        expected = version // every * every
        assert (snapshot.version if snapshot else 0) == expected
        # And every snapshot holds exactly the replayed state at its version.
        if snapshot:
            assert Account.from_dict(snapshot.state) == replay(store, "acc-1", snapshot.version)


def test_refused_and_duplicate_commands_take_no_snapshot(store):
    handle(store, LOG, OpenAccount("acc-1", "Ann"), snapshot_every=2)
    handle(store, LOG, Deposit("acc-1", d("1.00")), command_id="c", snapshot_every=2)
    assert store.latest_snapshot(LOG, "account-acc-1").version == 2
    # A duplicate and a refusal leave the stream at 2, so no snapshot beyond it appears.
    handle(store, LOG, Deposit("acc-1", d("1.00")), command_id="c", snapshot_every=1)
    with pytest.raises(Rejected):
        handle(store, LOG, Withdraw("acc-1", d("100.00")), snapshot_every=1)
    assert store.latest_snapshot(LOG, "account-acc-1").version == 2


@pytest.mark.parametrize("every", [1, 4, 10, 1000], ids=["every-event", "every-4", "every-10", "never"])
def test_snapshot_plus_tail_equals_full_replay_at_every_version(store, every):
    run_history(store, commands=25, snapshot_every=every)
    for version in range(1, 26):
        loaded = load_account(store, LOG, "acc-1", version=version)
        # Same state as replaying every event from the start…
        assert loaded.account == replay(store, "acc-1", version)
        # …while folding only the events after the newest usable snapshot.
        snapshot_version = version // every * every or None
        assert loaded.snapshot_version == snapshot_version
        assert loaded.replayed_events == version - (snapshot_version or 0)


def test_loading_now_uses_the_newest_snapshot(store):
    run_history(store, commands=23, snapshot_every=10)
    loaded = load_account(store, LOG, "acc-1")
    assert loaded.account == replay(store, "acc-1", 23)
    assert (loaded.snapshot_version, loaded.replayed_events) == (20, 3)


def test_loading_an_account_that_does_not_exist_gives_a_new_one(store):
    loaded = load_account(store, LOG, "ghost")
    assert loaded.account == Account(account_id="ghost")
    assert loaded.account.status == "new" and loaded.replayed_events == 0


# --- Time travel -------------------------------------------------------------------------------------------------


def test_time_travel_shows_the_account_as_it_was_at_an_instant(store):
    # The test clock records each event one minute after the last (snapshots take a tick too).
    handle(store, LOG, OpenAccount("acc-1", "Ann"), snapshot_every=2)
    handle(store, LOG, Deposit("acc-1", d("100.00")), snapshot_every=2)
    handle(store, LOG, Withdraw("acc-1", d("40.00")), snapshot_every=2)
    handle(store, LOG, Deposit("acc-1", d("5.00")), snapshot_every=2)
    opened, deposited, withdrawn, _ = (e.metadata.recorded_at for e in store.read_stream(LOG, "account-acc-1"))
    second = timedelta(seconds=1)

    # Before the account existed it is new and empty.
    assert load_account(store, LOG, "acc-1", at=opened - second).account == Account(account_id="acc-1")
    # Exactly at an event's instant, that event counts.
    assert load_account(store, LOG, "acc-1", at=deposited).account.balance == d("100.00")
    # Just before the withdrawal, the state after the deposit holds (served from the version-2 snapshot).
    just_before = load_account(store, LOG, "acc-1", at=withdrawn - second)
    assert (just_before.account.balance, just_before.account.version) == (d("100.00"), 2)
    assert just_before.snapshot_version == 2
    # Long after the last event, the present state.
    later = load_account(store, LOG, "acc-1", at=START + timedelta(days=1)).account
    assert later == load_account(store, LOG, "acc-1").account
    assert later.balance == d("65.00")


def test_time_travel_agrees_with_replay_at_each_event_instant(store):
    run_history(store, commands=12, snapshot_every=5)
    for event in store.read_stream(LOG, "account-acc-1"):
        loaded = load_account(store, LOG, "acc-1", at=event.metadata.recorded_at)
        assert loaded.account == replay(store, "acc-1", event.version)
