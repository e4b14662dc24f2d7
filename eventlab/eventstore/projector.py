"""Runs projections against the database: rows and checkpoint move together, in one transaction (exactly once).

A projection runs inline (inside the command's transaction) or async (caught up after commit, optionally slowed
down so a learner can watch the read side lag). Either way it is `catch_up`: read the log after the checkpoint,
apply, write the rows, and move the checkpoint by compare-and-set, so two projectors never both apply an event.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import timedelta

from django.db import connection, transaction
from django.utils import timezone

from .core import RecordedEvent
from .models import Checkpoint, ReadModelRow
from .readmodels import Doc, Projection
from .recorder import DjangoEventStore

BATCH = 1000
_MISSING = object()


class DatabaseRows:
    """Rows of one projection of one lab, cached for a batch and written at the end with one upsert."""

    def __init__(self, lab: str, projection: str, empty: bool = False):
        self.lab, self.projection = lab, projection
        self.docs: dict[str, object] = {}
        self.dirty: set[str] = set()
        self.empty = empty  # True when rebuilding: the table holds nothing for it, so never look

    def get(self, key: str) -> Doc | None:
        doc = self.docs.get(key, _MISSING)
        if doc is _MISSING:
            doc = None
            if not self.empty:
                doc = (
                    ReadModelRow.objects.filter(lab=self.lab, projection=self.projection, key=key)
                    .values_list("doc", flat=True)
                    .first()
                )
            self.docs[key] = doc
        return doc  # type: ignore[return-value]

    def put(self, key: str, doc: Doc) -> None:
        self.docs[key] = doc
        self.dirty.add(key)

    def delete(self, key: str) -> None:
        self.docs[key] = None
        self.dirty.add(key)

    def flush(self) -> None:
        gone = [k for k in self.dirty if self.docs[k] is None]
        if gone:
            ReadModelRow.objects.filter(lab=self.lab, projection=self.projection, key__in=gone).delete()
        kept = [(self.lab, self.projection, k, json.dumps(self.docs[k])) for k in self.dirty if self.docs[k] is not None]
        if kept:
            cast = "::jsonb" if connection.vendor == "postgresql" else ""
            with connection.cursor() as cursor:
                cursor.executemany(
                    f"INSERT INTO eventstore_readmodel (lab, projection, key, doc) VALUES (%s, %s, %s, %s{cast}) "
                    "ON CONFLICT (lab, projection, key) DO UPDATE SET doc = excluded.doc",
                    kept,
                )
        self.dirty.clear()


class Projector:
    def __init__(self, projections: Iterable[Projection], store: DjangoEventStore | None = None):
        self.projections = {p.name: p for p in projections}
        self.store = store or DjangoEventStore()

    def enable(self, lab: str, name: str, **settings) -> Checkpoint:
        """Switch a projection on for a lab. It starts at position 0, so it fills itself from the whole history."""
        if name not in self.projections:
            raise KeyError(name)
        checkpoint, _ = Checkpoint.objects.get_or_create(lab=lab, projection=name, defaults=settings)
        return checkpoint

    def checkpoints(self, lab: str) -> list[Checkpoint]:
        by_name = {c.projection: c for c in Checkpoint.objects.filter(lab=lab)}
        return [by_name[name] for name in self.projections if name in by_name]

    def catch_up(self, lab: str, names: str | Iterable[str], limit: int | None = None, *, force: bool = False) -> int:
        """Apply events after the checkpoints of one or several projections, reading the log once for all of
        them, in transactions of up to BATCH (or `limit`) events. Returns how many log events were read and applied.
        A paused projection applies nothing unless `force`."""
        names = [names] if isinstance(names, str) else list(names)
        applied = 0
        while limit is None or applied < limit:
            batch = BATCH if limit is None else min(BATCH, limit - applied)
            done = self._apply_batch(lab, names, batch, force)
            applied += done
            if done < batch:
                break
        return applied

    def _apply_batch(self, lab: str, names: list[str], batch: int, force: bool) -> int:
        with transaction.atomic():
            checkpoints = [
                c for c in Checkpoint.objects.select_for_update().filter(lab=lab, projection__in=names)
                .order_by("projection")  # one lock order everywhere: no deadlock between projectors
                if force or not c.paused
            ]
            if not checkpoints:
                return 0
            events = self.store.read_log(lab, after=min(c.position for c in checkpoints), limit=batch)
            if not events:
                return 0
            for checkpoint in checkpoints:
                projection = self.projections[checkpoint.projection]
                todo = [e for e in events if e.position > checkpoint.position]
                if not todo:
                    continue
                rows = DatabaseRows(lab, checkpoint.projection, empty=checkpoint.position == 0)
                for event in todo:
                    if projection.handles(event):  # another lab's events only move the checkpoint
                        projection.apply(rows, event)
                rows.flush()
                moved = Checkpoint.objects.filter(pk=checkpoint.pk, position=checkpoint.position).update(
                    position=todo[-1].position, moved_at=timezone.now()
                )
                if moved != 1:  # another projector got there first: undo ours
                    transaction.set_rollback(True)
                    return 0
            return len(events)

    def catch_up_slowly(self, lab: str, name: str) -> int:
        """A slowed-down projection applies one event when its delay has passed since it last moved. Whoever calls
        this (every open tab, on any process), the pace stays one event per delay."""
        with transaction.atomic():
            checkpoint = Checkpoint.objects.select_for_update().filter(lab=lab, projection=name).first()
            if checkpoint is None or checkpoint.paused or not checkpoint.delay_ms:
                return 0
            due = checkpoint.moved_at is None or (
                timezone.now() - checkpoint.moved_at >= timedelta(milliseconds=checkpoint.delay_ms)
            )
            return self._apply_batch(lab, [name], 1, force=False) if due else 0

    def run_inline(self, lab: str, appended: Sequence[RecordedEvent] = ()) -> None:
        """Inside a command's transaction: bring every inline, running projection up to the new head.

        Given the events just `appended`, a projection that handles none of them (another lab's read model: a saga
        step in a lab whose bank read models are on) does no read-model work: if its checkpoint stood right before
        them, one statement moves it (and every other such one) past them; only the others catch up."""
        inline = [c for c in self.checkpoints(lab) if c.mode == Checkpoint.Mode.INLINE]
        if appended:
            before, head = appended[0].position - 1, appended[-1].position
            idle = [c.projection for c in inline if not c.paused and c.position == before
                    and not any(self.projections[c.projection].handles(e) for e in appended)]
            if idle:
                Checkpoint.objects.filter(lab=lab, projection__in=idle, position=before).update(
                    position=head, moved_at=timezone.now())
                inline = [c for c in inline if c.projection not in idle]
        if inline:
            self.catch_up(lab, [c.projection for c in inline])

    def run_async(self, lab: str) -> bool:
        """After commit: catch up async projections that are not slowed down. True if any moved."""
        names = [c.projection for c in self.checkpoints(lab) if c.mode == Checkpoint.Mode.ASYNC and c.delay_ms == 0]
        return bool(names) and self.catch_up(lab, names) > 0

    def rebuild(self, lab: str, names: str | Iterable[str]) -> None:
        """Forget the read model(s) and checkpoint(s); they then refill from position 0 as their mode says."""
        names = [names] if isinstance(names, str) else list(names)
        with transaction.atomic():
            # Checkpoints first, as catching up does: the same lock order, so the two never deadlock.
            list(Checkpoint.objects.select_for_update().filter(lab=lab, projection__in=names).order_by("projection"))
            ReadModelRow.objects.filter(lab=lab, projection__in=names).delete()
            Checkpoint.objects.filter(lab=lab, projection__in=names).update(position=0)

    def docs(self, lab: str, name: str, prefix: str | None = None) -> dict[str, Doc]:
        rows = ReadModelRow.objects.filter(lab=lab, projection=name)
        if prefix is not None:
            rows = rows.filter(key__startswith=prefix)
        return dict(rows.order_by("key").values_list("key", "doc"))

    def docs_at(self, lab: str, name: str, keys: Iterable[str]) -> dict[str, Doc]:
        """The documents at these keys (those that exist), read by key: as many rows as asked for."""
        rows = ReadModelRow.objects.filter(lab=lab, projection=name, key__in=list(keys))
        return dict(rows.order_by("key").values_list("key", "doc"))

    def newest(self, lab: str, name: str, limit: int) -> list[Doc]:
        """The `limit` documents with the highest keys, highest first: read down the key's index, `limit` rows."""
        rows = ReadModelRow.objects.filter(lab=lab, projection=name).order_by("-key")
        return list(rows.values_list("doc", flat=True)[:limit])
