"""The event store's contract, in pure Python: what an event is, what a store promises, and an in-memory store.

A lab is a log. Every event belongs to one lab (`log`), one stream inside it (`account-acc-1`) at a version
(1, 2, 3 … per stream), and a lab-wide position (1, 2, 3 … in commit order, never a gap). Stored bytes never change:
old schema versions are upcast on the way out, never rewritten.

This module imports no Django; `eventlab.eventstore.recorder` is the database implementation of the same contract,
and `tests/contract` runs one test suite against both.
"""

from __future__ import annotations

import copy
import hashlib
import json
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Protocol

# --- Events ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NewEvent:
    """An event a command decided on, before the store gives it a version and a position."""

    type: str
    data: dict[str, Any]
    schema_version: int = 1


@dataclass(frozen=True)
class Metadata:
    event_id: str
    command_id: str
    correlation_id: str
    causation_id: str
    recorded_at: datetime

    def as_dict(self) -> dict[str, str]:
        return {
            "event_id": self.event_id,
            "command_id": self.command_id,
            "correlation_id": self.correlation_id,
            "causation_id": self.causation_id,
            "recorded_at": iso(self.recorded_at),
        }


@dataclass(frozen=True)
class RecordedEvent:
    """An event as read from the store: `data` is in the current schema, `stored_data` is exactly what is stored."""

    log: str
    position: int
    stream: str
    version: int
    type: str
    schema_version: int
    stored_schema_version: int
    data: dict[str, Any]
    stored_data: str
    metadata: Metadata

    def as_dict(self) -> dict[str, Any]:
        """The event as the API and the live feed show it."""
        return {
            "position": self.position,
            "stream": self.stream,
            "version": self.version,
            "type": self.type,
            "schema_version": self.schema_version,
            "stored_schema_version": self.stored_schema_version,
            "data": self.data,
            "metadata": self.metadata.as_dict(),
        }

    @property
    def data_json(self) -> str:
        return json.dumps(self.data)

    def as_stored_dict(self) -> dict[str, Any]:
        """The event as stored, for export: the stored schema version and the stored payload, untouched."""
        return {
            "position": self.position,
            "stream": self.stream,
            "version": self.version,
            "type": self.type,
            "schema_version": self.stored_schema_version,
            "data": json.loads(self.stored_data),
            "metadata": self.metadata.as_dict(),
        }


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def dumps(data: dict[str, Any]) -> str:
    """The one way payloads become stored bytes: compact, key-sorted JSON."""
    return json.dumps(data, separators=(",", ":"), sort_keys=True)


def fingerprint(command: dict[str, Any]) -> str:
    """Identifies a command's content, so a reused command id with a different command can be refused."""
    return hashlib.sha256(dumps(command).encode()).hexdigest()


def new_id() -> str:
    return str(uuid.uuid4())


# --- Upcasting ---------------------------------------------------------------------------------------------------

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]
_UPCASTERS: dict[tuple[str, int], Upcaster] = {}


def upcaster(event_type: str, from_version: int) -> Callable[[Upcaster], Upcaster]:
    """Register a function turning `event_type` payloads at `from_version` into `from_version + 1`."""

    def register(fn: Upcaster) -> Upcaster:
        _UPCASTERS[(event_type, from_version)] = fn
        return fn

    return register


def upcast(event_type: str, schema_version: int, data: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    while (event_type, schema_version) in _UPCASTERS:
        data = _UPCASTERS[(event_type, schema_version)](dict(data))
        schema_version += 1
    return schema_version, data


def current_schema_version(event_type: str) -> int:
    version = 1
    while (event_type, version) in _UPCASTERS:
        version += 1
    return version


def read_event(
    log: str,
    position: int,
    stream: str,
    version: int,
    event_type: str,
    stored_schema_version: int,
    stored_data: str,
    metadata: Metadata,
) -> RecordedEvent:
    """Build a RecordedEvent from stored columns, upcasting its payload to the current schema."""
    schema_version, data = upcast(event_type, stored_schema_version, json.loads(stored_data))
    return RecordedEvent(
        log, position, stream, version, event_type, schema_version, stored_schema_version, data, stored_data, metadata
    )


# --- Errors ------------------------------------------------------------------------------------------------------


class StoreError(Exception):
    """Base class: every error here carries a plain-words message."""


class ConcurrencyError(StoreError):
    def __init__(self, stream: str, expected: int, actual: int):
        self.stream, self.expected, self.actual = stream, expected, actual
        super().__init__(
            f"Concurrency conflict on {stream}: you expected version {expected}, but it is at version {actual}. "
            "Someone else changed it first; reload and try again."
        )


class CommandIdReused(StoreError):
    def __init__(self, command_id: str):
        self.command_id = command_id
        super().__init__(f"Command id {command_id!r} was already used for a different command.")


class UnknownLog(StoreError):
    def __init__(self, log: str):
        super().__init__(f"No such lab: {log!r}")


# --- The store's contract ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AppendResult:
    events: list[RecordedEvent]
    duplicate: bool = False  # True: the command id was seen before; nothing was appended


@dataclass(frozen=True)
class Snapshot:
    stream: str
    version: int
    state: dict[str, Any]
    taken_at: datetime


@dataclass(frozen=True)
class CommandRecord:
    command_id: str
    fingerprint: str
    first_position: int
    last_position: int


class EventStore(Protocol):
    def create_log(self, log: str) -> None: ...

    def append(
        self,
        log: str,
        stream: str,
        events: Sequence[NewEvent],
        expected_version: int | None,
        command_id: str | None = None,
        command_fingerprint: str = "",
        correlation_id: str | None = None,
        causation_id: str | None = None,
    ) -> AppendResult:
        """Append atomically: all or nothing, versions after `expected_version`, positions after the log's head.

        `expected_version=None` appends after whatever version the stream is at; `0` means "the stream is new".
        A known `command_id` appends nothing and returns the first result (or raises CommandIdReused when the
        fingerprint differs)."""
        ...

    def find_command(self, log: str, command_id: str) -> CommandRecord | None: ...

    def read_stream(self, log: str, stream: str, after_version: int = 0, to_version: int | None = None) -> list[
        RecordedEvent
    ]: ...

    def read_log(
        self, log: str, after: int = 0, limit: int | None = None, stream: str | None = None,
        event_type: str | None = None,
    ) -> list[RecordedEvent]:
        """Oldest first: events after position `after` (up to `limit`), of one stream and/or type if given."""
        ...

    def read_back(
        self, log: str, before: int, limit: int, stream: str | None = None, event_type: str | None = None
    ) -> list[RecordedEvent]:
        """Newest first: up to `limit` events at positions below `before`, of one stream and/or type if given."""
        ...

    def read_positions(self, log: str, first: int, last: int) -> list[RecordedEvent]: ...

    def head(self, log: str) -> int: ...

    def stream_version(self, log: str, stream: str) -> int: ...

    def version_at(self, log: str, stream: str, moment: datetime) -> int:
        """The stream's version as of `moment` (0 if it had no events yet)."""
        ...

    def save_snapshot(self, log: str, stream: str, version: int, state: dict[str, Any]) -> None: ...

    def latest_snapshot(self, log: str, stream: str, at_most_version: int | None = None) -> Snapshot | None: ...


def stamp(
    events: Sequence[NewEvent],
    log: str,
    stream: str,
    first_version: int,
    first_position: int,
    command_id: str,
    correlation_id: str | None,
    causation_id: str | None,
    now: datetime,
) -> list[RecordedEvent]:
    """Give new events their versions, positions and metadata. Shared by every store, so all stamp alike.

    Without a given correlation id, the command id is the correlation id (the command starts the conversation);
    without a given causation id, the command caused its events."""
    recorded = []
    for i, event in enumerate(events):
        metadata = Metadata(
            event_id=new_id(),
            command_id=command_id,
            correlation_id=correlation_id or command_id,
            causation_id=causation_id or command_id,
            recorded_at=now,
        )
        recorded.append(
            read_event(
                log,
                first_position + i,
                stream,
                first_version + i,
                event.type,
                event.schema_version,
                dumps(event.data),
                metadata,
            )
        )
    return recorded


def utcnow() -> datetime:
    return datetime.now(UTC)


# --- In-memory implementation --------------------------------------------------------------------------------------


@dataclass
class _MemoryLog:
    events: list[RecordedEvent] = field(default_factory=list)
    streams: dict[str, list[RecordedEvent]] = field(default_factory=dict)
    commands: dict[str, CommandRecord] = field(default_factory=dict)
    snapshots: dict[str, list[Snapshot]] = field(default_factory=dict)


class InMemoryEventStore:
    """The same contract as the database store, in a dict: for unit tests and the simulation engines."""

    def __init__(self, clock: Callable[[], datetime] = utcnow):
        self._logs: dict[str, _MemoryLog] = {}
        self._lock = threading.Lock()
        self._clock = clock

    def _log(self, log: str) -> _MemoryLog:
        try:
            return self._logs[log]
        except KeyError:
            raise UnknownLog(log) from None

    def create_log(self, log: str) -> None:
        with self._lock:
            self._logs.setdefault(log, _MemoryLog())

    def append(
        self,
        log: str,
        stream: str,
        events: Sequence[NewEvent],
        expected_version: int | None,
        command_id: str | None = None,
        command_fingerprint: str = "",
        correlation_id: str | None = None,
        causation_id: str | None = None,
    ) -> AppendResult:
        with self._lock:
            memory = self._log(log)
            if command_id is not None and command_id in memory.commands:
                record = memory.commands[command_id]
                if record.fingerprint != command_fingerprint:
                    raise CommandIdReused(command_id)
                return AppendResult(_copies(memory.events[record.first_position - 1 : record.last_position]), True)
            current = len(memory.streams.get(stream, []))
            if expected_version is not None and expected_version != current:
                raise ConcurrencyError(stream, expected_version, current)
            if not events:
                return AppendResult([])
            command_id = command_id or new_id()
            recorded = stamp(
                events, log, stream, current + 1, len(memory.events) + 1, command_id, correlation_id,
                causation_id, self._clock(),
            )
            memory.events.extend(recorded)
            memory.streams.setdefault(stream, []).extend(recorded)
            memory.commands[command_id] = CommandRecord(
                command_id, command_fingerprint, recorded[0].position, recorded[-1].position
            )
            return AppendResult(_copies(recorded))

    def find_command(self, log: str, command_id: str) -> CommandRecord | None:
        return self._log(log).commands.get(command_id)

    def read_stream(
        self, log: str, stream: str, after_version: int = 0, to_version: int | None = None
    ) -> list[RecordedEvent]:
        events = self._log(log).streams.get(stream, [])
        return _copies(events[max(after_version, 0) : to_version])

    def read_log(
        self, log: str, after: int = 0, limit: int | None = None, stream: str | None = None,
        event_type: str | None = None,
    ) -> list[RecordedEvent]:
        events = self._log(log).events[max(after, 0) :]
        if stream is not None or event_type is not None:
            events = [e for e in events if _matches(e, stream, event_type)]
        return _copies(events[:limit])

    def read_back(
        self, log: str, before: int, limit: int, stream: str | None = None, event_type: str | None = None
    ) -> list[RecordedEvent]:
        found: list[RecordedEvent] = []
        for event in reversed(self._log(log).events[: max(before - 1, 0)]):
            if len(found) >= limit:
                break
            if _matches(event, stream, event_type):
                found.append(event)
        return _copies(found)

    def read_positions(self, log: str, first: int, last: int) -> list[RecordedEvent]:
        return _copies(self._log(log).events[max(first, 1) - 1 : max(last, 0)])

    def head(self, log: str) -> int:
        return len(self._log(log).events)

    def stream_version(self, log: str, stream: str) -> int:
        return len(self._log(log).streams.get(stream, []))

    def version_at(self, log: str, stream: str, moment: datetime) -> int:
        return sum(1 for e in self._log(log).streams.get(stream, []) if e.metadata.recorded_at <= moment)

    def save_snapshot(self, log: str, stream: str, version: int, state: dict[str, Any]) -> None:
        with self._lock:
            snapshots = self._log(log).snapshots.setdefault(stream, [])
            if not any(s.version == version for s in snapshots):
                snapshots.append(Snapshot(stream, version, json.loads(dumps(state)), self._clock()))
                snapshots.sort(key=lambda s: s.version)

    def latest_snapshot(self, log: str, stream: str, at_most_version: int | None = None) -> Snapshot | None:
        snapshots = self._log(log).snapshots.get(stream, [])
        eligible = [s for s in snapshots if at_most_version is None or s.version <= at_most_version]
        return eligible[-1] if eligible else None


def _matches(event: RecordedEvent, stream: str | None, event_type: str | None) -> bool:
    return (stream is None or event.stream == stream) and (event_type is None or event.type == event_type)


def _copies(events: list[RecordedEvent]) -> list[RecordedEvent]:
    """Events as a database would give them: changing one in hand never changes the log."""
    return [replace(e, data=copy.deepcopy(e.data)) for e in events]
