"""Start a new lab, or join one through its link."""

import secrets
from typing import Any

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from . import registry
from .access import SESSION_CURRENT, add_to_session, current_lab, lab_for, session_labs
from .models import Lab, Scenario, hash_token
from .services import create_lab, start_scenario, store

DEMO_SCENARIO = "demo-bank"


def lab_page_url(key: str | None) -> str:
    """The URL name of a lab's page in one lab (the lab registry's `lab_url`); the first lab's for an unknown key."""
    plugin = registry.find(key or "")
    if plugin is not None and plugin.lab_url:
        return plugin.lab_url
    return next(p.lab_url for p in registry.plugins() if p.lab_url)


def working_lab(request: HttpRequest) -> Lab:
    """The session's working lab (created the first time a lab page is opened), or the one picked (`?lab=`)."""
    picked = request.GET.get("lab")
    if picked is not None:
        return lab_for(request, picked)  # 404 unless this session has it
    lab = current_lab(request.session)
    if lab is None:
        # A session's first lab starts from the demo scenario when it is loaded, else empty.
        demo = Scenario.objects.filter(pk=DEMO_SCENARIO).first()
        lab, _token = start_scenario(demo) if demo else create_lab()
        add_to_session(request.session, lab)
    return lab


def lab_bar_context(request: HttpRequest, lab: Lab, page: str) -> dict[str, Any]:
    """What the lab bar (templates/labs/_bar.html) shows on every lab page."""
    if lab.kind == Lab.Kind.WORKING:  # a personal (progress) lab shown here never becomes the working lab
        request.session[SESSION_CURRENT] = lab.id
    return {
        "lab": lab,
        "lab_page": page,
        "switch_url": registry.get(page).nav_url,
        "labs": Lab.objects.filter(pk__in=session_labs(request.session), kind=Lab.Kind.WORKING),
        "join_url": request.build_absolute_uri(lab.join_url),
        "head": store.head(lab.id),
        "scenarios": Scenario.objects.all(),
    }


@require_POST
def new_lab(request: HttpRequest) -> HttpResponse:
    """A fresh lab (empty, or started from a scenario) becomes the session's working lab. The old one is kept."""
    scenario = Scenario.objects.filter(pk=request.POST.get("scenario", "")[:64]).first()
    lab, _token = start_scenario(scenario) if scenario else create_lab()
    add_to_session(request.session, lab)
    return redirect(lab_page_url(request.POST.get("page")), lab_id=lab.id)


@require_POST
def new_token(request: HttpRequest, lab_id: str) -> HttpResponse:
    """A fresh API token for a lab this session uses (the previous token stops working): for curl and the API."""
    lab = lab_for(request, lab_id)
    token = secrets.token_urlsafe(24)
    lab.token_hash = hash_token(token)
    lab.save(update_fields=["token_hash"])
    base = request.build_absolute_uri("/").rstrip("/")
    return render(request, "labs/_token.html", {"lab": lab, "token": token, "base": base})


@require_GET
def join(request: HttpRequest, code: str) -> HttpResponse:
    """Opening a lab's join link adds the lab to this browser's session, read and write."""
    lab = Lab.objects.filter(join_code=code[:32]).first()
    if lab is None:
        raise Http404("No lab has that join link.")
    add_to_session(request.session, lab)
    return redirect("bank-lab", lab_id=lab.id)
