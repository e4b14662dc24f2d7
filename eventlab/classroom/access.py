"""Who may do what in the classroom: instructors (Django users in the "instructors" group, by session or by API token)
and learners (by the session they joined with, or by their learner token). Reused by every classroom feature.

Anything that is not yours — no token, a wrong token, another instructor's class, a class that does not exist — is a
plain 404, never a hint that it exists.
"""

from __future__ import annotations

import functools
import secrets
from collections.abc import Callable
from typing import Any

from django.contrib.auth.models import Group
from django.contrib.auth.views import redirect_to_login
from django.contrib.sessions.backends.base import SessionBase
from django.core import signing
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse

from eventlab.labs.access import bearer_token
from eventlab.labs.models import hash_token

from .models import Classroom, InstructorToken

INSTRUCTORS = "instructors"
SESSION_CLASSES = "classes"  # class id -> learner id, for the classes this browser joined
LEARNER_SALT = "eventlab.classroom.learner-token"
REJOIN_SALT = "eventlab.classroom.rejoin"


# --- Instructors ---------------------------------------------------------------------------------------------------


def is_instructor(user: Any) -> bool:
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    cached = getattr(user, "_is_instructor", None)
    if cached is None:
        cached = user._is_instructor = user.groups.filter(name=INSTRUCTORS).exists()
    return bool(cached)


def make_instructor(user: Any) -> None:
    group, _ = Group.objects.get_or_create(name=INSTRUCTORS)
    user.groups.add(group)


def instructor_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """A page for instructors: anyone not logged in goes to the login page, a logged-in non-instructor gets 403."""

    @functools.wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path(), "classroom-login")
        if not is_instructor(request.user):
            raise PermissionDenied("This page is for instructors.")
        return view(request, *args, **kwargs)

    return wrapped


def new_instructor_token(user: Any) -> str:
    """A fresh API token for an instructor (the previous one stops working). Only its hash is stored."""
    token = "inst_" + secrets.token_urlsafe(32)
    InstructorToken.objects.update_or_create(user=user, defaults={"token_hash": hash_token(token)})
    return token


def instructor_from_token(token: str) -> Any:
    found = InstructorToken.objects.select_related("user").filter(token_hash=hash_token(token)).first()
    return found.user if found is not None and is_instructor(found.user) else None


def api_instructor(request: HttpRequest) -> Any:
    """The instructor behind an API call: a bearer instructor token, or a logged-in instructor's session. Else 404."""
    token = bearer_token(request)
    user = instructor_from_token(token) if token else request.user
    if not is_instructor(user):
        raise Http404("Not found.")
    return user


def class_for_instructor(user: Any, class_id: str) -> Classroom:
    classroom = Classroom.objects.filter(pk=class_id, instructors=user).first() if is_instructor(user) else None
    if classroom is None:
        raise Http404("No such class.")
    return classroom


# --- Learners ------------------------------------------------------------------------------------------------------


def learner_token(class_id: str, learner_id: str) -> str:
    """A learner's API token: signed (nothing stored), good until the learner is removed from the class."""
    return signing.dumps([class_id, learner_id], salt=LEARNER_SALT)


def rejoin_secret(class_id: str, learner_id: str) -> str:
    """The secret in a learner's rejoin link: opening it on another device moves the membership there."""
    return signing.dumps([class_id, learner_id], salt=REJOIN_SALT)


def read_signed(value: str, salt: str) -> tuple[str, str] | None:
    try:
        data = signing.loads(value, salt=salt)
    except signing.BadSignature:
        return None
    if isinstance(data, list) and len(data) == 2 and all(isinstance(x, str) for x in data):
        return data[0], data[1]
    return None


def session_learner(session: SessionBase, class_id: str) -> str | None:
    return dict(session.get(SESSION_CLASSES, {})).get(class_id)


def join_session(session: SessionBase, class_id: str, learner_id: str) -> None:
    classes = dict(session.get(SESSION_CLASSES, {}))
    classes[class_id] = learner_id
    session[SESSION_CLASSES] = classes


def api_learner(request: HttpRequest, class_id: str) -> str:
    """The learner behind an API call on this class: a bearer learner token, or the session that joined. Else 404.
    (Whether the learner is still in the class is the class's own decision: a removed learner's vote is refused.)"""
    token = bearer_token(request)
    if token:
        found = read_signed(token, LEARNER_SALT)
        learner = found[1] if found is not None and found[0] == class_id else None
    else:
        learner = session_learner(request.session, class_id)
    if learner is None:
        raise Http404("Not found.")
    return learner
