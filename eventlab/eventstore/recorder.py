"""The database event store: the only code that writes the log.

One append is one transaction that
  1. locks the lab's head row and moves it on by n (`UPDATE … SET head = head + n … RETURNING head`),
  2. checks the command id (a known id appends nothing and returns the first result),
  3. checks the stream's version against the expected version (the optimistic-concurrency check),
  4. inserts the events at positions head-n+1 … head, and the command's idempotency record.
Because every writer of a lab queues on that row lock, positions are gap-free and in commit order: a reader tailing
the log never skips an event a slower concurrent transaction was about to commit. On SQLite the IMMEDIATE transaction
serialises writers already; on PostgreSQL the row lock serialises writers of one lab only.

SQL is written by hand (the same on SQLite and PostgreSQL) because this is the hot path the benchmark measures.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from django.db import IntegrityError, connections, transaction

from .core import (
    AppendResult,
    CommandIdReused,
    CommandRecord,
    ConcurrencyError,
    Metadata,
    NewEvent,
    RecordedEvent,
    Snapshot,
    UnknownLog,
    dumps,
    new_id,
    read_event,
    stamp,
    utcnow,
)

EVENT_COLUMNS = (
    "position, stream, version, type, schema_version, data, event_id, command_id, correlation_id, causation_id, "
    "recorded_at"
)
INSERT_EVENT = (
    f"INSERT INTO eventstore_event (lab, {EVENT_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
)


MOVE_HEAD = "UPDATE eventstore_log SET head = head + %s WHERE lab = %s RETURNING head"
STREAM_VERSION = "SELECT MAX(version) FROM eventstore_event WHERE lab = %s AND stream = %s"
FIND_COMMAND = (
    "SELECT command_id, fingerprint, first_position, last_position FROM eventstore_command "
    "WHERE lab = %s AND command_id = %s"
)
INSERT_COMMAND = (
    "INSERT INTO eventstore_command (lab, command_id, fingerprint, first_position, last_position) "
    "VALUES (%s, %s, %s, %s, %s)"
)


@functools.cache
def append_statements(vendor: str) -> dict[str, str]:
    """An append's statements with the driver's own placeholders (sqlite3: `?`, psycopg: `%s`)."""
    statements = {
        "head": MOVE_HEAD, "command": FIND_COMMAND, "version": STREAM_VERSION, "insert": INSERT_EVENT,
        "record": INSERT_COMMAND,
    }
    if vendor == "sqlite":
        return {name: sql.replace("%s", "?") for name, sql in statements.items()}
    return statements


class _Duplicate(Exception):
    def __init__(self, record: CommandRecord):
        self.record = record


class DjangoEventStore:
    def __init__(self, using: str = "default"):
        self.using = using

    @property
    def connection(self):
        return connections[self.using]

    def _to_db(self, moment: datetime) -> Any:
        return self.connection.ops.adapt_datetimefield_value(moment)

    @staticmethod
    def _from_db(value: Any) -> datetime:
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        return value if value.tzinfo else value.replace(tzinfo=UTC)

    def _events(self, log: str, rows: Sequence[Sequence[Any]]) -> list[RecordedEvent]:
        from_db = self._from_db
        return [
            read_event(log, r[0], r[1], r[2], r[3], r[4], r[5], Metadata(r[6], r[7], r[8], r[9], from_db(r[10])))
            for r in rows
        ]

    def _select(self, log: str, where: str, params: Sequence[Any], tail: str = "") -> list[RecordedEvent]:
        with self.connection.cursor() as cursor:
            cursor.execute(
                f"SELECT {EVENT_COLUMNS} FROM eventstore_event WHERE lab = %s AND {where} ORDER BY position {tail}",
                [log, *params],
            )
            return self._events(log, cursor.fetchall())

    # --- writing ---------------------------------------------------------------------------------------------

    def create_log(self, log: str) -> None:
        with self.connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO eventstore_log (lab, head, published) VALUES (%s, 0, 0) ON CONFLICT (lab) DO NOTHING", [log]
            )

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
        n = len(events)
        connection = self.connection
        sql = append_statements(connection.vendor)
        try:
            with transaction.atomic(using=self.using):
                # The DB-API cursor directly: this is the hot path, and Django's cursor wrapper costs ~10 µs a call.
                cursor = connection.connection.cursor()
                cursor.execute(sql["head"], (n, log))
                row = cursor.fetchone()
                if row is None:
                    raise UnknownLog(log)
                head = row[0]
                if command_id is not None:
                    cursor.execute(sql["command"], (log, command_id))
                    record = cursor.fetchone()
                    if record is not None:
                        raise _Duplicate(CommandRecord(*record))
                cursor.execute(sql["version"], (log, stream))
                current = cursor.fetchone()[0] or 0
                if expected_version is not None and expected_version != current:
                    raise ConcurrencyError(stream, expected_version, current)
                if n == 0:
                    return AppendResult([])
                command_id = command_id or new_id()
                recorded = stamp(
                    events, log, stream, current + 1, head - n + 1, command_id, correlation_id, causation_id,
                    utcnow(),
                )
                recorded_at = self._to_db(recorded[0].metadata.recorded_at)
                rows = [
                    (log, e.position, e.stream, e.version, e.type, e.stored_schema_version, e.stored_data,
                     e.metadata.event_id, command_id, e.metadata.correlation_id, e.metadata.causation_id, recorded_at)
                    for e in recorded
                ]
                if n == 1:
                    cursor.execute(sql["insert"], rows[0])
                else:
                    cursor.executemany(sql["insert"], rows)
                cursor.execute(sql["record"], (log, command_id, command_fingerprint, head - n + 1, head))
                return AppendResult(recorded)
        except _Duplicate as duplicate:
            record = duplicate.record
            if record.fingerprint != command_fingerprint:
                raise CommandIdReused(record.command_id) from None
            return AppendResult(self.read_positions(log, record.first_position, record.last_position), True)
        except (IntegrityError, connection.Database.IntegrityError):
            # Unreachable while the head row lock serialises writers; kept as a clear error should it ever happen.
            actual = self.stream_version(log, stream)
            raise ConcurrencyError(stream, expected_version if expected_version is not None else actual, actual) from None

    def lock(self, log: str) -> None:
        """Inside a transaction: queue behind the lab's other writers now, before loading state to decide on.
        PostgreSQL takes the head row's lock; SQLite's IMMEDIATE transaction already holds the write lock."""
        if self.connection.vendor == "postgresql":
            with self.connection.cursor() as cursor:
                cursor.execute("SELECT head FROM eventstore_log WHERE lab = %s FOR UPDATE", [log])

    def find_command(self, log: str, command_id: str) -> CommandRecord | None:
        with self.connection.cursor() as cursor:
            cursor.execute(FIND_COMMAND, [log, command_id])
            row = cursor.fetchone()
        return CommandRecord(*row) if row else None

    # --- reading ---------------------------------------------------------------------------------------------

    def read_stream(
        self, log: str, stream: str, after_version: int = 0, to_version: int | None = None
    ) -> list[RecordedEvent]:
        where, params = "stream = %s AND version > %s", [stream, after_version]
        if to_version is not None:
            where += " AND version <= %s"
            params.append(to_version)
        return self._select(log, where, params)

    def read_log(
        self, log: str, after: int = 0, limit: int | None = None, stream: str | None = None,
        event_type: str | None = None,
    ) -> list[RecordedEvent]:
        where, params = self._filtered("position > %s", [after], stream, event_type)
        if limit is None:
            return self._select(log, where, params)
        return self._select(log, where, [*params, limit], "LIMIT %s")

    def read_back(
        self, log: str, before: int, limit: int, stream: str | None = None, event_type: str | None = None
    ) -> list[RecordedEvent]:
        where, params = self._filtered("position < %s", [before], stream, event_type)
        return self._select(log, where, [*params, limit], "DESC LIMIT %s")

    @staticmethod
    def _filtered(where: str, params: list, stream: str | None, event_type: str | None) -> tuple[str, list]:
        if stream is not None:
            where, params = where + " AND stream = %s", [*params, stream]
        if event_type is not None:
            where, params = where + " AND type = %s", [*params, event_type]
        return where, params

    def read_positions(self, log: str, first: int, last: int) -> list[RecordedEvent]:
        return self._select(log, "position BETWEEN %s AND %s", [first, last])

    def head(self, log: str) -> int:
        with self.connection.cursor() as cursor:
            cursor.execute("SELECT head FROM eventstore_log WHERE lab = %s", [log])
            row = cursor.fetchone()
        if row is None:
            raise UnknownLog(log)
        return row[0]

    def stream_version(self, log: str, stream: str) -> int:
        with self.connection.cursor() as cursor:
            cursor.execute(STREAM_VERSION, [log, stream])
            return cursor.fetchone()[0] or 0

    def version_at(self, log: str, stream: str, moment: datetime) -> int:
        # Uses the (lab, stream, recorded_at) index; versions grow with recorded_at within a stream.
        with self.connection.cursor() as cursor:
            cursor.execute(
                "SELECT version FROM eventstore_event WHERE lab = %s AND stream = %s AND recorded_at <= %s "
                "ORDER BY recorded_at DESC, version DESC LIMIT 1",
                [log, stream, self._to_db(moment)],
            )
            row = cursor.fetchone()
        return row[0] if row else 0

    # --- snapshots -------------------------------------------------------------------------------------------

    def save_snapshot(self, log: str, stream: str, version: int, state: dict[str, Any]) -> None:
        with self.connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO eventstore_snapshot (lab, stream, version, state, taken_at) VALUES (%s, %s, %s, %s, %s) "
                "ON CONFLICT (lab, stream, version) DO NOTHING",
                [log, stream, version, dumps(state), self._to_db(utcnow())],
            )

    def latest_snapshot(self, log: str, stream: str, at_most_version: int | None = None) -> Snapshot | None:
        where, params = "lab = %s AND stream = %s", [log, stream]
        if at_most_version is not None:
            where += " AND version <= %s"
            params.append(at_most_version)
        with self.connection.cursor() as cursor:
            cursor.execute(
                f"SELECT version, state, taken_at FROM eventstore_snapshot WHERE {where} ORDER BY version DESC LIMIT 1",
                params,
            )
            row = cursor.fetchone()
        if row is None:
            return None
        return Snapshot(stream, row[0], json.loads(row[1]), self._from_db(row[2]))
