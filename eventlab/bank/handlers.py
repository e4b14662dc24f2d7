"""Command handlers for the bank: load the account, decide, append. Pure: they take any EventStore.

The caller owns the transaction (the Django adapter wraps a handler in one; unit tests use the in-memory store).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from eventlab.eventstore.core import (
    AppendResult,
    CommandIdReused,
    ConcurrencyError,
    EventStore,
    NewEvent,
    RecordedEvent,
    current_schema_version,
    fingerprint,
)

from .domain import (
    EVENTS,
    Account,
    Command,
    Rejected,
    command_as_dict,
    decide,
    evolve,
    fold,
    from_recorded,
    stream_name,
    to_new_event,
)

RETRIES = 5


@dataclass(frozen=True)
class Loaded:
    account: Account
    replayed_events: int  # events folded after the snapshot (or from the start)
    snapshot_version: int | None


def load_account(
    store: EventStore, log: str, account_id: str, version: int | None = None, at: datetime | None = None
) -> Loaded:
    """The account as of `version` (or instant `at`, or now): the newest snapshot at or before it, plus the tail."""
    stream = stream_name(account_id)
    if at is not None:
        version = store.version_at(log, stream, at)
        if version == 0:
            return Loaded(Account(account_id=account_id), 0, None)
    snapshot = store.latest_snapshot(log, stream, at_most_version=version)
    state = Account.from_dict(snapshot.state) if snapshot else Account(account_id=account_id)
    tail = store.read_stream(log, stream, after_version=state.version, to_version=version)
    for event in tail:
        state = evolve(state, from_recorded(event))
    return Loaded(state, len(tail), snapshot.version if snapshot else None)


def snapshot_if_due(store: EventStore, log: str, before: Account, after: Account, every: int) -> None:
    """Snapshot when the append crossed a multiple of `every` (so roughly every `every` events)."""
    if after.version // every > before.version // every:
        store.save_snapshot(log, stream_name(after.account_id), after.version, after.as_dict())


def import_history(store: EventStore, log: str, history: list[dict[str, Any]], snapshot_every: int = 10) -> list[RecordedEvent]:
    """Append prepared events (a scenario: `{"stream", "type", "schema_version", "data"}` each) as they are, in
    order — old schema versions included — checking that each stream folds, and snapshotting as commands would."""
    states: dict[str, Account] = {}
    appended: list[RecordedEvent] = []
    for number, item in enumerate(history, 1):
        stream, event_type = item.get("stream"), item.get("type")
        schema_version, data = item.get("schema_version", 1), item.get("data")
        if (event_type not in EVENTS or not isinstance(stream, str) or not stream.startswith("account-")
                or not isinstance(data, dict) or schema_version not in range(1, current_schema_version(event_type) + 1)):
            raise Rejected(f"Scenario event {number} is not a bank event on an account stream: {str(item)[:120]}")
        before = states.get(stream) or load_account(store, log, stream.removeprefix("account-")).account
        recorded = store.append(log, stream, [NewEvent(event_type, data, schema_version)], before.version).events
        try:
            after = fold([from_recorded(e) for e in recorded], before)
        except (TypeError, KeyError, ArithmeticError) as error:
            raise Rejected(f"Scenario event {number} does not fit its account: {error}") from None
        snapshot_if_due(store, log, before, after, snapshot_every)
        states[stream] = after
        appended += recorded
    return appended


def handle(
    store: EventStore,
    log: str,
    command: Command,
    *,
    command_id: str | None = None,
    expected_version: int | None = None,
    snapshot_every: int = 10,
) -> AppendResult:
    """Run one command. Raises Rejected (domain said no), ConcurrencyError (409) or CommandIdReused (422).

    A command id already applied returns the first result and appends nothing. Without an expected version, a
    concurrent writer that got there first makes the handler load again and retry, so the caller never sees a race.
    """
    stream = stream_name(command.account_id)
    command_print = fingerprint(command_as_dict(command))
    for _attempt in range(RETRIES):
        if command_id is not None and (record := store.find_command(log, command_id)) is not None:
            if record.fingerprint != command_print:
                raise CommandIdReused(command_id)
            return AppendResult(store.read_positions(log, record.first_position, record.last_position), True)
        loaded = load_account(store, log, command.account_id)
        state = loaded.account
        if expected_version is not None and expected_version != state.version:
            raise ConcurrencyError(stream, expected_version, state.version)
        events = decide(state, command)
        try:
            result = store.append(
                log, stream, [to_new_event(e) for e in events], state.version, command_id, command_print
            )
        except ConcurrencyError:
            if expected_version is not None:
                raise
            continue
        if not result.duplicate:
            snapshot_if_due(store, log, state, fold(events, state), snapshot_every)
        return result
    raise ConcurrencyError(stream, state.version, store.stream_version(log, stream))
