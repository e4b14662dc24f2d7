"""What the bank lab page receives over its websocket: new log rows for this tab's filter, and fresh read models.

Rows are pushed (prepended), never the whole event panel, so one tab's filter and page are never overwritten by
another's. Read-model bodies and checkpoints are small, so they are re-rendered whole.
"""

from __future__ import annotations

from typing import Any

from django.template.loader import render_to_string

from eventlab.labs.models import Lab
from eventlab.labs.services import store

from .views import LIVE_ROWS, readmodels_context


def render_update(
    lab_id: str, after: int, view: dict[str, Any], known_models: set[str]
) -> tuple[list[str], int, set[str]]:
    """Websocket messages (HTML for htmx out-of-band swaps) for everything after `after`; returns them, the new
    position, and the set of enabled read models the tab now shows. Table rows travel in messages of their own:
    HTML parsing puts anything that follows table parts in the same fragment somewhere else."""
    lab = Lab.objects.get(pk=lab_id)
    head = store.head(lab_id)
    messages: list[str] = []
    parts: list[str] = []
    if view["live"] and head > after:
        # The newest matching events in (after, head], newest first; a bigger burst shows its newest LIVE_ROWS
        # (the rest are a page away). No more than head - after of them can be new: read no more than that.
        newest = store.read_back(lab_id, head + 1, min(LIVE_ROWS, head - after), view["stream"] or None,
                                 view["type"] or None)
        rows = [e for e in newest if e.position > after]
        if rows:
            messages.append(render_to_string("live/_rows.html", {"events": rows, "lab": lab}))
    context = readmodels_context(lab, view["account"] or None)
    enabled = {m["name"] for m in context["readmodels"] if m["enabled"]}
    if enabled != known_models:
        # A read model was added in another tab: this tab needs the whole panel once.
        parts.append(render_to_string(
            "live/_readmodels.html", {"lab": lab, "root_oob": True, "accounts": context["rm"]["balances"], **context}
        ))
    else:
        for model in context["readmodels"]:
            if model["enabled"]:
                parts.append(render_to_string("live/_readmodel.html", {"m": model, "oob": True, **context}))
    parts.append(render_to_string("labs/_bar.html#lab-head", {"head": head, "oob": True}))
    messages.append("".join(parts))
    return messages, head, enabled
