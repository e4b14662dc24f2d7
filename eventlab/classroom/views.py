"""The classroom's pages: instructors log in, make classes, show the code on the projector, run polls; learners join
with a code and a name, and vote. Every form posts (CSRF) and redirects; a refused command re-renders its page with the
reason (422; 409 when the class or poll is closed). Live parts come over the class's websocket (eventlab.classroom.live).
"""

from __future__ import annotations

from typing import Any

import segno
from django.contrib.auth import logout
from django.contrib.auth import views as auth_views
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from eventlab.labs.services import store
from eventlab.learn.models import Question

from . import domain as d
from . import live, services
from .access import (
    REJOIN_SALT,
    class_for_instructor,
    instructor_required,
    is_instructor,
    join_session,
    new_instructor_token,
    read_signed,
    rejoin_secret,
    session_learner,
)
from .models import Classroom
from .pages import LETTERS, poll_view

NAV = {"nav": "classroom"}


def status_for(exc: d.Refused) -> int:
    return 404 if isinstance(exc, d.Unknown) else 409 if isinstance(exc, d.TooLate) else 422


# --- Instructors ------------------------------------------------------------------------------------------------


class LoginView(auth_views.LoginView):
    """The instructors' login, in the app's style. Attempts are rate limited by django-axes (settings.AXES_*)."""

    template_name = "classroom/login.html"
    extra_context = NAV
    redirect_authenticated_user = True


@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    logout(request)
    return redirect("classroom-home")


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    """An instructor's classes; for anyone else, the form to join a class with its code."""
    if not is_instructor(request.user):
        return render(request, "classroom/join_code.html", {**NAV, "user_is_other": request.user.is_authenticated})
    return render_home(request)


def render_home(request: HttpRequest, status: int = 200, **extra: Any) -> HttpResponse:
    classes = Classroom.objects.filter(instructors=request.user)
    return render(request, "classroom/home.html", {**NAV, "classes": classes, **extra}, status=status)


@require_POST
@instructor_required
def new_class(request: HttpRequest) -> HttpResponse:
    try:
        classroom = services.create_class(request.user, request.POST.get("name", ""))
    except d.Refused as exc:
        return render_home(request, 422, error=str(exc), name=request.POST.get("name", "")[:200])
    return redirect("classroom-class", class_id=classroom.id)


@require_POST
@instructor_required
def new_token(request: HttpRequest) -> HttpResponse:
    """A fresh API token (shown once; it replaces the previous one)."""
    return render_home(request, token=new_instructor_token(request.user),
                       base=request.build_absolute_uri("/").rstrip("/"))


def qr_svg(url: str) -> str:
    """The join URL's QR code as inline SVG, drawn here (no network): dark on light, with a quiet zone."""
    return segno.make(url, error="m").svg_inline(scale=8, border=4, dark="#111", light="#fff", omitsize=False)


def choice_slots(form: Any = None) -> list[tuple[int, str, str]]:
    """The poll form's choice fields: number, letter, and what was typed (kept when the poll is refused)."""
    return [(i, LETTERS[i], (form.get(f"choice{i}", "") if form is not None else "")[:200])
            for i in range(d.MAX_CHOICES)]


def class_context(request: HttpRequest, classroom: Classroom) -> dict[str, Any]:
    state = services.load(classroom)
    join_url = request.build_absolute_uri(classroom.join_url)
    return {
        **NAV, "classroom": classroom, "state": state, "head": store.head(classroom.lab_id),
        "join_url": join_url, "qr": qr_svg(join_url), "poll": poll_view(state.current_poll),
        "polls": list(reversed(state.polls.values())), "roster": state.roster, "page": live.INSTRUCTOR,
        "questions": Question.objects.filter(kind__in=["single", "predict"]).only("slug", "prompt"),
        "choice_slots": choice_slots(),
    }


@require_GET
@instructor_required
def class_page(request: HttpRequest, class_id: str) -> HttpResponse:
    return render(request, "classroom/class.html", class_context(request, class_for_instructor(request.user, class_id)))


def refused(request: HttpRequest, classroom: Classroom, exc: d.Refused, **extra: Any) -> HttpResponse:
    return render(request, "classroom/class.html", {**class_context(request, classroom), "error": str(exc), **extra},
                  status=status_for(exc))


@require_POST
@instructor_required
def close_class(request: HttpRequest, class_id: str) -> HttpResponse:
    classroom = class_for_instructor(request.user, class_id)
    services.close(classroom)
    return redirect("classroom-class", class_id=classroom.id)


@require_POST
@instructor_required
def rename(request: HttpRequest, class_id: str, learner_id: str) -> HttpResponse:
    classroom = class_for_instructor(request.user, class_id)
    try:
        services.rename(classroom, learner_id, request.POST.get("name", ""))
    except d.Refused as exc:
        return refused(request, classroom, exc, roster_error=str(exc))
    return redirect("classroom-class", class_id=classroom.id)


@require_POST
@instructor_required
def remove(request: HttpRequest, class_id: str, learner_id: str) -> HttpResponse:
    classroom = class_for_instructor(request.user, class_id)
    try:
        services.remove(classroom, learner_id)
    except d.Refused as exc:
        return refused(request, classroom, exc, roster_error=str(exc))
    return redirect("classroom-class", class_id=classroom.id)


@require_POST
@instructor_required
def open_poll(request: HttpRequest, class_id: str) -> HttpResponse:
    """A poll from a question typed on the spot (2 to 6 choices, the correct one optional), or from a quiz question."""
    classroom = class_for_instructor(request.user, class_id)
    try:
        slug = request.POST.get("quiz_question", "").strip()
        if slug:
            question, choices, correct = services.poll_from_quiz(slug)
        else:
            question = request.POST.get("question", "")
            choices = [request.POST.get(f"choice{i}", "") for i in range(d.MAX_CHOICES)]
            picked = request.POST.get("correct", "")
            correct = int(picked) if picked.isdigit() else None
            filled = [i for i, c in enumerate(choices) if c.strip()]
            if correct is not None:  # the correct box counts among the filled choices
                correct = filled.index(correct) if correct in filled else -1
        poll = services.open_poll(classroom, question, choices, correct, slug)
    except d.Refused as exc:
        return refused(request, classroom, exc, form=request.POST, choice_slots=choice_slots(request.POST))
    return redirect("classroom-poll", class_id=classroom.id, poll_id=poll.poll_id)


def instructor_poll(request: HttpRequest, class_id: str, poll_id: str) -> tuple[Classroom, d.ClassState, d.Poll]:
    classroom = class_for_instructor(request.user, class_id)
    state = services.load(classroom)
    poll = state.polls.get(poll_id)
    if poll is None:
        raise Http404("No such poll.")
    return classroom, state, poll


def render_poll(request: HttpRequest, classroom: Classroom, poll: d.Poll, status: int = 200,
                error: str = "") -> HttpResponse:
    return render(request, "classroom/poll.html", {
        **NAV, "classroom": classroom, "poll": poll_view(poll), "head": store.head(classroom.lab_id),
        "page": live.INSTRUCTOR, "error": error,
    }, status=status)


@require_GET
@instructor_required
def poll_page(request: HttpRequest, class_id: str, poll_id: str) -> HttpResponse:
    classroom, _state, poll = instructor_poll(request, class_id, poll_id)
    return render_poll(request, classroom, poll)


def poll_action(request: HttpRequest, class_id: str, poll_id: str, action: Any) -> HttpResponse:
    classroom, _state, poll = instructor_poll(request, class_id, poll_id)
    try:
        poll = action(classroom, poll_id)
    except d.Refused as exc:
        return render_poll(request, classroom, poll, status_for(exc), str(exc))
    return redirect("classroom-poll", class_id=classroom.id, poll_id=poll_id)


@require_POST
@instructor_required
def poll_round(request: HttpRequest, class_id: str, poll_id: str) -> HttpResponse:
    return poll_action(request, class_id, poll_id, services.next_round)


@require_POST
@instructor_required
def poll_close(request: HttpRequest, class_id: str, poll_id: str) -> HttpResponse:
    return poll_action(request, class_id, poll_id, services.close_poll)


@require_POST
@instructor_required
def poll_reveal(request: HttpRequest, class_id: str, poll_id: str) -> HttpResponse:
    return poll_action(request, class_id, poll_id, services.reveal)


# --- Learners ---------------------------------------------------------------------------------------------------


@require_GET
def join_code(request: HttpRequest) -> HttpResponse:
    """Type the code (any case, with or without the dash): on to that class's join page."""
    typed = request.GET.get("code")
    if typed is None:
        return render(request, "classroom/join_code.html", NAV)
    classroom = services.find_by_code(typed[:40])
    if classroom is None:
        return render(request, "classroom/join_code.html",
                      {**NAV, "error": "No open class has that code: check it with your instructor.",
                       "code": typed[:40]}, status=404)
    return redirect("classroom-join", code=classroom.code)


def render_join(request: HttpRequest, classroom: Classroom, status: int = 200, **extra: Any) -> HttpResponse:
    return render(request, "classroom/join.html", {**NAV, "classroom": classroom, **extra}, status=status)


def join(request: HttpRequest, code: str) -> HttpResponse:
    """GET: the name field. POST: join with that name; the membership is this browser's session."""
    classroom = services.find_by_code(code[:40])
    if classroom is None or services.load(classroom).closed:
        error = ("This class is closed: it takes no more learners." if classroom is not None else
                 "No open class has that code: check it with your instructor.")
        return render(request, "classroom/join_code.html", {**NAV, "error": error, "code": code[:40]}, status=404)
    if request.method == "GET":
        learner = session_learner(request.session, classroom.id)
        if learner is not None and services.load(classroom).member(learner):
            return redirect("classroom-learner", class_id=classroom.id)
        return render_join(request, classroom)
    if request.method != "POST":
        return HttpResponse(status=405, headers={"Allow": "GET, POST"})
    try:
        learner_id = services.join(classroom, request.POST.get("name", ""))
    except d.Refused as exc:
        return render_join(request, classroom, status_for(exc), error=str(exc), name=request.POST.get("name", "")[:200])
    join_session(request.session, classroom.id, learner_id)
    return redirect("classroom-learner", class_id=classroom.id)


@require_GET
def rejoin(request: HttpRequest, secret: str) -> HttpResponse:
    """A learner's rejoin link: this browser becomes theirs in the class (while they are still in it)."""
    found = read_signed(secret, REJOIN_SALT)
    if found is None or not Classroom.objects.filter(pk=found[0]).exists() or not services.load(found[0]).member(found[1]):
        raise Http404("That rejoin link does not work (any more).")
    join_session(request.session, *found)
    return redirect("classroom-learner", class_id=found[0])


def learner_of(request: HttpRequest, class_id: str) -> tuple[Classroom, d.ClassState, str]:
    learner_id = session_learner(request.session, class_id)
    classroom = Classroom.objects.filter(pk=class_id).first() if learner_id else None
    if classroom is None:
        raise Http404("No such class.")
    return classroom, services.load(classroom), learner_id


def learner_context(request: HttpRequest, classroom: Classroom, state: d.ClassState, learner_id: str
                    ) -> dict[str, Any]:
    return {
        **NAV, "classroom": classroom, "state": state, "me": state.member(learner_id),
        "poll": poll_view(state.current_poll, learner_id), "head": store.head(classroom.lab_id),
        "page": live.LEARNER, "closed": state.closed,
        "rejoin_url": request.build_absolute_uri(reverse("classroom-rejoin",
                                                         args=[rejoin_secret(classroom.id, learner_id)])),
    }


@require_GET
def learner_page(request: HttpRequest, class_id: str) -> HttpResponse:
    classroom, state, learner_id = learner_of(request, class_id)
    return render(request, "classroom/learner.html", learner_context(request, classroom, state, learner_id))


@require_POST
def vote(request: HttpRequest, class_id: str, poll_id: str) -> HttpResponse:
    classroom, state, learner_id = learner_of(request, class_id)
    choice = request.POST.get("choice", "")
    status, error = 200, ""
    try:
        services.vote(classroom, poll_id, learner_id, int(choice) if choice.isdigit() else choice)
    except d.Refused as exc:
        status, error = status_for(exc), str(exc)
    if status == 200 and not request.htmx:
        return redirect("classroom-learner", class_id=classroom.id)
    state = services.load(classroom)
    context = {**learner_context(request, classroom, state, learner_id), "error": error}
    template = "classroom/_learner_poll.html" if request.htmx else "classroom/learner.html"
    return render(request, template, context, status=status)


