"""The raw log as Server-Sent Events (django-eventstream), per lab, resumable with Last-Event-ID.

History comes from the event store itself (no second copy of the events): a client that sends
`Last-Event-ID: lab-<id>:<position>` gets every event after that position, then live ones. A client that sends none
starts from `?after=N` (default 0, the whole log), so `curl -N` is a catch-up subscription.

A large backlog of unpublished events (an imported history) is published in the background, never all inside the
request whose commit woke it (see `publish_later`); a client catching up reads the store either way.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable

from django.db import connection
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django_eventstream.channelmanager import DefaultChannelManager
from django_eventstream.event import Event
from django_eventstream.storage import EventDoesNotExist, StorageBase
from django_eventstream.views import events

from eventlab.eventstore.recorder import DjangoEventStore
from eventlab.labs.access import lab_for

store = DjangoEventStore()
PREFIX = "lab-"


def channel_for(lab_id: str) -> str:
    return f"{PREFIX}{lab_id}"


class EventStoreStorage(StorageBase):
    """django-eventstream storage that reads the lab's log. Appending is the store's job, never this class's."""

    def append_event(self, channel: str, event_type: str, data: str) -> Event:
        # Called by send_event with an event that is already in the log: give it back its own position as id.
        return Event(channel, event_type, data, id=json.loads(data)["position"])

    def get_events(self, channel: str, last_id: int, limit: int = 100) -> list[Event]:
        lab_id = channel.removeprefix(PREFIX)
        head = store.head(lab_id)
        if last_id > head:
            raise EventDoesNotExist(f"No event at position {last_id}", head)
        return [
            Event(channel, "message", json.dumps(e.as_dict()), id=e.position)
            for e in store.read_log(lab_id, after=last_id, limit=limit)
        ]

    def get_current_id(self, channel: str) -> int:
        return store.head(channel.removeprefix(PREFIX))


class LabChannelManager(DefaultChannelManager):
    """Access is checked by `lab_events` (the lab's own rule) before django-eventstream sees the request."""

    def can_read_channel(self, user, channel: str) -> bool:
        return channel.startswith(PREFIX)


def lab_events(request: HttpRequest, lab_id: str) -> HttpResponse:
    lab = lab_for(request, lab_id)
    channel = channel_for(lab.id)
    # django-eventstream lets `es-meta` (a signed token) replace the channel list, and `recover` needs a GRIP proxy:
    # this feed serves exactly one lab, checked above, so both are refused.
    if "es-meta" in request.GET or "recover" in request.GET:
        return HttpResponseBadRequest("This feed serves one lab; es-meta and recover are not supported.\n")
    if not request.META.get("HTTP_LAST_EVENT_ID") and not request.GET.get("lastEventId"):
        after = request.GET.get("after", "0")
        request.META["HTTP_LAST_EVENT_ID"] = f"{channel}:{int(after) if after.isdecimal() and len(after) < 15 else 0}"
    return events(request, channels=[channel])


# --- Publishing a backlog in the background -------------------------------------------------------------------------
# A commit publishes its new events to the feed in the request that made it (eventlab.live.broadcast), but only a
# bounded number of batches there: a lab whose history was imported (10^6 events never published) must not hold the
# request that first wakes it. What is left goes to one background thread per lab, batch by batch. Every batch is
# published under the lab's log row lock from the `published` mark, whoever publishes it (a request, this thread,
# another process), so the feed still gets every position once and in order.

_draining: dict[str, bool] = {}  # lab -> woken again while draining (drain once more before stopping)
_draining_lock = threading.Lock()
log = logging.getLogger(__name__)


def publish_later(lab_id: str, publish: Callable[[str], bool]) -> None:
    """Drain the lab's backlog in a background thread: `publish(lab_id)` publishes one bounded step and returns True
    while more may be left. One thread per lab at a time; a wake-up while it runs makes it go round once more."""
    with _draining_lock:
        if lab_id in _draining:
            _draining[lab_id] = True
            return
        _draining[lab_id] = False
    threading.Thread(target=_drain_in_thread, args=(lab_id, publish), name=f"sse-backlog-{lab_id}",
                     daemon=True).start()


def _drain_in_thread(lab_id: str, publish: Callable[[str], bool]) -> None:
    try:
        drain(lab_id, publish)
    finally:
        connection.close()  # this thread's own database connection


def drain(lab_id: str, publish: Callable[[str], bool]) -> None:
    """Call `publish` until nothing is left (and no wake-up came meanwhile)."""
    while True:
        try:
            while publish(lab_id):
                pass
        except Exception:  # the mark stays put: the next commit's wake-up publishes from there
            log.exception("publishing the SSE backlog of lab %s failed", lab_id)
            with _draining_lock:
                _draining.pop(lab_id, None)
            return
        with _draining_lock:
            if not _draining.get(lab_id):
                _draining.pop(lab_id, None)
                return
            _draining[lab_id] = False
