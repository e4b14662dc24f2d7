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
    """Subclass with a `name`, a `title`, a one-line `description` and `apply(rows, event)`."""

    name: str = ""
    title: str = ""
    description: str = ""

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
        projection.apply(rows, event)
    return rows.docs
