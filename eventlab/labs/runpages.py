"""The pages every simulation lab (sagas, 2PC, resilience) shares, written once: start a preset; a run's page,
following its latest step or pinned to an earlier one (`?at=k`); the buttons (acting on a run viewed back in time
forks a what-if run first); the run panel htmx swaps in; and what the lab's websocket pushes when a run moves.

htmx requests get the run panel (and the sentence the live region announces), plain requests the whole page or a
redirect, so every page works without JavaScript (just not live). Each lab says which templates, services, preset
model and form reader are its own.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.dispatch import Signal
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse

from eventlab.sim.protocol import SimulationRun
from eventlab.sim.runlog import Invalid, UnknownRun

from .access import lab_for
from .models import Lab
from .runs import RunService
from .services import store
from .views import lab_bar_context, working_lab

FORK_KEYS = ("forked_from", "fork_step")
# Sent when a learner's action brings a run to its end (request, page, run, outcome): the course records it as
# progress (eventlab.learn) without the labs knowing about the course.
run_finished = Signal()


@dataclass(frozen=True)
class RunPages:
    page: str  # the lab bar's and the nav's key, e.g. "sagas"
    templates: str  # the folder of lab.html and run.html (with partials run, run-news, announce)
    lab_url: str  # the URL names of the lab's page and of a run's page
    run_url: str
    services: RunService  # start, act, load
    presets: Any  # the lab's Preset model
    run_view: Callable[[Any, Any], dict[str, Any]]  # (run, the page's query) -> everything the run panel draws
    lab_context: Callable[..., dict[str, Any]]  # (request, lab, **extra) for lab.html
    given_from_form: Callable[[str, Any], dict[str, Any]]  # (action, POST) -> the run's input
    actions: tuple[str, ...]  # the buttons a run page posts ("reset" included)
    choices: dict[str, Any] = field(default_factory=dict)  # what the run page's forms offer

    # --- a run in a view ----------------------------------------------------------------------------------------

    @staticmethod
    def pinned_step(raw: str | None, head: int) -> int | None:
        """The step a view is pinned to (None: it follows the latest step)."""
        if raw is None or not raw.strip().isdecimal() or len(raw) > 6:
            return None
        at = int(raw)
        return at if at < head else None

    def run_context(self, lab: Lab, run_id: str, at: str | None, query: Any = None, head: SimulationRun | None = None,
                    **extra: Any) -> dict[str, Any]:
        """A run at its head, or at step `at`; `query` is the page's GET parameters (e.g. which request's trace).
        `head`: the run at its head if the caller has just loaded or acted on it (not loaded again)."""
        if head is None:
            head = self.services.load(lab, run_id)
        pinned = self.pinned_step(at, head.steps)
        run = head if pinned is None else self.services.load(lab, run_id, at_step=pinned)
        if head.stale and not extra.get("error"):
            extra["error"] = head.stale
        return {"lab": lab, "run": run, "head_steps": head.steps, "pinned": pinned is not None,
                "version": head.version, "view": self.run_view(run, query or {}), **self.choices, **extra}

    def render_run(self, request: HttpRequest, context: dict[str, Any], status: int = 200) -> HttpResponse:
        """The run panel, and (out of band) the sentence the page's live region announces."""
        html = render_to_string(f"{self.templates}/run.html#run", context, request) + render_to_string(
            f"{self.templates}/run.html#announce", context, request)
        return HttpResponse(html, status=status)

    def render_page(self, request: HttpRequest, lab: Lab, context: dict[str, Any], status: int = 200,
                    **extra: Any) -> HttpResponse:
        return render(request, f"{self.templates}/run.html",
                      {**lab_bar_context(request, lab, self.page), "nav": self.page, **extra, **context},
                      status=status)

    def lab_base(self, request: HttpRequest, lab: Lab) -> dict[str, Any]:
        """What every simulation lab page shows: the nav, the lab bar, the presets."""
        return {"nav": self.page, **lab_bar_context(request, lab, self.page),
                "presets": self.presets.objects.all()}

    # --- views --------------------------------------------------------------------------------------------------

    def home(self, request: HttpRequest) -> HttpResponse:
        """The lab in the session's working lab (made the first time a lab page is opened)."""
        return redirect(self.lab_url, lab_id=working_lab(request).id)

    def lab_page(self, request: HttpRequest, lab_id: str) -> HttpResponse:
        return render(request, f"{self.templates}/lab.html", self.lab_context(request, lab_for(request, lab_id)))

    def start_preset(self, request: HttpRequest, lab_id: str) -> HttpResponse:
        return self.open_preset(request, lab_for(request, lab_id), request.POST.get("preset", "")[:64])

    def open_preset(self, request: HttpRequest, lab: Lab, slug: str) -> HttpResponse:
        """Start preset `slug` in `lab` and go to the run (or the lab page with a 422 if the preset cannot start)."""
        preset = self.presets.objects.filter(pk=slug).first()
        if preset is None:
            raise Http404("No such preset.")
        try:  # presets are edited in the admin: one may not be a start a run can take
            run = self.services.start(lab, preset.start)
        except Invalid as invalid:
            context = self.lab_context(request, lab, error=f"The preset {preset.title!r} cannot start: {invalid}")
            return render(request, f"{self.templates}/lab.html", context, status=422)
        return redirect(reverse(self.run_url, args=[lab.id, run.id]) + f"?preset={preset.slug}")

    def run_page(self, request: HttpRequest, lab_id: str, run_id: str) -> HttpResponse:
        lab = lab_for(request, lab_id)
        try:
            context = self.run_context(lab, run_id, request.GET.get("at"), request.GET)
        except UnknownRun as unknown:
            raise Http404(str(unknown)) from None
        if request.htmx and request.htmx.target == "run":
            return self.render_run(request, context)
        preset = self.presets.objects.filter(pk=request.GET.get("preset", "")[:64]).first()
        return self.render_page(request, lab, context, preset=preset)

    def act(self, request: HttpRequest, lab_id: str, run_id: str) -> HttpResponse:
        """One button on the run page. Acting on a run viewed back in time forks it first: a what-if branch."""
        lab = lab_for(request, lab_id)
        post = request.POST
        action = post.get("action", "")
        try:
            run = self.services.load(lab, run_id)
            if action not in self.actions:
                raise Invalid(f"Unknown action {action[:40]!r}.")
            was_done = run.done
            if action == "reset":
                run = self.services.start(lab, restart(run.started))
            else:
                run = self.services.act(lab, run_id, self.given_from_form(action, post),
                                        fork_at=self.pinned_step(post.get("at"), run.steps))
                if run.done and not was_done:
                    outcome = getattr(run, "state", None) or getattr(run, "outcome", "finished")
                    run_finished.send(RunPages, request=request, page=self.page, run=run, outcome=outcome)
        except UnknownRun as unknown:
            raise Http404(str(unknown)) from None
        except Invalid as invalid:
            context = self.run_context(lab, run_id, post.get("at"), error=str(invalid))
            if request.htmx:
                return self.render_run(request, context, status=422)
            return self.render_page(request, lab, context, status=422)
        url = reverse(self.run_url, args=[lab.id, run.id])
        if request.htmx:
            response = self.render_run(request, self.run_context(lab, run.id, None, head=run))
            if run.id != run_id:
                response["HX-Push-Url"] = url
            return response
        return redirect(url)

    # --- live ---------------------------------------------------------------------------------------------------

    def render_update(self, lab_id: str, after: int, view: dict[str, Any], known: set[str]
                      ) -> tuple[list[str], int, set[str]]:
        """What the websocket sends a tab showing run `view["run"]` at stream version `after`: the lab's head, and
        the whole run panel (out of band) if the run moved — or, for a tab looking back at an earlier step, only how
        many steps are new, so another tab's stepping never moves its cursor. Returns the messages, the version now
        shown, and `known` unchanged (the bank page's read-model bookkeeping)."""
        messages = [render_to_string("labs/_bar.html#lab-head", {"head": store.head(lab_id), "oob": True})]
        run_id = view["run"]
        version = store.stream_version(lab_id, self.services.log.stream_name(run_id)) if run_id else 0
        if version <= after:
            return messages, after, known
        context = self.run_context(Lab.objects.get(pk=lab_id), run_id, None)
        if view["pinned"]:
            news = {**context, "new_steps": context["run"].steps - view["at"], "news_oob": True}
            messages.append(render_to_string(f"{self.templates}/run.html#run-news", news))
            return messages, version, known
        messages.append(render_to_string(f"{self.templates}/run.html#run", {**context, "oob": True})
                        + render_to_string(f"{self.templates}/run.html#announce", context))
        return messages, version, known


def restart(started: dict[str, Any]) -> dict[str, Any]:
    """What Reset starts: the same start as the run's (a fork's origin forgotten, the order as it was typed)."""
    again = {k: v for k, v in started.items() if k not in FORK_KEYS}
    if "order" in again:
        again["order"] = {k: again["order"][k] for k in ("customer", "items")}
    return again


def last_prediction(run: Any, outcomes: dict[str, str]) -> dict[str, Any] | None:
    """The learner's prediction for the step the run is at, with both outcomes in words (None if there was none)."""
    last = run.predictions[-1] if run.predictions and run.predictions[-1]["step"] == run.steps else None
    return last and {**last, "predicted_text": outcomes[last["predicted"]], "happened_text": outcomes[last["happened"]]}


def form_whole(text: str | None, default: int | str | None = None) -> int | str | None:
    """A form field's whole number, signed (kept as text when it is not one, so the lab's validation names it), or
    `default` if blank."""
    text = (text or "").strip()
    if not text:
        return default
    return int(text) if re.fullmatch(r"-?[0-9]{1,9}", text) else text


def order_from_form(post: Any, rows: int) -> dict[str, Any]:
    """The order typed on a start form: the customer, and each item row that has anything in it."""
    items = []
    for n in range(1, rows + 1):
        sku, qty, price = (post.get(f"item-{n}-{k}", "").strip() for k in ("sku", "qty", "price"))
        if sku or qty or price:
            items.append({"sku": sku, "qty": form_whole(qty, ""), "price": price})
    return {"customer": post.get("customer", ""), "items": items}
