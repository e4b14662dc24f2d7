"""What the saga run page receives over its websocket: the run panel, re-rendered when the run's stream moves.

A tab following the run's head gets the whole panel (an out-of-band swap); a tab looking back at an earlier step
keeps its view and is told how many steps are new, so another tab's stepping never moves its cursor.
"""

from __future__ import annotations

from typing import Any

from django.template.loader import render_to_string

from eventlab.labs.models import Lab
from eventlab.labs.services import store

from . import handlers
from .views import run_context


def render_update(lab_id: str, after: int, view: dict[str, Any], known: set[str]) -> tuple[list[str], int, set[str]]:
    """Messages for a tab showing run `view["run"]` at stream version `after`; returns them, the version now
    shown, and `known` unchanged (the bank page's read-model bookkeeping)."""
    head = store.head(lab_id)
    messages = [render_to_string("labs/_bar.html#lab-head", {"head": head, "oob": True})]
    run_id = view["run"]
    version = store.stream_version(lab_id, handlers.stream_name(run_id)) if run_id else 0
    if version <= after:
        return messages, after, known
    lab = Lab.objects.get(pk=lab_id)
    context = run_context(lab, run_id, None)
    if view["pinned"]:
        new_steps = context["run"].steps - view["at"]
        messages.append(render_to_string("sagas/run.html#run-news", {**context, "new_steps": new_steps,
                                                                      "news_oob": True}))
        return messages, version, known
    messages.append(render_to_string("sagas/run.html#run", {**context, "oob": True})
                    + render_to_string("sagas/run.html#announce", context))
    return messages, version, known
