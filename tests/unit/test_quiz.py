"""Quiz grading for every kind of question, checks on questions as written, and the progress projection. Pure: no
Django, no database (progress events go through the in-memory event store)."""

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

from eventlab.eventstore.core import InMemoryEventStore
from eventlab.learn import progress, quiz, services, topics
from eventlab.learn.quiz import Malformed, grade


@dataclass
class Q:
    kind: str
    answer: list
    choices: list = field(default_factory=lambda: [{"key": k, "text": f"choice {k}"} for k in "abcd"])
    topic: str = "sagas"
    prompt: str = "Which?"
    explanation: str = "Because."
    anchor: str = "how"
    lab: dict = field(default_factory=dict)


SINGLE, PREDICT = Q("single", ["b"]), Q("predict", ["c"], lab={"lab": "sagas", "preset": "payment-declined"})
MULTIPLE = Q("multiple", ["a", "c"])
ORDER = Q("order", ["c", "a", "d", "b"])


# --- Grading: (question, submission) -> right?, and which parts were wrong -------------------------------------------

GRADED = [
    # single and predict: one key
    (SINGLE, ["b"], True, {}),
    (SINGLE, ["a"], False, {"wrong_choices": ("a",)}),
    (PREDICT, ["c"], True, {}),
    (PREDICT, ["d"], False, {"wrong_choices": ("d",)}),
    # multiple: the exact set, in any order
    (MULTIPLE, ["a", "c"], True, {}),
    (MULTIPLE, ["c", "a"], True, {}),
    (MULTIPLE, ["a"], False, {"missed_choices": ("c",)}),
    (MULTIPLE, ["a", "b", "c"], False, {"wrong_choices": ("b",)}),
    (MULTIPLE, ["d", "b"], False, {"wrong_choices": ("b", "d"), "missed_choices": ("a", "c")}),
    # order: every key, in the right order; the misplaced positions (1-based) are named
    (ORDER, ["c", "a", "d", "b"], True, {}),
    (ORDER, ["a", "c", "d", "b"], False, {"misplaced": (1, 2)}),
    (ORDER, ["b", "d", "a", "c"], False, {"misplaced": (1, 2, 3, 4)}),
]


@pytest.mark.parametrize(("question", "submission", "correct", "parts"), GRADED)
def test_grading(question, submission, correct, parts):
    verdict = grade(question, submission)

    assert verdict.correct is correct
    assert verdict.given == tuple(submission)
    assert verdict.right == tuple(question.answer)
    for name in ("wrong_choices", "missed_choices", "misplaced"):
        assert getattr(verdict, name) == parts.get(name, ()), name


MALFORMED = [
    (SINGLE, [], "Pick one answer."),
    (SINGLE, ["a", "b"], "Pick only one answer."),
    (SINGLE, ["z"], "'z' is not a choice of this question."),
    (PREDICT, [], "Pick one answer."),
    (MULTIPLE, [], "Pick at least one answer."),
    (MULTIPLE, ["a", "a"], "A choice was given twice."),
    (MULTIPLE, ["a", "x", "y"], "'x', 'y' are not choices of this question."),
    (ORDER, ["c", "a", "d"], "Give every position a step: 4 steps, 3 placed."),
    (ORDER, ["c", "a", "a", "b"], "Each step goes in exactly one position: a step was given twice."),
    (ORDER, ["c", "a", "d", "e"], "'e' is not a choice of this question."),
    (SINGLE, "b", "An answer is a list of choice keys."),
    (SINGLE, [1], "An answer is a list of choice keys."),
    (Q("essay", ["a"]), ["a"], "This question cannot be answered."),
]


@pytest.mark.parametrize(("question", "submission", "message"), MALFORMED)
def test_a_submission_that_is_not_an_answer_is_refused_in_plain_words(question, submission, message):
    with pytest.raises(Malformed) as refused:
        grade(question, submission)
    assert str(refused.value) == message


def test_a_verdict_as_event_data():
    assert grade(MULTIPLE, ["a", "b"]).as_data() == {
        "correct": False, "given": ["a", "b"], "wrong_choices": ["b"], "missed_choices": ["c"], "misplaced": []}


# --- Checking a question as written ----------------------------------------------------------------------------------

PRESETS = {"sagas": {"payment-declined"}, "twopc": {"vote-no"}, "resilience": set(), "bank": {"time-travel"}}


@pytest.mark.parametrize("question", [SINGLE, MULTIPLE, ORDER, PREDICT])
def test_well_written_questions_have_no_problems(question):
    assert quiz.problems(question, PRESETS) == []


BAD_QUESTIONS = [
    (Q("single", ["a", "b"]), "exactly one right key"),
    (Q("single", []), "exactly one right key"),
    (Q("predict", ["a"]), "names its lab scenario"),
    (Q("multiple", []), "at least one right key"),
    (Q("order", ["a", "b", "c"]), "every key, each once"),
    (Q("order", ["a", "b", "c", "c"]), "names a key twice"),
    (Q("single", ["x"]), "keys that are not choices: x"),
    (Q("single", ["a"], topic="nope"), "not one of the course's topics"),
    (Q("single", ["a"], anchor="nowhere"), "not a section of the topic page"),
    (Q("single", ["a"], explanation="  "), "the explanation is empty"),
    (Q("single", ["a"], prompt=""), "the prompt is empty"),
    (Q("true-false", ["a"]), "kind 'true-false'"),
    (Q("single", ["a"], choices=[{"key": "a", "text": "x"}, {"key": "a", "text": "y"}]), "share a key"),
    (Q("single", ["a"], choices=[{"key": "a", "text": "only"}]), "2 to 12 choices"),
    (Q("single", ["a"], choices=[{"key": "a"}, {"key": "b", "text": "y"}]), "a key and a text each"),
    (Q("single", "a"), "not a list of choice keys"),
    (Q("predict", ["a"], lab={"lab": "sagas", "preset": "nope"}), "no preset 'nope'"),
    (Q("predict", ["a"], lab={"lab": "kitchen", "preset": "x"}), "lab 'kitchen'"),
    (Q("single", ["a"], lab={"preset": "x"}), '{"lab": ..., "preset": ...}'),
]


@pytest.mark.parametrize(("question", "problem"), BAD_QUESTIONS)
def test_badly_written_questions_are_named(question, problem):
    found = quiz.problems(question, PRESETS)
    assert any(problem in p for p in found), found


def test_a_question_as_a_dict_is_checked_too():
    assert quiz.problems({"kind": "single", "answer": ["a"], "choices": SINGLE.choices, "topic": "cqrs",
                          "prompt": "?", "explanation": "!", "anchor": "what", "lab": {}}) == []


# --- The topics ------------------------------------------------------------------------------------------------------


def test_the_course_is_in_the_order_the_issue_gives():
    assert topics.SLUGS == ("event-sourcing", "snapshots-and-versioning", "cqrs", "api-gateway-and-discovery",
                            "circuit-breaker-bulkhead-retry", "two-phase-commit", "sagas", "saga-vs-2pc", "tracing",
                            "choosing-patterns")
    assert topics.SECTION_IDS == ("what", "why", "analogy", "how", "diagram", "best-practices", "drawbacks",
                                  "interview-questions", "try-it", "quiz")
    assert {t.slug for t in topics.TOPICS if t.diagram == topics.PIPELINE} == {"event-sourcing", "cqrs"}
    assert {t.slug for t in topics.TOPICS if t.diagram == topics.SAGA} == {"sagas", "saga-vs-2pc"}
    assert topics.neighbours("event-sourcing")[0] is None
    assert topics.neighbours("choosing-patterns")[1] is None


def test_try_it_targets_are_what_the_issue_asks_for():
    """Each lab registers the topics it shows (labs.registry.TryIt); the course reads them (learn.services)."""
    target = services.topic_target("sagas")
    assert (target.lab, target.preset, target.view) == ("sagas", "payment-declined", "")
    assert services.topic_target("two-phase-commit").preset == "coordinator-crash-after-prepare"
    assert (services.topic_target("saga-vs-2pc").lab, services.topic_target("saga-vs-2pc").view) == ("compare",
                                                                                                     "compare")
    assert services.topic_target("circuit-breaker-bulkhead-retry").preset == "breaker-trips-and-recovers"
    assert services.topic_target("event-sourcing").lab == "bank"
    assert services.topic_target("snapshots-and-versioning").view == "time-travel"
    assert all(services.topic_target(slug) is not None for slug in topics.SLUGS)  # every topic has a lab


@pytest.mark.parametrize("bad", [dict(lab="kitchen", view="x"), dict(lab="bank", preset="x"),
                                 dict(lab="sagas", preset="a", view="lab"), dict(lab="sagas"),
                                 dict(lab="twopc", view="nope")])
def test_a_target_is_a_preset_or_a_known_view(bad):
    with pytest.raises(ValueError):
        services.Target(**bad)


# --- The progress projection -----------------------------------------------------------------------------------------


class Clock:
    def __init__(self):
        self.now = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)

    def __call__(self):
        return self.now


def log_of(*batches, clock=None):
    """The progress stream of a personal lab after appending each batch of events (a batch is one write)."""
    store = InMemoryEventStore(clock or Clock())
    store.create_log("me")
    for batch in batches:
        store.append("me", progress.STREAM, batch, None)
    return store.read_stream("me", progress.STREAM)


def test_an_empty_log_is_no_progress():
    empty = progress.fold([])
    assert empty.read == {} and empty.answers == [] and empty.labs == [] and empty.interviews == {}
    assert empty.topic("sagas") == progress.TopicProgress()
    assert progress.current_stage(topics.PIPELINE, empty) == "commands"
    assert progress.current_stage(topics.SAGA, empty) == "orchestrator"


def test_pages_read_labs_tried_and_answers_fold_into_progress():
    clock = Clock()
    store = InMemoryEventStore(clock)
    store.create_log("me")

    # Day one: read two pages (the first one twice), try the saga lab, answer two questions.
    store.append("me", progress.STREAM, [progress.page_read("sagas")], None)
    store.append("me", progress.STREAM, [progress.page_read("cqrs")], None)
    store.append("me", progress.STREAM, [progress.page_read("sagas")], None)
    store.append("me", progress.STREAM, [progress.lab_tried("sagas", topic="sagas", preset="payment-declined")], None)
    store.append("me", progress.STREAM, [progress.quiz_answered("sg-1", "sagas", grade(SINGLE, ["a"]))], None)
    store.append("me", progress.STREAM, [progress.quiz_answered("sg-2", "sagas", grade(MULTIPLE, ["a", "c"]))], None)
    first_day = clock.now
    # Day two: answer the first question again, right this time.
    clock.now += timedelta(days=1)
    store.append("me", progress.STREAM, [progress.quiz_answered("sg-1", "sagas", grade(SINGLE, ["b"]))], None)

    seen = progress.fold(store.read_stream("me", progress.STREAM))

    assert seen.read == {"sagas": first_day, "cqrs": first_day}  # when first read
    assert [(e["lab"], e["preset"], e["topic"]) for e in seen.labs] == [("sagas", "payment-declined", "sagas")]
    assert [(a.question, a.correct) for a in seen.answers] == [("sg-1", False), ("sg-2", True), ("sg-1", True)]
    assert seen.latest["sg-1"].correct and seen.latest["sg-1"].given == ["b"]
    assert seen.topic("sagas") == progress.TopicProgress(read=True, answered=2, right=2, attempts=3)
    assert seen.topic("cqrs") == progress.TopicProgress(read=True)
    assert [(d["answered"], d["right"], d["running"]) for d in seen.over_time()] == [(2, 1, 50), (1, 1, 67)]
    assert seen.events == 7


def test_a_wrong_answer_keeps_which_parts_were_wrong():
    events = log_of([progress.quiz_answered("o-1", "two-phase-commit", grade(ORDER, ["a", "c", "d", "b"]))])
    answer = progress.fold(events).latest["o-1"]
    assert not answer.correct and answer.misplaced == [1, 2] and answer.given == ["a", "c", "d", "b"]


def test_folding_in_steps_equals_folding_at_once():
    events = log_of([progress.page_read("tracing")], [progress.lab_tried("bank", view="time-travel")],
                    [progress.quiz_answered("t-1", "tracing", grade(SINGLE, ["b"]))])
    assert progress.fold(events[2:], progress.fold(events[:2])) == progress.fold(events)


def test_an_interview_set_from_start_to_score():
    clock = Clock()
    picked = ["sg-1", "es-1"]
    started = [progress.interview_started("iv1", picked)]
    clock_start = clock.now
    store = InMemoryEventStore(clock)
    store.create_log("me")
    store.append("me", progress.STREAM, started, None)
    assert not progress.fold(store.read_stream("me", progress.STREAM)).interviews["iv1"].finished

    clock.now += timedelta(minutes=3)
    verdicts = [("sg-1", "sagas", grade(SINGLE, ["b"])), ("es-1", "event-sourcing", grade(SINGLE, ["c"]))]
    store.append("me", progress.STREAM, [progress.quiz_answered(q, t, v, interview="iv1") for q, t, v in verdicts]
                 + [progress.interview_finished("iv1", 1, 2, ["event-sourcing"], 180)], None)

    seen = progress.fold(store.read_stream("me", progress.STREAM))
    interview = seen.interviews["iv1"]
    assert interview.finished and interview.started_at == clock_start and interview.finished_at == clock.now
    assert (interview.score, interview.total, interview.weak, interview.seconds) == (1, 2, ["event-sourcing"], 180)
    assert set(interview.answers) == {"sg-1", "es-1"}
    assert seen.latest["es-1"].interview == "iv1"  # an interview's answers are quiz results too
    assert seen.interviews_finished == [interview]


LABS = {"event-sourcing": "bank", "sagas": "sagas"}  # the labs showing the pictures' topics (their try-it targets)


def test_the_learners_stage_on_the_pictures_moves_with_their_milestones():
    def stage(diagram, *batches):
        return progress.current_stage(diagram, progress.fold(log_of(*batches)), LABS)

    assert stage(topics.PIPELINE, [progress.page_read("event-sourcing")]) == "write-model"
    assert stage(topics.PIPELINE, [progress.page_read("event-sourcing"), progress.lab_tried("bank")]) == "event-store"
    # Milestones count in order: reading CQRS first does not skip the ones before it.
    assert stage(topics.PIPELINE, [progress.page_read("cqrs")]) == "commands"
    assert stage(topics.PIPELINE, [progress.page_read("event-sourcing"), progress.lab_tried("bank"),
                                   progress.quiz_answered("es-1", "event-sourcing", grade(SINGLE, ["b"])),
                                   progress.page_read("cqrs")]) == "read-model"
    assert stage(topics.SAGA, [progress.page_read("sagas"), progress.lab_tried("sagas")]) == "payments"
    assert stage(topics.SAGA, [progress.page_read("sagas"), progress.lab_tried("sagas"),
                               progress.quiz_answered("sg-1", "sagas", grade(SINGLE, ["b"])),
                               progress.page_read("saga-vs-2pc")]) == "compensation"


# --- Interview prep: the set and the weak topics ---------------------------------------------------------------------


def test_an_interview_set_mixes_topics_and_is_reproducible_from_its_seed():
    bank = {slug: [f"{slug}-{i}" for i in range(8)] for slug in topics.SLUGS}

    picked = progress.pick_interview(bank, "seed-1")

    assert len(picked) == progress.INTERVIEW_SIZE == len(set(picked))
    assert {q.rsplit("-", 1)[0] for q in picked} == set(topics.SLUGS)  # one from every topic
    assert progress.pick_interview(bank, "seed-1") == picked
    assert progress.pick_interview(bank, "seed-2") != picked


def test_an_interview_set_with_few_questions_takes_what_there_is():
    assert sorted(progress.pick_interview({"sagas": ["a", "b"], "cqrs": ["c"]}, "s")) == ["a", "b", "c"]
    assert progress.pick_interview({}, "s") == []
    assert len(progress.pick_interview({"sagas": [str(i) for i in range(30)]}, "s")) == 10


def test_weak_topics_are_the_ones_with_wrong_answers_most_wrong_first():
    results = [("sagas", False), ("cqrs", True), ("tracing", False), ("tracing", False), ("cqrs", False),
               ("event-sourcing", True)]
    assert progress.weak_topics(results) == ["tracing", "cqrs", "sagas"]
    assert progress.weak_topics([("sagas", True)]) == []
