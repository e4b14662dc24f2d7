"""The bank half of the JSON API (API.md, "Bank"): commands, idempotency, optimistic concurrency, the balances read
model and time travel over one account."""

import json
import threading
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from urllib.parse import quote

import pytest
from django.db import connection
from django.test import Client

pytestmark = pytest.mark.django_db

WRITERS = 6  # concurrent clients in the race tests
EVENT_KEYS = {"position", "stream", "version", "type", "schema_version", "stored_schema_version", "data", "metadata"}


def auth(token: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def send(client: Client, lab, body: dict):
    return client.post(
        f"/api/labs/{lab.id}/bank/commands", data=json.dumps(body), content_type="application/json", **auth(lab.token)
    )


def ok(client: Client, lab, body: dict) -> list[dict]:
    response = send(client, lab, body)
    assert response.status_code == 201, response.content
    return response.json()["events"]


def head(client: Client, lab) -> int:
    return client.get(f"/api/labs/{lab.id}/events", **auth(lab.token)).json()["head"]


def account(client: Client, lab, account_id: str, query: str = ""):
    return client.get(f"/api/labs/{lab.id}/bank/accounts/{account_id}{query}", **auth(lab.token))


def open_account(client: Client, lab, account_id: str = "acc-1", owner: str = "Ada") -> None:
    ok(client, lab, {"command": "OpenAccount", "account_id": account_id, "owner": owner})


# --- Commands --------------------------------------------------------------------------------------------------------


def test_each_command_answers_201_with_the_events_it_appended(client, lab):
    opened = ok(client, lab, {"command": "OpenAccount", "account_id": "acc-1", "owner": "Ada"})
    deposited = ok(client, lab, {"command": "Deposit", "account_id": "acc-1", "amount": "50.00"})
    withdrawn = ok(client, lab, {"command": "Withdraw", "account_id": "acc-1", "amount": "50.00"})
    closed = ok(client, lab, {"command": "CloseAccount", "account_id": "acc-1"})

    appended = opened + deposited + withdrawn + closed
    assert [(e["position"], e["version"], e["type"]) for e in appended] == [
        (1, 1, "AccountOpened"),
        (2, 2, "MoneyDeposited"),
        (3, 3, "MoneyWithdrawn"),
        (4, 4, "AccountClosed"),
    ]
    assert all(set(e) == EVENT_KEYS and e["stream"] == "account-acc-1" for e in appended)
    assert opened[0]["data"] == {"account_id": "acc-1", "owner": "Ada"}
    assert deposited[0]["data"] == {"account_id": "acc-1", "amount": "50.00", "currency": "USD"}
    assert withdrawn[0]["data"] == {"account_id": "acc-1", "amount": "50.00", "currency": "USD"}
    # What the command answered is what the log holds.
    assert client.get(f"/api/labs/{lab.id}/events", **auth(lab.token)).json()["events"] == appended


def test_amounts_are_normalised_to_two_places(client, lab):
    open_account(client, lab)

    assert ok(client, lab, {"command": "Deposit", "account_id": "acc-1", "amount": "5"})[0]["data"]["amount"] == "5.00"
    assert ok(client, lab, {"command": "Deposit", "account_id": "acc-1", "amount": 2.5})[0]["data"]["amount"] == "2.50"
    assert ok(client, lab, {"command": "Deposit", "account_id": "acc-1", "amount": "0.10"})[0]["data"]["amount"] == "0.10"
    assert account(client, lab, "acc-1").json()["balance"] == "7.60"


def test_the_command_id_travels_in_the_metadata(client, lab):
    events = ok(client, lab, {"command": "OpenAccount", "account_id": "acc-1", "owner": "Ada", "command_id": "cmd-42"})

    assert events[0]["metadata"]["command_id"] == "cmd-42"
    assert events[0]["metadata"]["correlation_id"] == "cmd-42"
    assert events[0]["metadata"]["causation_id"] == "cmd-42"


# --- Idempotency -----------------------------------------------------------------------------------------------------


def test_the_same_command_id_again_returns_the_first_result_and_appends_nothing(client, lab):
    open_account(client, lab)
    deposit = {"command": "Deposit", "account_id": "acc-1", "amount": "10.00", "command_id": "once"}
    first = send(client, lab, deposit)
    assert first.status_code == 201

    again = send(client, lab, deposit)

    assert again.status_code in (200, 201)
    assert again.json() == first.json()
    assert head(client, lab) == 2
    assert account(client, lab, "acc-1").json()["balance"] == "10.00"


def test_a_retried_command_id_is_still_recognised_after_other_commands(client, lab):
    open_account(client, lab)
    deposit = {"command": "Deposit", "account_id": "acc-1", "amount": "10.00", "command_id": "early"}
    first = send(client, lab, deposit).json()
    ok(client, lab, {"command": "Deposit", "account_id": "acc-1", "amount": "1.00"})

    again = send(client, lab, deposit)

    assert again.json() == first
    assert head(client, lab) == 3


def test_a_command_id_is_per_lab(client, lab):
    from eventlab.labs.services import create_lab

    other, token = create_lab()
    other.token = token
    open_account(client, lab)
    open_account(client, other)
    body = {"command": "Deposit", "account_id": "acc-1", "amount": "3.00", "command_id": "shared-id"}

    assert send(client, lab, body).status_code == 201
    assert send(client, other, body).status_code == 201  # not a duplicate: another lab's log
    assert head(client, other) == 2


def test_the_same_command_id_with_a_different_command_is_a_422(client, lab):
    open_account(client, lab)
    ok(client, lab, {"command": "Deposit", "account_id": "acc-1", "amount": "10.00", "command_id": "mine"})

    response = send(client, lab, {"command": "Deposit", "account_id": "acc-1", "amount": "99.00", "command_id": "mine"})

    assert response.status_code == 422
    assert "mine" in response.json()["detail"]
    assert head(client, lab) == 2


# --- Optimistic concurrency ------------------------------------------------------------------------------------------


def test_a_stale_expected_version_is_a_409_naming_both_versions(client, lab):
    open_account(client, lab)
    ok(client, lab, {"command": "Deposit", "account_id": "acc-1", "amount": "10.00"})

    response = send(client, lab, {"command": "Deposit", "account_id": "acc-1", "amount": "5.00", "expected_version": 1})

    assert response.status_code == 409
    body = response.json()
    assert body["expected_version"] == 1
    assert body["actual_version"] == 2
    assert "1" in body["detail"] and "2" in body["detail"]
    assert head(client, lab) == 2


def test_the_right_expected_version_appends(client, lab):
    ok(client, lab, {"command": "OpenAccount", "account_id": "acc-1", "owner": "Ada", "expected_version": 0})

    events = ok(client, lab, {"command": "Deposit", "account_id": "acc-1", "amount": "5.00", "expected_version": 1})

    assert events[0]["version"] == 2


def test_expected_version_0_on_an_existing_account_is_a_conflict_not_a_rejection(client, lab):
    open_account(client, lab)

    response = send(client, lab, {"command": "OpenAccount", "account_id": "acc-1", "owner": "Bo", "expected_version": 0})

    assert response.status_code == 409
    assert (response.json()["expected_version"], response.json()["actual_version"]) == (0, 1)


def test_a_conflicting_retry_with_the_command_id_of_an_applied_command_is_not_a_conflict(client, lab):
    open_account(client, lab)
    body = {"command": "Deposit", "account_id": "acc-1", "amount": "5.00", "expected_version": 1, "command_id": "c1"}
    first = send(client, lab, body)

    # The version moved on (because of this very command); the retry is recognised, not refused.
    again = send(client, lab, body)

    assert again.status_code in (200, 201)
    assert again.json() == first.json()


def racing_lab():
    """A lab with acc-1 open, and a `post` that sends a command from a client of its own (as racing writers do)."""
    lab_client = Client()
    created = lab_client.post("/api/labs").json()
    lab_id, token = created["id"], created["token"]

    def post(body: dict):
        return Client().post(f"/api/labs/{lab_id}/bank/commands", data=json.dumps(body),
                             content_type="application/json", **auth(token))

    assert post({"command": "OpenAccount", "account_id": "acc-1", "owner": "Ada"}).status_code == 201
    return lab_client, lab_id, token, post


@pytest.mark.django_db(transaction=True)
def test_racing_commands_without_expected_version_all_succeed():
    lab_client, lab_id, token, post = racing_lab()
    statuses: list[int] = []
    answers: list[str] = []
    start = threading.Barrier(WRITERS)

    def depositor() -> None:
        try:
            start.wait(timeout=10)
            for _ in range(3):
                response = post({"command": "Deposit", "account_id": "acc-1", "amount": "1.00"})
                statuses.append(response.status_code)
                if response.status_code != 201:
                    answers.append(response.content.decode())
        finally:
            connection.close()

    threads = [threading.Thread(target=depositor) for _ in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert statuses == [201] * (WRITERS * 3), answers  # never a 409: the server retried the races itself
    state = lab_client.get(f"/api/labs/{lab_id}/bank/accounts/acc-1", **auth(token)).json()
    assert (state["balance"], state["version"]) == (f"{WRITERS * 3}.00", WRITERS * 3 + 1)
    log = lab_client.get(f"/api/labs/{lab_id}/events", **auth(token)).json()
    assert [e["position"] for e in log["events"]] == list(range(1, WRITERS * 3 + 2))


@pytest.mark.django_db(transaction=True)
def test_racing_commands_on_one_expected_version_exactly_one_wins():
    lab_client, lab_id, token, post = racing_lab()
    answers = []
    start = threading.Barrier(4)

    def contender(amount: str) -> None:
        try:
            start.wait(timeout=10)
            answers.append(post({"command": "Deposit", "account_id": "acc-1", "amount": amount, "expected_version": 1}))
        finally:
            connection.close()

    threads = [threading.Thread(target=contender, args=(f"{i}.00",)) for i in range(1, 5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    codes = sorted(a.status_code for a in answers)
    assert codes == [201, 409, 409, 409]
    for conflict in (a for a in answers if a.status_code == 409):
        assert (conflict.json()["expected_version"], conflict.json()["actual_version"]) == (1, 2)
    assert lab_client.get(f"/api/labs/{lab_id}/events", **auth(token)).json()["head"] == 2


# --- The balances read model -----------------------------------------------------------------------------------------


def test_accounts_lists_every_account_with_checkpoint_and_head(client, lab):
    open_account(client, lab, "acc-2", "Grace")
    open_account(client, lab, "acc-1", "Ada")
    ok(client, lab, {"command": "Deposit", "account_id": "acc-1", "amount": "12.50"})
    ok(client, lab, {"command": "Deposit", "account_id": "acc-2", "amount": "3.00"})
    ok(client, lab, {"command": "Withdraw", "account_id": "acc-2", "amount": "3.00"})
    ok(client, lab, {"command": "CloseAccount", "account_id": "acc-2"})

    response = client.get(f"/api/labs/{lab.id}/bank/accounts", **auth(lab.token))

    assert response.status_code == 200
    assert response.json() == {
        "accounts": [
            {"account_id": "acc-1", "owner": "Ada", "balance": "12.50", "status": "open", "version": 2},
            {"account_id": "acc-2", "owner": "Grace", "balance": "0.00", "status": "closed", "version": 4},
        ],
        "checkpoint": 6,
        "head": 6,
    }


def test_accounts_of_an_empty_lab(client, lab):
    response = client.get(f"/api/labs/{lab.id}/bank/accounts", **auth(lab.token))

    assert response.json() == {"accounts": [], "checkpoint": 0, "head": 0}


# --- One account, now and back in time ------------------------------------------------------------------------------


def build_history(client: Client, lab, deposits: int) -> list[dict]:
    """acc-1 opened, then `deposits` deposits of 1.00, 2.00, 3.00 …; returns every event."""
    events = ok(client, lab, {"command": "OpenAccount", "account_id": "acc-1", "owner": "Ada"})
    for i in range(1, deposits + 1):
        events += ok(client, lab, {"command": "Deposit", "account_id": "acc-1", "amount": f"{i}.00"})
    return events


def test_one_account_now(client, lab):
    build_history(client, lab, 3)

    response = account(client, lab, "acc-1")

    assert response.status_code == 200
    assert response.json() == {
        "account_id": "acc-1", "owner": "Ada", "balance": "6.00", "status": "open", "version": 4,
        "replayed_events": 4, "snapshot_version": None,
    }


def test_time_travel_to_a_version(client, lab):
    build_history(client, lab, 3)

    states = [account(client, lab, "acc-1", f"?version={v}").json() for v in (1, 2, 3, 4)]

    assert [(s["version"], s["balance"]) for s in states] == [(1, "0.00"), (2, "1.00"), (3, "3.00"), (4, "6.00")]
    assert all(s["status"] == "open" and s["owner"] == "Ada" for s in states)
    assert [s["replayed_events"] for s in states] == [1, 2, 3, 4]


def test_time_travel_uses_the_snapshot_taken_every_10_versions(client, lab):
    assert lab.snapshot_every == 10
    build_history(client, lab, 11)  # versions 1..12

    now = account(client, lab, "acc-1").json()
    at_9 = account(client, lab, "acc-1", "?version=9").json()
    at_10 = account(client, lab, "acc-1", "?version=10").json()
    at_12 = account(client, lab, "acc-1", "?version=12").json()

    assert (now["version"], now["balance"], now["snapshot_version"], now["replayed_events"]) == (12, "66.00", 10, 2)
    assert (at_9["balance"], at_9["snapshot_version"], at_9["replayed_events"]) == ("36.00", None, 9)
    assert (at_10["balance"], at_10["snapshot_version"], at_10["replayed_events"]) == ("45.00", 10, 0)
    assert (at_12["balance"], at_12["snapshot_version"], at_12["replayed_events"]) == ("66.00", 10, 2)


def test_a_lab_with_another_snapshot_interval_snapshots_there(client, lab):
    lab.snapshot_every = 3
    lab.save(update_fields=["snapshot_every"])
    build_history(client, lab, 6)  # versions 1..7: snapshots at 3 and 6

    state = account(client, lab, "acc-1", "?version=5").json()

    assert (state["balance"], state["snapshot_version"], state["replayed_events"]) == ("10.00", 3, 2)
    assert account(client, lab, "acc-1").json()["snapshot_version"] == 6


def test_time_travel_to_an_instant(client, lab):
    events = ok(client, lab, {"command": "OpenAccount", "account_id": "acc-1", "owner": "Ada"})
    for amount in ("1.00", "2.00", "3.00"):
        time.sleep(0.01)  # distinct recorded_at instants
        events += ok(client, lab, {"command": "Deposit", "account_id": "acc-1", "amount": amount})
    second = events[1]["metadata"]["recorded_at"]

    at_second = account(client, lab, "acc-1", f"?at={quote(second)}")
    just_before_third = datetime.fromisoformat(events[2]["metadata"]["recorded_at"].replace("Z", "+00:00"))
    just_before_third -= timedelta(microseconds=1)
    before_third = account(client, lab, "acc-1", f"?at={quote(just_before_third.isoformat())}")
    later = account(client, lab, "acc-1", f"?at={quote((datetime.now(UTC) + timedelta(days=1)).isoformat())}")

    assert at_second.status_code == 200
    assert (at_second.json()["version"], at_second.json()["balance"]) == (2, "1.00")
    assert (before_third.json()["version"], before_third.json()["balance"]) == (2, "1.00")
    assert (later.json()["version"], later.json()["balance"]) == (4, "6.00")


def test_time_travel_to_an_instant_written_with_a_plus_offset_and_a_naive_time(client, lab):
    events = build_history(client, lab, 1)
    moment = datetime.fromisoformat(events[-1]["metadata"]["recorded_at"].replace("Z", "+00:00"))

    with_plus = account(client, lab, "acc-1", "?at=" + moment.isoformat())  # '+' unescaped arrives as a space
    naive = account(client, lab, "acc-1", "?at=" + quote(moment.replace(tzinfo=None).isoformat()))

    assert with_plus.status_code == naive.status_code == 200
    assert with_plus.json()["version"] == naive.json()["version"] == 2


def test_time_travel_before_the_account_existed(client, lab):
    build_history(client, lab, 1)

    response = account(client, lab, "acc-1", "?at=2000-01-01T00:00:00Z")

    assert response.status_code == 200
    assert response.json()["version"] == 0
    assert Decimal(response.json()["balance"]) == 0


@pytest.mark.parametrize(
    "query, status",
    [("?version=0", 422), ("?version=-1", 422), ("?version=99", 422), ("?version=x", 422), ("?at=yesterday", 422),
     ("?at=" + "9" * 500, 422)],
)
def test_bad_time_travel_queries_are_refused_in_plain_words(client, lab, query, status):
    build_history(client, lab, 2)

    response = account(client, lab, "acc-1", query)

    assert response.status_code == status
    assert isinstance(response.json()["detail"], str) and response.json()["detail"]


@pytest.mark.parametrize("account_id", ["nobody", "bad id!", "x" * 41])
def test_an_unknown_or_invalid_account_is_a_404(client, lab, account_id):
    build_history(client, lab, 1)

    response = account(client, lab, quote(account_id))

    assert response.status_code == 404
    assert isinstance(response.json()["detail"], str)


def test_an_account_in_another_lab_is_not_visible(client, lab):
    from eventlab.labs.services import create_lab

    build_history(client, lab, 1)
    other, token = create_lab()

    response = client.get(f"/api/labs/{other.id}/bank/accounts/acc-1", **auth(token))

    assert response.status_code == 404
