"""What a simulation run is, as a type: what RunLog (sim/runlog.py), the run service (labs/runs.py) and the run
pages (labs/runpages.py) use from a lab's run class. Pure. The saga lab's SagaRun, the 2PC lab's TwoPCRun and the
resilience lab's ResilienceRun satisfy it structurally (no base class); mypy checks that where each is handed to its
RunLog as `make_run`, and tests/unit/test_run_protocol.py checks it at runtime too."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

from eventlab.sim.engine import SimEvent


@runtime_checkable
class SimulationRun(Protocol):
    """One run, rebuilt from its inputs. RunLog sets `version` (the run stream's version it was loaded or saved at)
    and `stale` (why a run recorded by an earlier version of the lab takes no more input; "" if it takes input)."""

    id: str
    started: dict[str, Any]  # the start, as recorded (a fork's has `forked_from` and `fork_step`)
    inputs: list[dict[str, Any]]  # the inputs taken, as `act` took them
    version: int
    stale: str
    # The lab's engine: RunLog reads its `history` (a list of SimEvent) and, unless `run_is_an_input`, calls its
    # `pending()` to step a "run" input through. The engines differ (the saga and 2PC labs share sim.engine's
    # Simulation, the resilience lab has its own System), so it stays untyped here.
    sim: Any

    @property
    def run_is_an_input(self) -> bool:
        """True if the run takes the input "run" itself (the resilience lab: a virtual-time budget); False if RunLog
        steps it until nothing is in flight."""
        ...

    @property
    def steps(self) -> int: ...

    @property
    def done(self) -> bool: ...

    def act(self, given: dict[str, Any]) -> list[SimEvent]:
        """Take one input; return the engine's events it caused. Raises runlog.Invalid (nothing changed)."""
        ...

    def recorded(self, given: dict[str, Any]) -> dict[str, Any]:
        """What the log keeps of the input just taken."""
        ...

    def replayed(self, data: dict[str, Any], until_step: int | None = None) -> None:
        """Take an input again from the log, going no further than step `until_step` if it is not None."""
        ...

    def idle_reason(self) -> str:
        """Why nothing is in flight, in plain words."""
        ...

    def as_dict(self) -> dict[str, Any]:
        """The run as the JSON API shows it."""
        ...


MakeRun = Callable[[str, dict[str, Any]], SimulationRun]  # (run_id, started) -> a new run, no input taken yet
