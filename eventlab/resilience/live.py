"""What the resilience run page receives over its websocket: the run panel, re-rendered when the run's stream moves.

A tab following the run's head gets the whole panel (an out-of-band swap); a tab looking back at an earlier second
keeps its view and is told how many seconds are new, so another tab's stepping never moves its cursor.
"""

from __future__ import annotations

from typing import Any

from django.template.loader import render_to_string

from eventlab.labs.models import Lab
from eventlab.labs.services import store

from .runs import LOG
from .views import run_context


def render_update(lab_id: str, after: int, view: dict[str, Any], known: set[str]) -> tuple[list[str], int, set[str]]:
    """Messages for a tab showing run `view["run"]` at stream version `after`; returns them, the version now
    shown, and `known` unchanged (the bank page's read-model bookkeeping)."""
    messages = [render_to_string("labs/_bar.html#lab-head", {"head": store.head(lab_id), "oob": True})]
    run_id = view["run"]
    version = store.stream_version(lab_id, LOG.stream_name(run_id)) if run_id else 0
    if version <= after:
        return messages, after, known
    context = run_context(Lab.objects.get(pk=lab_id), run_id, None)
    if view["pinned"]:
        news = {**context, "new_steps": context["run"].steps - view["at"], "news_oob": True}
        messages.append(render_to_string("resilience/run.html#run-news", news))
        return messages, version, known
    messages.append(render_to_string("resilience/run.html#run", {**context, "oob": True})
                    + render_to_string("resilience/run.html#announce", context))
    return messages, version, known
