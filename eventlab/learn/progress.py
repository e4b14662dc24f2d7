"""A learner's progress, event-sourced. Pure Python (no Django).

Progress is the stream `progress` in the session's personal lab:
- `PageRead {topic}` the first time a topic page is opened;
- `QuizAnswered {question, topic, correct, given, wrong_choices, missed_choices, misplaced, interview}`;
- `LabTried {lab, preset, view, topic, question}` when "try it" (or a predict question's scenario) opened a lab;
- `LabCompleted {lab, run, outcome}` when the learner's own action brought a lab run to its end;
- `InterviewStarted {interview, questions}` and `InterviewFinished {interview, score, total, weak, seconds}`.
Everything the course map, the topic pages and the progress page show about the learner is `fold(events)`.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from eventlab.eventstore.core import NewEvent, RecordedEvent

from .quiz import Verdict
from .topics import BY_SLUG, PIPELINE, SLUGS, stage_ids

STREAM = "progress"
PAGE_READ, QUIZ_ANSWERED, LAB_TRIED, LAB_COMPLETED = "PageRead", "QuizAnswered", "LabTried", "LabCompleted"
INTERVIEW_STARTED, INTERVIEW_FINISHED = "InterviewStarted", "InterviewFinished"
EVENT_TYPES = (PAGE_READ, QUIZ_ANSWERED, LAB_TRIED, LAB_COMPLETED, INTERVIEW_STARTED, INTERVIEW_FINISHED)

INTERVIEW_SIZE = 10
SECONDS_PER_QUESTION = 90  # the suggested pace of an interview set (informative only: nothing stops at the time)


# --- The events --------------------------------------------------------------------------------------------------------


def page_read(topic: str) -> NewEvent:
    return NewEvent(PAGE_READ, {"topic": topic})


def quiz_answered(question: str, topic: str, verdict: Verdict, interview: str = "") -> NewEvent:
    return NewEvent(QUIZ_ANSWERED, {"question": question, "topic": topic, **verdict.as_data(),
                                    "interview": interview})


def lab_tried(lab: str, topic: str = "", preset: str = "", view: str = "", question: str = "") -> NewEvent:
    return NewEvent(LAB_TRIED, {"lab": lab, "preset": preset, "view": view, "topic": topic, "question": question})


def lab_completed(lab: str, run: str, outcome: str) -> NewEvent:
    return NewEvent(LAB_COMPLETED, {"lab": lab, "run": run, "outcome": outcome})


def interview_started(interview: str, questions: Sequence[str]) -> NewEvent:
    return NewEvent(INTERVIEW_STARTED, {"interview": interview, "questions": list(questions)})


def interview_finished(interview: str, score: int, total: int, weak: Sequence[str], seconds: int) -> NewEvent:
    return NewEvent(INTERVIEW_FINISHED, {"interview": interview, "score": score, "total": total, "weak": list(weak),
                                         "seconds": seconds})


# --- The projection ----------------------------------------------------------------------------------------------------


@dataclass
class Answer:
    question: str
    topic: str
    correct: bool
    given: list[str]
    wrong_choices: list[str]
    missed_choices: list[str]
    misplaced: list[int]
    interview: str
    at: datetime
    position: int


@dataclass
class Interview:
    id: str
    questions: list[str]
    started_at: datetime
    finished_at: datetime | None = None
    score: int = 0
    total: int = 0
    weak: list[str] = field(default_factory=list)
    seconds: int = 0
    answers: dict[str, Answer] = field(default_factory=dict)

    @property
    def finished(self) -> bool:
        return self.finished_at is not None

    @property
    def weak_titles(self) -> list[str]:
        return [BY_SLUG[slug].title if slug in BY_SLUG else slug for slug in self.weak]


@dataclass
class TopicProgress:
    read: bool = False
    answered: int = 0  # questions of this topic answered at least once
    right: int = 0  # of those, answered right the last time
    attempts: int = 0


@dataclass
class Progress:
    read: dict[str, datetime] = field(default_factory=dict)  # topic -> when first read
    labs: list[dict[str, Any]] = field(default_factory=list)  # every LabTried, oldest first, with `at`
    completed: list[dict[str, Any]] = field(default_factory=list)  # every LabCompleted, oldest first, with `at`
    answers: list[Answer] = field(default_factory=list)  # every answer, oldest first
    latest: dict[str, Answer] = field(default_factory=dict)  # question -> the last answer to it
    interviews: dict[str, Interview] = field(default_factory=dict)
    events: int = 0

    def topic(self, slug: str) -> TopicProgress:
        answers = [a for a in self.latest.values() if a.topic == slug]
        return TopicProgress(read=slug in self.read, answered=len(answers), right=sum(a.correct for a in answers),
                             attempts=sum(1 for a in self.answers if a.topic == slug))

    def tried(self, lab: str) -> bool:
        return any(entry["lab"] == lab for entry in self.labs)

    def answered_right(self, topic: str) -> bool:
        return any(a.correct for a in self.latest.values() if a.topic == topic)

    def over_time(self) -> list[dict[str, Any]]:
        """Quiz results per day: answers given, how many right, and the share right so far."""
        days: dict[str, dict[str, Any]] = {}
        right = 0
        for total, answer in enumerate(self.answers, start=1):
            right += answer.correct
            day = days.setdefault(answer.at.date().isoformat(), {"day": answer.at.date(), "answered": 0, "right": 0})
            day["answered"] += 1
            day["right"] += answer.correct
            day["running"] = round(100 * right / total)
        return list(days.values())

    @property
    def interviews_finished(self) -> list[Interview]:
        return sorted((i for i in self.interviews.values() if i.finished), key=lambda i: cast(datetime, i.finished_at))


def fold(events: Iterable[RecordedEvent], progress: Progress | None = None) -> Progress:
    progress = progress or Progress()
    for event in events:
        apply(progress, event)
    return progress


def apply(progress: Progress, event: RecordedEvent) -> None:
    data, at = event.data, event.metadata.recorded_at
    progress.events += 1
    if event.type == PAGE_READ:
        progress.read.setdefault(data["topic"], at)
    elif event.type == LAB_TRIED:
        progress.labs.append({**data, "at": at, "position": event.position})
    elif event.type == LAB_COMPLETED:
        progress.completed.append({**data, "at": at, "position": event.position})
    elif event.type == QUIZ_ANSWERED:
        answer = Answer(data["question"], data["topic"], bool(data["correct"]), list(data.get("given", [])),
                        list(data.get("wrong_choices", [])), list(data.get("missed_choices", [])),
                        list(data.get("misplaced", [])), data.get("interview", ""), at, event.position)
        progress.answers.append(answer)
        progress.latest[answer.question] = answer
        if answer.interview in progress.interviews:
            progress.interviews[answer.interview].answers[answer.question] = answer
    elif event.type == INTERVIEW_STARTED:
        progress.interviews[data["interview"]] = Interview(data["interview"], list(data["questions"]), at)
    elif event.type == INTERVIEW_FINISHED and data["interview"] in progress.interviews:
        interview = progress.interviews[data["interview"]]
        interview.finished_at, interview.score, interview.total = at, data["score"], data["total"]
        interview.weak, interview.seconds = list(data["weak"]), data["seconds"]


# --- Where the learner is on the course's two pictures --------------------------------------------------------------


def milestones(diagram: str, progress: Progress, labs: Mapping[str, str] | None = None) -> list[tuple[str, bool]]:
    """What moves a learner along a picture's stages: one milestone per step, in order. `labs` maps a topic to the
    key of the lab that shows it (its "try it", from the lab registry): trying that lab is a milestone."""
    labs = labs or {}
    if diagram == PIPELINE:
        return [("read the Event Sourcing page", "event-sourcing" in progress.read),
                ("sent commands in the bank lab", progress.tried(labs.get("event-sourcing", ""))),
                ("answered an Event Sourcing question right", progress.answered_right("event-sourcing")),
                ("read the CQRS page", "cqrs" in progress.read)]
    return [("read the Sagas page", "sagas" in progress.read),
            ("ran a saga in the saga lab", progress.tried(labs.get("sagas", ""))),
            ("answered a Sagas question right", progress.answered_right("sagas")),
            ("read Saga vs 2PC", "saga-vs-2pc" in progress.read)]


def current_stage(diagram: str, progress: Progress, labs: Mapping[str, str] | None = None) -> str:
    """The stage a learner is at: the first milestone not yet reached (the last stage once all are)."""
    stages = stage_ids(diagram)
    reached = 0
    for _, done in milestones(diagram, progress, labs):
        if not done:
            break
        reached += 1
    return stages[min(reached, len(stages) - 1)]


# --- Interview prep ----------------------------------------------------------------------------------------------------


def pick_interview(questions: Mapping[str, Sequence[str]], seed: str, size: int = INTERVIEW_SIZE) -> list[str]:
    """A mixed set: one question from each topic in turn (at random, reproducibly from `seed`), shuffled."""
    rng = random.Random(seed)
    pools = {topic: rng.sample(list(qs), len(qs)) for topic, qs in sorted(questions.items()) if qs}
    picked: list[str] = []
    while len(picked) < size and any(pools.values()):
        for topic in [t for t in SLUGS if pools.get(t)] + [t for t in pools if t not in SLUGS and pools[t]]:
            if len(picked) < size and pools[topic]:
                picked.append(pools[topic].pop())
    rng.shuffle(picked)
    return picked


def weak_topics(results: Iterable[tuple[str, bool]]) -> list[str]:
    """Topics with a wrong answer in the set, the most wrong first (then in course order)."""
    wrong: dict[str, int] = {}
    for topic, correct in results:
        if not correct:
            wrong[topic] = wrong.get(topic, 0) + 1
    order = {slug: i for i, slug in enumerate(SLUGS)}
    return sorted(wrong, key=lambda t: (-wrong[t], order.get(t, len(order))))
