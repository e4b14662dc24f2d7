"""Bad input gets a clear 4xx with a plain message, appends nothing, and the server keeps serving.

Every case runs over the JSON API and, where a form can send it, over the HTML command form (with and without htmx).
Then: HTML and script in an owner's name are stored verbatim and escaped on every page that shows them.
"""

import json
import re

import pytest
from asgiref.sync import async_to_sync
from django.test import Client

from tests.integration.test_api_labs import read_stream

pytestmark = pytest.mark.django_db

GOOD = {"command": "Deposit", "account_id": "acc-1", "amount": "1.00"}
XSS = "<script>alert(1)</script>"


def auth(token: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def post_api(client: Client, lab, raw: str | bytes):
    return client.post(f"/api/labs/{lab.id}/bank/commands", data=raw, content_type="application/json",
                       **auth(lab.token))


def send(client: Client, lab, body) -> object:
    return post_api(client, lab, json.dumps(body))


def head(client: Client, lab) -> int:
    return client.get(f"/api/labs/{lab.id}/events", **auth(lab.token)).json()["head"]


def balance(client: Client, lab, account_id: str = "acc-1") -> str:
    return client.get(f"/api/labs/{lab.id}/bank/accounts/{account_id}", **auth(lab.token)).json()["balance"]


@pytest.fixture
def bank(client, lab):
    """acc-1 holding 10.00, acc-2 closed: 6 events."""
    for body in (
        {"command": "OpenAccount", "account_id": "acc-1", "owner": "Ada"},
        {"command": "Deposit", "account_id": "acc-1", "amount": "10.00"},
        {"command": "OpenAccount", "account_id": "acc-2", "owner": "Bo"},
        {"command": "CloseAccount", "account_id": "acc-2"},
    ):
        assert send(client, lab, body).status_code == 201
    return lab


def assert_plain_422(response) -> str:
    assert response.status_code == 422, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert isinstance(body["detail"], str)
    assert 5 < len(body["detail"]) < 500
    return body["detail"]


def assert_nothing_appended_and_still_serving(client: Client, lab, head_before: int) -> None:
    assert head(client, lab) == head_before
    good = send(client, lab, GOOD)
    assert good.status_code == 201
    assert good.json()["events"][0]["position"] == head_before + 1


# --- Commands the domain rejects, and invalid values -----------------------------------------------------------------

# (body, words the message must contain)
REJECTED = [
    pytest.param({"command": "Withdraw", "account_id": "acc-1", "amount": "10.01"}, "insufficient funds",
                 id="insufficient-funds"),
    pytest.param({"command": "Deposit", "account_id": "acc-2", "amount": "1.00"}, "closed", id="closed-account"),
    pytest.param({"command": "CloseAccount", "account_id": "acc-1"}, "still holds", id="close-with-money"),
    pytest.param({"command": "Deposit", "account_id": "acc-1", "amount": "0"}, "positive", id="zero-amount"),
    pytest.param({"command": "Deposit", "account_id": "acc-1", "amount": "-5.00"}, "positive", id="negative-amount"),
    pytest.param({"command": "Deposit", "account_id": "acc-1", "amount": -5}, "positive", id="negative-number"),
    pytest.param({"command": "Deposit", "account_id": "acc-1", "amount": "abc"}, "not an amount", id="malformed"),
    pytest.param({"command": "Deposit", "account_id": "acc-1", "amount": "1,00"}, "not an amount", id="comma"),
    pytest.param({"command": "Deposit", "account_id": "acc-1", "amount": ""}, "amount", id="empty-amount"),
    pytest.param({"command": "Deposit", "account_id": "acc-1"}, "amount", id="missing-amount"),
    pytest.param({"command": "Deposit", "account_id": "acc-1", "amount": "NaN"}, "finite", id="nan"),
    pytest.param({"command": "Deposit", "account_id": "acc-1", "amount": "Infinity"}, "finite", id="infinity"),
    pytest.param({"command": "Deposit", "account_id": "acc-1", "amount": "1.234"}, "2 decimal places",
                 id="too-precise"),
    pytest.param({"command": "Deposit", "account_id": "acc-1", "amount": 0.001}, "2 decimal places",
                 id="too-precise-number"),
    pytest.param({"command": "Deposit", "account_id": "acc-1", "amount": "1000000.01"}, "1,000,000.00", id="huge"),
    pytest.param({"command": "Deposit", "account_id": "acc-1", "amount": "1e9"}, "1,000,000.00", id="huge-exponent"),
    pytest.param({"command": "Deposit", "account_id": "acc-1", "amount": "9" * 400}, "1,000,000.00",
                 id="huge-digits"),
    pytest.param({"command": "Withdraw", "account_id": "acc-1", "amount": "1e-5"}, "2 decimal places",
                 id="tiny-exponent"),
    pytest.param({"command": "Deposit", "account_id": "nobody", "amount": "1.00"}, "no account", id="unknown-account"),
    pytest.param({"command": "OpenAccount", "account_id": "acc-1", "owner": "Eve"}, "already exists",
                 id="duplicate-account"),
    pytest.param({"command": "OpenAccount", "account_id": "acc-9", "owner": "x" * 101}, "at most 100",
                 id="owner-too-long"),
    pytest.param({"command": "OpenAccount", "account_id": "acc-9", "owner": "   "}, "owner", id="blank-owner"),
    pytest.param({"command": "OpenAccount", "account_id": "acc-9"}, "owner", id="missing-owner"),
    pytest.param({"command": "OpenAccount", "account_id": "has space", "owner": "Eve"}, "account id",
                 id="bad-account-id"),
    pytest.param({"command": "OpenAccount", "account_id": "", "owner": "Eve"}, "account id", id="empty-account-id"),
    pytest.param({"command": "OpenAccount", "account_id": "a" * 41, "owner": "Eve"}, "account id",
                 id="long-account-id"),
]

INVALID_JSON_TYPES = [
    pytest.param({"command": "Transfer", "account_id": "acc-1"}, id="unknown-command"),
    pytest.param({"command": "deposit", "account_id": "acc-1", "amount": "1.00"}, id="lowercase-command"),
    pytest.param({"account_id": "acc-1", "amount": "1.00"}, id="no-command"),
    pytest.param({"command": "Deposit", "amount": "1.00"}, id="no-account-id"),
    pytest.param({"command": "Deposit", "account_id": 5, "amount": "1.00"}, id="account-id-number"),
    pytest.param({"command": "Deposit", "account_id": "acc-1", "amount": [1]}, id="amount-list"),
    pytest.param({"command": "Deposit", "account_id": "acc-1", "amount": {"v": 1}}, id="amount-object"),
    pytest.param({"command": "Deposit", "account_id": "acc-1", "amount": True}, id="amount-bool"),
    pytest.param({"command": "OpenAccount", "account_id": "acc-9", "owner": {"n": 1}}, id="owner-object"),
    pytest.param({"command": "Deposit", "account_id": "acc-1", "amount": "1.00", "expected_version": "two"},
                 id="expected-version-string"),
    pytest.param({"command": "Deposit", "account_id": "acc-1", "amount": "1.00", "expected_version": -1},
                 id="expected-version-negative"),
    pytest.param({"command": "Deposit", "account_id": "acc-1", "amount": "1.00", "expected_version": 1.5},
                 id="expected-version-fraction"),
    pytest.param({"command": "Deposit", "account_id": "acc-1", "amount": "1.00", "command_id": 7},
                 id="command-id-number"),
    pytest.param({"command": "Deposit", "account_id": "acc-1", "amount": "1.00", "command_id": ""},
                 id="command-id-empty"),
    pytest.param({"command": "Deposit", "account_id": "acc-1", "amount": "1.00", "command_id": "c" * 101},
                 id="command-id-too-long"),
]


@pytest.mark.parametrize("body, words", REJECTED)
def test_the_api_rejects_a_bad_command_in_plain_words_and_appends_nothing(client, bank, body, words):
    before = head(client, bank)

    detail = assert_plain_422(send(client, bank, body))

    assert words in detail.lower()
    assert balance(client, bank) == "10.00"
    assert_nothing_appended_and_still_serving(client, bank, before)


@pytest.mark.parametrize("body", INVALID_JSON_TYPES)
def test_the_api_refuses_wrong_json_types_with_a_422_and_a_string_detail(client, bank, body):
    before = head(client, bank)

    assert_plain_422(send(client, bank, body))

    assert_nothing_appended_and_still_serving(client, bank, before)


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param('{"command": "Deposit", "account_id": "acc-1", "amount": "1.00"', id="truncated"),
        pytest.param("{command: Deposit}", id="unquoted"),
        pytest.param("", id="empty"),
        pytest.param("null", id="null"),
        pytest.param('"Deposit"', id="string"),
        pytest.param("42", id="number"),
        pytest.param('[{"command": "Deposit", "account_id": "acc-1", "amount": "1.00"}]', id="array"),
        pytest.param("[]", id="empty-array"),
        pytest.param(b"\xff\xfe{not utf-8", id="not-utf8"),
        pytest.param('{"command": "Deposit", "account_id": "acc-1", "amount": 1e999}', id="number-overflow"),
    ],
)
def test_the_api_refuses_a_body_that_is_not_a_json_object_with_a_422(client, bank, raw):
    before = head(client, bank)

    assert_plain_422(post_api(client, bank, raw))

    assert_nothing_appended_and_still_serving(client, bank, before)


@pytest.mark.parametrize(
    "body, field",
    [
        pytest.param({**GOOD, "amout": "2.00"}, "amout", id="misspelt"),
        pytest.param({**GOOD, "note": "rent"}, "note", id="unknown"),
        pytest.param({**GOOD, "owner": "Ada", "Amount": "1.00"}, "Amount", id="wrong-case"),
    ],
)
def test_the_api_refuses_an_unknown_field_naming_it(client, bank, body, field):
    # One body policy for every POST (labs.api.ObjectBody): an unknown field is a 422, never silently ignored.
    before = head(client, bank)

    assert f"unknown field '{field}'" in assert_plain_422(send(client, bank, body))

    assert_nothing_appended_and_still_serving(client, bank, before)


@pytest.mark.parametrize("raw", ['{"action": "pause", "node": "x"}', "[]", '"pause"', "null", "7"])
def test_a_read_model_action_that_is_not_an_object_of_known_fields_is_a_422(client, bank, raw):
    response = client.post(f"/api/labs/{bank.id}/readmodels/balances", data=raw, content_type="application/json",
                           **auth(bank.token))

    detail = assert_plain_422(response)
    assert "unknown field 'node'" in detail or "JSON object" in detail
    models = client.get(f"/api/labs/{bank.id}/readmodels", **auth(bank.token)).json()["read_models"]
    assert [m["paused"] for m in models if m["name"] == "balances"] == [False]


def test_the_api_refuses_a_1_mb_body_with_a_413_json_detail(client, bank):
    before = head(client, bank)
    body = json.dumps({"command": "OpenAccount", "account_id": "acc-9", "owner": "x" * 1_000_000})

    response = post_api(client, bank, body)

    assert response.status_code == 413
    assert response["Content-Type"].startswith("application/json")
    assert "64 KiB" in response.json()["detail"]
    assert_nothing_appended_and_still_serving(client, bank, before)


def test_a_body_just_under_the_limit_is_read_and_judged_on_its_content(client, bank):
    before = head(client, bank)
    body = json.dumps({"command": "OpenAccount", "account_id": "acc-9", "owner": "x" * 60_000})

    detail = assert_plain_422(post_api(client, bank, body))

    assert "at most 100" in detail
    assert len(detail) < 500  # the message does not echo the whole name back
    assert_nothing_appended_and_still_serving(client, bank, before)


def test_the_413_covers_other_api_posts_too(client, bank):
    response = client.post(f"/api/labs/{bank.id}/readmodels/balances", data="{" + " " * 70_000 + "}",
                           content_type="application/json", **auth(bank.token))

    assert response.status_code == 413
    assert isinstance(response.json()["detail"], str)


def test_an_expected_version_beyond_any_version_is_refused_without_appending(client, bank):
    before = head(client, bank)

    response = send(client, bank, {**GOOD, "expected_version": 10**30})

    assert response.status_code in (409, 422)
    assert isinstance(response.json()["detail"], str)
    assert_nothing_appended_and_still_serving(client, bank, before)


def test_an_amount_over_the_balance_limit_is_rejected(client, bank):
    for _ in range(99):  # 10.00 + 99,000,000.00: one more million would pass the 100,000,000.00 limit
        assert send(client, bank, {"command": "Deposit", "account_id": "acc-1", "amount": "1000000.00"}).status_code == 201
    before = head(client, bank)

    detail = assert_plain_422(send(client, bank, {"command": "Deposit", "account_id": "acc-1", "amount": "1000000.00"}))

    assert "limit" in detail
    assert_nothing_appended_and_still_serving(client, bank, before)


def test_a_rejected_command_does_not_use_up_its_command_id(client, bank):
    before = head(client, bank)
    refused = send(client, bank, {"command": "Withdraw", "account_id": "acc-1", "amount": "99.00", "command_id": "w1"})
    assert refused.status_code == 422

    accepted = send(client, bank, {"command": "Withdraw", "account_id": "acc-1", "amount": "9.00", "command_id": "w1"})

    assert accepted.status_code == 201
    assert head(client, bank) == before + 1


# --- The same over the HTML form ------------------------------------------------------------------------------------


def browser_lab(client: Client):
    """The session's lab, opened through the pages, with acc-1 holding 10.00 and acc-2 closed."""
    from eventlab.labs.models import Lab

    response = client.get("/labs/bank/")
    lab = Lab.objects.get(pk=response["Location"].split("/")[2])
    for form in (
        {"command": "OpenAccount", "account_id": "acc-1", "owner": "Ada"},
        {"command": "Deposit", "account_id": "acc-1", "amount": "10.00"},
        {"command": "OpenAccount", "account_id": "acc-2", "owner": "Bo"},
        {"command": "CloseAccount", "account_id": "acc-2"},
    ):
        assert client.post(f"/labs/{lab.id}/bank/commands", form).status_code == 200
    return lab


def store_head(lab) -> int:
    from eventlab.labs.services import store

    return store.head(lab.id)


FORM_REJECTED = [
    pytest.param({"command": "Withdraw", "account_id": "acc-1", "amount": "10.01"}, "Insufficient funds",
                 id="insufficient-funds"),
    pytest.param({"command": "Deposit", "account_id": "acc-2", "amount": "1.00"}, "is closed", id="closed-account"),
    pytest.param({"command": "Deposit", "account_id": "acc-1", "amount": "0"}, "positive", id="zero-amount"),
    pytest.param({"command": "Deposit", "account_id": "acc-1", "amount": "-3"}, "positive", id="negative-amount"),
    pytest.param({"command": "Deposit", "account_id": "acc-1", "amount": "ten"}, "not an amount", id="malformed"),
    pytest.param({"command": "Deposit", "account_id": "acc-1", "amount": "1.005"}, "2 decimal places",
                 id="too-precise"),
    pytest.param({"command": "Deposit", "account_id": "acc-1", "amount": "2000000"}, "1,000,000.00", id="huge"),
    pytest.param({"command": "Deposit", "account_id": "acc-1", "amount": ""}, "amount", id="empty-amount"),
    pytest.param({"command": "Deposit", "account_id": "nobody", "amount": "1.00"}, "no account",
                 id="unknown-account"),
    pytest.param({"command": "OpenAccount", "account_id": "acc-1", "owner": "Eve"}, "already exists",
                 id="duplicate-account"),
    pytest.param({"command": "OpenAccount", "account_id": "acc-9", "owner": "y" * 101}, "at most 100",
                 id="owner-too-long"),
    pytest.param({"command": "OpenAccount", "account_id": "acc-9", "owner": ""}, "owner", id="blank-owner"),
    pytest.param({"command": "Launch", "account_id": "acc-1"}, "Unknown command", id="unknown-command"),
    pytest.param({"account_id": "acc-1"}, "which command", id="no-command"),
    pytest.param({"command": "Deposit", "account_id": "acc 1", "amount": "1"}, "account id", id="bad-account-id"),
    pytest.param({"command": "Deposit", "account_id": "acc-1", "amount": "1", "expected_version": "two"},
                 "whole number", id="expected-version-text"),
    pytest.param({"command": "Deposit", "account_id": "acc-1", "amount": "1", "expected_version": "-1"},
                 "whole number", id="expected-version-negative"),
    pytest.param({"command": "Deposit", "account_id": "acc-1", "amount": "1", "command_id": "c" * 101},
                 "command id", id="command-id-too-long"),
]


@pytest.mark.parametrize("htmx", [False, True], ids=["plain", "htmx"])
@pytest.mark.parametrize("form, words", FORM_REJECTED)
def test_the_form_rejects_a_bad_command_in_plain_words_and_appends_nothing(client, form, words, htmx):
    lab = browser_lab(client)
    before = store_head(lab)
    headers = {"HX-Request": "true"} if htmx else {}

    response = client.post(f"/labs/{lab.id}/bank/commands", form, headers=headers)

    assert response.status_code == 422
    html = response.content.decode()
    assert "Rejected" in html
    assert words.lower() in html.lower()
    assert "Nothing was appended to the log." in html
    assert ("<html" in html) is not htmx  # htmx gets the result fragment only; a plain post the whole page
    assert store_head(lab) == before
    good = client.post(f"/labs/{lab.id}/bank/commands", {**GOOD, "amount": "2.00"}, headers=headers)
    assert good.status_code == 200
    assert "Accepted" in good.content.decode()
    assert store_head(lab) == before + 1


@pytest.mark.parametrize("htmx", [False, True], ids=["plain", "htmx"])
def test_the_form_shows_a_conflict_for_a_stale_expected_version(client, htmx):
    lab = browser_lab(client)
    before = store_head(lab)
    headers = {"HX-Request": "true"} if htmx else {}

    response = client.post(f"/labs/{lab.id}/bank/commands", {**GOOD, "expected_version": "1"}, headers=headers)

    assert response.status_code == 409
    html = re.sub(r"\s+", " ", response.content.decode())
    assert "Conflict (409)" in html
    assert "expected version <strong>1</strong>, actual version <strong>2</strong>" in html
    assert store_head(lab) == before


def test_the_form_refuses_a_1_mb_body_with_a_413(client):
    lab = browser_lab(client)
    before = store_head(lab)

    response = client.post(f"/labs/{lab.id}/bank/commands",
                           {"command": "OpenAccount", "account_id": "acc-9", "owner": "z" * 1_000_000})

    assert response.status_code == 413
    assert "64 KiB" in response.content.decode()
    assert store_head(lab) == before
    assert client.post(f"/labs/{lab.id}/bank/commands", GOOD).status_code == 200


def test_rejection_messages_echoing_input_are_escaped(client):
    lab = browser_lab(client)

    response = client.post(f"/labs/{lab.id}/bank/commands", {"command": "Deposit", "account_id": "acc-1",
                                                             "amount": "<i>1</i>"},
                           headers={"HX-Request": "true"})

    assert response.status_code == 422
    html = response.content.decode()
    assert "<i>1</i>" not in html
    assert "&lt;i&gt;1&lt;/i&gt;" in html


# --- HTML in names: stored verbatim, escaped everywhere ---------------------------------------------------------------


@pytest.fixture
def xss_lab(client):
    """A session lab whose acc-1 belongs to `<script>alert(1)</script>`, opened through the API with the session."""
    from eventlab.labs.models import Lab

    lab = Lab.objects.get(pk=client.get("/labs/bank/")["Location"].split("/")[2])
    for body in (
        {"command": "OpenAccount", "account_id": "acc-1", "owner": XSS},
        {"command": "Deposit", "account_id": "acc-1", "amount": "5.00"},
    ):
        response = client.post(f"/api/labs/{lab.id}/bank/commands", data=json.dumps(body),
                               content_type="application/json")
        assert response.status_code == 201
    return lab


def test_a_script_owner_name_is_stored_verbatim(client, xss_lab):
    event = client.get(f"/api/labs/{xss_lab.id}/events").json()["events"][0]

    assert event["data"]["owner"] == XSS
    exported = async_to_sync(read_stream)(client.get(f"/api/labs/{xss_lab.id}/export"))
    assert json.loads(exported.splitlines()[0])["data"]["owner"] == XSS
    accounts = client.get(f"/api/labs/{xss_lab.id}/bank/accounts").json()["accounts"]
    assert accounts[0]["owner"] == XSS


@pytest.mark.parametrize("htmx", [False, True], ids=["plain", "htmx"])
@pytest.mark.parametrize(
    "path",
    [
        "bank/",
        "bank/?account=acc-1&version=1",
        "bank/events",
        "bank/events?stream=account-acc-1&type=AccountOpened",
        "bank/readmodels?account=acc-1",
        "bank/time-travel?account=acc-1",
        "bank/time-travel?account=acc-1&version=1",
    ],
)
def test_a_script_owner_name_is_escaped_on_every_page(client, xss_lab, path, htmx):
    headers = {"HX-Request": "true"} if htmx else {}

    response = client.get(f"/labs/{xss_lab.id}/{path}", headers=headers)

    assert response.status_code == 200
    html = response.content.decode()
    assert "<script>alert(1)" not in html
    assert "&lt;script&gt;alert(1)" in html


def test_a_script_owner_name_is_escaped_in_command_results(client, xss_lab):
    response = client.post(f"/labs/{xss_lab.id}/bank/commands",
                           {"command": "OpenAccount", "account_id": "acc-2", "owner": XSS},
                           headers={"HX-Request": "true"})

    assert response.status_code == 200
    html = response.content.decode()
    assert "<script>alert(1)" not in html
    assert "&lt;script&gt;alert(1)" in html  # in the retry form's hidden owner field


def test_a_script_in_a_query_parameter_is_escaped(client, xss_lab):
    for path in (f"bank/events?stream={XSS}&type={XSS}", f"bank/time-travel?account=acc-1&at={XSS}",
                 f"bank/?account={XSS}"):
        response = client.get(f"/labs/{xss_lab.id}/{path}", headers={"HX-Request": "true"})
        assert response.status_code == 200, path
        assert "<script>alert(1)" not in response.content.decode(), path


# --- Other pages' bad input -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    ["?version=abc", "?version=-3", "?version=99999999999999999999", "?at=not-a-time", "?at=" + "1" * 300,
     "?account=nobody", "?account=", "?version=0"],
)
def test_the_time_travel_partial_survives_bad_queries(client, xss_lab, query):
    sep = "&" if "account=" not in query else ""
    path = f"/labs/{xss_lab.id}/bank/time-travel{query}{sep + 'account=acc-1' if sep else ''}"

    response = client.get(path, headers={"HX-Request": "true"})

    assert response.status_code == 200
    assert 'id="time-travel"' in response.content.decode()


@pytest.mark.parametrize("query", ["?before=abc", "?before=-1", "?before=0", "?before=" + "9" * 40,
                                   "?stream=" + "s" * 5000, "?type=Nope"])
def test_the_event_panel_survives_bad_queries(client, xss_lab, query):
    response = client.get(f"/labs/{xss_lab.id}/bank/events{query}", headers={"HX-Request": "true"})

    assert response.status_code == 200
    assert 'id="event-panel"' in response.content.decode()


@pytest.mark.parametrize(
    "form",
    [{"name": "balances", "action": "explode"}, {"name": "nope", "action": "pause"},
     {"name": "large_transactions", "action": "pause"}, {"name": "balances"}],
)
def test_the_read_model_form_refuses_bad_actions_in_plain_words(client, xss_lab, form):
    response = client.post(f"/labs/{xss_lab.id}/bank/readmodels/action", form, headers={"HX-Request": "true"})

    assert response.status_code == 422
    assert 'class="bad" role="alert"' in response.content.decode()


@pytest.mark.parametrize("value", ["0", "-1", "abc", "100001", ""])
def test_the_snapshot_setting_ignores_bad_values(client, xss_lab, value):
    response = client.post(f"/labs/{xss_lab.id}/bank/settings", {"snapshot_every": value})

    assert response.status_code == 302
    xss_lab.refresh_from_db()
    assert xss_lab.snapshot_every == 10
