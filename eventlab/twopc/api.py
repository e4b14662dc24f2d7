"""The two-phase commit lab over JSON: start a transaction, step it, run it, inject faults, recover, fork.

Bodies are checked by the lab's own validation (runs.py), so every mistake gets one plain-words `detail`."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Field, Router, Schema, Status

from eventlab.labs.api import Detail, ObjectBody, lab_from_request
from eventlab.labs.services import store
from eventlab.sim.runlog import Invalid

from . import services
from .runs import LOG

router = Router(tags=["two-phase commit"])


class TwoPCStart(ObjectBody):
    seed: Any = Field(1, description="The run is reproducible from (seed, participants, order, faults, the steps).")
    participants: Any = Field(["orders", "payments", "inventory"])
    order: Any = Field(None, description="Optional; by default Ada orders one book at 12.50.",
                       examples=[{"customer": "Ada", "items": [{"sku": "book", "qty": 1, "price": "12.50"}]}])
    faults: Any = Field([], examples=[[{"kind": "coordinator_crash", "at": "after_decision"}]])
    protocol: Any = Field("presumed_abort", description="presumed_abort (R*'s PA: aborts neither forced nor "
                          "acknowledged) or presumed_nothing (basic 2PC: every decision forced and acknowledged).")
    read_only: Any = Field([], description="Participants with nothing to write: under presumed abort they vote "
                           "read-only and leave after phase 1.", examples=[["orders"]])
    one_phase: Any = Field(False, description="One-phase commit: needs exactly one participant.")
    cooperative: Any = Field(False, description="Cooperative termination: participants in doubt ask each other.")


class StepIn(ObjectBody):
    deliver: Any = Field(None, description="The id of the in-flight message to deliver next (default: the earliest).")
    predict: Any = Field(None, description="Your prediction of what this step will show (the run's `prompt` lists "
                         "the choices when a fault is about to act).")


class FaultsIn(ObjectBody):
    faults: Any = Field(..., examples=[[{"kind": "vote_no", "participant": "payments"}]])


class RecoverIn(ObjectBody):
    node: Any = Field(None, description="The crashed node to restart (default: every crashed node).")


class ForkIn(ObjectBody):
    at_step: Any = Field(..., description="The step the what-if run starts from (0 to the run's steps).")


class RunOut(Schema):
    id: str
    outcome: str
    done: bool
    step: int
    coordinator: dict
    participants: dict
    votes: dict
    blocked_ms: int
    lock_ms: int
    messages: int
    steps: list[dict]
    pending: list[dict]
    crashed: list[str]
    clock_ms: int
    seed: int
    order: dict
    faults: list[dict]
    trace_id: str
    forked_from: str | None
    fork_step: int | None
    protocol: str
    read_only: list[str]
    one_phase: bool
    cooperative: bool
    costs: dict
    readers: dict
    prompt: dict | None
    predictions: list[dict]


class StepOut(Schema):
    outcome: str
    step: int
    done: bool
    delivered: dict | None
    prediction: dict | None


def _act(request: HttpRequest, lab_id: str, run_id: str, given: dict[str, Any]):
    lab = lab_from_request(request, lab_id, write=True)
    return services.act(lab, run_id, given).as_dict()


@router.post("/{lab_id}/twopc", response={201: RunOut, 422: Detail}, summary="Start a distributed transaction")
def start(request: HttpRequest, lab_id: str, payload: TwoPCStart):
    lab = lab_from_request(request, lab_id, write=True)
    return Status(201, services.start(lab, payload.dict()).as_dict())


@router.get("/{lab_id}/twopc", summary="The two-phase commit runs in this lab, newest first")
def runs(request: HttpRequest, lab_id: str):
    lab = lab_from_request(request, lab_id)
    return {"runs": [{"id": e.data["run_id"], "seed": e.data["seed"], "participants": e.data["participants"],
                      "forked_from": e.data.get("forked_from"), "started_at": e.as_dict()["metadata"]["recorded_at"]}
                     for e in LOG.runs(store, lab.id)]}


@router.get("/{lab_id}/twopc/{run_id}", response={200: RunOut, 404: Detail, 422: Detail},
            summary="A transaction now, or as it was after step k (?at_step=k)")
def run_state(request: HttpRequest, lab_id: str, run_id: str, at_step: str | None = None):
    return services.SERVICE.load_at(lab_from_request(request, lab_id), run_id, at_step).as_dict()


@router.post("/{lab_id}/twopc/{run_id}/step", response={200: StepOut, 404: Detail, 422: Detail},
             summary="Deliver the next message (or the one picked with `deliver`), or fire the next timer")
def step(request: HttpRequest, lab_id: str, run_id: str, payload: StepIn | None = None):
    lab = lab_from_request(request, lab_id, write=True)  # first: a bad body to a lab one cannot reach is a 404
    given: dict[str, Any] = {"input": "step"}
    if payload is not None and payload.deliver is not None:
        if not isinstance(payload.deliver, str) or len(payload.deliver) > 40:
            raise Invalid("deliver is the id of a message in flight, such as \"m7\".")
        given["pick"] = payload.deliver
    if payload is not None and payload.predict is not None:
        given["predict"] = payload.predict
    run = services.act(lab, run_id, given)
    prediction = run.predictions[-1] if given.get("predict") is not None else None
    return {"outcome": run.outcome, "step": run.steps, "done": run.done, "delivered": run.step_list()[-1],
            "prediction": prediction}


@router.post("/{lab_id}/twopc/{run_id}/run", response={200: RunOut, 404: Detail, 422: Detail},
             summary="Step until nothing is left in flight (finished, or blocked until a crashed node recovers)")
def run_to_end(request: HttpRequest, lab_id: str, run_id: str):
    return _act(request, lab_id, run_id, {"input": "run"})


@router.post("/{lab_id}/twopc/{run_id}/faults", response={200: RunOut, 404: Detail, 422: Detail},
             summary="Inject more faults into a transaction in progress")
def faults(request: HttpRequest, lab_id: str, run_id: str, payload: FaultsIn):
    return _act(request, lab_id, run_id, {"input": "faults", "faults": payload.faults})


@router.post("/{lab_id}/twopc/{run_id}/recover", response={200: RunOut, 404: Detail, 422: Detail},
             summary="Restart a crashed coordinator or participant: it rebuilds itself from its own log")
def recover(request: HttpRequest, lab_id: str, run_id: str, payload: RecoverIn | None = None):
    lab = lab_from_request(request, lab_id, write=True)  # first: a bad body to a lab one cannot reach is a 404
    given: dict[str, Any] = {"input": "recover"}
    if payload is not None and payload.node is not None:
        if not isinstance(payload.node, str):
            raise Invalid("node is the name of a crashed node, such as \"coordinator\".")
        given["node"] = payload.node[:40]
    return services.act(lab, run_id, given).as_dict()


@router.post("/{lab_id}/twopc/{run_id}/fork", response={201: RunOut, 404: Detail, 422: Detail},
             summary="A what-if run: the same start and inputs up to step `at_step`, as a new run")
def fork(request: HttpRequest, lab_id: str, run_id: str, payload: ForkIn):
    lab = lab_from_request(request, lab_id, write=True)
    return Status(201, services.fork(lab, run_id, payload.at_step).as_dict())
