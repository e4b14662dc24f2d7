"""After a commit, wake every live client of the lab. Only `{lab, head}` travels: clients read the rest themselves."""

from __future__ import annotations

import json
import uuid

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction
from django_eventstream import send_event

from eventlab.eventstore.models import Log

from .sse import channel_for, publish_later, store

BATCH = 500
BATCHES_PER_WAKE = 2  # at most this many batches inside the request that commits; the rest in the background


def group_for(lab_id: str) -> str:
    return f"lab.{lab_id}"


def wake_message(lab_id: str, head: int) -> dict:
    """`id` tells the copies of one wake-up (one per socket) apart from the next wake-up (eventlab.live.hub)."""
    return {"type": "lab.wake", "lab": lab_id, "head": head, "id": uuid.uuid4().hex}


def on_appended(sender, lab: str, head: int, **kwargs) -> None:
    layer = get_channel_layer()
    if layer is not None:
        async_to_sync(layer.group_send)(group_for(lab), wake_message(lab, head))
    if publish_to_sse(lab, head, BATCHES_PER_WAKE):
        publish_later(lab, lambda lab: publish_to_sse(lab, store.head(lab), BATCHES_PER_WAKE))


def publish_to_sse(lab: str, head: int, batches: int | None = None) -> bool:
    """Send the SSE feed the lab's events it has not had yet, read from the store in position order.

    Publishers of one lab queue on its log row and move its `published` mark, so however many transactions commit
    at once, on however many processes, the feed gets every position once and in order (at least once if a
    publish fails midway: the mark then stays put and the next commit sends from there). At most `batches` batches
    (None: all); True when that bound stopped it, so more may be left."""
    if not Log.objects.filter(lab=lab, published__lt=head).exists():
        return False  # nothing new (a read model moved, or another publisher got there): no write transaction
    sent = 0
    while batches is None or sent < batches:
        sent += 1
        with transaction.atomic():
            published = Log.objects.select_for_update().filter(lab=lab).values_list("published", flat=True).first()
            if published is None:
                return False
            batch = store.read_log(lab, after=published, limit=BATCH)
            for event in batch:
                send_event(channel_for(lab), "message", json.dumps(event.as_dict()), json_encode=False)
            if batch:
                Log.objects.filter(lab=lab).update(published=batch[-1].position)
        if len(batch) < BATCH:
            return False
    return True
