"""The lab's websocket. Each socket keeps its own position in the log and re-reads from the database after every
wake-up, so lost or reordered wake-ups, reconnects and several server processes never make a tab skip or repeat an
event. It also drives slowed-down projectors, one event at a time, so the learner can watch the read side lag.

Protocol: the client sends its view as JSON on (re)connect and whenever it changes —
`{"page": "bank", "after": 42, "stream": "", "type": "", "live": true, "account": "acc-1"}` on the bank lab,
`{"page": "sagas", "after": 57, "run": "<run id>", "at": 3}` on a saga run (`after`: the run stream's version shown;
`at`: the step a tab looks back at, absent when it follows the head) — and receives HTML fragments that htmx swaps
in (out-of-band swaps). A socket for a lab the session may not use is accepted, then
closed with code 4404 (refusing before accept makes browsers retry forever).

Updates render once per view (eventlab.live.hub): the sockets of a lab in this process that show the same view at
the same position share one render; a socket's own work on a wake-up is a lookup and a send.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.utils.html import escape

from eventlab.labs import registry
from eventlab.labs.access import session_may_use
from eventlab.labs.models import Lab
from eventlab.labs.services import projector

from . import hub as hubs
from .broadcast import group_for, wake_message
from .hub import slowed_projections

MAX_FRAME = 4096
NOT_FOUND = 4404


def parse_view(text: str | None) -> dict[str, Any] | str:
    """The client's view message, validated; or a plain-words reason it was refused."""
    if not text or len(text) > MAX_FRAME:
        return "A view message is a JSON object of at most 4 KiB."
    try:
        data = json.loads(text)
    except ValueError:
        return "A view message must be JSON."
    if not isinstance(data, dict):
        return "A view message must be a JSON object."
    after = data.get("after", 0)
    if isinstance(after, bool) or not isinstance(after, int) or after < 0:
        return "'after' must be a whole number, 0 or more."
    view = {"page": data.get("page") or "bank", "after": after, "live": data.get("live", True) is True}
    for key in ("stream", "type", "account", "run"):
        value = data.get(key) or ""
        if not isinstance(value, str) or len(value) > 200:
            return f"'{key}' must be a short string."
        view[key] = value
    at = data.get("at")
    if at is not None and (isinstance(at, bool) or not isinstance(at, int) or at < 0):
        return "'at' must be a whole number, 0 or more."
    view["at"], view["pinned"] = at or 0, at is not None
    if view["page"] not in registry.renderers():
        return f"Unknown page {str(view['page'])[:40]!r}."
    return view


@database_sync_to_async
def may_use(session, lab_id: str) -> bool:
    return session is not None and session_may_use(session, lab_id) and Lab.objects.filter(pk=lab_id).exists()


@database_sync_to_async
def apply_one_if_due(lab_id: str, name: str) -> int:
    return projector.catch_up_slowly(lab_id, name)


class LabConsumer(AsyncWebsocketConsumer):
    lab_id = ""
    group = ""
    hub: hubs.LabHub | None = None

    async def connect(self) -> None:
        self.lab_id = self.scope["url_route"]["kwargs"]["lab_id"]
        self.view: dict[str, Any] | None = None
        self.after = 0
        self.known_models: frozenset[str] = frozenset()
        self.fresh = 0  # the hub's clock when the render this socket last sent began
        await self.accept()
        if not await may_use(self.scope.get("session"), self.lab_id):
            await self.close(code=NOT_FOUND)
            return
        self.group = group_for(self.lab_id)
        self.hub = hubs.join(self.lab_id)
        await self.channel_layer.group_add(self.group, self.channel_name)

    async def disconnect(self, code: int) -> None:
        if self.group:
            await self.channel_layer.group_discard(self.group, self.channel_name)
        if self.hub is not None:
            hubs.leave(self.hub)
            self.hub = None

    async def dispatch(self, message: dict[str, Any]) -> None:
        # Channels closes stale database connections (a hop to the database thread) before every handler; a wake-up
        # does no database work of its own (the hub's render closes them around its own hop), so it skips that hop.
        if message.get("type") == "lab.wake":
            await self.lab_wake(message)
        else:
            await super().dispatch(message)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if not self.group:
            return
        view = parse_view(text_data)
        if isinstance(view, str):
            await self.send(text_data=f'<p id="live-error" hx-swap-oob="true" role="alert">{escape(view)}</p>')
            return
        self.view, self.after = view, view["after"]
        self.known_models = await self._known_models()
        await self.push(self.hub.now())

    async def _known_models(self) -> frozenset[str]:
        return frozenset(c.projection for c in await database_sync_to_async(projector.checkpoints)(self.lab_id))

    async def lab_wake(self, message: dict[str, Any]) -> None:
        if self.view is None or self.hub is None:
            return
        arrived = self.hub.arrived(message.get("id"))
        if arrived <= self.fresh:
            return  # the render this socket last sent began after this wake-up arrived: it has shown its commit
        await self.push(arrived)

    async def push(self, since: int) -> None:
        """Send the update for this socket's view and position, from a render that began at `since` or later.
        Channels runs one handler of a consumer at a time, so pushes never interleave."""
        update, self.fresh = await self.hub.update(self.view, self.after, self.known_models, since)
        self.after, self.known_models = update.after, update.known
        for message in update.messages:
            await self.send(text_data=message)
        for name, delay in update.slowed.items():
            self.hub.drive(name, delay, self.run_slowly)

    async def run_slowly(self, name: str, delay_ms: int) -> None:
        """Until caught up, paused or set back to instant: apply one event when it is due, and wake everyone.
        One driver per lab and projection in each process (the hub's); the checkpoint's `moved_at` keeps the pace at
        one event per delay however many processes drive it. Waits with asyncio.sleep (never time.sleep, which would
        block the server and hold SQLite's write lock)."""
        layer, group, lab_id = self.channel_layer, self.group, self.lab_id
        while True:
            await asyncio.sleep(min(delay_ms, 250) / 1000)
            if await apply_one_if_due(lab_id, name):
                await layer.group_send(group, wake_message(lab_id, 0))
            pending = await database_sync_to_async(slowed_projections)(lab_id)
            if name not in pending:
                return
            delay_ms = pending[name]
