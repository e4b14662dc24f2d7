"""The scenario pages: the instructor's list (with the import form), save from a lab, the editor, the player.

Everything here is for instructors (anyone else: 404). The player's step view is a partial
(templates/scenarios/_step.html) so a presenter mode can embed it; htmx requests get only that partial."""

from __future__ import annotations

import secrets
from typing import Any

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from eventlab.labs import registry
from eventlab.labs.access import add_to_session, lab_for
from eventlab.labs.models import Lab
from eventlab.labs.views import working_lab
from eventlab.sim.runlog import Invalid, UnknownRun

from . import services
from .access import instructor, may_play
from .fileformat import FormatError
from .models import Scenario

SESSION_ANSWERER = "scenario_answerer"


def answerer(request: HttpRequest) -> str:
    """Who answered, for a session with no account: a random id kept in the session (the signed-cookie session's own
    key is the whole cookie, far longer than the column)."""
    return str(request.session.setdefault(SESSION_ANSWERER, secrets.token_hex(16)))


def list_context(request: HttpRequest, **extra: Any) -> dict[str, Any]:
    return {"nav": "scenarios", "scenarios": Scenario.objects.all(), "labs": registry.replayers(), **extra}


@require_GET
def scenario_list(request: HttpRequest) -> HttpResponse:
    instructor(request)
    return render(request, "scenarios/list.html", list_context(request))


@require_POST
def save(request: HttpRequest) -> HttpResponse:
    """Save as scenario: a run's inputs (or the bank lab's commands) into a new scenario, then its editor."""
    instructor(request)
    lab_key = request.POST.get("lab_key", "")[:32]
    if lab_key not in registry.replayers():
        raise Http404("Not found.")
    lab = lab_for(request, request.POST.get("lab_id", "")[:64])
    try:
        scenario = services.save(lab_key, lab, request.POST.get("ref", "")[:64])
    except UnknownRun:
        raise Http404("Not found.") from None
    except Invalid as invalid:
        return render(request, "scenarios/list.html", list_context(request, error=str(invalid)), status=422)
    return redirect("scenario-edit", scenario_id=scenario.pk)


def steps_for_editor(scenario: Scenario, steps: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    rows = []
    for n, step in enumerate(steps if steps is not None else scenario.steps):
        predict = step.get("predict") or {}
        rows.append({"n": n, "number": n + 1, "input": services.describe(step["input"]),
                     "narration": step.get("narration", ""), "question": predict.get("question", ""),
                     "choices": "\n".join(predict.get("choices", [])),
                     "correct": predict["correct"] + 1 if isinstance(predict.get("correct"), int) and
                     predict["correct"] >= 0 else ""})
    return rows


@require_http_methods(["GET", "POST"])
def edit(request: HttpRequest, scenario_id: int) -> HttpResponse:
    instructor(request)
    scenario = get_object_or_404(Scenario, pk=scenario_id)
    context: dict[str, Any] = {"nav": "scenarios", "scenario": scenario, "steps": steps_for_editor(scenario),
                               "form": {"title": scenario.title, "intro": scenario.intro, "notice": scenario.notice}}
    if request.method == "POST":
        change = services.edit_from_form(scenario, request.POST)
        if change.errors:
            context.update(errors=change.errors, steps=steps_for_editor(scenario, change.fields["steps"]),
                           form={k: request.POST.get(k, "") for k in ("title", "intro", "notice")})
            return render(request, "scenarios/edit.html", context, status=422)
        services.apply_edit(scenario, change)
        return redirect("scenario-play", scenario_id=scenario.pk)
    return render(request, "scenarios/edit.html", context)


@require_POST
def import_form(request: HttpRequest) -> HttpResponse:
    instructor(request)
    upload = request.FILES.get("file")
    if upload is None:
        return render(request, "scenarios/list.html", list_context(request, import_error="Choose a file to import."),
                      status=422)
    try:
        if upload.size > services.fileformat.MAX_FILE:
            raise FormatError(f"The file is over {services.fileformat.MAX_FILE // 1024} KiB.")
        made = services.import_file(upload.read())
    except FormatError as error:
        return render(request, "scenarios/list.html", list_context(request, import_error=str(error)), status=422)
    if len(made) == 1:
        return redirect("scenario-play", scenario_id=made[0].pk)
    return redirect("scenario-list")


# --- The player -----------------------------------------------------------------------------------------------------


def playable(request: HttpRequest, scenario_id: int) -> Scenario:
    scenario = Scenario.objects.filter(pk=scenario_id).first()
    if scenario is None or not may_play(request, scenario):
        raise Http404("Not found.")
    return scenario


@require_GET
def play_page(request: HttpRequest, scenario_id: int) -> HttpResponse:
    scenario = playable(request, scenario_id)
    context = services.step_context(scenario, services.play_of(request.session, scenario))
    if request.htmx:
        return render(request, "scenarios/_step.html", context)
    return render(request, "scenarios/play.html", {"nav": "scenarios", **context})


@require_POST
def play(request: HttpRequest, scenario_id: int) -> HttpResponse:
    """The player's buttons: start (a fresh run), answer (the question before a step), next (play one input)."""
    scenario = playable(request, scenario_id)
    current = services.play_of(request.session, scenario)
    action = request.POST.get("action", "")
    error = ""
    try:
        if action == "start":
            current = services.begin(scenario, working_lab(request))
            add_to_session(request.session, Lab.objects.get(pk=current.lab_id))
        elif not current.started:
            raise Invalid("Start the scenario first.")
        elif action == "answer":
            current = services.answer(scenario, current, request.POST.get("choice"), answerer(request), request.user)
        elif action == "next":
            current = services.play_next(scenario, current)
        else:
            raise Invalid(f"Unknown action {action[:40]!r}.")
    except (Invalid, FormatError) as invalid:  # FormatError: a scenario loaded for a lab this EventLab does not have
        error = str(invalid)
    services.keep_play(request.session, scenario, current)
    context = {**services.step_context(scenario, current), "error": error}
    status = 422 if error else 200
    if request.htmx:
        return render(request, "scenarios/_step.html", context, status=status)
    if error:
        return render(request, "scenarios/play.html", {"nav": "scenarios", **context}, status=status)
    return redirect("scenario-play", scenario_id=scenario.pk)

