"""Runs projections against the database: rows and checkpoint move together, in one transaction (exactly once).

A projection runs inline (inside the command's transaction) or async (caught up after commit, optionally slowed
down so a learner can watch the read side lag). Either way it is `catch_up`: read the log after the checkpoint,
apply, write the rows, and move the checkpoint by compare-and-set, so two projectors never both apply an event.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction

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
        ReadModelRow.objects.bulk_create(
            [
                ReadModelRow(lab=self.lab, projection=self.projection, key=k, doc=self.docs[k])
                for k in self.dirty
                if self.docs[k] is not None
            ],
            batch_size=500,
            update_conflicts=True,
            unique_fields=["lab", "projection", "key"],
            update_fields=["doc"],
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

    def catch_up(self, lab: str, name: str, limit: int | None = None, *, force: bool = False) -> int:
        """Apply events after the checkpoint, in transactions of up to BATCH (or `limit`) events.

        Returns how many events were applied. A paused projection applies nothing unless `force`."""
        applied = 0
        while limit is None or applied < limit:
            batch = BATCH if limit is None else min(BATCH, limit - applied)
            done = self._apply_batch(lab, name, batch, force)
            applied += done
            if done < batch:
                break
        return applied

    def _apply_batch(self, lab: str, name: str, batch: int, force: bool) -> int:
        projection = self.projections[name]
        with transaction.atomic():
            checkpoint = Checkpoint.objects.select_for_update().filter(lab=lab, projection=name).first()
            if checkpoint is None or (checkpoint.paused and not force):
                return 0
            events = self.store.read_log(lab, after=checkpoint.position, limit=batch)
            if not events:
                return 0
            rows = DatabaseRows(lab, name, empty=checkpoint.position == 0)
            for event in events:
                projection.apply(rows, event)
            rows.flush()
            moved = Checkpoint.objects.filter(pk=checkpoint.pk, position=checkpoint.position).update(
                position=events[-1].position
            )
            if moved != 1:  # another projector got there first: undo ours
                transaction.set_rollback(True)
                return 0
            return len(events)

    def run_inline(self, lab: str) -> None:
        """Inside a command's transaction: bring every inline, running projection up to the new head."""
        for checkpoint in self.checkpoints(lab):
            if checkpoint.mode == Checkpoint.Mode.INLINE and not checkpoint.paused:
                self.catch_up(lab, checkpoint.projection)

    def run_async(self, lab: str) -> bool:
        """After commit: catch up async projections that are not slowed down. True if any moved."""
        moved = False
        for checkpoint in self.checkpoints(lab):
            if checkpoint.mode == Checkpoint.Mode.ASYNC and not checkpoint.paused and checkpoint.delay_ms == 0:
                moved = self.catch_up(lab, checkpoint.projection) > 0 or moved
        return moved

    def rebuild(self, lab: str, name: str) -> None:
        """Forget the read model and its checkpoint; it then refills from position 0 as its mode says."""
        with transaction.atomic():
            ReadModelRow.objects.filter(lab=lab, projection=name).delete()
            Checkpoint.objects.filter(lab=lab, projection=name).update(position=0)

    def docs(self, lab: str, name: str, prefix: str | None = None) -> dict[str, Doc]:
        rows = ReadModelRow.objects.filter(lab=lab, projection=name)
        if prefix is not None:
            rows = rows.filter(key__startswith=prefix)
        return dict(rows.order_by("key").values_list("key", "doc"))
