"""Quiz questions, graded. Pure Python (no Django): the model, the views, the admin and the tests share it.

Four kinds of question:
- single: one right choice (radios);
- multiple: a set of right choices, at least one (checkboxes);
- order: every choice, in the right order (one position each);
- predict: like single, about what a lab scenario will do (it names the lab and preset).

A submission is the list of choice keys the learner gave: one for single and predict, the chosen set for multiple,
every key in the order given for order. A submission that is not one of those (nothing chosen, an unknown key, two
keys for a single question, a key twice in an order) is `Malformed`: the learner is told in plain words and nothing is
recorded. A well-formed submission is graded right or wrong, with which parts were wrong.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from .topics import SECTION_IDS, SLUGS

KINDS = ("single", "multiple", "order", "predict")
KIND_NAMES = {"single": "Pick one", "multiple": "Pick all that apply", "order": "Put in order",
              "predict": "Predict the outcome"}
MAX_CHOICES = 12


class QuestionLike(Protocol):
    kind: str
    choices: Any
    answer: Any


class Malformed(ValueError):
    """A submission that cannot be graded. Its message says what is wrong, in plain words."""


@dataclass(frozen=True)
class Verdict:
    correct: bool
    given: tuple[str, ...]  # the submission, as graded
    right: tuple[str, ...]  # the right answer (the keys, in order for an order question)
    wrong_choices: tuple[str, ...] = ()  # chosen but not right (single, predict, multiple)
    missed_choices: tuple[str, ...] = ()  # right but not chosen (multiple)
    misplaced: tuple[int, ...] = ()  # 1-based positions holding the wrong step (order)

    def as_data(self) -> dict[str, Any]:
        return {"correct": self.correct, "given": list(self.given), "wrong_choices": list(self.wrong_choices),
                "missed_choices": list(self.missed_choices), "misplaced": list(self.misplaced)}


def keys(question: QuestionLike) -> list[str]:
    return [choice["key"] for choice in question.choices]


def grade(question: QuestionLike, submission: Sequence[str]) -> Verdict:
    """Right or wrong, and which parts were wrong. Raises Malformed for a submission that is not an answer."""
    given = check_submission(question, submission)
    right = tuple(question.answer)
    if question.kind in ("single", "predict"):
        correct = given == right
        return Verdict(correct, given, right, wrong_choices=() if correct else given)
    if question.kind == "multiple":
        chosen, wanted = set(given), set(right)
        order = keys(question)
        wrong = tuple(k for k in order if k in chosen - wanted)
        missed = tuple(k for k in order if k in wanted - chosen)
        return Verdict(not wrong and not missed, given, right, wrong_choices=wrong, missed_choices=missed)
    misplaced = tuple(i + 1 for i, (g, r) in enumerate(zip(given, right, strict=True)) if g != r)
    return Verdict(not misplaced, given, right, misplaced=misplaced)


def check_submission(question: QuestionLike, submission: Sequence[str]) -> tuple[str, ...]:
    if isinstance(submission, str) or not isinstance(submission, Sequence):
        raise Malformed("An answer is a list of choice keys.")
    if not all(isinstance(k, str) for k in submission):
        raise Malformed("An answer is a list of choice keys.")
    known = keys(question)
    unknown = [k for k in submission if k not in known]
    if unknown:
        shown = ", ".join(repr(k[:20]) for k in unknown[:3])
        raise Malformed(f"{shown} {'is not a choice' if len(unknown) == 1 else 'are not choices'} of this question.")
    if len(set(submission)) != len(submission):
        if question.kind == "order":
            raise Malformed("Each step goes in exactly one position: a step was given twice.")
        raise Malformed("A choice was given twice.")
    if question.kind in ("single", "predict"):
        if len(submission) != 1:
            raise Malformed("Pick one answer." if not submission else "Pick only one answer.")
    elif question.kind == "multiple":
        if not submission:
            raise Malformed("Pick at least one answer.")
    elif question.kind == "order":
        if len(submission) != len(known):
            raise Malformed(f"Give every position a step: {len(known)} steps, {len(submission)} placed.")
    else:
        raise Malformed("This question cannot be answered.")
    return tuple(submission)


# --- Checking a question itself (the fixture, the admin) -------------------------------------------------------------


def problems(question: Any, presets: Mapping[str, set[str]] | None = None) -> list[str]:
    """Everything wrong with a question as written, in plain words (empty: it is fine).

    `question` has the model's fields as attributes (or is a dict of them); `presets` maps each registered lab's key
    to the preset (or view) names it offers, to check a predict question's scenario."""
    get = question.get if isinstance(question, Mapping) else lambda name, default=None: getattr(question, name,
                                                                                                 default)
    found: list[str] = []
    kind, choices, answer = get("kind"), get("choices"), get("answer")
    if get("topic") not in SLUGS:
        found.append(f"the topic {get('topic')!r} is not one of the course's topics")
    if kind not in KINDS:
        found.append(f"the kind {kind!r} is not one of {', '.join(KINDS)}")
    if not str(get("prompt") or "").strip():
        found.append("the prompt is empty")
    if not str(get("explanation") or "").strip():
        found.append("the explanation is empty")
    if get("anchor") not in SECTION_IDS:
        found.append(f"the anchor {get('anchor')!r} is not a section of the topic page ({', '.join(SECTION_IDS)})")
    if not isinstance(choices, list) or not all(
        isinstance(c, Mapping) and isinstance(c.get("key"), str) and c.get("key") and
        isinstance(c.get("text"), str) and c.get("text").strip() for c in choices
    ):
        found.append('the choices are not a list of {"key": ..., "text": ...} with a key and a text each')
        return found
    choice_keys = [c["key"] for c in choices]
    if len(set(choice_keys)) != len(choice_keys):
        found.append("two choices share a key")
    if not 2 <= len(choices) <= MAX_CHOICES:
        found.append(f"a question has 2 to {MAX_CHOICES} choices, this one {len(choices)}")
    if not isinstance(answer, list) or not all(isinstance(k, str) for k in answer):
        found.append("the answer is not a list of choice keys")
        return found
    missing = [k for k in answer if k not in choice_keys]
    if missing:
        found.append(f"the answer names keys that are not choices: {', '.join(missing)}")
    if len(set(answer)) != len(answer):
        found.append("the answer names a key twice")
    if kind in ("single", "predict") and len(answer) != 1:
        found.append(f"a {kind} question has exactly one right key, this one {len(answer)}")
    if kind == "multiple" and not answer:
        found.append("a multiple question has at least one right key")
    if kind == "order" and sorted(answer) != sorted(choice_keys):
        found.append("an order question's answer is every key, each once, in the right order")
    found += lab_problems(kind, get("lab"), presets)
    return found


def lab_problems(kind: str, lab: Any, presets: Mapping[str, set[str]] | None) -> list[str]:
    if lab in (None, {}):
        return ["a predict question names its lab scenario in `lab`"] if kind == "predict" else []
    if not isinstance(lab, Mapping) or set(lab) != {"lab", "preset"}:
        return ['`lab` is {} or {"lab": ..., "preset": ...}']
    if presets is not None and lab["lab"] not in presets:
        return [f"the lab {lab['lab']!r} is not one of {', '.join(presets)}"]
    if presets is not None and lab["preset"] not in presets[lab["lab"]]:
        return [f"the {lab['lab']} lab has no preset {lab['preset']!r}"]
    return []
