"""Who may build scenarios: instructors (the classroom's: Django users in the "instructors" group, by a logged-in
session or by an instructor API token from `manage.py createinstructor --token`)."""

from __future__ import annotations

from typing import Any

from django.http import Http404, HttpRequest

from eventlab.classroom import access as classroom
from eventlab.labs.access import bearer_token

is_instructor = classroom.is_instructor


def instructor_from_token(request: HttpRequest) -> Any:
    """The instructor an `Authorization: Bearer <instructor token>` names, or None."""
    token = bearer_token(request)
    return classroom.instructor_from_token(token) if token else None


def instructor(request: HttpRequest) -> tuple[Any, bool]:
    """The instructor making this request and whether it came with a token (no CSRF check then), else 404 — never a
    hint that the page or the scenario exists."""
    user = instructor_from_token(request)
    if user is not None and is_instructor(user):
        return user, True
    if is_instructor(getattr(request, "user", None)):
        return request.user, False
    raise Http404("Not found.")


def may_play(request: HttpRequest, scenario: Any) -> bool:
    """Who may play a scenario: instructors today. Hook: the classroom app adds the members of the classes it is
    published to (`scenario.published_to`)."""
    return is_instructor(getattr(request, "user", None))
