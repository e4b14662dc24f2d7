"""Who may build scenarios: instructors (Django users in the "instructors" group).

Hooks for the classroom app (built alongside): `is_instructor` is to be replaced by its own check, and
`instructor_from_token` is where its instructor API tokens plug in (today only a logged-in session counts)."""

from __future__ import annotations

from typing import Any

from django.http import Http404, HttpRequest

INSTRUCTORS = "instructors"


def is_instructor(user: Any) -> bool:
    return bool(user is not None and user.is_authenticated and user.groups.filter(name=INSTRUCTORS).exists())


def instructor_from_token(request: HttpRequest) -> Any:
    """The instructor an `Authorization: Bearer <instructor token>` names, or None. Hook: the classroom app's
    instructor tokens go here (manage.py createinstructor --token)."""
    return None


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
