"""Saga vs 2PC side by side, and the failure matrix of both. Thin: read the form, call the two labs' services and the
pure comparison (eventlab.compare.compare, .matrix), render. htmx requests get the pair's panel, plain requests the
whole page (or a redirect), so everything works without JavaScript (just not live)."""

from __future__ import annotations

import functools
from typing import Any

from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from eventlab.labs.access import lab_for
from eventlab.labs.models import Lab
from eventlab.labs.runpages import form_whole, order_from_form, restart
from eventlab.labs.views import lab_bar_context
from eventlab.sagas import services as saga_services
from eventlab.sagas.runs import SagaRun
from eventlab.sim.runlog import Invalid, UnknownRun
from eventlab.twopc import services as twopc_services
from eventlab.twopc.runs import DEFAULT_ORDER, TwoPCRun

from . import compare, matrix

FORM_ITEMS = 2  # item rows on the form
PAIR_ACTIONS = ("step", "run", "recover", "reset")


def page_context(request: HttpRequest, lab: Lab, **extra: Any) -> dict[str, Any]:
    return {"nav": "twopc", **lab_bar_context(request, lab, "twopc"), **extra}


# --- The form: pick a scenario, an order, a seed ---------------------------------------------------------------------


def form_context(request: HttpRequest, lab: Lab, **extra: Any) -> dict[str, Any]:
    return page_context(request, lab, scenarios=list(compare.SCENARIOS.values()),
                        item_rows=range(1, FORM_ITEMS + 1), default_item=DEFAULT_ORDER["items"][0], **extra)


@require_GET
def compare_page(request: HttpRequest, lab_id: str) -> HttpResponse:
    lab = lab_for(request, lab_id)
    return render(request, "compare/compare.html", form_context(request, lab))


def start_from_form(post: Any) -> dict[str, Any]:
    return {"scenario": post.get("scenario", "")[:64], "seed": form_whole(post.get("seed"), 1),
            "order": order_from_form(post, FORM_ITEMS)}


@require_POST
def start(request: HttpRequest, lab_id: str) -> HttpResponse:
    """One saga run (orchestration) and one 2PC run, the same order, seed and counterpart faults; then the pair."""
    lab = lab_for(request, lab_id)
    try:
        saga_start, twopc_start = compare.starts(start_from_form(request.POST))
        saga, twopc = start_pair(lab, saga_start, twopc_start)
    except Invalid as invalid:
        context = form_context(request, lab, error=str(invalid), form=request.POST)
        return render(request, "compare/compare.html", context, status=422)
    return redirect("twopc-pair", lab_id=lab.id, saga_id=saga.id, twopc_id=twopc.id)


def start_pair(lab: Lab, saga_start: dict[str, Any], twopc_start: dict[str, Any]) -> tuple[Any, Any]:
    with transaction.atomic():  # both runs or neither
        return saga_services.start(lab, saga_start), twopc_services.start(lab, twopc_start)


# --- The pair, side by side ------------------------------------------------------------------------------------------


def load_pair(lab: Lab, saga_id: str, twopc_id: str) -> tuple[Any, Any]:
    """Both runs, or Http404 when either is not in this lab."""
    try:
        return saga_services.load(lab, saga_id), twopc_services.load(lab, twopc_id)
    except UnknownRun as unknown:
        raise Http404(str(unknown)) from None


def pair_context(lab: Lab, saga_id: str, twopc_id: str, **extra: Any) -> dict[str, Any]:
    """Both runs and their numbers. Raises Http404 when either run is not in this lab."""
    saga, twopc = load_pair(lab, saga_id, twopc_id)
    compared = compare.compare(saga, twopc)
    return {
        "lab": lab, "saga": saga, "twopc": twopc, "c": compared, "scenario": compared["scenario"],
        "version": saga.version + twopc.version, "pair_id": f"{saga.id}.{twopc.id}",
        "saga_view": saga_view(saga), "twopc_view": twopc_view(twopc),
        "crashed": bool(saga.sim.crashed or twopc.sim.crashed),
        "idle": not saga.sim.pending() and not twopc.sim.pending(),
        "announce": announcement(compared), **extra,
    }


def saga_view(run: SagaRun) -> dict[str, Any]:
    services = run.services()
    return {"steps": run.step_list()[-6:], "all_steps": run.step_list(), "pending": len(run.pending()),
            "order": services["orders"]["order"], "charged": services["payments"]["charged"],
            "held": services["payments"]["held"], "shipped": services["inventory"]["shipped"],
            "idle": None if run.sim.pending() else run.idle_reason()}


def twopc_view(run: TwoPCRun) -> dict[str, Any]:
    return {"steps": run.step_list()[-6:], "all_steps": run.step_list(), "pending": len(run.pending()),
            "coordinator": run.coordinator(), "participants": run.participant_states(),
            "idle": None if run.sim.pending() else run.idle_reason()}


def announcement(compared: dict[str, Any]) -> str:
    saga, twopc = compared["saga"], compared["twopc"]
    return (f"Saga: step {saga['steps']}, {saga['outcome']}. "
            f"Two-phase commit: step {twopc['steps']}, {twopc['outcome']}.")


@require_GET
def pair_page(request: HttpRequest, lab_id: str, saga_id: str, twopc_id: str) -> HttpResponse:
    lab = lab_for(request, lab_id)
    context = pair_context(lab, saga_id, twopc_id)
    if request.htmx and request.htmx.target == "run":
        return render_pair(request, context)
    return render(request, "compare/pair.html", {**page_context(request, lab), **context})


def render_pair(request: HttpRequest, context: dict[str, Any], status: int = 200) -> HttpResponse:
    """The pair's panel, and (out of band) the sentence the page's live region announces."""
    html = render_to_string("compare/pair.html#run", context, request) + render_to_string(
        "compare/pair.html#announce", context, request)
    return HttpResponse(html, status=status)


@require_POST
def act(request: HttpRequest, lab_id: str, saga_id: str, twopc_id: str) -> HttpResponse:
    """One button for both runs: step both, run both to the end, recover whatever crashed, or reset (a new pair)."""
    lab = lab_for(request, lab_id)
    action = request.POST.get("action", "")
    saga, twopc = load_pair(lab, saga_id, twopc_id)
    try:
        if action not in PAIR_ACTIONS:
            raise Invalid(f"Unknown action {action[:40]!r}.")
        saga_id, twopc_id = act_on_pair(lab, saga, twopc, action)
    except Invalid as invalid:
        context = pair_context(lab, saga_id, twopc_id, error=str(invalid))
        if request.htmx:
            return render_pair(request, context, status=422)
        return render(request, "compare/pair.html", {**page_context(request, lab), **context}, status=422)
    url = reverse("twopc-pair", args=[lab.id, saga_id, twopc_id])
    if request.htmx:
        response = render_pair(request, pair_context(lab, saga_id, twopc_id))
        if action == "reset":
            response["HX-Push-Url"] = url
        return response
    return redirect(url)


def act_on_pair(lab: Lab, saga: Any, twopc: Any, action: str) -> tuple[str, str]:
    """Apply the action to each run that can take it, both in one transaction. Returns the pair's ids after it
    (a reset makes a new pair). Raises Invalid when neither run can take it."""
    if action == "reset":
        new_saga, new_twopc = start_pair(lab, restart(saga.started), restart(twopc.started))
        return new_saga.id, new_twopc.id
    if action == "recover":
        able = [run for run in (saga, twopc) if run.sim.crashed]
        if not able:
            raise Invalid("Nothing has crashed in either run: there is nothing to recover.")
    else:
        able = [run for run in (saga, twopc) if run.sim.pending()]
        if not able:
            raise Invalid(f"Nothing is in flight in either run. Saga: {saga.idle_reason()} "
                          f"Two-phase commit: {twopc.idle_reason()}")
    with transaction.atomic():
        for run in able:
            service = saga_services if run is saga else twopc_services
            service.act(lab, run.id, {"input": action})
    return saga.id, twopc.id


# --- The failure matrix ----------------------------------------------------------------------------------------------


def _seed(raw: str | None) -> int:
    seed = form_whole(raw, 1)
    if not isinstance(seed, int) or not 0 <= seed <= 2**31 - 1:
        raise Invalid(f"The seed must be a whole number from 0 to {2**31 - 1:,}.")
    return seed


def matrix_context(request: HttpRequest, lab: Lab, **extra: Any) -> dict[str, Any]:
    return page_context(request, lab, total=len(matrix.CASES), **extra)


@functools.lru_cache(maxsize=8)
def results(seed: int) -> dict[str, Any]:
    """The matrix, run on the pure engines, as the page shows it. Deterministic in the seed (the engines are pure
    and seeded), so it runs once per seed per process (the last few seeds kept); the result is shared: read only."""
    ran = matrix.run_matrix(seed)
    twopc, saga = ran["twopc"], ran["saga"]
    return {
        "seed": seed, "counts": ran["counts"], "skipped": ran["skipped"],
        "twopc": [row.as_dict() for row in twopc], "saga": [row.as_dict() for row in saga],
        "atomic": sum(row.consistent for row in twopc), "twopc_total": len(twopc),
        "blocked_by": sorted({row.case.fault["kind"] for row in twopc if row.outcome == "blocked until recovery" and row.case.fault}),
        "doubled": [row.case.label for row in saga if not row.consistent],
    }


@require_GET
def matrix_page(request: HttpRequest, lab_id: str) -> HttpResponse:
    """The page with its button; with `?run=1` (the button), the matrix run in memory and its table."""
    lab = lab_for(request, lab_id)
    extra: dict[str, Any] = {"seed": request.GET.get("seed", "1")[:12]}
    status = 200
    if "run" in request.GET:
        try:
            extra["results"] = results(_seed(request.GET.get("seed")))
        except Invalid as invalid:
            extra["error"], status = str(invalid), 422
    context = matrix_context(request, lab, **extra)
    if request.htmx and request.htmx.target == "matrix":
        return render(request, "compare/matrix.html#matrix", context, status=status)
    return render(request, "compare/matrix.html", context, status=status)


@require_POST
def replay(request: HttpRequest, lab_id: str) -> HttpResponse:
    """Start one row's run in the lab (a saga or 2PC run with that fault) and open its run page."""
    lab = lab_for(request, lab_id)
    try:
        case = matrix.case(request.POST.get("row"))
        started = matrix.start(case, _seed(request.POST.get("seed")))
        service = saga_services if case.protocol == "saga" else twopc_services
        run = service.start(lab, started)
    except Invalid as invalid:
        context = matrix_context(request, lab, error=str(invalid), seed=request.POST.get("seed", "1")[:12])
        return render(request, "compare/matrix.html", context, status=422)
    return redirect("saga-run" if case.protocol == "saga" else "twopc-run", lab_id=lab.id, run_id=run.id)
