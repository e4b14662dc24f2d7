"""What the Saga vs 2PC page receives over its websocket: the pair's panel, re-rendered when either run's stream moves.

The page's view names both runs (`run`: "<saga id>.<2PC id>") and `after` is the sum of the two streams' versions it
shows, so any step in either run (from this tab or another browser on the lab) brings the panel up to date.
"""

from __future__ import annotations

import re
from typing import Any

from django.http import Http404
from django.template.loader import render_to_string

from eventlab.labs.models import Lab
from eventlab.labs.services import store
from eventlab.sagas import handlers as saga_handlers
from eventlab.twopc.runs import LOG

from .views import pair_context

PAIR = re.compile(r"([0-9a-f]{1,40})\.([0-9a-f]{1,40})")


def render_update(lab_id: str, after: int, view: dict[str, Any], known: set[str]) -> tuple[list[str], int, set[str]]:
    """Messages for a tab showing the pair `view["run"]` at combined version `after`; returns them, the combined
    version now shown, and `known` unchanged."""
    head = store.head(lab_id)
    messages = [render_to_string("labs/_bar.html#lab-head", {"head": head, "oob": True})]
    pair = PAIR.fullmatch(view.get("run") or "")
    if pair is None:
        return messages, after, known
    saga_id, twopc_id = pair.groups()
    version = (store.stream_version(lab_id, saga_handlers.stream_name(saga_id))
               + store.stream_version(lab_id, LOG.stream_name(twopc_id)))
    if version <= after:
        return messages, after, known
    try:
        context = pair_context(Lab.objects.get(pk=lab_id), saga_id, twopc_id)
    except Http404:  # a pair not in this lab: nothing to show
        return messages, after, known
    messages.append(render_to_string("compare/pair.html#run", {**context, "oob": True})
                    + render_to_string("compare/pair.html#announce", context))
    return messages, version, known
