"""The saga lab's pages. Thin: read the form, call the service, render; what every simulation lab's run pages share
(presets, time travel, forks, the htmx panel, live updates) is eventlab.labs.runpages."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from eventlab.labs.access import lab_for
from eventlab.labs.models import Lab
from eventlab.labs.runpages import RunPages, form_whole, last_prediction, order_from_form
from eventlab.labs.services import store

from . import handlers, pictures, services
from .domain import FAULT_KINDS, OPERATOR_ACTIONS, SERVICES
from .models import Preset
from .runs import MESSAGE_TYPES, MODES, OUTCOMES, Invalid, SagaRun, pending_compensations

FORM_ITEMS = 3  # item rows on the start form


def lab_context(request: HttpRequest, lab: Lab, **extra: Any) -> dict[str, Any]:
    return {
        **PAGES.lab_base(request, lab),
        "runs": [e.data for e in handlers.runs(store, lab.id)],
        "modes": MODES, "services": SERVICES, "message_types": MESSAGE_TYPES, "fault_kinds": FAULT_KINDS,
        "item_rows": range(1, FORM_ITEMS + 1),
        **extra,
    }


# --- Starting a run -------------------------------------------------------------------------------------------------


def start_from_form(post) -> dict[str, Any]:
    faults: list[dict[str, Any]] = []
    chosen = post.getlist("fault")
    for kind in ("payment_declined", "shipping_failed"):
        if kind in chosen:
            faults.append({"kind": kind})
    if "idempotency_off" in chosen:
        faults.append({"kind": "idempotency_off", "service": post.get("idempotency_service", "payments")})
    faults += [fault_from_form(post, kind, prefix=f"{kind}-") for kind in
               ("service_down", "drop", "duplicate", "delay", "orchestrator_crash") if kind in chosen]
    return {"mode": post.get("mode", "orchestration"), "seed": form_whole(post.get("seed"), 1),
            "order": order_from_form(post, FORM_ITEMS), "faults": faults}


def fault_from_form(post, kind: str, prefix: str = "") -> dict[str, Any]:
    """One fault from form fields (only the fields its kind takes)."""
    fault: dict[str, Any] = {"kind": kind}
    field = lambda name: post.get(prefix + name)  # noqa: E731
    if kind in ("service_down", "idempotency_off"):
        fault["service"] = field("service")
    if kind == "service_down":
        fault["steps"] = form_whole(field("steps"), 3)
    if kind in ("drop", "duplicate", "delay"):
        fault["message"] = field("message")
        fault["nth"] = form_whole(field("nth"), 1)
    if kind == "delay":
        fault["ms"] = form_whole(field("ms"), 5_000)
    if kind == "orchestrator_crash":
        fault["after_step"] = form_whole(field("after_step"))
        fault["restart_after_ms"] = 1_000 if field("restarts") else None
    return fault


@require_POST
def start(request: HttpRequest, lab_id: str) -> HttpResponse:
    lab = lab_for(request, lab_id)
    try:
        run = services.start(lab, start_from_form(request.POST))
    except Invalid as invalid:
        context = lab_context(request, lab, error=str(invalid), form=request.POST)
        return render(request, "sagas/lab.html", context, status=422)
    return redirect("saga-run", lab_id=lab.id, run_id=run.id)


# --- A run ----------------------------------------------------------------------------------------------------------


STATE_LABELS = {"started": "Started", "running": "Running", "compensating": "Compensating",
                "completed": "Completed", "compensated": "Compensated", "dead_lettered": "Dead-lettered"}


def announcement(run: SagaRun) -> str:
    """One sentence for screen readers after each change: what the last step did, and where the saga is."""
    steps = run.step_list()
    last = f"Step {run.steps}: {steps[-1]['message']} from {steps[-1]['from']} to {steps[-1]['to']}, " \
           f"{steps[-1]['type']}. " if steps else ""
    return f"{last}The saga is {STATE_LABELS[run.state].lower()}."


def run_view(run: SagaRun, query: Any = None) -> dict[str, Any]:
    """Everything the run panel draws."""
    return {
        "state": run.state, "state_label": STATE_LABELS[run.state], "announce": announcement(run), "done": run.done,
        "pending": run.pending(), "crashed": sorted(run.sim.crashed),
        "services": run.services(), "dead_letters": run.dead_letters(), "steps": run.step_list(),
        "saga_log": run.saga_log() if run.mode == "orchestration" else None,
        "pending_compensations": pending_compensations(run), "prompt": run.prompt(),
        "prediction": last_prediction(run, OUTCOMES),
        "sequence": pictures.sequence(run), "machine": pictures.state_machine(run),
        "trace": pictures.waterfall(run), "idle": None if run.sim.pending() else run.idle_reason(),
        "fault_kinds": FAULT_KINDS, "services_names": SERVICES, "message_types": MESSAGE_TYPES,
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
    if action in OPERATOR_ACTIONS:
        return {"input": action, "dead_letter": post.get("dead_letter", "")[:40]}
    return {"input": action}


PAGES = RunPages(
    page="sagas", templates="sagas", lab_url="saga-lab", run_url="saga-run", services=services.SERVICE,
    presets=Preset, run_view=run_view, lab_context=lab_context, given_from_form=given_from_form,
    actions=("step", "run", "recover", "faults", *OPERATOR_ACTIONS, "reset"),
)
start_preset = require_POST(PAGES.start_preset)
run_page = require_GET(PAGES.run_page)
act = require_POST(PAGES.act)
run_context = PAGES.run_context
saga_home = PAGES.home
lab_page = require_GET(PAGES.lab_page)
