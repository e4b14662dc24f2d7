"""Command handlers for the bank: load the account, decide, append. Pure: they take any EventStore.

The caller owns the transaction (the Django adapter wraps a handler in one; unit tests use the in-memory store).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from eventlab.eventstore.core import AppendResult, CommandIdReused, ConcurrencyError, EventStore, fingerprint

from .domain import Account, Command, command_as_dict, decide, evolve, from_recorded, stream_name, to_new_event

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
            final = state
            for event in events:
                final = evolve(final, event)
            if final.version // snapshot_every > state.version // snapshot_every:
                store.save_snapshot(log, stream, final.version, final.as_dict())
        return result
    raise ConcurrencyError(stream, state.version, store.stream_version(log, stream))
