"""The saga lab over JSON: start a run, step it, run it, inject faults, recover, fork (labs.runapi, as every run
lab), and act on dead letters (the saga's own).

Bodies follow the one body policy (labs.api.ObjectBody); values are checked by the saga lab's own validation
(runs.py), so every mistake gets one plain-words `detail`."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Field, Schema

from eventlab.labs.api import Detail, NoFields, ObjectBody, lab_from_request
from eventlab.labs.runapi import run_router

from . import services


class SagaStart(ObjectBody):
    mode: Any = Field("orchestration", description="orchestration | choreography", examples=["orchestration"])
    seed: Any = Field(1, description="The run is reproducible from (mode, seed, order, faults, the steps taken).")
    order: Any = Field(None, examples=[{"customer": "Ada", "items": [{"sku": "book", "qty": 1, "price": "12.50"}]}])
    faults: Any = Field([], examples=[[{"kind": "payment_declined"}]])


class SagaStepIn(ObjectBody):
    deliver: Any = Field(None, description="The id of the in-flight message to deliver next (default: the earliest).")
    predict: Any = Field(None, description="Your prediction of what this step will show (see the page's prompt).")


class SagaRunOut(Schema):
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


router = run_router(
    key="sagas", name="Saga", tag="sagas", service=services.SERVICE,
    start_in=SagaStart, run_out=SagaRunOut, step_in=SagaStepIn, step_status="state", recover_in=NoFields,
    faults_example=[{"kind": "drop", "message": "PaymentReserved", "nth": 1}], listed=("mode",),
    summaries={
        "start": "Start a saga run",
        "runs": "The saga runs in this lab, newest first",
        "run_state": "A saga run now, or as it was after step k (?at_step=k)",
        "step": "Deliver the next message (or the one picked with `deliver`), or fire the next timer",
        "run": "Step until nothing is left in flight (completed, compensated, dead-lettered, or waiting for a "
               "crashed orchestrator's recovery)",
        "recover": "Restart a crashed orchestrator now: it replays its saga log and carries on",
    },
)

ANSWERS = {200: SagaRunOut, 404: Detail, 422: Detail}


def _dead_letter(request: HttpRequest, lab_id: str, run_id: str, action: str, dead_letter: str) -> dict[str, Any]:
    lab = lab_from_request(request, lab_id, write=True)
    return services.act(lab, run_id, {"input": action, "dead_letter": dead_letter[:40]}).as_dict()


@router.post("/{lab_id}/sagas/{run_id}/dead-letters/{dead_letter}/retry", response=ANSWERS,
             summary="Send the dead-lettered message again")
def retry(request: HttpRequest, lab_id: str, run_id: str, dead_letter: str, payload: NoFields | None = None):
    return _dead_letter(request, lab_id, run_id, "retry", dead_letter)


@router.post("/{lab_id}/sagas/{run_id}/dead-letters/{dead_letter}/compensate", response=ANSWERS,
             summary="Undo what the stuck saga did (refused with a 422 once the pivot, ShipItems, has happened)")
def compensate(request: HttpRequest, lab_id: str, run_id: str, dead_letter: str, payload: NoFields | None = None):
    return _dead_letter(request, lab_id, run_id, "compensate", dead_letter)


@router.post("/{lab_id}/sagas/{run_id}/dead-letters/{dead_letter}/refund-anyway", response=ANSWERS,
             summary="A business decision: refund and cancel an order stuck at or after the pivot (ShipItems)")
def refund_anyway(request: HttpRequest, lab_id: str, run_id: str, dead_letter: str, payload: NoFields | None = None):
    return _dead_letter(request, lab_id, run_id, "refund_anyway", dead_letter)
