"""The classroom over JSON (/api/classes, per API.md "Classroom"): instructors by instructor token (or their logged-in
session, with CSRF), learners by the learner token their join answered with (or the session they joined with).
Anything not yours is 404; refused input 422; a closed class or poll 409; always `{"detail": "<plain words>"}`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from django.http import HttpRequest
from ninja import Field, Router, Schema, Status
from ninja.errors import HttpError
from ninja.utils import check_csrf

from eventlab.labs.access import bearer_token
from eventlab.labs.api import ObjectBody
from eventlab.labs.services import store

from . import domain as d
from . import services
from .access import api_instructor, api_learner, class_for_instructor, learner_token
from .models import Classroom

router = Router(tags=["classroom"])
T = TypeVar("T")


def decided(action: Callable[[], T]) -> T:
    """Run a classroom command; the class's refusals become the contract's status codes."""
    try:
        return action()
    except d.Refused as exc:
        status = 404 if isinstance(exc, d.Unknown) else 409 if isinstance(exc, d.TooLate) else 422
        raise HttpError(status, str(exc)) from None


def csrf_if_session(request: HttpRequest) -> None:
    """A write by a browser session must pass the CSRF check; a token write needs none."""
    if bearer_token(request) is None and check_csrf(request) is not None:
        raise HttpError(403, "CSRF check failed: send the X-CSRFToken header, or use a token.")


def instructor_class(request: HttpRequest, class_id: str, write: bool = False) -> Classroom:
    classroom = class_for_instructor(api_instructor(request), class_id)
    if write:
        csrf_if_session(request)
    return classroom


class Detail(Schema):
    detail: str


class NewClass(ObjectBody):
    name: Any = None


class ClassCreated(Schema):
    id: str
    code: str = Field(description="The join code (8 characters; shown grouped as ABCD-EFGH, typed in any case).")
    shown_code: str
    join_url: str


class JoinBody(ObjectBody):
    code: Any = None
    name: Any = None


class Joined(Schema):
    class_id: str
    learner_id: str
    token: str = Field(description="The learner token: send as `Authorization: Bearer <token>` to vote.")


class LearnerOut(Schema):
    learner_id: str
    name: str
    joined_at: str
    last_seen: str


class ClassOut(Schema):
    id: str
    name: str
    code: str
    closed: bool
    learners: list[LearnerOut]
    head: int


class NewPoll(ObjectBody):
    question: Any = None
    choices: Any = None
    correct: Any = None
    quiz_question: Any = None


class PollOpenedOut(Schema):
    id: str
    round: int
    state: str


class RoundOut(Schema):
    round: int
    state: str


class StateOut(Schema):
    state: str


class RevealedOut(Schema):
    state: str
    correct: int | None


class VoteBody(ObjectBody):
    choice: Any = None


class VoteOut(Schema):
    round: int
    choice: int


class PollOut(Schema):
    id: str
    question: str
    choices: list[str]
    correct: int | None
    state: str
    round: int
    counts: dict[str, list[int]]
    voters: dict[str, int]


class RenameBody(ObjectBody):
    name: Any = None


ERRORS: dict[int | str, Any] = {404: Detail, 409: Detail, 422: Detail}


@router.post("", response={201: ClassCreated, **ERRORS}, summary="Create a class (instructor)")
def create(request: HttpRequest, payload: NewClass):
    user = api_instructor(request)
    csrf_if_session(request)
    classroom = decided(lambda: services.create_class(user, payload.name))
    return Status(201, {"id": classroom.id, "code": classroom.code, "shown_code": classroom.shown_code,
                        "join_url": classroom.join_url})


@router.post("/join", response={201: Joined, **ERRORS}, summary="Join a class with its code and a display name")
def join(request: HttpRequest, payload: JoinBody):
    classroom = services.find_by_code(payload.code) if isinstance(payload.code, str) else None
    if classroom is None:
        raise HttpError(404, "No open class has that code.")
    try:
        learner_id = decided(lambda: services.join(classroom, payload.name))
    except HttpError as exc:
        if exc.status_code == 409:  # a closed class: its code no longer opens anything
            raise HttpError(404, "No open class has that code.") from None
        raise
    return Status(201, {"class_id": classroom.id, "learner_id": learner_id,
                        "token": learner_token(classroom.id, learner_id)})


@router.get("/{class_id}", response={200: ClassOut, **ERRORS}, summary="A class and its roster (instructor)")
def get_class(request: HttpRequest, class_id: str):
    classroom = instructor_class(request, class_id)
    state = services.load(classroom)
    return {
        "id": classroom.id, "name": classroom.name, "code": classroom.code, "closed": state.closed,
        "learners": [{"learner_id": x.learner_id, "name": x.name, "joined_at": x.joined_at, "last_seen": x.last_seen}
                     for x in state.roster],
        "head": store.head(classroom.lab_id),
    }


@router.post("/{class_id}/close", response={200: StateOut, **ERRORS}, summary="Close the class (instructor)")
def close_class(request: HttpRequest, class_id: str):
    classroom = instructor_class(request, class_id, write=True)
    services.close(classroom)
    return {"state": "closed"}


@router.post("/{class_id}/learners/{learner_id}/rename", response={200: LearnerOut, **ERRORS},
             summary="Rename a learner (instructor)")
def rename(request: HttpRequest, class_id: str, learner_id: str, payload: RenameBody):
    classroom = instructor_class(request, class_id, write=True)
    decided(lambda: services.rename(classroom, learner_id, payload.name))
    learner = services.load(classroom).learners[learner_id]
    return {"learner_id": learner_id, "name": learner.name, "joined_at": learner.joined_at,
            "last_seen": learner.last_seen}


@router.post("/{class_id}/learners/{learner_id}/remove", response={200: StateOut, **ERRORS},
             summary="Remove a learner from the class (instructor)")
def remove(request: HttpRequest, class_id: str, learner_id: str):
    classroom = instructor_class(request, class_id, write=True)
    decided(lambda: services.remove(classroom, learner_id))
    return {"state": "removed"}


@router.post("/{class_id}/polls", response={201: PollOpenedOut, **ERRORS},
             summary="Open a poll (instructor): a typed question with 2 to 6 choices, or a quiz question")
def open_poll(request: HttpRequest, class_id: str, payload: NewPoll):
    classroom = instructor_class(request, class_id, write=True)

    def opened() -> d.Poll:
        if payload.quiz_question not in (None, ""):
            question, choices, correct = services.poll_from_quiz(str(payload.quiz_question))
            return services.open_poll(classroom, question, choices, correct, str(payload.quiz_question))
        return services.open_poll(classroom, payload.question, payload.choices, payload.correct)

    poll = decided(opened)
    return Status(201, {"id": poll.poll_id, "round": poll.round, "state": poll.state})


@router.post("/{class_id}/polls/{poll_id}/votes", response={200: VoteOut, **ERRORS},
             summary="Vote (learner): a later vote in the same round replaces the earlier one; a closed poll is 409")
def vote(request: HttpRequest, class_id: str, poll_id: str, payload: VoteBody):
    learner_id = api_learner(request, class_id)
    classroom = Classroom.objects.filter(pk=class_id).first()
    if classroom is None:
        raise HttpError(404, "Not found.")
    csrf_if_session(request)
    poll = decided(lambda: services.vote(classroom, poll_id, learner_id, payload.choice))
    return {"round": poll.round, "choice": poll.vote_of(learner_id)}


def poll_act(request: HttpRequest, class_id: str, poll_id: str, action: Callable[[Classroom, str], d.Poll]
             ) -> d.Poll:
    classroom = instructor_class(request, class_id, write=True)
    return decided(lambda: action(classroom, poll_id))


@router.post("/{class_id}/polls/{poll_id}/round", response={200: RoundOut, **ERRORS},
             summary="Round two (instructor): discuss with your neighbour, then vote again")
def next_round(request: HttpRequest, class_id: str, poll_id: str):
    poll = poll_act(request, class_id, poll_id, services.next_round)
    return {"round": poll.round, "state": poll.state}


@router.post("/{class_id}/polls/{poll_id}/close", response={200: StateOut, **ERRORS},
             summary="Close the poll (instructor): no more votes")
def close_poll(request: HttpRequest, class_id: str, poll_id: str):
    poll = poll_act(request, class_id, poll_id, services.close_poll)
    return {"state": poll.state}


@router.post("/{class_id}/polls/{poll_id}/reveal", response={200: RevealedOut, **ERRORS},
             summary="Reveal the answer (instructor), with both rounds side by side")
def reveal(request: HttpRequest, class_id: str, poll_id: str):
    poll = poll_act(request, class_id, poll_id, services.reveal)
    return {"state": poll.state, "correct": poll.correct}


@router.get("/{class_id}/polls/{poll_id}", response={200: PollOut, **ERRORS},
            summary="A poll: its counts and voters per round (instructor)")
def get_poll(request: HttpRequest, class_id: str, poll_id: str):
    classroom = instructor_class(request, class_id)
    poll = services.load(classroom).polls.get(poll_id)
    if poll is None:
        raise HttpError(404, "No such poll in this class.")
    return {
        "id": poll.poll_id, "question": poll.question, "choices": poll.choices, "state": poll.state,
        "correct": poll.correct, "round": poll.round,
        "counts": {str(r): c for r, c in poll.all_counts().items()},
        "voters": {str(r): n for r, n in poll.voters().items()},
    }
