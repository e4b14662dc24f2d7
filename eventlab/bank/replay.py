"""The bank lab as a scenario (labs.replay.Replayer): a lab is the commands its accepted events came from, in the
order they were appended; playing them again runs each command through the bank's service into a fresh lab."""

from __future__ import annotations

from typing import Any

from django.urls import reverse

from eventlab.eventstore.core import InMemoryEventStore, StoreError
from eventlab.labs.models import Lab
from eventlab.labs.replay import MAX_INPUTS, Recording
from eventlab.labs.services import create_lab, store
from eventlab.sim.runlog import Invalid

from . import handlers, services
from .domain import Rejected, fold, from_recorded, parse_command

COMMANDS_OF = {"AccountOpened": "OpenAccount", "MoneyDeposited": "Deposit", "MoneyWithdrawn": "Withdraw",
               "AccountClosed": "CloseAccount"}


def command_of(event_type: str, data: dict[str, Any]) -> dict[str, Any]:
    """The command an accepted bank event came from."""
    command = {"command": COMMANDS_OF[event_type], "account_id": data["account_id"]}
    if event_type == "AccountOpened":
        command["owner"] = data["owner"]
    if event_type in ("MoneyDeposited", "MoneyWithdrawn"):
        command["amount"] = str(data["amount"])
    return command


class BankReplayer:
    def record(self, lab: Lab, ref: str) -> Recording:
        events = [e for e in store.read_log(lab.id) if e.type in COMMANDS_OF and e.stream.startswith("account-")]
        return Recording({}, [command_of(e.type, e.data) for e in events])

    def check(self, start: Any, inputs: Any) -> None:
        if start not in ({}, None):
            raise Invalid("A bank scenario has no start: its inputs are the commands.")
        if not isinstance(inputs, list) or len(inputs) > MAX_INPUTS:
            raise Invalid(f"The inputs are a list of at most {MAX_INPUTS} commands.")
        memory = InMemoryEventStore()
        memory.create_log("check")
        for number, payload in enumerate(inputs, 1):
            try:
                if not isinstance(payload, dict):
                    raise Rejected("it is not a JSON object")
                handlers.handle(memory, "check", parse_command(payload))
            except (Rejected, StoreError) as refused:
                raise Invalid(f"Command {number} is refused: {refused}") from None

    def begin(self, lab: Lab, start: dict[str, Any]) -> tuple[Lab, str]:
        fresh, _token = create_lab(title="Bank lab (scenario)")
        return fresh, ""

    def play(self, lab: Lab, ref: str, given: dict[str, Any]) -> None:
        try:
            services.execute(lab, given)
        except (Rejected, StoreError) as refused:
            raise Invalid(str(refused)) from None

    def outcome(self, lab: Lab, ref: str) -> dict[str, Any]:
        streams: dict[str, list[Any]] = {}
        for event in store.read_log(lab.id):
            if event.type in COMMANDS_OF and event.stream.startswith("account-"):
                streams.setdefault(event.stream, []).append(from_recorded(event))
        return {"accounts": {s: fold(events).as_dict() for s, events in sorted(streams.items())}}

    def summary(self, lab: Lab, ref: str) -> str:
        accounts = self.outcome(lab, ref)["accounts"].values()
        if not accounts:
            return "No accounts yet."
        return "; ".join(f"{a['account_id']} ({a['owner']}): {a['balance']} USD, {a['status']}" for a in accounts)

    def url(self, lab: Lab, ref: str) -> str:
        return reverse("bank-lab", args=[lab.id])


REPLAYER = BankReplayer()
