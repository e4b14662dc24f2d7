"""The learner's progress, Django side: the session's personal lab, and appending progress events to it.

Each browser session has one personal lab (Lab.Kind.PERSONAL), made the first time there is progress to record and
never replaced by "new lab". Its log holds only the `progress` stream; everything shown about the learner is a fold of
that stream (progress.fold). It is a lab like any other, so the bank lab's event panel can show it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

from django.conf import settings

from eventlab.eventstore.core import AppendResult, NewEvent, fingerprint
from eventlab.labs import registry
from eventlab.labs.access import SESSION_PERSONAL, add_to_session, current_lab, session_labs
from eventlab.labs.models import Lab
from eventlab.labs.services import create_lab, store, write

from . import codeview
from . import progress as progress_events
from .progress import Progress

PERSONAL_TITLE = "My progress"


def personal_lab(session, create: bool = False) -> Lab | None:
    """The session's personal lab; made (once) when `create` is true and there is none yet."""
    lab_id = session.get(SESSION_PERSONAL)
    if lab_id and lab_id in session_labs(session):
        lab = Lab.objects.filter(pk=lab_id, kind=Lab.Kind.PERSONAL).first()
        if lab is not None:
            return lab
    if not create:
        return None
    # No read models: the bank's would only fold these events into empty bank documents.
    lab, _token = create_lab(PERSONAL_TITLE, Lab.Kind.PERSONAL, read_models=False)
    session[SESSION_PERSONAL] = lab.id
    add_to_session(session, lab, current=False)
    return lab


def load(session) -> tuple[Lab | None, Progress]:
    """The personal lab (None if the session has none yet) and the progress folded from its log."""
    lab = personal_lab(session)
    if lab is None:
        return None, Progress()
    return lab, progress_events.fold(store.read_stream(lab.id, progress_events.STREAM))


def record(session, events: Sequence[NewEvent], command_id: str | None = None) -> AppendResult:
    """Append progress events to the session's personal lab (made if needed), in one transaction.

    With a `command_id`, recording the same thing twice (two tabs opening a page at once) appends it once."""
    lab = personal_lab(session, create=True)
    assert lab is not None
    command = {"progress": [{"type": e.type, "data": e.data} for e in events]}
    return write(lab, lambda s: s.append(lab.id, progress_events.STREAM, list(events), expected_version=None,
                                         command_id=command_id, command_fingerprint=fingerprint(command)))


def record_lab_completed(sender, request, page: str, run, outcome: str, **kwargs) -> None:
    """A learner's action brought a lab run to an end: `LabCompleted` in their progress (once per run and outcome: a
    dead-lettered saga retried to completion ends twice)."""
    record(request.session, [progress_events.lab_completed(page, run.id, outcome)],
           command_id=f"lab-completed:{page}:{run.id}:{outcome}")


def known_presets() -> dict[str, set[str]]:
    """Every lab's presets that exist now (each lab registers its preset model) and its views: what a predict
    question's `lab` may name (a question about a lab without runs names one of its views)."""
    known: dict[str, set[str]] = {}
    for plugin in registry.plugins():
        if plugin.preset_model is not None or plugin.views:
            presets = plugin.preset_model.objects.values_list("slug", flat=True) if plugin.preset_model else ()
            known[plugin.key] = set(presets) | set(plugin.views)
    return known


# --- "Try it": where the course sends a learner, as the labs registered it -------------------------------------------


@dataclass(frozen=True)
class Target:
    """Where "try it" (or a predict question's scenario) takes the learner: a preset run of a simulation lab, or one
    of a lab's views. The labs, their presets and their views are the lab registry's; the course names none."""

    lab: str  # a registered lab's key
    preset: str = ""  # a simulation lab's preset, started in the session's working lab
    view: str = ""  # or one of the lab's `views`
    label: str = ""  # the button's words
    says: str = ""  # what the learner will see when the lab opens

    def __post_init__(self) -> None:
        plugin = registry.find(self.lab)
        if plugin is None:
            raise ValueError(f"unknown lab {self.lab!r}")
        if bool(self.preset) == bool(self.view):
            raise ValueError("a target is a preset or a view, not both")
        if self.preset and plugin.run_pages is None:
            raise ValueError(f"{self.lab} has no presets to start")
        if self.view and self.view not in plugin.views:
            raise ValueError(f"unknown view {self.view!r} of {self.lab}")

    @property
    def lab_title(self) -> str:
        return lab_title(self.lab) or self.lab

    @property
    def url(self) -> tuple[str, str]:
        """A view target's (URL name taking lab_id, #fragment)."""
        return registry.get(self.lab).views[self.view]


def lab_title(key: str) -> str | None:
    """How the course names a lab in a sentence ("the bank lab"); None for a key no lab registers."""
    plugin = registry.find(key)
    return (plugin.course_title or plugin.title) if plugin is not None else None


def topic_target(slug: str) -> Target | None:
    """A topic's "try it": the target the lab showing it registered (None when no lab shows it)."""
    found = registry.try_it(slug)
    if found is None:
        return None
    plugin, it = found
    return Target(plugin.key, preset=it.preset, view=it.view, label=it.label, says=it.says)


def try_it_labs() -> dict[str, str]:
    """Topic slug -> the key of the lab that shows it (what moves a learner along the course's pictures)."""
    return {it.topic: plugin.key for plugin in reversed(registry.plugins()) for it in plugin.try_it}


def scenario_target(lab: str, preset: str) -> Target:
    """A predict question's scenario: a view of the lab when it names one, else a simulation lab's preset, else the
    lab's first view. Raises ValueError for a lab no plug-in registers (or one with nothing to open)."""
    plugin = registry.find(lab)
    if plugin is None:
        raise ValueError(f"unknown lab {lab!r}")
    if preset in plugin.views:
        return Target(lab, view=preset, label=f"Open {lab_title(lab)}")
    if plugin.run_pages is not None:
        return Target(lab, preset=preset, label="Run this scenario in the lab")
    if not plugin.views:
        raise ValueError(f"{lab} has nothing to open")
    return Target(lab, view=next(iter(plugin.views)), label=f"Open {lab_title(lab)}")


# --- The Event Sourcing page's code view: the learner's last bank command --------------------------------------------

SESSION_BANK_COMMANDS = "bank_last_command"  # {lab id: what the session's last bank command was and what decide saw}
KEEP_BANK_COMMANDS = 10


def remember_bank_command(sender, request, lab: Lab, payload: dict, outcome, **kwargs) -> None:
    """A lab handled a command from this session's form: remember it, per lab, with the branches of `decide` (and
    `evolve`) that handled it, located now from the outcome — its events, or the refusal it keeps with its traceback —
    so the Event Sourcing page lights them without running `decide` again.

    `stage` says how far it got: "decided" (decide accepted or refused it), "conflict" (the expected version was
    stale, so decide never ran), or "input" (refused while reading the form or by the command-id record, before
    decide)."""
    decide, evolve = "", ()
    if outcome.conflict is not None:
        stage = "conflict"
    else:
        error = getattr(outcome, "error", None)
        found = None
        if (outcome.accepted and outcome.events) or error is not None:
            found = codeview.located(str(payload.get("command", ""))[:40], [e.type for e in outcome.events], error)
        stage = "input" if found is None else "decided"
        if found is not None:
            decide, evolve = found
    entry = {
        "command": str(payload.get("command", ""))[:40], "account_id": str(payload.get("account_id", ""))[:40],
        "amount": str(payload.get("amount", ""))[:20], "owner": str(payload.get("owner", ""))[:100],
        "accepted": bool(outcome.accepted), "duplicate": bool(outcome.duplicate), "reason": outcome.reason[:300],
        "stage": stage, "decide": decide, "evolve": list(evolve),
    }
    remembered = dict(request.session.get(SESSION_BANK_COMMANDS) or {})
    remembered.pop(lab.id, None)
    remembered[lab.id] = entry
    request.session[SESSION_BANK_COMMANDS] = dict(list(remembered.items())[-KEEP_BANK_COMMANDS:])


def code_view(session) -> dict:
    """What the Event Sourcing page's code view shows: the bank's decide and evolve, highlighted, with the branch
    that handled this session's last command in its working lab lit (nothing lit when there is none), and the
    guide's Scala version."""
    source = codeview.load()
    lab = current_lab(session)
    entry = (session.get(SESSION_BANK_COMMANDS) or {}).get(lab.id) if lab is not None else None
    view: dict = {"lab": lab, "last": entry, "handled": None, "decide_branch": None, "evolve_branches": (),
                  "path": os.path.relpath(codeview.source_path(), settings.BASE_DIR)}
    lit: tuple[int, ...] = ()
    if entry and entry.get("stage") == "decided" and isinstance(entry.get("decide"), str):
        handled = codeview.handled_from(bool(entry.get("accepted")), str(entry.get("reason", "")), entry["decide"],
                                        [k for k in entry.get("evolve") or () if isinstance(k, str)], source)
        if handled.decide is not None:
            view.update(handled=handled, decide_branch=handled.decide,
                        decide_lines=codeview.lines_text(handled.decide.lines) if handled.decide else "",
                        evolve_branches=[{"branch": b, "lines": codeview.lines_text(b.lines)}
                                         for b in handled.evolve])
            for branch in (handled.decide, *handled.evolve):
                if branch is not None:
                    lit += branch.lines
    view["functions"] = [
        {"name": name, "first": source.spans[name][0], "last": source.spans[name][1],
         "html": codeview.python_html(name, lit, source)}
        for name in codeview.SHOWN
    ]
    view["scala_html"] = codeview.scala_html()
    return view
