"""The bank lab's heavy panels read only what they show, and show what they showed before: the read-model panel's
newest statement lines and large transactions, and (further down) the time-travel chart of a long stream."""

import re
from decimal import Decimal

import pytest
from django.test import Client

from eventlab.bank import services
from eventlab.bank import views as bank_views
from eventlab.bank.domain import Account, evolve, from_recorded, stream_name
from eventlab.eventstore.core import NewEvent
from eventlab.labs import readmodels
from eventlab.labs.models import Lab
from eventlab.labs.services import projector, store

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


# --- The time-travel chart -------------------------------------------------------------------------------------------


def long_stream(lab: Lab, account: str, n: int, snapshot_every: int | None = None) -> None:
    """An account of `n` events appended through the store in batches, snapshotted every `snapshot_every` versions
    (the lab's interval unless given) as commands would have done."""
    every = snapshot_every or lab.snapshot_every
    stream, state = stream_name(account), Account()

    def event(version: int) -> NewEvent:
        if version == 1:
            return NewEvent("AccountOpened", {"account_id": account, "owner": "Ada"})
        if version % 5 == 0:
            return NewEvent("MoneyWithdrawn", {"account_id": account, "amount": "2.00", "currency": "USD"}, 2)
        return NewEvent("MoneyDeposited", {"account_id": account, "amount": f"{version % 7 + 1}.00",
                                           "currency": "USD"}, 2)

    for first in range(1, n + 1, 500):
        batch = [event(v) for v in range(first, min(n, first + 499) + 1)]
        for recorded in store.append(lab.id, stream, batch, first - 1).events:
            state = evolve(state, from_recorded(recorded))
            if state.version % every == 0:
                store.save_snapshot(lab.id, stream, state.version, state.as_dict())


def exact_balances(lab: Lab, account: str) -> dict[int, Decimal]:
    return dict(bank_views.balance_points(store.read_stream(lab.id, stream_name(account))))


def path_points(chart: dict) -> list[tuple[float, float]]:
    return [tuple(map(float, p[1:].split(","))) for p in chart["path"].split()]


def test_a_short_streams_chart_is_the_whole_fold_as_before(lab):
    long_stream(lab, "acc-1", bank_views.CHART_POINTS)
    events = store.read_stream(lab.id, stream_name("acc-1"))

    for version in (None, "1", "123", str(bank_views.CHART_POINTS)):
        tt = bank_views.time_travel_context(lab, "acc-1", version, None)["tt"]
        assert tt["chart"] == bank_views.chart(bank_views.balance_points(events), tt["version"])
        assert tt["event"] == events[tt["version"] - 1]


def test_a_long_streams_chart_is_bounded_exact_where_drawn_and_ends_at_the_current_balance(lab):
    n = 3_001
    long_stream(lab, "acc-1", n)
    exact = exact_balances(lab, "acc-1")

    tt = bank_views.time_travel_context(lab, "acc-1", "1234", None)["tt"]
    series = bank_views.balance_series(lab, stream_name("acc-1"), n, exact[n])

    assert len(series) <= bank_views.CHART_POINTS + 2
    assert len(series) > bank_views.CHART_POINTS // 2
    assert series[-1] == (n, exact[n])
    assert all(balance == exact[version] for version, balance in series)
    assert [v for v, _ in series] == sorted({v for v, _ in series})
    drawn = path_points(tt["chart"])
    assert len(drawn) <= bank_views.CHART_POINTS + 3
    width, pad = tt["chart"]["width"], tt["chart"]["pad"]
    assert drawn[0][0] == pad and drawn[-1][0] == width - pad  # from version 1 to the current version
    expected_y = round(tt["chart"]["height"] - pad - float(exact[n] / tt["chart"]["max"]) * (tt["chart"]["height"]
                                                                                              - 2 * pad), 1)
    assert drawn[-1][1] == expected_y  # ends at the current balance
    assert (tt["version"], tt["state"].balance, tt["current"]) == (1234, exact[1234], n)
    assert tt["event"].version == 1234 and tt["event"].stream == stream_name("acc-1")
    assert tt["chart"]["mx"] == round(pad + 1233 * (width - 2 * pad) / (n - 1), 1)


def test_a_long_stream_snapshotted_at_another_interval_still_gets_a_bounded_exact_chart(lab):
    n = 2_500
    long_stream(lab, "acc-1", n, snapshot_every=7)  # the lab's interval (10) changed after these were taken
    exact = exact_balances(lab, "acc-1")

    series = bank_views.balance_series(lab, stream_name("acc-1"), n, exact[n])

    assert bank_views.CHART_POINTS // 2 < len(series) <= bank_views.CHART_POINTS + 2
    assert all(balance == exact[version] for version, balance in series)
    assert series[-1] == (n, exact[n])


def test_the_panel_names_the_newest_snapshots(client):
    lab = open_bank(client)
    long_stream(lab, "acc-1", 1_000)
    projector.rebuild(lab.id, "balances")
    projector.catch_up(lab.id, "balances")

    response = client.get(f"/labs/{lab.id}/bank/time-travel?account=acc-1&version=999", secure=True,
                          headers={"HX-Request": "true"})

    assert response.status_code == 200
    text = re.sub(r"\s+", " ", response.content.decode())
    newest = ", ".join(str(v) for v in range(1000 - 10 * (bank_views.SNAPSHOTS_LISTED - 1), 1001, 10))
    assert f"taken at versions …, {newest} (every 10 events)" in text
    assert "snapshot at version 990 + 9 events replayed" in text
