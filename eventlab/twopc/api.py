"""The two-phase commit lab over JSON: start a transaction, step it, run it, inject faults, recover, fork
(labs.runapi, as every run lab).

Bodies follow the one body policy (labs.api.ObjectBody); values are checked by the lab's own validation (runs.py),
so every mistake gets one plain-words `detail`."""

from __future__ import annotations

from typing import Any

from ninja import Field, Schema

from eventlab.labs.api import ObjectBody
from eventlab.labs.runapi import run_router

from . import services


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


class TwoPCStepIn(ObjectBody):
    deliver: Any = Field(None, description="The id of the in-flight message to deliver next (default: the earliest).")
    predict: Any = Field(None, description="Your prediction of what this step will show (the run's `prompt` lists "
                         "the choices when a fault is about to act).")


class TwoPCRecoverIn(ObjectBody):
    node: Any = Field(None, description="The crashed node to restart (default: every crashed node).")


class TwoPCRunOut(Schema):
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


router = run_router(
    key="twopc", name="TwoPC", tag="two-phase commit", service=services.SERVICE,
    start_in=TwoPCStart, run_out=TwoPCRunOut, step_in=TwoPCStepIn, step_status="outcome", recover_in=TwoPCRecoverIn,
    faults_example=[{"kind": "vote_no", "participant": "payments"}], listed=("participants",),
    summaries={
        "start": "Start a distributed transaction",
        "runs": "The two-phase commit runs in this lab, newest first",
        "run_state": "A transaction now, or as it was after step k (?at_step=k)",
        "step": "Deliver the next message (or the one picked with `deliver`), or fire the next timer",
        "run": "Step until nothing is left in flight (finished, or blocked until a crashed node recovers)",
        "faults": "Inject more faults into a transaction in progress",
        "recover": "Restart a crashed coordinator or participant: it rebuilds itself from its own log",
    },
)
