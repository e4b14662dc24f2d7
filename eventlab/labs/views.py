"""Start a new lab, or join one through its link."""

import secrets

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from .access import add_to_session, lab_for
from .models import Lab, Scenario, hash_token
from .services import create_lab, start_scenario


@require_POST
def new_lab(request: HttpRequest) -> HttpResponse:
    """A fresh lab (empty, or started from a scenario) becomes the session's working lab. The old one is kept."""
    scenario = Scenario.objects.filter(pk=request.POST.get("scenario", "")[:64]).first()
    lab, _token = start_scenario(scenario) if scenario else create_lab()
    add_to_session(request.session, lab)
    return redirect("bank-lab", lab_id=lab.id)


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
