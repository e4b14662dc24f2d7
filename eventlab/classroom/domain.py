"""A class, in pure Python: its events, the fold of its stream into its state, and the decisions on it.

A class is a lab. Its one stream, `class`, records who joined (and was renamed or removed), the polls the instructor
opened and every vote, round, close and reveal. Everything the instructor's and the learners' pages show is a fold of
that stream (`fold`); every command is decided on that state (`decide_*`), returning the events to append, or
raising `Refused` (bad input, 422) or `TooLate` (the poll or class is closed, 409). No Django here.

Peer Instruction (Mazur): each learner votes alone (round one), the room sees the split, neighbours discuss, everyone
votes again (round two), then the answer is revealed with both rounds side by side. One vote per learner per round,
changeable until the round closes: a later vote in the same round replaces the earlier one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any, ClassVar

STREAM = "class"
MAX_NAME = 100
MAX_QUESTION = 500
MAX_CHOICE = 200
MIN_CHOICES, MAX_CHOICES = 2, 6
MAX_ROUNDS = 2


class Refused(Exception):
    """A command the class refuses: the input is wrong (the API answers 422)."""


class TooLate(Refused):
    """The class or the poll is closed (the API answers 409)."""


class Unknown(Refused):
    """No such learner or poll in this class (the API answers 404)."""


# --- Events ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Event:
    type: ClassVar[str] = ""

    def data(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ClassOpened(Event):
    type: ClassVar[str] = "ClassOpened"
    name: str
    code: str


@dataclass(frozen=True)
class LearnerJoined(Event):
    type: ClassVar[str] = "LearnerJoined"
    learner_id: str
    name: str


@dataclass(frozen=True)
class LearnerRenamed(Event):
    type: ClassVar[str] = "LearnerRenamed"
    learner_id: str
    name: str


@dataclass(frozen=True)
class LearnerRemoved(Event):
    type: ClassVar[str] = "LearnerRemoved"
    learner_id: str


@dataclass(frozen=True)
class ClassClosed(Event):
    type: ClassVar[str] = "ClassClosed"


@dataclass(frozen=True)
class PollOpened(Event):
    type: ClassVar[str] = "PollOpened"
    poll_id: str
    question: str
    choices: list[str]
    correct: int | None = None
    quiz_question: str = ""


@dataclass(frozen=True)
class VoteCast(Event):
    type: ClassVar[str] = "VoteCast"
    poll_id: str
    learner_id: str
    round: int
    choice: int


@dataclass(frozen=True)
class PollRoundStarted(Event):
    type: ClassVar[str] = "PollRoundStarted"
    poll_id: str
    round: int


@dataclass(frozen=True)
class PollClosed(Event):
    type: ClassVar[str] = "PollClosed"
    poll_id: str


@dataclass(frozen=True)
class PollRevealed(Event):
    type: ClassVar[str] = "PollRevealed"
    poll_id: str


@dataclass(frozen=True)
class RunHandedOut(Event):
    """For later (hand out): the presented run, forked at `step` into every learner's working lab."""

    type: ClassVar[str] = "RunHandedOut"
    lab: str
    run: str
    step: int


EVENTS: dict[str, type[Event]] = {
    cls.type: cls
    for cls in (ClassOpened, LearnerJoined, LearnerRenamed, LearnerRemoved, ClassClosed, PollOpened, VoteCast,
                PollRoundStarted, PollClosed, PollRevealed, RunHandedOut)
}

# What changes the learners' view of a poll (a vote does not: a learner sees only their own).
POLL_CHANGES = frozenset({"PollOpened", "PollRoundStarted", "PollClosed", "PollRevealed", "ClassClosed",
                          "LearnerRemoved", "LearnerRenamed"})


def event_from(type_: str, data: Mapping[str, Any]) -> Event:
    return EVENTS[type_](**data)


# --- State -----------------------------------------------------------------------------------------------------


@dataclass
class Learner:
    learner_id: str
    name: str
    joined_at: str = ""
    last_seen: str = ""
    removed: bool = False


@dataclass
class Poll:
    poll_id: str
    question: str
    choices: list[str]
    correct: int | None
    quiz_question: str = ""
    round: int = 1
    state: str = "open"  # open, closed, revealed
    votes: dict[int, dict[str, int]] = field(default_factory=lambda: {1: {}})  # round -> learner -> choice

    @property
    def is_open(self) -> bool:
        return self.state == "open"

    def counts(self, round_: int) -> list[int]:
        counts = [0] * len(self.choices)
        for choice in self.votes.get(round_, {}).values():
            counts[choice] += 1
        return counts

    def all_counts(self) -> dict[int, list[int]]:
        return {r: self.counts(r) for r in sorted(self.votes)}

    def voters(self) -> dict[int, int]:
        return {r: len(v) for r, v in sorted(self.votes.items())}

    def vote_of(self, learner_id: str, round_: int | None = None) -> int | None:
        return self.votes.get(round_ or self.round, {}).get(learner_id)

    def copy(self) -> Poll:
        return replace(self, choices=list(self.choices), votes={r: dict(v) for r, v in self.votes.items()})


@dataclass
class ClassState:
    name: str = ""
    code: str = ""
    closed: bool = False
    learners: dict[str, Learner] = field(default_factory=dict)
    polls: dict[str, Poll] = field(default_factory=dict)  # in the order they were opened
    version: int = 0

    @property
    def roster(self) -> list[Learner]:
        return [learner for learner in self.learners.values() if not learner.removed]

    def member(self, learner_id: str) -> Learner | None:
        learner = self.learners.get(learner_id)
        return learner if learner is not None and not learner.removed else None

    def copy(self) -> ClassState:
        """A copy to fold more events into, leaving this one as it is."""
        return replace(self, learners={k: replace(v) for k, v in self.learners.items()},
                       polls={k: p.copy() for k, p in self.polls.items()})

    @property
    def current_poll(self) -> Poll | None:
        """The poll the learners see: the newest one."""
        return next(reversed(self.polls.values()), None) if self.polls else None


def evolve(state: ClassState, event: Event, at: str = "") -> ClassState:
    """Fold one event into the state (in place; returns it)."""
    state.version += 1
    if isinstance(event, ClassOpened):
        state.name, state.code = event.name, event.code
    elif isinstance(event, LearnerJoined):
        state.learners[event.learner_id] = Learner(event.learner_id, event.name, at, at)
    elif isinstance(event, LearnerRenamed):
        state.learners[event.learner_id].name = event.name
    elif isinstance(event, LearnerRemoved):
        state.learners[event.learner_id].removed = True
    elif isinstance(event, ClassClosed):
        state.closed = True
        for poll in state.polls.values():
            if poll.is_open:
                poll.state = "closed"
    elif isinstance(event, PollOpened):
        state.polls[event.poll_id] = Poll(event.poll_id, event.question, list(event.choices), event.correct,
                                          event.quiz_question)
    elif isinstance(event, VoteCast):
        state.polls[event.poll_id].votes.setdefault(event.round, {})[event.learner_id] = event.choice
        learner = state.learners.get(event.learner_id)
        if learner is not None and at:
            learner.last_seen = at
    elif isinstance(event, PollRoundStarted):
        poll = state.polls[event.poll_id]
        poll.round = event.round
        poll.votes.setdefault(event.round, {})
    elif isinstance(event, PollClosed):
        state.polls[event.poll_id].state = "closed"
    elif isinstance(event, PollRevealed):
        state.polls[event.poll_id].state = "revealed"
    return state


def fold(events: Iterable[Event | tuple[Event, str]], state: ClassState | None = None) -> ClassState:
    """The class's state after `events` (each an event, or an (event, recorded-at) pair)."""
    state = state if state is not None else ClassState()
    for item in events:
        if isinstance(item, tuple):
            evolve(state, item[0], item[1])
        else:
            evolve(state, item)
    return state


# --- Decisions -------------------------------------------------------------------------------------------------


def clean_name(name: Any, what: str = "A name") -> str:
    if not isinstance(name, str) or not name.strip():
        raise Refused(f"{what} is required.")
    clean = " ".join(name.split())
    if len(clean) > MAX_NAME:
        raise Refused(f"{what} is at most {MAX_NAME} characters (this one has {len(clean)}).")
    return clean


def _open_class(state: ClassState) -> None:
    if state.closed:
        raise TooLate("This class is closed: it takes no more joins, polls or votes.")


def decide_open(name: Any, code: str) -> list[Event]:
    return [ClassOpened(clean_name(name, "A class name"), code)]


def decide_join(state: ClassState, learner_id: str, name: Any) -> list[Event]:
    clean = clean_name(name, "Your name")
    _open_class(state)
    return [LearnerJoined(learner_id, clean)]


def _learner(state: ClassState, learner_id: str) -> Learner:
    learner = state.member(learner_id)
    if learner is None:
        raise Unknown("No such learner in this class.")
    return learner


def decide_rename(state: ClassState, learner_id: str, name: Any) -> list[Event]:
    clean = clean_name(name)
    learner = _learner(state, learner_id)
    return [] if learner.name == clean else [LearnerRenamed(learner_id, clean)]


def decide_remove(state: ClassState, learner_id: str) -> list[Event]:
    _learner(state, learner_id)
    return [LearnerRemoved(learner_id)]


def decide_close(state: ClassState) -> list[Event]:
    return [] if state.closed else [ClassClosed()]


def decide_open_poll(state: ClassState, poll_id: str, question: Any, choices: Any, correct: Any = None,
                     quiz_question: str = "") -> list[Event]:
    if not isinstance(question, str) or not question.strip():
        raise Refused("A poll needs a question.")
    question = question.strip()
    if len(question) > MAX_QUESTION:
        raise Refused(f"A question is at most {MAX_QUESTION} characters.")
    if not isinstance(choices, list) or not all(isinstance(c, str) for c in choices):
        raise Refused("The choices are a list of texts.")
    choices = [c.strip() for c in choices if c.strip()]
    if not MIN_CHOICES <= len(choices) <= MAX_CHOICES:
        raise Refused(f"A poll has {MIN_CHOICES} to {MAX_CHOICES} choices (this one has {len(choices)}).")
    if any(len(c) > MAX_CHOICE for c in choices):
        raise Refused(f"A choice is at most {MAX_CHOICE} characters.")
    if correct is not None and (isinstance(correct, bool) or not isinstance(correct, int)
                                or not 0 <= correct < len(choices)):
        raise Refused(f"The correct answer is the number of a choice, 0 to {len(choices) - 1}.")
    _open_class(state)
    if poll_id in state.polls:
        raise Refused("That poll id is taken.")
    events: list[Event] = [PollClosed(p.poll_id) for p in state.polls.values() if p.is_open]  # one open at a time
    return [*events, PollOpened(poll_id, question, choices, correct, quiz_question)]


def _poll(state: ClassState, poll_id: str) -> Poll:
    poll = state.polls.get(poll_id)
    if poll is None:
        raise Unknown("No such poll in this class.")
    return poll


def decide_vote(state: ClassState, poll_id: str, learner_id: str, choice: Any) -> list[Event]:
    poll = _poll(state, poll_id)
    _learner(state, learner_id)
    if isinstance(choice, bool) or not isinstance(choice, int) or not 0 <= choice < len(poll.choices):
        raise Refused(f"A vote is the number of a choice, 0 to {len(poll.choices) - 1}.")
    if not poll.is_open:
        raise TooLate("This poll is closed: it takes no more votes.")
    if poll.vote_of(learner_id) == choice:
        return []  # the same vote again: nothing changes
    return [VoteCast(poll_id, learner_id, poll.round, choice)]


def decide_next_round(state: ClassState, poll_id: str) -> list[Event]:
    poll = _poll(state, poll_id)
    if not poll.is_open:
        raise TooLate("This poll is closed: it has no more rounds.")
    if poll.round >= MAX_ROUNDS:
        raise TooLate(f"A poll has at most {MAX_ROUNDS} rounds: close or reveal it.")
    return [PollRoundStarted(poll_id, poll.round + 1)]


def decide_close_poll(state: ClassState, poll_id: str) -> list[Event]:
    poll = _poll(state, poll_id)
    return [PollClosed(poll_id)] if poll.is_open else []


def decide_reveal(state: ClassState, poll_id: str) -> list[Event]:
    poll = _poll(state, poll_id)
    if poll.state == "revealed":
        return []
    return [*decide_close_poll(state, poll_id), PollRevealed(poll_id)]
