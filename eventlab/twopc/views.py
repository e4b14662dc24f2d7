"""The two-phase commit lab's pages. Thin: read the form, call the service, render. htmx requests get the run panel,
plain requests the whole page (or a redirect), so everything works without JavaScript (just not live)."""

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
from eventlab.sim.runlog import Invalid, UnknownRun

from . import pictures, services
from .domain import CRASH_POINTS, FAULT_KINDS, PARTICIPANTS, PROTOCOL_MESSAGES
from .models import Preset
from .runs import LOG, TwoPCRun

FORM_ITEMS = 3  # item rows on the start form
RESTART_MS = 1_000  # "restarts by itself after" when the form leaves it blank
FORM_CHOICES = {"participants": PARTICIPANTS, "messages": PROTOCOL_MESSAGES, "fault_kinds": FAULT_KINDS,
                "participant_points": CRASH_POINTS["participant"], "coordinator_points": CRASH_POINTS["coordinator"]}


def twopc_home(request: HttpRequest) -> HttpResponse:
    return redirect("twopc-lab", lab_id=working_lab(request).id)


@require_GET
def lab_page(request: HttpRequest, lab_id: str) -> HttpResponse:
    lab = lab_for(request, lab_id)
    return render(request, "twopc/lab.html", lab_context(request, lab))


def lab_context(request: HttpRequest, lab: Lab, **extra: Any) -> dict[str, Any]:
    return {
        "nav": "twopc",
        **lab_bar_context(request, lab, "twopc"),
        "presets": Preset.objects.all(),
        "runs": [e.data for e in LOG.runs(store, lab.id)],
        "item_rows": range(1, FORM_ITEMS + 1),
        **FORM_CHOICES,
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
    chosen = post.getlist("fault")
    return {"seed": _whole(post.get("seed"), 1), "participants": post.getlist("participant"),
            "order": {"customer": post.get("customer", ""), "items": items},
            "faults": [fault_from_form(post, kind) for kind in FAULT_KINDS if kind in chosen]}


def fault_from_form(post, kind: str) -> dict[str, Any]:
    """One fault from its row of form fields (`<kind>-<field>`), only the fields its kind takes."""
    field = lambda name: post.get(f"{kind}-{name}")  # noqa: E731
    fault: dict[str, Any] = {"kind": kind}
    if kind in ("vote_no", "participant_crash"):
        fault["participant"] = field("participant")
    if kind in ("participant_crash", "coordinator_crash"):
        fault["at"] = field("at")
        fault["restart_after_ms"] = _whole(field("restart_ms"), RESTART_MS) if field("restarts") else None
    if kind in ("drop", "delay"):
        fault["message"] = field("message")
        fault["nth"] = _whole(field("nth"), 1)
    if kind == "delay":
        fault["ms"] = _whole(field("ms"), 5_000)
    return fault


@require_POST
def start(request: HttpRequest, lab_id: str) -> HttpResponse:
    lab = lab_for(request, lab_id)
    try:
        run = services.start(lab, start_from_form(request.POST))
    except Invalid as invalid:
        context = lab_context(request, lab, error=str(invalid), form=request.POST,
                              chosen=request.POST.getlist("fault"), picked=request.POST.getlist("participant"))
        return render(request, "twopc/lab.html", context, status=422)
    return redirect("twopc-run", lab_id=lab.id, run_id=run.id)


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
        return render(request, "twopc/lab.html", context, status=422)
    return redirect(reverse("twopc-run", args=[lab.id, run.id]) + f"?preset={preset.slug}")


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
    return {"lab": lab, "run": run, "head_steps": head.steps, "pinned": pinned is not None,
            "version": head.version, "view": run_view(run), **extra}


def announcement(run: TwoPCRun) -> str:
    """One sentence for screen readers after each change: what the last step did, and where the transaction is."""
    steps = run.step_list()
    last = f"Step {run.steps}: {steps[-1]['message']} from {steps[-1]['from']} to {steps[-1]['to']}, " \
           f"{steps[-1]['type']}. " if steps else ""
    return f"{last}The transaction is {pictures.OUTCOME_LABELS[run.outcome].lower()}."


def run_view(run: TwoPCRun) -> dict[str, Any]:
    """Everything the run panel draws."""
    return {
        "announce": announcement(run), "done": run.done, "idle": None if run.sim.pending() else run.idle_reason(),
        "pending": run.pending(), "crashed": sorted(run.sim.crashed), "steps": run.step_list(),
        "sequence": pictures.sequence(run), "protocol": pictures.protocol(run),
        **FORM_CHOICES, "run_participants": run.participants,
    }


@require_GET
def run_page(request: HttpRequest, lab_id: str, run_id: str) -> HttpResponse:
    lab = lab_for(request, lab_id)
    try:
        context = run_context(lab, run_id, request.GET.get("at"))
    except UnknownRun as unknown:
        raise Http404(str(unknown)) from None
    if request.htmx and request.htmx.target == "run":
        return render_run(request, context)
    preset = Preset.objects.filter(pk=request.GET.get("preset", "")[:64]).first()
    return render(request, "twopc/run.html", {**lab_bar_context(request, lab, "twopc"), "nav": "twopc",
                                              "preset": preset, **context})


def render_run(request: HttpRequest, context: dict[str, Any], status: int = 200) -> HttpResponse:
    """The run panel, and (out of band) the sentence the page's live region announces."""
    html = render_to_string("twopc/run.html#run", context, request) + render_to_string(
        "twopc/run.html#announce", context, request)
    return HttpResponse(html, status=status)


ACTIONS = ("step", "run", "recover", "faults", "reset")


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
    except UnknownRun as unknown:
        raise Http404(str(unknown)) from None
    except Invalid as invalid:
        context = run_context(lab, run_id, post.get("at"), error=str(invalid))
        if request.htmx:
            return render_run(request, context, status=422)
        return render(request, "twopc/run.html", {**lab_bar_context(request, lab, "twopc"), "nav": "twopc",
                                                  **context}, status=422)
    url = reverse("twopc-run", args=[lab.id, run.id])
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
        return given
    if action == "faults":
        kind = post.get("kind", "")
        return {"input": "faults", "faults": [fault_from_form(post, kind) if kind in FAULT_KINDS else {"kind": kind}]}
    if action == "recover":
        node = post.get("node", "")
        return {"input": "recover", "node": node[:40]} if node else {"input": "recover"}
    return {"input": action}
