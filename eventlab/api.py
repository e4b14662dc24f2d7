"""The JSON API (django-ninja): one router per app, errors always `{"detail": "<plain words>"}`.

django-ninja's defaults differ from the contract (400 for malformed JSON, a list in `detail`, 401/403), so the
handlers below map every failure to the contract's status codes. The schema is at /api/openapi.json, docs at /api/docs.
"""

from django.http import Http404, HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.openapi.schema import OpenAPISchema

from eventlab.classroom.api import router as classroom_router
from eventlab.eventstore.core import CommandIdReused, ConcurrencyError
from eventlab.labs import registry
from eventlab.labs.api import NotAnObject, ObjectParser
from eventlab.labs.api import router as labs_router
from eventlab.scenarios.api import router as scenarios_router
from eventlab.sim.runlog import Invalid, UnknownRun


class EventLabAPI(NinjaAPI):
    """NinjaAPI that builds its OpenAPI schema once per process (django-ninja 1.7 rebuilds it on every request to
    /api/openapi.json and the docs page: ~100 ms). The routes are all added at import, before any request, and the
    schema depends only on them and the URL prefix, so it is kept per prefix. The document is shared: read it only."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._schemas: dict[str, OpenAPISchema] = {}

    def get_openapi_schema(self, *, path_prefix: str | None = None, path_params: dict | None = None) -> OpenAPISchema:
        if path_prefix is None:
            path_prefix = self.get_root_path(path_params or {})
        schema = self._schemas.get(path_prefix)
        if schema is None:
            schema = self._schemas[path_prefix] = super().get_openapi_schema(path_prefix=path_prefix)
        return schema


api = EventLabAPI(
    title="EventLab API",
    version="1",
    description=(
        "Everything the EventLab pages let a learner do, as JSON. Create a lab with `POST /api/labs`, then send "
        "`Authorization: Bearer <token>` on every call about that lab. Errors are `{\"detail\": \"...\"}`: 422 for "
        "invalid input or a command the domain rejects (nothing is appended), 409 for a concurrency conflict, 413 for "
        "a body over 64 KiB, 404 for a lab you cannot reach."
    ),
    urls_namespace="api",
    parser=ObjectParser(),
)
api.add_router("/labs", labs_router)
for plugin in registry.plugins():  # every lab's router, from the lab registry (filled in each lab's ready())
    if plugin.api_router is not None:
        api.add_router("/labs", plugin.api_router)
api.add_router("/classes", classroom_router)  # the classroom: a class is a lab, but its API is /api/classes
api.add_router("/scenarios", scenarios_router)


def _field(loc) -> str:
    parts = [str(p) for p in loc if p not in ("body", "payload", "query", "path")]
    return ".".join(parts) or "body"


@api.exception_handler(ValidationError)
def invalid_input(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    """A body that is not what its endpoint lists: an unknown field is named (labs.api.ObjectBody), else each field's
    error."""
    errors, said = [], []
    for error in exc.errors:
        field = _field(error.get("loc", ()))
        unknown = error.get("type") == "extra_forbidden"
        message = f"unknown field {field!r}" if unknown else error.get("msg", "invalid")
        errors.append({"field": field, "message": message})
        said.append(message if unknown else f"{field}: {message}")
    detail = "; ".join(said) or "Invalid input."
    return api.create_response(request, {"detail": f"Invalid input: {detail}", "errors": errors}, status=422)


@api.exception_handler(HttpError)
def http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    if exc.status_code == 400:  # django-ninja could not parse the body: not JSON, or not a JSON object
        cause = exc.__cause__  # labs.api.ObjectParser's NotAnObject, or the JSON decoder's error
        malformed = "Malformed JSON: the body is not a JSON object."
        detail = f"Invalid input: {cause}" if isinstance(cause, NotAnObject) else malformed
        return api.create_response(request, {"detail": detail}, status=422)
    if isinstance(exc, AuthenticationError) or exc.status_code == 401:
        return api.create_response(request, {"detail": "Not found."}, status=404)
    return api.create_response(request, {"detail": str(exc)}, status=exc.status_code)


@api.exception_handler(Http404)
def not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    message = str(exc) if str(exc) and "No such lab" not in str(exc) else "Not found."
    return api.create_response(request, {"detail": message}, status=404)


def rejected(request: HttpRequest, exc: Exception) -> HttpResponse:
    """A lab's domain refused the command: 422, in the domain's words."""
    return api.create_response(request, {"detail": str(exc)}, status=422)


for plugin in registry.plugins():
    for error in plugin.api_errors:
        api.add_exception_handler(error, rejected)


@api.exception_handler(Invalid)
def invalid_run_input(request: HttpRequest, exc: Invalid) -> HttpResponse:
    return api.create_response(request, {"detail": str(exc)}, status=422)


@api.exception_handler(UnknownRun)
def unknown_run(request: HttpRequest, exc: UnknownRun) -> HttpResponse:
    return api.create_response(request, {"detail": str(exc)}, status=404)


@api.exception_handler(CommandIdReused)
def command_id_reused(request: HttpRequest, exc: CommandIdReused) -> HttpResponse:
    return api.create_response(request, {"detail": str(exc)}, status=422)


@api.exception_handler(ConcurrencyError)
def conflict(request: HttpRequest, exc: ConcurrencyError) -> HttpResponse:
    body = {"detail": str(exc), "expected_version": exc.expected, "actual_version": exc.actual}
    return api.create_response(request, body, status=409)
