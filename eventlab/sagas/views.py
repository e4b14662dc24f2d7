"""The saga lab's pages. Thin: read the form, call the service, render. htmx requests get the run panel, plain
requests the whole page (or a redirect), so everything works without JavaScript (just not live)."""

from __future__ import annotations

import re
from typing import Any

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from eventlab.labs.access import lab_for
from eventlab.labs.models import Lab
from eventlab.labs.services import store
from eventlab.labs.views import lab_bar_context, working_lab

from . import handlers, pictures, services
from .domain import FAULT_KINDS, SERVICES
from .models import Preset
from .runs import MESSAGE_TYPES, MODES, OUTCOMES, Invalid, SagaRun, pending_compensations

FORM_ITEMS = 3  # item rows on the start form


def saga_home(request: HttpRequest) -> HttpResponse:
    return redirect("saga-lab", lab_id=working_lab(request).id)


@require_GET
def lab_page(request: HttpRequest, lab_id: str) -> HttpResponse:
    lab = lab_for(request, lab_id)
    return render(request, "sagas/lab.html", lab_context(request, lab))


def lab_context(request: HttpRequest, lab: Lab, **extra: Any) -> dict[str, Any]:
    return {
        "nav": "sagas",
        **lab_bar_context(request, lab, "sagas"),
        "presets": Preset.objects.all(),
        "runs": [e.data for e in handlers.runs(store, lab.id)],
        "modes": MODES, "services": SERVICES, "message_types": MESSAGE_TYPES, "fault_kinds": FAULT_KINDS,
        "item_rows": range(1, FORM_ITEMS + 1),
        **extra,
    }


# --- Starting a run -------------------------------------------------------------------------------------------------


def _whole(text: str | None, default: int | str | None = None) -> int | str | None:
    """A form's whole number, signed (kept as text when it is not one, so validation names it), or `default` if
    blank."""
    text = (text or "").strip()
    if not text:
        return default
    return int(text) if re.fullmatch(r"-?[0-9]{1,9}", text) else text


def start_from_form(post) -> dict[str, Any]:
    items = []
    for n in range(1, FORM_ITEMS + 1):
        sku, qty, price = (post.get(f"item-{n}-{k}", "").strip() for k in ("sku", "qty", "price"))
        if sku or qty or price:
            items.append({"sku": sku, "qty": _whole(qty, ""), "price": price})
    faults: list[dict[str, Any]] = []
    chosen = post.getlist("fault")
    for kind in ("payment_declined", "shipping_failed"):
        if kind in chosen:
            faults.append({"kind": kind})
    if "idempotency_off" in chosen:
        faults.append({"kind": "idempotency_off", "service": post.get("idempotency_service", "payments")})
    faults += [fault_from_form(post, kind, prefix=f"{kind}-") for kind in
               ("service_down", "drop", "duplicate", "delay", "orchestrator_crash") if kind in chosen]
    return {"mode": post.get("mode", "orchestration"), "seed": _whole(post.get("seed"), 1),
            "order": {"customer": post.get("customer", ""), "items": items}, "faults": faults}


def fault_from_form(post, kind: str, prefix: str = "") -> dict[str, Any]:
    """One fault from form fields (only the fields its kind takes)."""
    fault: dict[str, Any] = {"kind": kind}
    field = lambda name: post.get(prefix + name)  # noqa: E731
    if kind in ("service_down", "idempotency_off"):
        fault["service"] = field("service")
    if kind == "service_down":
        fault["steps"] = _whole(field("steps"), 3)
    if kind in ("drop", "duplicate", "delay"):
        fault["message"] = field("message")
        fault["nth"] = _whole(field("nth"), 1)
    if kind == "delay":
        fault["ms"] = _whole(field("ms"), 5_000)
    if kind == "orchestrator_crash":
        fault["after_step"] = _whole(field("after_step"))
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


@require_POST
def start_preset(request: HttpRequest, lab_id: str) -> HttpResponse:
    lab = lab_for(request, lab_id)
    preset = Preset.objects.filter(pk=request.POST.get("preset", "")[:64]).first()
    if preset is None:
        raise Http404("No such preset.")
    try:  # presets are edited in the admin: one may not be a start a run can take
        run = services.start(lab, preset.start)
    except Invalid as invalid:
        context = lab_context(request, lab, error=f"The preset {preset.title!r} cannot start: {invalid}")
        return render(request, "sagas/lab.html", context, status=422)
    return redirect(reverse("saga-run", args=[lab.id, run.id]) + f"?preset={preset.slug}")


# --- A run ----------------------------------------------------------------------------------------------------------


def _at(raw: str | None, head: int) -> int | None:
    """The step this view is pinned to (None: follow the head)."""
    if raw is None or not raw.strip().isdecimal() or len(raw) > 6:
        return None
    at = int(raw)
    return at if at < head else None


def run_context(lab: Lab, run_id: str, at: str | None, **extra: Any) -> dict[str, Any]:
    head = services.load(lab, run_id)
    pinned = _at(at, head.steps)
    run = head if pinned is None else services.load(lab, run_id, at_step=pinned)
    return {
        "lab": lab, "run": run, "head_steps": head.steps, "pinned": pinned is not None,
        "version": head.version,
        "view": run_view(run), **extra,
    }


STATE_LABELS = {"started": "Started", "running": "Running", "compensating": "Compensating",
                "completed": "Completed", "compensated": "Compensated", "dead_lettered": "Dead-lettered"}


def announcement(run: SagaRun) -> str:
    """One sentence for screen readers after each change: what the last step did, and where the saga is."""
    steps = run.step_list()
    last = f"Step {run.steps}: {steps[-1]['message']} from {steps[-1]['from']} to {steps[-1]['to']}, " \
           f"{steps[-1]['type']}. " if steps else ""
    return f"{last}The saga is {STATE_LABELS[run.state].lower()}."


def run_view(run: SagaRun) -> dict[str, Any]:
    """Everything the run panel draws."""
    last = run.predictions[-1] if run.predictions and run.predictions[-1]["step"] == run.steps else None
    return {
        "state": run.state, "state_label": STATE_LABELS[run.state], "announce": announcement(run), "done": run.done,
        "pending": run.pending(), "crashed": sorted(run.sim.crashed),
        "services": run.services(), "dead_letters": run.dead_letters(), "steps": run.step_list(),
        "saga_log": run.saga_log() if run.mode == "orchestration" else None,
        "pending_compensations": pending_compensations(run), "prompt": run.prompt(),
        "prediction": last and {**last, "predicted_text": OUTCOMES[last["predicted"]],
                                "happened_text": OUTCOMES[last["happened"]]},
        "sequence": pictures.sequence(run), "machine": pictures.state_machine(run),
        "trace": pictures.waterfall(run), "idle": None if run.sim.pending() else run.idle_reason(),
        "fault_kinds": FAULT_KINDS, "services_names": SERVICES, "message_types": MESSAGE_TYPES,
    }


@require_GET
def run_page(request: HttpRequest, lab_id: str, run_id: str) -> HttpResponse:
    lab = lab_for(request, lab_id)
    try:
        context = run_context(lab, run_id, request.GET.get("at"))
    except handlers.UnknownRun as unknown:
        raise Http404(str(unknown)) from None
    if request.htmx and request.htmx.target == "run":
        return render_run(request, context)
    preset = Preset.objects.filter(pk=request.GET.get("preset", "")[:64]).first()
    return render(request, "sagas/run.html", {**lab_bar_context(request, lab, "sagas"), "nav": "sagas",
                                              "preset": preset, **context})


def render_run(request: HttpRequest, context: dict[str, Any], status: int = 200) -> HttpResponse:
    """The run panel, and (out of band) the sentence the page's live region announces."""
    html = render_to_string("sagas/run.html#run", context, request) + render_to_string(
        "sagas/run.html#announce", context, request)
    return HttpResponse(html, status=status)


ACTIONS = ("step", "run", "recover", "faults", "retry", "compensate", "reset")


@require_POST
def act(request: HttpRequest, lab_id: str, run_id: str) -> HttpResponse:
    """One button on the run page. Acting on a run viewed back in time forks it first: a what-if branch."""
    lab = lab_for(request, lab_id)
    post = request.POST
    action = post.get("action", "")
    try:
        run = services.load(lab, run_id)
        if action not in ACTIONS:
            raise Invalid(f"Unknown action {action[:40]!r}.")
        if action == "reset":
            started = {k: v for k, v in run.started.items() if k not in ("forked_from", "fork_step")}
            started["order"] = {k: started["order"][k] for k in ("customer", "items")}
            run = services.start(lab, started)
        else:
            run = services.act(lab, run_id, given_from_form(action, post), fork_at=_at(post.get("at"), run.steps))
    except handlers.UnknownRun as unknown:
        raise Http404(str(unknown)) from None
    except Invalid as invalid:
        context = run_context(lab, run_id, post.get("at"), error=str(invalid))
        if request.htmx:
            return render_run(request, context, status=422)
        return render(request, "sagas/run.html", {**lab_bar_context(request, lab, "sagas"), "nav": "sagas",
                                                  **context}, status=422)
    url = reverse("saga-run", args=[lab.id, run.id])
    if request.htmx:
        response = render_run(request, run_context(lab, run.id, None))
        if run.id != run_id:
            response["HX-Push-Url"] = url
        return response
    return redirect(url)


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
    if action in ("retry", "compensate"):
        return {"input": action, "dead_letter": post.get("dead_letter", "")[:40]}
    return {"input": action}
