"""Scenarios over JSON: export one (the format loaddata reads), import a file. Instructors only (anyone else: 404):
a logged-in instructor session (with CSRF for the import) or, once the classroom app adds them, an instructor token
(access.instructor_from_token)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from ninja import Router, Schema, Status
from ninja.errors import HttpError
from ninja.utils import check_csrf

from . import services
from .access import instructor
from .fileformat import FormatError
from .models import Scenario

router = Router(tags=["scenarios"])


class Imported(Schema):
    id: int
    ids: list[int]


@router.get("/{scenario_id}/export", url_name="scenario_export", summary="A scenario as versioned JSON, in the format manage.py loaddata reads")
def export(request: HttpRequest, scenario_id: int):
    instructor(request)
    scenario = get_object_or_404(Scenario, pk=scenario_id)
    response = HttpResponse(services.export(scenario), content_type="application/json")
    response["Content-Disposition"] = f'attachment; filename="scenario-{scenario.pk}.json"'
    return response


@router.post("/import", response={201: Imported}, url_name="scenario_import",
             summary="Import a scenario file (the export's JSON, as the body): 422 and nothing imported if it is bad")
def import_scenarios(request: HttpRequest):
    _user, by_token = instructor(request)
    if not by_token and check_csrf(request) is not None:
        raise HttpError(403, "CSRF check failed: send the X-CSRFToken header, or use an instructor token.")
    try:
        made = services.import_file(request.body)
    except FormatError as error:
        raise HttpError(422, str(error)) from None
    return Status(201, {"id": made[0].pk, "ids": [s.pk for s in made]})
