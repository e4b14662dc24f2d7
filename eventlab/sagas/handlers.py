"""Saga runs in a lab's log: the stream `saga-<id>` holds the learner's inputs (`SagaRunStarted`, `SagaStepTaken`,
`SagaFaultsInjected`, `SagaRecoverRequested`, `SagaDeadLetterActed`), each followed by the engine's events it caused.
Start, act, load (at any step), fork and list runs: eventlab.sim.runlog does it for every simulation lab. Pure."""

from __future__ import annotations

from eventlab.sim.runlog import RunLog, UnknownRun

from .domain import OPERATOR_ACTIONS
from .runs import SagaRun

INPUT_EVENT = {"step": "SagaStepTaken", "faults": "SagaFaultsInjected", "recover": "SagaRecoverRequested",
               **dict.fromkeys(OPERATOR_ACTIONS, "SagaDeadLetterActed")}
LOG = RunLog("saga", SagaRun, "SagaRunStarted", INPUT_EVENT)
INPUTS = LOG.inputs

stream_name, start, load, replay, act, fork, runs = (LOG.stream_name, LOG.start, LOG.load, LOG.replay, LOG.act,
                                                     LOG.fork, LOG.runs)

__all__ = ["INPUTS", "LOG", "UnknownRun", "act", "fork", "load", "replay", "runs", "start", "stream_name"]
