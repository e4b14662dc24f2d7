"""Render once per view: the sockets of one lab in this process share each update.

Channels hands a wake-up to every socket of the lab's group separately. The first socket to ask for a view's update
at a given position starts one render (in one thread hop: the renderer, the lab's slowed projections); every other
socket on the same view at the same position, with the same read models shown, awaits that render and sends the same
bytes. A socket elsewhere in the log (a reconnect catching up) gets its own render. Each socket still keeps its own
position, and the renderer still reads from the database in position order, so sharing never makes a socket skip or
repeat an event: a shared result is exactly what that socket would have rendered at that moment.

When may a socket use a render another socket started? When the render started after the wake-up it is handling
reached this process: the wake-up is published after its commit, so such a render has seen that commit. The hub keeps a
clock of its own (`seq`) that moves on the first arrival of each wake-up (they carry an id) and on each render's
start. The same rule coalesces bursts: a socket whose last update came from a render that started after a wake-up
arrived has nothing new to show for it and skips it, so ten commits in quick succession cost as many renders as the
sockets can take, not ten per view. Renders are kept a short while (a few seconds, and at most MEMO per lab).
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from channels.db import database_sync_to_async

from eventlab.eventstore.models import Checkpoint
from eventlab.labs import registry
from eventlab.labs.services import store

MEMO = 256  # renders kept per lab
KEEP = 5.0  # seconds a finished render stays reusable
ARRIVALS = 1024  # wake-up ids remembered per lab


@dataclass(frozen=True)
class Update:
    """What one render produced for (view, position, read models shown)."""

    messages: tuple[str, ...]
    after: int  # the position (or run version) the view now shows
    known: frozenset[str]  # the read models it now shows
    slowed: dict[str, int] = field(default_factory=dict)  # slowed projections with events to apply: name -> ms


@dataclass
class Render:
    started: int  # the hub's clock when it began: it has seen every wake-up that arrived before
    task: asyncio.Task
    finished: float = 0.0


def view_key(view: dict[str, Any]) -> tuple:
    """Everything about a view that changes what it is sent, except its position."""
    return tuple(sorted((k, v) for k, v in view.items() if k != "after"))


def render_sync(lab_id: str, after: int, view: dict[str, Any], known: frozenset[str]) -> Update:
    """The renderer for the view's page, and the lab's slowed projections, in one thread hop."""
    renderer = registry.renderers()[view["page"]]  # each lab registers its pages' renderers
    messages, position, shown = renderer(lab_id, after, {**view, "after": after}, set(known))
    return Update(tuple(messages), position, frozenset(shown), slowed_projections(lab_id))


def slowed_projections(lab_id: str) -> dict[str, int]:
    """Projections a learner slowed down that still have events to apply: name -> delay in ms."""
    head = store.head(lab_id)
    return {
        c.projection: c.delay_ms
        for c in Checkpoint.objects.filter(lab=lab_id, paused=False, delay_ms__gt=0, position__lt=head)
    }


class LabHub:
    """One lab's sockets in this process (on one event loop)."""

    render = staticmethod(database_sync_to_async(render_sync))

    def __init__(self, lab_id: str):
        self.lab_id = lab_id
        self.sockets = 0
        self.seq = 0
        self.arrivals: OrderedDict[str, int] = OrderedDict()
        self.renders: OrderedDict[tuple, Render] = OrderedDict()
        self.drivers: dict[str, asyncio.Task] = {}

    def now(self) -> int:
        """A moment on the hub's clock: renders that start later see everything committed before it."""
        self.seq += 1
        return self.seq

    def arrived(self, wake_id: Any) -> int:
        """When wake-up `wake_id` first reached this process (a wake-up without an id: now)."""
        if not isinstance(wake_id, str):
            return self.now()
        if wake_id not in self.arrivals:
            self.arrivals[wake_id] = self.now()
            while len(self.arrivals) > ARRIVALS:
                self.arrivals.popitem(last=False)
        return self.arrivals[wake_id]

    async def update(self, view: dict[str, Any], after: int, known: frozenset[str], since: int
                     ) -> tuple[Update, int]:
        """The update for a socket showing `view` at `after` with read models `known`, from a render that started at
        `since` or later (shared with every socket asking the same); and when that render started."""
        key = (view_key(view), after, known)
        entry = self.renders.get(key)
        if entry is None or entry.started < since or (entry.task.done() and entry.task.cancelled()):
            entry = Render(self.now(), asyncio.ensure_future(self.render(self.lab_id, after, view, known)))
            self.renders[key] = entry
            self.renders.move_to_end(key)
            entry.task.add_done_callback(lambda task, key=key, entry=entry: self._finished(key, entry))
            self._prune()
        # shield: a socket that goes away while waiting must not cancel the render the others wait for
        return await asyncio.shield(entry.task), entry.started

    def _finished(self, key: tuple, entry: Render) -> None:
        entry.finished = time.monotonic()
        if (entry.task.cancelled() or entry.task.exception() is not None) and self.renders.get(key) is entry:
            del self.renders[key]  # a failed render is not reused: the next wake-up tries again

    def _prune(self) -> None:
        old = time.monotonic() - KEEP
        for key in [k for k, e in self.renders.items() if e.finished and e.finished < old]:
            del self.renders[key]
        while len(self.renders) > MEMO:
            self.renders.popitem(last=False)

    def drive(self, name: str, delay_ms: int, run: Callable[[str, int], Awaitable[None]]) -> None:
        """Keep one driver per slowed projection per lab in this process (not one per socket)."""
        task = self.drivers.get(name)
        if task is None or task.done():
            self.drivers[name] = asyncio.ensure_future(run(name, delay_ms))

    def close(self) -> None:
        for task in self.drivers.values():
            task.cancel()
        self.drivers.clear()
        self.renders.clear()


_hubs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, LabHub]] = weakref.WeakKeyDictionary()


def join(lab_id: str) -> LabHub:
    """The hub of `lab_id` on this event loop, counting one more socket on it."""
    hubs = _hubs.setdefault(asyncio.get_running_loop(), {})
    hub = hubs.get(lab_id)
    if hub is None:
        hub = hubs[lab_id] = LabHub(lab_id)
    hub.sockets += 1
    return hub


def leave(hub: LabHub) -> None:
    """One socket fewer on the hub; the last one out closes it."""
    hub.sockets -= 1
    if hub.sockets <= 0:
        hubs = _hubs.get(asyncio.get_running_loop(), {})
        if hubs.get(hub.lab_id) is hub:
            del hubs[hub.lab_id]
        hub.close()
