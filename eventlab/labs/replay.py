"""Saving a lab's work as its inputs, and playing those inputs again: what a scenario (eventlab.scenarios) needs from
a lab, reached through the lab registry (`LabPlugin.replayer`), so the scenarios app names no lab.

A run is its inputs: a simulation run is its start plus each input it took (steps, faults, recoveries…); the bank
lab is the commands its accepted events came from. `RunReplayer` does it for every simulation lab from its run pages
(labs.runpages.RunPages); the bank lab brings its own (eventlab.bank.replay).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from django.urls import reverse

from eventlab.sim.runlog import MAX_STEPS, Invalid, UnknownRun

from .models import Lab
from .runpages import RunPages, restart

MAX_INPUTS = 500  # a scenario plays at most this many inputs


@dataclass(frozen=True)
class Recording:
    """What a lab was given: a start (a simulation run's; {} for the bank) and its inputs, in order."""

    start: dict[str, Any]
    inputs: list[dict[str, Any]]


class Replayer(Protocol):
    def record(self, lab: Lab, ref: str) -> Recording:
        """The inputs of run `ref` in `lab` (the bank: the lab's commands, `ref` ignored). Raises UnknownRun."""
        ...

    def check(self, start: Any, inputs: Any) -> None:
        """Raises Invalid, in plain words, unless the lab takes `start` and then every input, in order. Pure: on the
        engine or an in-memory store, nothing written."""
        ...

    def begin(self, lab: Lab, start: dict[str, Any]) -> tuple[Lab, str]:
        """A fresh run from `start` in `lab` (the bank: a fresh lab): the lab it is in and its ref."""
        ...

    def play(self, lab: Lab, ref: str, given: dict[str, Any]) -> None:
        """Take one recorded input through the lab's services (events append through the store). Raises Invalid."""
        ...

    def outcome(self, lab: Lab, ref: str) -> dict[str, Any]:
        """The run's state as the lab shows it, without ids that differ between two runs of the same inputs."""
        ...

    def summary(self, lab: Lab, ref: str) -> str:
        """One line: where the run is now, in words."""
        ...

    def url(self, lab: Lab, ref: str) -> str:
        """The page showing the run."""
        ...


class RunReplayer:
    """A simulation lab's runs as scenarios, through its run pages' services (start, act, load)."""

    def __init__(self, pages: RunPages):
        self.pages = pages

    @property
    def services(self) -> Any:
        return self.pages.services

    def record(self, lab: Lab, ref: str) -> Recording:
        run = self.services.load(lab, ref)
        return Recording(restart(run.started), [dict(given) for given in run.inputs])

    def check(self, start: Any, inputs: Any) -> None:
        if not isinstance(inputs, list) or len(inputs) > MAX_INPUTS:
            raise Invalid(f"The inputs are a list of at most {MAX_INPUTS} objects.")
        run = self.services.log.make_run("check", self.services.parse_start(start))
        for number, given in enumerate(inputs, 1):
            if not isinstance(given, dict) or not isinstance(given.get("input"), str):
                raise Invalid(f"Input {number} is not an object with an \"input\" kind.")
            try:
                if given["input"] == "run" and not run.run_is_an_input:
                    if not run.sim.pending():
                        raise Invalid(run.idle_reason())
                    while run.sim.pending() and run.steps < MAX_STEPS:
                        run.act({"input": "step"})
                else:
                    run.act(given)
            except Invalid as invalid:
                raise Invalid(f"Input {number} ({given['input'][:40]}) is refused: {invalid}") from None
            except (KeyError, TypeError, ValueError, AttributeError) as error:
                raise Invalid(f"Input {number} ({given['input'][:40]}) is malformed: {str(error)[:120]}") from None

    def begin(self, lab: Lab, start: dict[str, Any]) -> tuple[Lab, str]:
        return lab, self.services.start(lab, start).id

    def play(self, lab: Lab, ref: str, given: dict[str, Any]) -> None:
        try:
            self.services.act(lab, ref, given)
        except UnknownRun as unknown:
            raise Invalid(str(unknown)) from None

    def outcome(self, lab: Lab, ref: str) -> dict[str, Any]:
        state = self.services.load(lab, ref).as_dict()
        return {k: v for k, v in state.items() if k not in ("id", "run_id", "trace_id")}  # ids of the run itself

    def summary(self, lab: Lab, ref: str) -> str:
        run = self.services.load(lab, ref)
        state = getattr(run, "state", None) or getattr(run, "outcome", None)
        return f"Step {run.steps}" + (f", {str(state).replace('_', ' ')}" if state else "") + (
            " (done)" if run.done else "")

    def url(self, lab: Lab, ref: str) -> str:
        return reverse(self.pages.run_url, args=[lab.id, ref])
