"""Read models, in pure Python: a projection folds events into keyed documents (rows).

The same projection code runs in memory (unit tests, the property test's "rebuild from scratch") and against the
database (`projector.py`, which writes the rows and the checkpoint in one transaction).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

from .core import RecordedEvent

Doc = dict[str, Any]


class Rows(Protocol):
    def get(self, key: str) -> Doc | None: ...

    def put(self, key: str, doc: Doc) -> None: ...

    def delete(self, key: str) -> None: ...


class Projection:
    """Subclass with a `name`, a `title`, a one-line `description`, the `event_types` it folds and
    `apply(rows, event)`.

    `event_types` is what a projection declares it handles: the projector never applies any other event to it, and a
    write appending none of them does no work for it (its checkpoint only moves past them). None: every event."""

    name: str = ""
    title: str = ""
    description: str = ""
    event_types: frozenset[str] | None = None

    def handles(self, event: RecordedEvent) -> bool:
        return self.event_types is None or event.type in self.event_types

    def apply(self, rows: Rows, event: RecordedEvent) -> None:
        raise NotImplementedError


class InMemoryRows:
    def __init__(self) -> None:
        self.docs: dict[str, Doc] = {}

    def get(self, key: str) -> Doc | None:
        return self.docs.get(key)

    def put(self, key: str, doc: Doc) -> None:
        self.docs[key] = doc

    def delete(self, key: str) -> None:
        self.docs.pop(key, None)


def rebuild(projection: Projection, events: Iterable[RecordedEvent]) -> dict[str, Doc]:
    """The read model as a fresh fold of `events`: what every incrementally updated read model must equal."""
    rows = InMemoryRows()
    for event in events:
        if projection.handles(event):
            projection.apply(rows, event)
    return rows.docs
