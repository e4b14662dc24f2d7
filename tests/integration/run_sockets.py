"""Helpers for the simulation labs' websocket tests: a browser session on a lab page, a socket connected with its
cookie, and reading what the lab's consumer pushes (the lab head first, then the run's panel or its news)."""

import html
import re

from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from eventlab.asgi import application
from eventlab.labs.services import store

ORIGIN = (b"origin", b"http://testserver")


@database_sync_to_async
def browser_session(lab: str) -> tuple[str, str]:
    """A browser that opened /labs/<lab>/ (e.g. "sagas"): its working lab's id and its session cookie."""
    client = Client()
    response = client.get(f"/labs/{lab}/")
    assert response.status_code == 302
    assert response["Location"].endswith(f"/{lab}/")
    return response["Location"].split("/")[2], client.cookies["sessionid"].value


@database_sync_to_async
def head(lab_id: str) -> int:
    return store.head(lab_id)


async def connected(lab_id: str, cookie: str) -> WebsocketCommunicator:
    communicator = WebsocketCommunicator(application, f"/ws/labs/{lab_id}/",
                                         headers=[ORIGIN, (b"cookie", f"sessionid={cookie}".encode())])
    accepted, _ = await communicator.connect(timeout=5)
    assert accepted
    return communicator


async def received(communicator: WebsocketCommunicator, quiet: float = 0.5) -> list[str]:
    """Every message until the socket has been quiet for `quiet` seconds."""
    messages = []
    while not await communicator.receive_nothing(timeout=quiet):
        messages.append(await communicator.receive_from(timeout=5))
    return messages


async def push(communicator: WebsocketCommunicator) -> list[str]:
    """One push: the lab head (always first), then whatever the run's view got."""
    first = await communicator.receive_from(timeout=5)
    assert first.startswith('<span id="lab-head" class="head"'), first
    assert 'hx-swap-oob="true"' in first
    return [first, *await received(communicator, quiet=0.3)]


def pushed_head(message: str) -> int:
    return int(re.search(r'id="lab-head" class="head" data-head="(\d+)"', message).group(1))


def panels(messages: list[str]) -> list[str]:
    return [m for m in messages if '<div id="run" ' in m]


def news(messages: list[str]) -> list[str]:
    """The "run moved on" notice, sent on its own (the panel carries an empty #run-news of its own)."""
    return [m for m in messages if m.startswith('<p id="run-news"')]


def words(message: str) -> str:
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", "", message))).strip()
