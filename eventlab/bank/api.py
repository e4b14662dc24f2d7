"""The bank over JSON: send commands, read the balances read model, time-travel one account."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from django.http import HttpRequest
from django.utils.dateparse import parse_datetime
from ninja import Field, Router, Schema, Status
from pydantic import StrictFloat, StrictInt, StrictStr

from eventlab.labs.api import Detail, ObjectBody, lab_from_request
from eventlab.labs.services import projector, store

from . import services
from .domain import Rejected, parse_account_id, stream_name

router = Router(tags=["bank"])


class BankCommand(ObjectBody):
    command: Literal["OpenAccount", "Deposit", "Withdraw", "CloseAccount"]
    account_id: str = Field(..., max_length=200, examples=["acc-1"])
    owner: str | None = Field(None, max_length=10_000, description="OpenAccount only; at most 100 characters.")
    amount: StrictStr | StrictFloat | StrictInt | None = Field(
        None, description="Deposit/Withdraw: a positive decimal string, at most 2 places, at most 1,000,000.00."
    )
    command_id: str | None = Field(None, description="Idempotency key: the same id again appends nothing.")
    expected_version: int | None = Field(None, description="Optimistic concurrency: the account's version you saw.")


class EventsOut(Schema):
    events: list[dict]


class Conflict(Schema):
    detail: str
    expected_version: int
    actual_version: int


class AccountRow(Schema):
    account_id: str
    owner: str
    balance: str
    status: str
    version: int


class AccountsOut(Schema):
    accounts: list[AccountRow]
    checkpoint: int
    head: int


class AccountState(AccountRow):
    replayed_events: int
    snapshot_version: int | None


@router.post(
    "/{lab_id}/bank/commands",
    response={201: EventsOut, 409: Conflict, 422: Detail},
    summary="Send a bank command",
    description="201 with the events appended, or with the first result when the command id was already applied "
    "(nothing is appended twice).",
)
def command(request: HttpRequest, lab_id: str, payload: BankCommand):
    lab = lab_from_request(request, lab_id, write=True)
    body = payload.dict(exclude={"command_id", "expected_version"})
    result = services.execute(lab, body, payload.command_id, payload.expected_version)
    return Status(201, {"events": [e.as_dict() for e in result.events]})


@router.get("/{lab_id}/bank/accounts", response=AccountsOut, summary="The balances read model")
def accounts(request: HttpRequest, lab_id: str):
    lab = lab_from_request(request, lab_id)
    checkpoint = next((c.position for c in projector.checkpoints(lab.id) if c.projection == "balances"), 0)
    rows = sorted(projector.docs(lab.id, "balances").values(), key=lambda d: d["account_id"])
    return {"accounts": rows, "checkpoint": checkpoint, "head": store.head(lab.id)}


@router.get(
    "/{lab_id}/bank/accounts/{account_id}",
    response={200: AccountState, 404: Detail, 422: Detail},
    summary="One account now, or as of a version (?version=N) or an instant (?at=ISO time), rebuilt from the log",
)
def account(request: HttpRequest, lab_id: str, account_id: str, version: int | None = None, at: str | None = None):
    lab = lab_from_request(request, lab_id)
    if version is not None and not 1 <= version < 2**31:
        return Status(422, {"detail": "Versions start at 1."})
    try:
        account_id = parse_account_id(account_id)
    except Rejected:
        return Status(404, {"detail": "No such account in this lab."})
    current = store.stream_version(lab.id, stream_name(account_id))
    if current == 0:
        return Status(404, {"detail": f"No account {account_id} in this lab."})
    moment = None
    if at is not None:
        moment = parse_instant(at)
        if moment is None:
            return Status(422, {"detail": f"{at[:40]!r} is not an ISO 8601 time such as 2026-01-31T12:00:00Z."})
    if version is not None and version > current:
        return Status(422, {"detail": f"Account {account_id} is at version {current}; there is no version {version} yet."})
    loaded = services.load(lab, account_id, version=version, at=moment)
    return {**loaded.account.as_dict(), "account_id": account_id, "replayed_events": loaded.replayed_events,
            "snapshot_version": loaded.snapshot_version}


def parse_instant(text: str) -> datetime | None:
    """An ISO 8601 time; a naive one is UTC. (A `+` in a query string arrives as a space: both are accepted.)"""
    for candidate in (text.strip(), text.strip().replace(" ", "+")):
        try:
            moment = parse_datetime(candidate)
        except ValueError:
            moment = None
        if moment is not None:
            try:
                return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)
            except OverflowError:  # e.g. year 1 at +05:00: before anything was ever recorded
                return None
    return None
