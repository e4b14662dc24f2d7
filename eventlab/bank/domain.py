"""The bank: an Account aggregate, its commands and its events. Pure Python — no Django, no database.

Commands are requests in the imperative (`Deposit`); events are facts in the past tense (`MoneyDeposited`).
`decide(state, command)` either returns the events a command causes or raises `Rejected` with the reason;
`evolve(state, event)` folds one event into the state. An account's state is the fold of its stream.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, replace
from decimal import Decimal, InvalidOperation
from typing import Any

from eventlab.eventstore.core import NewEvent, RecordedEvent, upcaster

MAX_AMOUNT = Decimal("1000000.00")
MAX_NAME = 100
ACCOUNT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$")
CURRENCY = "USD"


class Rejected(Exception):
    """The domain refused a command. The message says why, in plain words; nothing is appended."""


# --- Commands ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OpenAccount:
    account_id: str
    owner: str


@dataclass(frozen=True)
class Deposit:
    account_id: str
    amount: Decimal


@dataclass(frozen=True)
class Withdraw:
    account_id: str
    amount: Decimal


@dataclass(frozen=True)
class CloseAccount:
    account_id: str


Command = OpenAccount | Deposit | Withdraw | CloseAccount
COMMANDS: dict[str, type] = {c.__name__: c for c in (OpenAccount, Deposit, Withdraw, CloseAccount)}


# --- Events (current schema) ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AccountOpened:
    account_id: str
    owner: str
    schema_version = 1


@dataclass(frozen=True)
class MoneyDeposited:
    account_id: str
    amount: str
    currency: str
    schema_version = 2  # v1 had no currency; see the upcaster below


@dataclass(frozen=True)
class MoneyWithdrawn:
    account_id: str
    amount: str
    currency: str
    schema_version = 1


@dataclass(frozen=True)
class AccountClosed:
    account_id: str
    schema_version = 1


Event = AccountOpened | MoneyDeposited | MoneyWithdrawn | AccountClosed
EVENTS: dict[str, type] = {e.__name__: e for e in (AccountOpened, MoneyDeposited, MoneyWithdrawn, AccountClosed)}


@upcaster("MoneyDeposited", 1)
def deposit_v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    """Version 1 deposits were recorded before the bank named a currency: every one of them was in USD."""
    return {**data, "currency": CURRENCY}


def to_new_event(event: Event) -> NewEvent:
    return NewEvent(type(event).__name__, asdict(event), event.schema_version)


def from_recorded(recorded: RecordedEvent) -> Event:
    event: Event = EVENTS[recorded.type](**recorded.data)
    return event


def stream_name(account_id: str) -> str:
    return f"account-{account_id}"


# --- Input parsing (shared by forms, the API and fixtures) --------------------------------------------------------


def parse_account_id(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise Rejected("An account id is required.")
    value = value.strip()
    if not ACCOUNT_ID.match(value):
        raise Rejected(
            "An account id is 1 to 40 letters, digits, dots, dashes or underscores, starting with a letter or digit."
        )
    return str(value)  # a str already (checked above)


def parse_owner(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise Rejected("An owner name is required.")
    value = value.strip()
    if len(value) > MAX_NAME:
        raise Rejected(f"An owner name is at most {MAX_NAME} characters (this one has {len(value)}).")
    return str(value)  # a str already (checked above)


def parse_amount(value: Any) -> Decimal:
    """Amounts are positive, at most 2 decimal places, at most 1,000,000.00. Given as strings (or JSON numbers)."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise Rejected("An amount is a number such as 12.50.")
    text = str(value).strip()
    if len(text) > 20:
        raise Rejected(f"An amount is a number such as 12.50, at most {MAX_AMOUNT:,} (this one is {len(text)} characters long).")
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise Rejected(f"{text[:20]!r} is not an amount; write a number such as 12.50.") from None
    if not amount.is_finite():
        raise Rejected("An amount must be a finite number.")
    if amount <= 0:
        raise Rejected("An amount must be positive.")
    if amount > MAX_AMOUNT:
        raise Rejected(f"An amount is at most {MAX_AMOUNT:,}.")
    if int(amount.as_tuple().exponent) < -2 and amount != amount.quantize(Decimal("0.01")):
        raise Rejected("An amount has at most 2 decimal places (cents).")
    return amount.quantize(Decimal("0.01"))


def parse_command(payload: dict[str, Any]) -> Command:
    """Turn `{"command": "Deposit", "account_id": ..., "amount": ...}` into a command, or raise Rejected."""
    name = payload.get("command")
    known = ", ".join(COMMANDS)
    if name is None or name == "":
        raise Rejected(f"Say which command: one of {known}.")
    if not isinstance(name, str) or name not in COMMANDS:
        raise Rejected(f"Unknown command {str(name)[:40]!r}; the bank knows {known}.")
    account_id = parse_account_id(payload.get("account_id"))
    if name == "OpenAccount":
        return OpenAccount(account_id, parse_owner(payload.get("owner")))
    if name == "Deposit":
        return Deposit(account_id, parse_amount(payload.get("amount")))
    if name == "Withdraw":
        return Withdraw(account_id, parse_amount(payload.get("amount")))
    return CloseAccount(account_id)


def command_as_dict(command: Command) -> dict[str, str]:
    """The canonical form of a command, used for its idempotency fingerprint."""
    return {"command": type(command).__name__, **{k: str(v) for k, v in asdict(command).items()}}


# --- The aggregate -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Account:
    account_id: str = ""
    owner: str = ""
    balance: Decimal = Decimal("0.00")
    status: str = "new"  # new -> open -> closed
    version: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "account_id": self.account_id,
            "owner": self.owner,
            "balance": str(self.balance),
            "status": self.status,
            "version": self.version,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Account:
        return cls(data["account_id"], data["owner"], Decimal(data["balance"]), data["status"], data["version"])


def evolve(state: Account, event: Event) -> Account:
    version = state.version + 1
    match event:
        case AccountOpened(account_id, owner):
            return Account(account_id, owner, Decimal("0.00"), "open", version)
        case MoneyDeposited(_, amount, _):
            return replace(state, balance=state.balance + Decimal(amount), version=version)
        case MoneyWithdrawn(_, amount, _):
            return replace(state, balance=state.balance - Decimal(amount), version=version)
        case AccountClosed():
            return replace(state, status="closed", version=version)
    raise TypeError(f"not a bank event: {event!r}")


def fold(events: list[Event], state: Account | None = None) -> Account:
    state = state or Account()
    for event in events:
        state = evolve(state, event)
    return state


def decide(state: Account, command: Command) -> list[Event]:
    match command:
        case OpenAccount(account_id, owner):
            if state.status != "new":
                raise Rejected(f"Account {account_id} already exists; choose another account id.")
            return [AccountOpened(account_id, owner)]
    if state.status == "new":
        raise Rejected(f"There is no account {command.account_id}; open it first.")
    if state.status == "closed":
        raise Rejected(f"Account {command.account_id} is closed; it accepts no more commands.")
    match command:
        case Deposit(account_id, amount):
            if state.balance + amount > MAX_AMOUNT * 100:
                raise Rejected("That deposit would take the balance past the bank's limit of 100,000,000.00.")
            return [MoneyDeposited(account_id, str(amount), CURRENCY)]
        case Withdraw(account_id, amount):
            if amount > state.balance:
                raise Rejected(
                    f"Insufficient funds: account {account_id} holds {state.balance}, cannot withdraw {amount}."
                )
            return [MoneyWithdrawn(account_id, str(amount), CURRENCY)]
        case CloseAccount(account_id):
            if state.balance != 0:
                raise Rejected(
                    f"Account {account_id} still holds {state.balance}; withdraw it all before closing."
                )
            return [AccountClosed(account_id)]
    raise TypeError(f"not a bank command: {command!r}")
