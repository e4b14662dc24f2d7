"""The class's live pages: renderers (registered in the lab registry, shared by every socket on the same view through
the render-once hub) and the class's websocket, which decides from the socket's session who it talks to.

- The instructor's view (`classroom:instructor`): after any new event, the poll's counts (the poll in the view's `run`,
  else the newest) and, on the class page, the roster. One render per commit serves every instructor screen.
- The learner's view (`classroom:learner`): only when a poll opens, changes round, closes or is revealed (a vote changes
  nothing a learner sees but their own answer, which their vote's own response shows), the poll panel — the same for
  every learner, so 200 learner sockets cost one render per change, and nothing per vote beyond reading the new rows.
A learner's socket is always given the learner's view, whatever page it asks for: learners never see counts or names
before the reveal.
"""

from __future__ import annotations

from typing import Any

from channels.auth import get_user
from channels.db import database_sync_to_async
from django.template.loader import render_to_string
from django.utils.html import escape

from eventlab.labs.services import store
from eventlab.live import hub as hubs
from eventlab.live.broadcast import group_for
from eventlab.live.consumers import NOT_FOUND, LabConsumer, parse_view

from . import domain as d
from .access import is_instructor, session_learner
from .models import Classroom
from .pages import poll_view
from .services import load

INSTRUCTOR = "classroom:instructor"
LEARNER = "classroom:learner"
SCAN = 500  # new rows a learner's render looks through for a poll change before it just re-renders


def render_instructor(lab_id: str, after: int, view: dict[str, Any], known: set[str]
                      ) -> tuple[list[str], int, set[str]]:
    head = store.head(lab_id)
    if head <= after or not Classroom.objects.filter(pk=lab_id).exists():
        return [], max(head, after), known
    state = load(lab_id)
    poll = state.polls.get(view["run"]) if view["run"] else state.current_poll
    messages = [render_to_string("classroom/_counts.html", {"poll": poll_view(poll), "oob": True})]
    if not view["run"]:
        messages.append(render_to_string("classroom/_roster.html", {"roster": state.roster, "oob": True,
                                                                    "classroom_id": lab_id}))
    return messages, head, known


def render_learner(lab_id: str, after: int, view: dict[str, Any], known: set[str]) -> tuple[list[str], int, set[str]]:
    head = store.head(lab_id)
    if head <= after or not Classroom.objects.filter(pk=lab_id).exists():
        return [], max(head, after), known
    if head - after <= SCAN:
        new = store.read_log(lab_id, after=after, limit=head - after)
        if not any(e.type in d.POLL_CHANGES for e in new):
            return [], head, known
    state = load(lab_id)
    html = render_to_string("classroom/_learner_poll.html", {
        "poll": poll_view(state.current_poll), "closed": state.closed, "classroom": {"id": lab_id}, "oob": True,
    })
    return [html], head, known


@database_sync_to_async
def role_of(scope: dict[str, Any], user: Any, class_id: str) -> str | None:
    """The page a socket gets: the class's instructors the instructor's, its learners the learner's, others none."""
    if is_instructor(user) and Classroom.objects.filter(pk=class_id, instructors=user).exists():
        return INSTRUCTOR
    session = scope.get("session")
    if session is not None and session_learner(session, class_id) and Classroom.objects.filter(pk=class_id).exists():
        return LEARNER
    return None


class ClassConsumer(LabConsumer):
    """The class's websocket (`/ws/classes/<class>/`): the lab consumer, with the class's own access check. A class's
    lab is never added to a browser's labs (its log names the learners), so the lab socket refuses it."""

    page = ""

    async def connect(self) -> None:
        class_id = self.scope["url_route"]["kwargs"]["class_id"]
        self.view: dict[str, Any] | None = None
        self.after = 0
        self.known_models: frozenset[str] = frozenset()
        self.fresh = 0
        await self.accept()
        user = await get_user(self.scope) if self.scope.get("session") is not None else None
        role = await role_of(self.scope, user, class_id)
        if role is None:
            await self.close(code=NOT_FOUND)
            return
        self.page, self.lab_id = role, class_id
        self.group = group_for(class_id)
        self.hub = hubs.join(class_id)
        await self.channel_layer.group_add(self.group, self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if not self.group or self.hub is None:
            return
        view = parse_view(text_data)
        if isinstance(view, str):
            await self.send(text_data=f'<p id="live-error" hx-swap-oob="true" role="alert">{escape(view)}</p>')
            return
        view["page"] = self.page  # the socket's role decides what it is sent, not what it asks for
        if self.page == LEARNER:
            view.update(run="", stream="", type="", account="")
        self.view, self.after = view, view["after"]
        await self.push(self.hub.now())
