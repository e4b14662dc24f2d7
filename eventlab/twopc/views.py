"""The two-phase commit lab's pages. Thin: read the form, call the service, render; what every simulation lab's run
pages share (presets, time travel, forks, the htmx panel, live updates) is eventlab.labs.runpages."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from eventlab.labs.access import lab_for
from eventlab.labs.models import Lab
from eventlab.labs.runpages import RunPages, form_whole, last_prediction, order_from_form
from eventlab.labs.services import store
from eventlab.sim.runlog import Invalid

from . import pictures, services
from .domain import CRASH_POINTS, FAULT_KINDS, MESSAGES, PARTICIPANTS, PROTOCOL_LABELS
from .models import Preset
from .runs import LOG, OUTCOMES, TwoPCRun, side_by_side

FORM_ITEMS = 3  # item rows on the start form
RESTART_MS = 1_000  # "restarts by itself after" when the form leaves it blank
FORM_CHOICES = {"participants": PARTICIPANTS, "messages": MESSAGES, "fault_kinds": FAULT_KINDS,
                "protocols": list(PROTOCOL_LABELS.items()),
                "participant_points": CRASH_POINTS["participant"], "coordinator_points": CRASH_POINTS["coordinator"]}


def lab_context(request: HttpRequest, lab: Lab, **extra: Any) -> dict[str, Any]:
    return {
        **PAGES.lab_base(request, lab),
        "runs": [e.data for e in LOG.runs(store, lab.id)],
        "item_rows": range(1, FORM_ITEMS + 1),
        **FORM_CHOICES,
        **extra,
    }


# --- Starting a run -------------------------------------------------------------------------------------------------


def start_from_form(post) -> dict[str, Any]:
    chosen = post.getlist("fault")
    return {"seed": form_whole(post.get("seed"), 1), "participants": post.getlist("participant"),
            "order": order_from_form(post, FORM_ITEMS),
            "faults": [fault_from_form(post, kind) for kind in FAULT_KINDS if kind in chosen],
            "protocol": post.get("protocol") or "presumed_abort", "read_only": post.getlist("read_only"),
            "one_phase": bool(post.get("one_phase")), "cooperative": bool(post.get("cooperative"))}


def fault_from_form(post, kind: str) -> dict[str, Any]:
    """One fault from its row of form fields (`<kind>-<field>`), only the fields its kind takes."""
    field = lambda name: post.get(f"{kind}-{name}")  # noqa: E731
    fault: dict[str, Any] = {"kind": kind}
    if kind in ("vote_no", "participant_crash"):
        fault["participant"] = field("participant")
    if kind in ("participant_crash", "coordinator_crash"):
        fault["at"] = field("at")
        fault["restart_after_ms"] = form_whole(field("restart_ms"), RESTART_MS) if field("restarts") else None
    if kind in ("drop", "delay"):
        fault["message"] = field("message")
        fault["nth"] = form_whole(field("nth"), 1)
    if kind == "delay":
        fault["ms"] = form_whole(field("ms"), 5_000)
    return fault


@require_POST
def start(request: HttpRequest, lab_id: str) -> HttpResponse:
    lab = lab_for(request, lab_id)
    try:
        run = services.start(lab, start_from_form(request.POST))
    except Invalid as invalid:
        context = lab_context(request, lab, error=str(invalid), form=request.POST,
                              chosen=request.POST.getlist("fault"), picked=request.POST.getlist("participant"),
                              read_only_picked=request.POST.getlist("read_only"))
        return render(request, "twopc/lab.html", context, status=422)
    return redirect("twopc-run", lab_id=lab.id, run_id=run.id)


# --- A run ----------------------------------------------------------------------------------------------------------


def announcement(run: TwoPCRun) -> str:
    """One sentence for screen readers after each change: what the last step did, and where the transaction is."""
    steps = run.step_list()
    last = f"Step {run.steps}: {steps[-1]['message']} from {steps[-1]['from']} to {steps[-1]['to']}, " \
           f"{steps[-1]['type']}. " if steps else ""
    return f"{last}The transaction is {pictures.OUTCOME_LABELS[run.outcome].lower()}."


def run_view(run: TwoPCRun, query: Any = None) -> dict[str, Any]:
    """Everything the run panel draws."""
    return {
        "prompt": run.prompt(),
        "prediction": last_prediction(run, OUTCOMES),
        "variant": pictures.variant(run), "costs": run.costs(), "readers": run.readers(),
        "side_by_side": side_by_side(run.started),
        "announce": announcement(run), "done": run.done, "idle": None if run.sim.pending() else run.idle_reason(),
        "pending": run.pending(), "crashed": sorted(run.sim.crashed), "steps": run.step_list(),
        "sequence": pictures.sequence(run), "protocol": pictures.protocol(run),
        **FORM_CHOICES, "run_participants": run.participants,
    }


def given_from_form(action: str, post) -> dict[str, Any]:
    if action == "step":
        given: dict[str, Any] = {"input": "step"}
        if post.get("pick"):
            given["pick"] = post["pick"][:40]
        if post.get("predict"):
            given["predict"] = post["predict"][:40]
        return given
    if action == "faults":
        kind = post.get("kind", "")
        return {"input": "faults", "faults": [fault_from_form(post, kind) if kind in FAULT_KINDS else {"kind": kind}]}
    if action == "recover":
        node = post.get("node", "")
        return {"input": "recover", "node": node[:40]} if node else {"input": "recover"}
    return {"input": action}


PAGES = RunPages(
    page="twopc", templates="twopc", lab_url="twopc-lab", run_url="twopc-run", services=services.SERVICE,
    presets=Preset, run_view=run_view, lab_context=lab_context, given_from_form=given_from_form,
    actions=("step", "run", "recover", "faults", "reset"),
)
start_preset = require_POST(PAGES.start_preset)
run_page = require_GET(PAGES.run_page)
act = require_POST(PAGES.act)
run_context = PAGES.run_context
twopc_home = PAGES.home
lab_page = require_GET(PAGES.lab_page)
