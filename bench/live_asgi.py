"""The app as daphne serves it, plus two bench-only websocket routes.

Only `bench/live_bench.py` starts daphne with this module; production serves `eventlab.asgi:application`, which has
neither route.
- A bare consumer joins the lab's group exactly as the lab's consumer does (same origin check, same session
  middleware, same channel layer, same wake-up after a commit) and answers every wake-up with constant payloads: the
  client says their sizes in its first message. It is the floor a live push cannot go below.
- A per-socket consumer is the lab's consumer with one render per socket, as it was before updates rendered once per
  view (and with channels' connection-closing hop before every handler): the same-run reference for the CPU goal.
  It is a little cheaper than the old consumer was (its slowed-projection check rides in the render's hop).
"""

from __future__ import annotations

import json

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.routing import ProtocolTypeRouter, URLRouter
from channels.security.websocket import AllowedHostsOriginValidator
from channels.sessions import SessionMiddlewareStack
from django.urls import path

from eventlab.asgi import django_application
from eventlab.live.broadcast import group_for
from eventlab.live.consumers import LabConsumer
from eventlab.live.hub import render_sync
from eventlab.live.routing import websocket_urlpatterns

END = '<span id="lab-head">'  # how a client knows a push is complete, as with the lab's own pushes


class BareConsumer(AsyncWebsocketConsumer):
    group = ""
    payloads: list[str] = []

    async def connect(self) -> None:
        self.group = group_for(self.scope["url_route"]["kwargs"]["lab_id"])
        await self.accept()
        await self.channel_layer.group_add(self.group, self.channel_name)

    async def disconnect(self, code: int) -> None:
        await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        sizes = [max(len(END), min(int(n), 1 << 20)) for n in json.loads(text_data or "{}").get("sizes", [64])][:8]
        self.payloads = ["x" * n for n in sizes[:-1]] + [END + "x" * (sizes[-1] - len(END))]
        await self.send(text_data=self.payloads[-1])

    async def lab_wake(self, message: dict) -> None:
        for payload in self.payloads:
            await self.send(text_data=payload)


class PerSocketConsumer(LabConsumer):
    render = staticmethod(database_sync_to_async(render_sync))

    async def dispatch(self, message: dict) -> None:
        await AsyncWebsocketConsumer.dispatch(self, message)

    async def lab_wake(self, message: dict) -> None:
        if self.view is not None:
            await self.push(0)

    async def push(self, since: int) -> None:
        update = await self.render(self.lab_id, self.after, self.view, self.known_models)
        self.after, self.known_models = update.after, update.known
        for message in update.messages:
            await self.send(text_data=message)


application = ProtocolTypeRouter({
    "http": django_application,
    "websocket": AllowedHostsOriginValidator(SessionMiddlewareStack(URLRouter([
        path("bench/bare/<str:lab_id>/", BareConsumer.as_asgi()),
        path("bench/per-socket/<str:lab_id>/", PerSocketConsumer.as_asgi()),
        *websocket_urlpatterns,
    ]))),
})
