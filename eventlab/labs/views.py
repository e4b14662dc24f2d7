"""Start a new lab, or join one through its link."""

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_GET, require_POST

from .access import add_to_session
from .models import Lab, Scenario
from .services import create_lab, start_scenario


@require_POST
def new_lab(request: HttpRequest) -> HttpResponse:
    """A fresh lab (empty, or started from a scenario) becomes the session's working lab. The old one is kept."""
    scenario = Scenario.objects.filter(pk=request.POST.get("scenario", "")[:64]).first()
    lab, _token = start_scenario(scenario) if scenario else create_lab()
    add_to_session(request.session, lab)
    return redirect("bank-lab", lab_id=lab.id)


@require_GET
def join(request: HttpRequest, code: str) -> HttpResponse:
    """Opening a lab's join link adds the lab to this browser's session, read and write."""
    lab = Lab.objects.filter(join_code=code[:32]).first()
    if lab is None:
        raise Http404("No lab has that join link.")
    add_to_session(request.session, lab)
    return redirect("bank-lab", lab_id=lab.id)
