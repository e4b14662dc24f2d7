"""The bank lab's heavy panels read only what they show, and show what they showed before: the read-model panel's
newest statement lines and large transactions, and (further down) the time-travel chart of a long stream."""

import re
from decimal import Decimal

import pytest
from django.test import Client

from eventlab.bank import services
from eventlab.bank import views as bank_views
from eventlab.labs import readmodels
from eventlab.labs.models import Lab
from eventlab.labs.services import projector

pytestmark = pytest.mark.django_db


def open_bank(client: Client) -> Lab:
    return Lab.objects.get(pk=client.get("/labs/bank/", secure=True)["Location"].split("/")[2])


def execute(lab: Lab, command: str, account: str, **fields) -> None:
    services.execute(lab, {"command": command, "account_id": account, **fields})


def old_statement_lines(lab: Lab, account: str) -> list[dict]:
    """The panel's rows as they were read before: every line of the account, newest LIVE_ROWS kept."""
    return list(reversed(projector.docs(lab.id, "statements", prefix=f"{account}/").values()))[:bank_views.LIVE_ROWS]


# --- The read-model panel ------------------------------------------------------------------------------------------


def test_the_statement_shows_the_same_newest_lines_as_before(lab):
    execute(lab, "OpenAccount", "acc-1", owner="Ada")
    execute(lab, "OpenAccount", "acc-10", owner="Bob")  # a key that starts like acc-1's
    for i in range(bank_views.LIVE_ROWS + 12):
        execute(lab, "Deposit", "acc-1", amount=f"{i + 1}.00")
    execute(lab, "Deposit", "acc-10", amount="3.00")
    execute(lab, "Withdraw", "acc-1", amount="2.00")

    lines = bank_views.statement_lines(lab, "acc-1")

    assert lines == old_statement_lines(lab, "acc-1")
    assert len(lines) == bank_views.LIVE_ROWS
    assert lines[0]["type"] == "MoneyWithdrawn" and lines[0]["line"] == bank_views.LIVE_ROWS + 14
    assert [line["line"] for line in lines] == list(range(bank_views.LIVE_ROWS + 14, 14, -1))
    assert bank_views.statement_lines(lab, "acc-10") == old_statement_lines(lab, "acc-10")
    assert len(bank_views.statement_lines(lab, "acc-10")) == 2
    assert bank_views.statement_lines(lab, "acc-2") == [] == old_statement_lines(lab, "acc-2")
    assert bank_views.statement_lines(lab, None) == []


def test_the_statement_is_empty_until_the_read_model_is_enabled_and_full_after(lab):
    execute(lab, "OpenAccount", "acc-1", owner="Ada")
    execute(lab, "Deposit", "acc-1", amount="5.00")
    projector.rebuild(lab.id, "statements")

    readmodels.act(lab, "statements", "pause")
    assert bank_views.statement_lines(lab, "acc-1") == []
    readmodels.act(lab, "statements", "resume")
    assert bank_views.statement_lines(lab, "acc-1") == old_statement_lines(lab, "acc-1")
    assert [line["balance"] for line in bank_views.statement_lines(lab, "acc-1")] == ["5.00", "0.00"]


def test_large_transactions_show_the_same_newest_rows_as_before(lab):
    projector.enable(lab.id, "large_transactions")
    execute(lab, "OpenAccount", "acc-1", owner="Ada")
    for i in range(bank_views.LIVE_ROWS + 5):
        execute(lab, "Deposit", "acc-1", amount=f"{1000 + i}.00")
    execute(lab, "Deposit", "acc-1", amount="1.00")  # not large
    projector.catch_up(lab.id, "large_transactions")

    shown = bank_views.readmodels_context(lab, "acc-1")["rm"]["large_transactions"]

    before = list(reversed(projector.docs(lab.id, "large_transactions").values()))[:bank_views.LIVE_ROWS]
    assert shown == before
    assert len(shown) == bank_views.LIVE_ROWS
    assert Decimal(shown[0]["amount"]) == Decimal(1000 + bank_views.LIVE_ROWS + 4)
    assert [row["position"] for row in shown] == sorted((row["position"] for row in shown), reverse=True)


def test_the_read_model_panel_renders_the_newest_lines(client):
    lab = open_bank(client)
    execute(lab, "OpenAccount", "acc-1", owner="Ada")
    for _ in range(bank_views.LIVE_ROWS + 3):
        execute(lab, "Deposit", "acc-1", amount="1.00")

    response = client.get(f"/labs/{lab.id}/bank/readmodels?account=acc-1", secure=True,
                          headers={"HX-Request": "true"})

    assert response.status_code == 200
    rows = re.findall(r"<tr><td>(\d+)</td><td>(\w+)</td><td class=\"num\">([-\d.]+)</td><td class=\"num\">([-\d.]+)</td>",
                      response.content.decode())
    assert rows == [(str(line["line"]), line["type"], line["amount"], line["balance"])
                    for line in old_statement_lines(lab, "acc-1")]
    assert rows[0] == (str(bank_views.LIVE_ROWS + 4), "MoneyDeposited", "1.00", f"{bank_views.LIVE_ROWS + 3}.00")
