"""After a commit, wake every live client of the lab. Only `{lab, head}` travels: clients read the rest themselves."""

from __future__ import annotations

import json

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django_eventstream import send_event

from .sse import channel_for


def group_for(lab_id: str) -> str:
    return f"lab.{lab_id}"


def wake_message(lab_id: str, head: int) -> dict:
    return {"type": "lab.wake", "lab": lab_id, "head": head}


def on_appended(sender, lab: str, head: int, events=(), **kwargs) -> None:
    layer = get_channel_layer()
    if layer is not None:
        async_to_sync(layer.group_send)(group_for(lab), wake_message(lab, head))
    for event in events:
        send_event(channel_for(lab), "message", json.dumps(event.as_dict()), json_encode=False)
