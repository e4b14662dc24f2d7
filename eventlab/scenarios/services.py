"""Scenarios: save a lab's inputs as one, edit its words, export and import it, play it back. The labs are reached
through the lab registry (each lab's `replayer`, labs.replay.Replayer): this app names no lab."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.core import serializers
from django.db import transaction

from eventlab.labs import registry
from eventlab.labs.models import Lab
from eventlab.sim.runlog import Invalid

from . import fileformat
from .fileformat import FormatError
from .models import Answer, Scenario


def replayer(lab_key: str) -> Any:
    found = registry.replayers().get(lab_key)
    if found is None:
        known = ", ".join(sorted(registry.replayers()))
        raise FormatError(f"Unknown lab {lab_key[:32]!r}: scenarios play in {known}.")
    return found


# --- Save, edit -------------------------------------------------------------------------------------------------------


def save(lab_key: str, lab: Lab, ref: str, title: str = "") -> Scenario:
    """A new scenario from run `ref` in `lab` (the bank lab: its commands), with no words yet."""
    recording = replayer(lab_key).record(lab, ref)
    if not recording.inputs and not recording.start:
        raise Invalid("There is nothing to save yet: no input was given.")
    plugin = registry.get(lab_key)
    title = (title or f"{plugin.title}" + (f" run {ref}" if ref else "")).strip()[: fileformat.MAX_TITLE]
    steps = [{"input": given, "narration": "", "predict": None} for given in recording.inputs]
    return Scenario.objects.create(title=title, lab=lab_key, start=recording.start, steps=steps)


def describe(given: dict[str, Any]) -> str:
    """A recorded input in a few words, for the editor's list of steps."""
    kind = given.get("input") or given.get("command") or "input"
    rest = ", ".join(f"{k} {v}" for k, v in given.items() if k not in ("input", "command") and v not in (None, ""))
    return f"{kind}" + (f" ({rest})" if rest else "")


@dataclass
class Edit:
    fields: dict[str, Any]
    errors: list[str] = field(default_factory=list)


def edit_from_form(scenario: Scenario, post: Any) -> Edit:
    """The editor's form as checked scenario fields (errors in plain words, nothing saved if any)."""
    errors: list[str] = []
    steps = []
    for n, step in enumerate(scenario.steps):
        predict: dict[str, Any] | None = None
        question = post.get(f"question-{n}", "").strip()
        choices = [c.strip() for c in post.get(f"choices-{n}", "").splitlines() if c.strip()]
        if question or choices:
            correct = post.get(f"correct-{n}", "").strip()
            predict = {"question": question, "choices": choices,
                       "correct": int(correct) - 1 if correct.isdecimal() and len(correct) < 3 else -1}
        steps.append({"input": step["input"], "narration": post.get(f"narration-{n}", ""), "predict": predict})
    fields = {"format_version": fileformat.FORMAT_VERSION, "title": post.get("title", ""), "lab": scenario.lab,
              "start": scenario.start, "intro": post.get("intro", ""), "steps": steps,
              "notice": post.get("notice", ""), "published_to": scenario.published_to}
    try:
        fields = fileformat.check_fields(fields, "The scenario")
    except FormatError as error:
        words = str(error).replace("The scenario's ", "The ").replace("The scenario, ", "")
        errors.append(words[:1].upper() + words[1:])
    return Edit(fields, errors)


def apply_edit(scenario: Scenario, edit: Edit) -> None:
    for name in ("title", "intro", "steps", "notice"):
        setattr(scenario, name, edit.fields[name])
    scenario.save()


# --- Export, import ---------------------------------------------------------------------------------------------------


def export(scenario: Scenario) -> str:
    """The scenario as loaddata reads it (Django's own JSON serialiser)."""
    return serializers.serialize("json", [scenario], indent=2)


def import_file(raw: bytes | str) -> list[Scenario]:
    """Every scenario in a file, as new scenarios (new ids), or none: raises FormatError (a malformed file, an
    unknown version, an unknown lab, inputs the lab refuses on replay) and imports nothing."""
    parsed = fileformat.parse(raw)
    for number, item in enumerate(parsed, 1):
        fields = item["fields"]
        try:
            replayer(fields["lab"]).check(fields["start"], [step["input"] for step in fields["steps"]])
        except Invalid as refused:
            raise FormatError(f"Scenario {number} ({fields['title'][:60]}): the {fields['lab']} lab refuses it on "
                              f"replay. {refused}") from None
    with transaction.atomic():
        made = []
        for item in parsed:
            fields = {k: v for k, v in item["fields"].items() if k != "created_at"}
            made.append(Scenario.objects.create(**fields))
    return made


# --- Play ----------------------------------------------------------------------------------------------------------

SESSION_PLAYS = "scenario_plays"


@dataclass
class Play:
    """Where a viewer is in a scenario: the lab and run it plays into, and how many inputs it has played."""

    lab_id: str = ""
    ref: str = ""
    played: int = 0
    answers: dict[str, int] = field(default_factory=dict)  # step index -> the choice given

    @property
    def started(self) -> bool:
        return bool(self.lab_id)


def play_of(session: Any, scenario: Scenario) -> Play:
    saved = session.get(SESSION_PLAYS, {}).get(str(scenario.pk))
    return Play(**saved) if isinstance(saved, dict) else Play()


def keep_play(session: Any, scenario: Scenario, play: Play) -> None:
    plays = dict(session.get(SESSION_PLAYS, {}))
    plays[str(scenario.pk)] = {"lab_id": play.lab_id, "ref": play.ref, "played": play.played,
                               "answers": play.answers}
    if len(plays) > 20:
        del plays[next(iter(plays))]
    session[SESSION_PLAYS] = plays


def begin(scenario: Scenario, working: Lab) -> Play:
    """A fresh run from the scenario's start in the viewer's working lab (the bank lab: a fresh lab)."""
    lab, ref = replayer(scenario.lab).begin(working, scenario.start)
    return Play(lab.id, ref, 0, {})


def play_next(scenario: Scenario, play: Play) -> Play:
    """Play the next recorded input. Raises Invalid when there is none, its question is not answered yet, or the
    lab refuses it."""
    if play.played >= len(scenario.steps):
        raise Invalid("The scenario has no more steps.")
    if needs_answer(scenario, play):
        raise Invalid("Answer the question first: predict, then watch.")
    lab = Lab.objects.filter(pk=play.lab_id).first()
    if lab is None:
        raise Invalid("The lab this scenario was playing into is gone: start again.")
    replayer(scenario.lab).play(lab, play.ref, scenario.steps[play.played]["input"])
    return Play(play.lab_id, play.ref, play.played + 1, play.answers)


def needs_answer(scenario: Scenario, play: Play) -> bool:
    if play.played >= len(scenario.steps):
        return False
    return bool(scenario.steps[play.played]["predict"]) and str(play.played) not in play.answers


def answer(scenario: Scenario, play: Play, choice: Any, session_key: str, user: Any) -> Play:
    """Record the answer to the question at the next step (before it is played). Raises Invalid."""
    predict = scenario.steps[play.played]["predict"] if play.played < len(scenario.steps) else None
    if not predict:
        raise Invalid("There is no question at this step.")
    raw = str(choice or "").strip()
    if not raw.isdecimal() or len(raw) > 2 or int(raw) >= len(predict["choices"]):
        raise Invalid("Pick one of the answers.")
    picked = int(raw)
    Answer.objects.create(scenario=scenario, step=play.played, choice=picked, correct=picked == predict["correct"],
                          session_key=session_key or "", user=user if getattr(user, "is_authenticated", False) else None)
    return Play(play.lab_id, play.ref, play.played, {**play.answers, str(play.played): picked})


def step_context(scenario: Scenario, play: Play) -> dict[str, Any]:
    """What the player's step view (templates/scenarios/_step.html) shows."""
    total = len(scenario.steps)
    context: dict[str, Any] = {"scenario": scenario, "play": play, "total": total, "finished": play.played >= total}
    if play.started:
        lab = Lab.objects.filter(pk=play.lab_id).first()
        if lab is not None:
            lab_replayer = replayer(scenario.lab)
            context["run_url"], context["summary"] = lab_replayer.url(lab, play.ref), lab_replayer.summary(lab, play.ref)
    if play.played:
        last = play.played - 1
        step = scenario.steps[last]
        context["last"] = {"number": play.played, "narration": step["narration"], "predict": step["predict"],
                           "input": describe(step["input"]), "answer": play.answers.get(str(last))}
    if play.started and not context["finished"]:
        step = scenario.steps[play.played]
        context["next"] = {"number": play.played + 1, "predict": step["predict"], "input": describe(step["input"]),
                           "asking": needs_answer(scenario, play)}
    return context
