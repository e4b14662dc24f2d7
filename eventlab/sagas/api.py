"""The saga lab over JSON: start a run, step it, run it, inject faults, recover, fork, act on dead letters.

Bodies are checked by the saga lab's own validation (runs.py), so every mistake gets one plain-words `detail`."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Field, Router, Schema, Status

from eventlab.labs.api import Detail, lab_from_request
from eventlab.labs.services import store

from . import handlers, services
from .runs import Invalid

router = Router(tags=["sagas"])


class SagaStart(Schema):
    mode: Any = Field("orchestration", description="orchestration | choreography", examples=["orchestration"])
    seed: Any = Field(1, description="The run is reproducible from (mode, seed, order, faults, the steps taken).")
    order: Any = Field(None, examples=[{"customer": "Ada", "items": [{"sku": "book", "qty": 1, "price": "12.50"}]}])
    faults: Any = Field([], examples=[[{"kind": "payment_declined"}]])


class StepIn(Schema):
    deliver: Any = Field(None, description="The id of the in-flight message to deliver next (default: the earliest).")
    predict: Any = Field(None, description="Your prediction of what this step will show (see the page's prompt).")


class FaultsIn(Schema):
    faults: Any = Field(..., examples=[[{"kind": "drop", "message": "PaymentReserved", "nth": 1}]])


class ForkIn(Schema):
    at_step: Any = Field(..., description="The step the what-if run starts from (0 to the run's steps).")


class RunOut(Schema):
    id: str
    mode: str
    state: str
    done: bool
    step: int
    steps: list[dict]
    services: dict
    dead_letters: list[dict]
    trace_id: str
    pending_compensations: list[str]
    pending: list[dict]
    crashed: list[str]
    clock_ms: int
    seed: int
    order: dict
    faults: list[dict]
    forked_from: str | None
    fork_step: int | None


class StepOut(Schema):
    state: str
    step: int
    done: bool
    delivered: dict | None
    prediction: dict | None


def _run(request: HttpRequest, lab_id: str, run_id: str, given: dict[str, Any]):
    lab = lab_from_request(request, lab_id, write=True)
    return services.act(lab, run_id, given).as_dict()


@router.post("/{lab_id}/sagas", response={201: RunOut, 422: Detail}, summary="Start a saga run")
def start(request: HttpRequest, lab_id: str, payload: SagaStart):
    lab = lab_from_request(request, lab_id, write=True)
    return Status(201, services.start(lab, payload.dict()).as_dict())


@router.get("/{lab_id}/sagas", summary="The saga runs in this lab, newest first")
def runs(request: HttpRequest, lab_id: str):
    lab = lab_from_request(request, lab_id)
    return {"runs": [{"id": e.data["run_id"], "mode": e.data["mode"], "seed": e.data["seed"],
                      "forked_from": e.data.get("forked_from"), "started_at": e.as_dict()["metadata"]["recorded_at"]}
                     for e in handlers.runs(store, lab.id)]}


@router.get("/{lab_id}/sagas/{run_id}", response={200: RunOut, 404: Detail, 422: Detail},
            summary="A saga run now, or as it was after step k (?at_step=k)")
def run_state(request: HttpRequest, lab_id: str, run_id: str, at_step: str | None = None):
    return services.SERVICE.load_at(lab_from_request(request, lab_id), run_id, at_step).as_dict()


@router.post("/{lab_id}/sagas/{run_id}/step", response={200: StepOut, 404: Detail, 422: Detail},
             summary="Deliver the next message (or the one picked with `deliver`), or fire the next timer")
def step(request: HttpRequest, lab_id: str, run_id: str, payload: StepIn | None = None):
    lab = lab_from_request(request, lab_id, write=True)
    given: dict[str, Any] = {"input": "step"}
    if payload is not None and payload.deliver is not None:
        if not isinstance(payload.deliver, str) or len(payload.deliver) > 40:
            raise Invalid("deliver is the id of a message in flight, such as \"m7\".")
        given["pick"] = payload.deliver
    if payload is not None and payload.predict is not None:
        given["predict"] = payload.predict
    run = services.act(lab, run_id, given)
    delivered = run.step_list()[-1]
    prediction = run.predictions[-1] if given.get("predict") is not None else None
    return {"state": run.state, "step": run.steps, "done": run.done, "delivered": delivered, "prediction": prediction}


@router.post("/{lab_id}/sagas/{run_id}/run", response={200: RunOut, 404: Detail, 422: Detail},
             summary="Step until nothing is left in flight (completed, compensated, dead-lettered, or waiting for "
                     "a crashed orchestrator's recovery)")
def run_to_end(request: HttpRequest, lab_id: str, run_id: str):
    return _run(request, lab_id, run_id, {"input": "run"})


@router.post("/{lab_id}/sagas/{run_id}/faults", response={200: RunOut, 404: Detail, 422: Detail},
             summary="Inject more faults into a run in progress")
def faults(request: HttpRequest, lab_id: str, run_id: str, payload: FaultsIn):
    return _run(request, lab_id, run_id, {"input": "faults", "faults": payload.faults})


@router.post("/{lab_id}/sagas/{run_id}/recover", response={200: RunOut, 404: Detail, 422: Detail},
             summary="Restart a crashed orchestrator now: it replays its saga log and carries on")
def recover(request: HttpRequest, lab_id: str, run_id: str):
    return _run(request, lab_id, run_id, {"input": "recover"})


@router.post("/{lab_id}/sagas/{run_id}/fork", response={201: RunOut, 404: Detail, 422: Detail},
             summary="A what-if run: the same start and inputs up to step `at_step`, as a new run")
def fork(request: HttpRequest, lab_id: str, run_id: str, payload: ForkIn):
    lab = lab_from_request(request, lab_id, write=True)
    return Status(201, services.fork(lab, run_id, payload.at_step).as_dict())


@router.post("/{lab_id}/sagas/{run_id}/dead-letters/{dead_letter}/retry",
             response={200: RunOut, 404: Detail, 422: Detail}, summary="Send the dead-lettered message again")
def retry(request: HttpRequest, lab_id: str, run_id: str, dead_letter: str):
    return _run(request, lab_id, run_id, {"input": "retry", "dead_letter": dead_letter[:40]})


@router.post("/{lab_id}/sagas/{run_id}/dead-letters/{dead_letter}/compensate",
             response={200: RunOut, 404: Detail, 422: Detail},
             summary="Undo what the stuck saga did (refused with a 422 once the pivot, ShipItems, has happened)")
def compensate(request: HttpRequest, lab_id: str, run_id: str, dead_letter: str):
    return _run(request, lab_id, run_id, {"input": "compensate", "dead_letter": dead_letter[:40]})


@router.post("/{lab_id}/sagas/{run_id}/dead-letters/{dead_letter}/refund-anyway",
             response={200: RunOut, 404: Detail, 422: Detail},
             summary="A business decision: refund and cancel an order stuck at or after the pivot (ShipItems)")
def refund_anyway(request: HttpRequest, lab_id: str, run_id: str, dead_letter: str):
    return _run(request, lab_id, run_id, {"input": "refund_anyway", "dead_letter": dead_letter[:40]})
