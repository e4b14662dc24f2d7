"""The classroom's command handlers: load the class's stream, decide (eventlab.classroom.domain), append through the
store in one transaction (eventlab.labs.services.write: the lab's lock, the inline projections, the live wake-up)."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable
from typing import Any

from django.db import IntegrityError, transaction

from eventlab.eventstore.core import AppendResult, NewEvent, iso
from eventlab.labs.services import create_lab, store, write

from . import codes
from . import domain as d
from .models import Classroom

_states: dict[str, tuple[int, d.ClassState]] = {}  # class -> (version, state): this process's latest fold
_states_lock = threading.Lock()
MAX_CACHED = 256


def load(classroom: Classroom | str) -> d.ClassState:
    """The class's state: a fold of its stream. Each process keeps the latest fold of each class and reads only the
    events after it, so a vote in a class of 200 costs the same as in a class of 2 (the stream is append-only: a
    fold of its first n events never changes). The caller gets its own copy to fold more into."""
    lab_id = classroom if isinstance(classroom, str) else classroom.lab_id
    with _states_lock:
        version, cached = _states.get(lab_id, (0, None))
    tail = store.read_stream(lab_id, d.STREAM, after_version=version)
    state = cached.copy() if cached is not None else d.ClassState()
    d.fold(((d.event_from(e.type, e.data), iso(e.metadata.recorded_at)) for e in tail), state)
    if tail:
        kept = state.copy()
        with _states_lock:
            if _states.get(lab_id, (0, None))[0] < kept.version:
                _states.pop(lab_id, None)
                _states[lab_id] = (kept.version, kept)
                while len(_states) > MAX_CACHED:
                    _states.pop(next(iter(_states)))
    return state


def act(classroom: Classroom, decide: Callable[[d.ClassState], list[d.Event]]) -> tuple[d.ClassState, list[d.Event]]:
    """Decide on the class's current state and append what was decided (nothing, if nothing changes). Returns the
    state after it and the events appended. Raises domain.Refused (TooLate, Unknown) and appends nothing."""
    decided: list[d.Event] = []
    state = d.ClassState()

    def append(s: Any) -> AppendResult:
        nonlocal state, decided
        state = load(classroom)
        decided = decide(state)
        if not decided:
            return AppendResult([])
        new = [NewEvent(e.type, e.data()) for e in decided]
        return s.append(classroom.lab_id, d.STREAM, new, expected_version=state.version)

    write(classroom.lab, append)
    return d.fold(decided, state), decided


def create_class(instructor: Any, name: Any) -> Classroom:
    """A new class (a new lab, whose stream starts with ClassOpened), with a fresh join code."""
    clean = d.clean_name(name, "A class name")
    for _attempt in range(10):
        code = codes.new_code()
        try:
            with transaction.atomic():
                lab, _token = create_lab(title=clean, read_models=False)
                classroom = Classroom.objects.create(lab=lab, name=clean, code=code)
                classroom.instructors.add(instructor)
                act(classroom, lambda state, code=code: d.decide_open(clean, code))
            return classroom
        except IntegrityError:  # the code was taken: try another
            continue
    raise RuntimeError("could not find a free join code")


def find_by_code(typed: str) -> Classroom | None:
    code = codes.normalise(typed or "")
    return Classroom.objects.select_related("lab").filter(code=code).first() if code else None


def join(classroom: Classroom, name: Any) -> str:
    """A learner joins with a display name; returns their learner id."""
    learner_id = secrets.token_hex(8)
    act(classroom, lambda state: d.decide_join(state, learner_id, name))
    return learner_id


def rename(classroom: Classroom, learner_id: str, name: Any) -> None:
    act(classroom, lambda state: d.decide_rename(state, learner_id, name))


def remove(classroom: Classroom, learner_id: str) -> None:
    act(classroom, lambda state: d.decide_remove(state, learner_id))


def close(classroom: Classroom) -> None:
    act(classroom, d.decide_close)


def open_poll(classroom: Classroom, question: Any, choices: Any, correct: Any = None,
              quiz_question: str = "") -> d.Poll:
    poll_id = secrets.token_hex(6)
    state, _ = act(classroom, lambda s: d.decide_open_poll(s, poll_id, question, choices, correct, quiz_question))
    return state.polls[poll_id]


def poll_from_quiz(slug: str) -> tuple[str, list[str], int | None]:
    """A quiz question as a poll: its prompt, its choices' texts, the right one. Only one-answer kinds (pick one,
    predict) make a poll."""
    from eventlab.learn.models import Question

    question = Question.objects.filter(pk=str(slug)[:64]).first()
    if question is None:
        raise d.Refused("No quiz question has that id.")
    if question.kind not in (Question.Kind.SINGLE, Question.Kind.PREDICT):
        raise d.Refused("Only a pick-one or predict question makes a poll.")
    keys = [c["key"] for c in question.choices]
    answer = question.answer[0] if isinstance(question.answer, list) else question.answer
    return question.prompt, [c["text"] for c in question.choices], keys.index(answer) if answer in keys else None


def vote(classroom: Classroom, poll_id: str, learner_id: str, choice: Any) -> d.Poll:
    state, _ = act(classroom, lambda s: d.decide_vote(s, poll_id, learner_id, choice))
    return state.polls[poll_id]


def next_round(classroom: Classroom, poll_id: str) -> d.Poll:
    state, _ = act(classroom, lambda s: d.decide_next_round(s, poll_id))
    return state.polls[poll_id]


def close_poll(classroom: Classroom, poll_id: str) -> d.Poll:
    state, _ = act(classroom, lambda s: d.decide_close_poll(s, poll_id))
    return state.polls[poll_id]


def reveal(classroom: Classroom, poll_id: str) -> d.Poll:
    state, _ = act(classroom, lambda s: d.decide_reveal(s, poll_id))
    return state.polls[poll_id]
