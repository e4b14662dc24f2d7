"""Every simulation lab's run class is a SimulationRun (eventlab/sim/protocol.py): the run log, the run service and
the run pages rely on nothing else. mypy checks this file (strict, `make lint`): the typed assignments below fail the
type check if a run class stops satisfying the Protocol; the tests check the same at runtime, on a started run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from eventlab.resilience import runs as resilience
from eventlab.sagas import handlers as saga_handlers
from eventlab.sagas import runs as sagas
from eventlab.sim.protocol import MakeRun, SimulationRun
from eventlab.sim.runlog import RunLog
from eventlab.twopc import runs as twopc

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"

# Checked by mypy: each class, called as RunLog calls make_run, gives a SimulationRun.
MAKE_RUN: dict[str, MakeRun] = {"saga": sagas.SagaRun, "twopc": twopc.TwoPCRun, "resilience": resilience.ResilienceRun}
LOGS: dict[str, tuple[RunLog, Any]] = {
    "saga": (saga_handlers.LOG, sagas.parse_start),
    "twopc": (twopc.LOG, twopc.parse_start),
    "resilience": (resilience.LOG, resilience.parse_start),
}
PRESETS = {"saga": "saga", "twopc": "twopc", "resilience": "resilience"}


def first_preset(lab: str) -> dict[str, Any]:
    start: dict[str, Any] = json.loads((FIXTURES / f"{PRESETS[lab]}_presets.json").read_text())[0]["fields"]["start"]
    return start


@pytest.mark.parametrize("lab", sorted(MAKE_RUN))
def test_each_lab_run_is_a_simulation_run(lab: str) -> None:
    log, parse_start = LOGS[lab]
    assert log.make_run is MAKE_RUN[lab]
    run: SimulationRun = MAKE_RUN[lab]("run-1", parse_start(first_preset(lab)))
    assert isinstance(run, SimulationRun)
    assert (run.id, run.steps, run.inputs, run.version, run.stale) == ("run-1", 0, [], 0, "")
    assert isinstance(run.run_is_an_input, bool) and isinstance(run.done, bool)
    assert run.run_is_an_input is (lab == "resilience")  # only the resilience lab takes "run" itself
    assert isinstance(run.as_dict(), dict)


def test_something_else_is_not_a_simulation_run() -> None:
    class Half:  # a run without act, recorded, replayed…
        id, version, stale, sim = "x", 0, "", None
        started: dict[str, Any] = {}
        inputs: list[dict[str, Any]] = []

    assert not isinstance(Half(), SimulationRun)
