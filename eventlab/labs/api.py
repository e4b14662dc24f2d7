"""Labs over JSON: create one, read its log, a stream, the export, the join code, and its read models."""

from __future__ import annotations

import json
from typing import Any, Literal

from asgiref.sync import sync_to_async
from django.http import HttpRequest, StreamingHttpResponse
from ninja import Field, Router, Schema, Status
from ninja.errors import HttpError
from ninja.parser import Parser
from ninja.utils import check_csrf
from pydantic import ConfigDict

from eventlab.eventstore.core import StoreError

from . import readmodels
from .access import bearer_token, lab_for
from .models import Lab
from .services import create_lab, store

router = Router(tags=["labs"])

MAX_PAGE = 1000


def lab_from_request(request: HttpRequest, lab_id: str, write: bool = False) -> Lab:
    """The lab this request may use (else 404). Session writes must pass the CSRF check; token writes need none."""
    lab = lab_for(request, lab_id)
    if write and bearer_token(request) is None and check_csrf(request) is not None:
        raise HttpError(403, "CSRF check failed: send the X-CSRFToken header, or use the lab's API token.")
    return lab


class NotAnObject(ValueError):
    """A body that is valid JSON but not an object."""


class ObjectParser(Parser):
    """The API's JSON parser: a body, when there is one, is a JSON object. A list, a string, a number or null is
    refused before any endpoint sees it (django-ninja would otherwise read a list or a string as an object with no
    fields, and null as no body at all). eventlab/api.py answers it with a 422 naming what came instead."""

    def parse_body(self, request: HttpRequest) -> dict[str, Any]:
        data = json.loads(request.body)
        if not isinstance(data, dict):
            raise NotAnObject(f"the body must be a JSON object, not {_json_kind(data)}.")
        return data


def _json_kind(data: Any) -> str:
    if data is None:
        return "null"
    if isinstance(data, bool):
        return "true or false"
    if isinstance(data, list):
        return "a list"
    return "a string" if isinstance(data, str) else "a number"


class ObjectBody(Schema):
    """Every POST body of the API, one policy (API.md, "Conventions": "422 for invalid input, malformed JSON, or a
    command the domain rejects (nothing is appended)"): a body is a JSON object (ObjectParser) with only the fields
    its endpoint lists. A misspelt or unknown field is a 422 naming it ("unknown field 'foo'"), never silently
    ignored; malformed JSON is a 422 too. An endpoint whose fields are all optional also takes an empty body (no
    bytes at all), the same as `{}`. The values themselves are checked by the lab, after the lab is found, so a bad
    value sent to a lab one cannot reach is a 404 like any other request to it."""

    model_config = ConfigDict(extra="forbid")


class NoFields(ObjectBody):
    """The body of an action that takes nothing: empty, or `{}`."""


class LabCreated(Schema):
    id: str
    token: str = Field(description="Send as `Authorization: Bearer <token>` on every call about this lab.")


class EventsPage(Schema):
    events: list[dict]
    head: int


class StreamOut(Schema):
    stream: str
    version: int
    events: list[dict]


class JoinCode(Schema):
    code: str
    url: str


class ReadModelOut(Schema):
    name: str
    title: str
    description: str
    enabled: bool
    checkpoint: int
    lag: int
    mode: str | None
    paused: bool
    delay_ms: int


class ReadModelsOut(Schema):
    head: int
    read_models: list[ReadModelOut]


class ReadModelAction(ObjectBody):
    action: Literal["enable", "pause", "resume", "rebuild", "configure"]
    mode: Literal["inline", "async"] | None = None
    delay_ms: int | None = Field(None, ge=0, le=readmodels.MAX_DELAY_MS)


class Detail(Schema):
    detail: str


@router.post("", response={201: LabCreated}, summary="Create a lab (an empty event log)")
def create(request: HttpRequest):
    lab, token = create_lab()
    return Status(201, {"id": lab.id, "token": token})


@router.get("/{lab_id}/events", response={200: EventsPage, 422: Detail}, summary="The lab's whole log, in position order")
def events(
    request: HttpRequest,
    lab_id: str,
    after: int = 0,
    limit: int = 100,
    stream: str | None = None,
    type: str | None = None,
):
    lab = lab_from_request(request, lab_id)
    if not 0 <= after < 2**62 or not 1 <= limit <= MAX_PAGE:
        raise HttpError(422, f"'after' is 0 or more and 'limit' is 1 to {MAX_PAGE}.")
    page = store.read_log(lab.id, after=after, limit=limit, stream=stream, event_type=type)
    return {"events": [e.as_dict() for e in page], "head": store.head(lab.id)}


@router.get("/{lab_id}/streams/{stream}", response=StreamOut, summary="One stream's events")
def stream(request: HttpRequest, lab_id: str, stream: str):
    lab = lab_from_request(request, lab_id)
    events = store.read_stream(lab.id, stream)
    return {"stream": stream, "version": len(events), "events": [e.as_dict() for e in events]}


@router.get("/{lab_id}/export", summary="The log as NDJSON, one event a line, exactly as stored")
def export(request: HttpRequest, lab_id: str):
    lab = lab_from_request(request, lab_id)

    async def lines():  # async, so the server streams it batch by batch instead of buffering the whole log
        after = 0
        while batch := await sync_to_async(store.read_log)(lab.id, after=after, limit=MAX_PAGE):
            for event in batch:
                yield json.dumps(event.as_stored_dict()) + "\n"
            after = batch[-1].position

    response = StreamingHttpResponse(lines(), content_type="application/x-ndjson")
    response["Content-Disposition"] = f'attachment; filename="lab-{lab.id}.ndjson"'
    return response


@router.get("/{lab_id}/join-code", response=JoinCode, summary="The link that adds this lab to a browser session")
def join_code(request: HttpRequest, lab_id: str):
    lab = lab_from_request(request, lab_id)
    return {"code": lab.join_code, "url": lab.join_url}


@router.get("/{lab_id}/readmodels", response=ReadModelsOut, summary="Read models: checkpoint, lag, mode")
def read_models(request: HttpRequest, lab_id: str):
    lab = lab_from_request(request, lab_id)
    return readmodels.status(lab)


@router.post(
    "/{lab_id}/readmodels/{name}",
    response={200: ReadModelsOut, 404: Detail, 422: Detail},
    summary="Enable, pause, resume, rebuild or configure (mode, delay) a read model",
)
def read_model_action(request: HttpRequest, lab_id: str, name: str, payload: ReadModelAction):
    lab = lab_from_request(request, lab_id, write=True)
    try:
        readmodels.act(lab, name, payload.action, mode=payload.mode, delay_ms=payload.delay_ms)
    except readmodels.UnknownReadModel as exc:
        return Status(404, {"detail": str(exc)})
    except StoreError as exc:
        return Status(422, {"detail": str(exc)})
    return readmodels.status(lab)

