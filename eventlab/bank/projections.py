"""The bank's read models. Pure: each folds bank events into keyed documents (see eventstore.readmodels).

Three are on in every lab (balances, statements, summary); the catalogue adds more a learner can switch on later,
which then fill themselves from the whole history.
"""

from __future__ import annotations

from decimal import Decimal
from typing import cast

from eventlab.eventstore.core import RecordedEvent, iso
from eventlab.eventstore.readmodels import Projection, Rows

LARGE = Decimal("1000.00")
# The bank's events: each read model folds only these (eventstore.readmodels.Projection.event_types), so another
# lab's write in the same lab log (a saga step, a quiz answer) does no bank read-model work.
ACCOUNT_EVENTS = frozenset({"AccountOpened", "MoneyDeposited", "MoneyWithdrawn", "AccountClosed"})
MONEY_EVENTS = frozenset({"MoneyDeposited", "MoneyWithdrawn"})


def signed_amount(event: RecordedEvent) -> Decimal:
    amount = Decimal(event.data.get("amount", "0.00"))
    return -amount if event.type == "MoneyWithdrawn" else amount


class Balances(Projection):
    name = "balances"
    title = "Accounts"
    description = "Every account with its owner, balance and status: the list a teller would look at."
    event_types = ACCOUNT_EVENTS

    def apply(self, rows: Rows, event: RecordedEvent) -> None:
        account_id = cast(str, event.data.get("account_id"))  # every bank event names its account
        if event.type == "AccountOpened":
            rows.put(account_id, {"account_id": account_id, "owner": event.data["owner"], "balance": "0.00",
                                  "status": "open", "version": event.version})
            return
        doc = rows.get(account_id)
        if doc is None:
            return
        doc = dict(doc, version=event.version)
        if event.type in ("MoneyDeposited", "MoneyWithdrawn"):
            doc["balance"] = str(Decimal(doc["balance"]) + signed_amount(event))
        elif event.type == "AccountClosed":
            doc["status"] = "closed"
        rows.put(account_id, doc)


def statement_key(account_id: str, line: int) -> str:
    """The key of an account's statement line; the account's own key holds its line count."""
    return f"{account_id}/{line:08d}"


class Statements(Projection):
    name = "statements"
    title = "Statements"
    description = "One line per transaction with the running balance, per account: what a bank statement shows."
    event_types = ACCOUNT_EVENTS

    def apply(self, rows: Rows, event: RecordedEvent) -> None:
        if event.type not in ("AccountOpened", "MoneyDeposited", "MoneyWithdrawn", "AccountClosed"):
            return
        account_id = event.data["account_id"]
        running = rows.get(account_id) or {"balance": "0.00", "lines": 0}
        amount = signed_amount(event)
        balance = Decimal(running["balance"]) + amount
        lines = running["lines"] + 1
        rows.put(statement_key(account_id, lines), {
            "account_id": account_id, "line": lines, "version": event.version, "position": event.position,
            "type": event.type, "amount": str(amount), "balance": str(balance),
            "recorded_at": iso(event.metadata.recorded_at),
        })
        rows.put(account_id, {"balance": str(balance), "lines": lines})


class Summary(Projection):
    name = "summary"
    title = "Bank summary"
    description = "Totals across the bank: accounts open and closed, money in, money out, money held."
    event_types = ACCOUNT_EVENTS

    def apply(self, rows: Rows, event: RecordedEvent) -> None:
        doc = rows.get("bank") or {"open": 0, "closed": 0, "deposits": 0, "deposited": "0.00",
                                   "withdrawals": 0, "withdrawn": "0.00", "held": "0.00"}
        doc = dict(doc)
        if event.type == "AccountOpened":
            doc["open"] += 1
        elif event.type == "AccountClosed":
            doc["open"] -= 1
            doc["closed"] += 1
        elif event.type == "MoneyDeposited":
            doc["deposits"] += 1
            doc["deposited"] = str(Decimal(doc["deposited"]) + signed_amount(event))
        elif event.type == "MoneyWithdrawn":
            doc["withdrawals"] += 1
            doc["withdrawn"] = str(Decimal(doc["withdrawn"]) - signed_amount(event))
        else:
            return
        doc["held"] = str(Decimal(doc["deposited"]) - Decimal(doc["withdrawn"]))
        rows.put("bank", doc)


class LargeTransactions(Projection):
    name = "large_transactions"
    title = "Large transactions"
    description = f"Every deposit or withdrawal of {LARGE:,} or more: the list a fraud team would watch."
    event_types = MONEY_EVENTS

    def apply(self, rows: Rows, event: RecordedEvent) -> None:
        if event.type in ("MoneyDeposited", "MoneyWithdrawn") and abs(signed_amount(event)) >= LARGE:
            rows.put(f"{event.position:012d}", {
                "position": event.position, "account_id": event.data["account_id"], "type": event.type,
                "amount": str(signed_amount(event)), "recorded_at": iso(event.metadata.recorded_at),
            })


class DailyTotals(Projection):
    name = "daily_totals"
    title = "Daily totals"
    description = "Money in and out per calendar day (UTC): the report finance asks for every morning."
    event_types = MONEY_EVENTS

    def apply(self, rows: Rows, event: RecordedEvent) -> None:
        if event.type not in ("MoneyDeposited", "MoneyWithdrawn"):
            return
        day = event.metadata.recorded_at.date().isoformat()
        doc = dict(rows.get(day) or {"day": day, "in": "0.00", "out": "0.00", "count": 0})
        amount = signed_amount(event)
        if amount > 0:
            doc["in"] = str(Decimal(doc["in"]) + amount)
        else:
            doc["out"] = str(Decimal(doc["out"]) - amount)
        doc["count"] += 1
        rows.put(day, doc)


DEFAULT = [Balances(), Statements(), Summary()]
CATALOGUE = [LargeTransactions(), DailyTotals()]
ALL = {p.name: p for p in DEFAULT + CATALOGUE}
