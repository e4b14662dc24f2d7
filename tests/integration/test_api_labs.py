"""The labs half of the JSON API (API.md, "Labs"): create a lab, read its log, a stream, the export, the join code,
its read models; who may reach a lab; and the OpenAPI schema and docs page.

Each test makes its own lab and talks to it only over HTTP, like `curl` would.
"""

import json
import re

import pytest
from asgiref.sync import async_to_sync
from django.core.management import call_command
from django.test import Client

from eventlab.labs.models import Lab, Scenario
from eventlab.labs.services import start_scenario

pytestmark = pytest.mark.django_db

METADATA_KEYS = {"event_id", "command_id", "correlation_id", "causation_id", "recorded_at"}
EVENT_KEYS = {"position", "stream", "version", "type", "schema_version", "stored_schema_version", "data", "metadata"}


def auth(token: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def send(client: Client, lab_id: str, token: str | None, body: dict, **extra):
    headers = auth(token) if token else {}
    return client.post(
        f"/api/labs/{lab_id}/bank/commands", data=json.dumps(body), content_type="application/json",
        **headers, **extra,
    )


def new_lab(client: Client) -> tuple[str, str]:
    response = client.post("/api/labs")
    assert response.status_code == 201
    body = response.json()
    return body["id"], body["token"]


def seed(client: Client, lab_id: str, token: str) -> None:
    """acc-1 (3 events) and acc-2 (2 events), interleaved: positions 1..5."""
    for body in (
        {"command": "OpenAccount", "account_id": "acc-1", "owner": "Ada"},
        {"command": "OpenAccount", "account_id": "acc-2", "owner": "Grace"},
        {"command": "Deposit", "account_id": "acc-1", "amount": "50.00"},
        {"command": "Deposit", "account_id": "acc-2", "amount": "7.25"},
        {"command": "Withdraw", "account_id": "acc-1", "amount": "20.00"},
    ):
        assert send(client, lab_id, token, body).status_code == 201


def events(client: Client, lab_id: str, token: str, query: str = "") -> dict:
    response = client.get(f"/api/labs/{lab_id}/events{query}", **auth(token))
    assert response.status_code == 200, response.content
    return response.json()


# --- Creating a lab ---------------------------------------------------------------------------------------------------


def test_it_creates_a_lab_with_an_id_and_a_secret_token(client):
    before = Lab.objects.count()

    response = client.post("/api/labs")

    assert response.status_code == 201
    body = response.json()
    assert set(body) >= {"id", "token"}
    assert body["id"] and body["token"] and body["id"] != body["token"]
    assert Lab.objects.count() == before + 1
    # The token opens the new, empty lab.
    assert events(client, body["id"], body["token"]) == {"events": [], "head": 0}


def test_two_labs_get_different_ids_and_tokens(client):
    first, second = new_lab(client), new_lab(client)

    assert first[0] != second[0]
    assert first[1] != second[1]


def test_a_token_is_not_stored_in_clear(client):
    lab_id, token = new_lab(client)

    lab = Lab.objects.get(pk=lab_id)
    assert token not in lab.token_hash
    assert lab.token_matches(token)


# --- The log ---------------------------------------------------------------------------------------------------------


def test_it_serves_the_whole_log_in_position_order_with_the_head(client):
    lab_id, token = new_lab(client)
    seed(client, lab_id, token)

    body = events(client, lab_id, token)

    assert body["head"] == 5
    assert [e["position"] for e in body["events"]] == [1, 2, 3, 4, 5]
    assert [(e["stream"], e["version"], e["type"]) for e in body["events"]] == [
        ("account-acc-1", 1, "AccountOpened"),
        ("account-acc-2", 1, "AccountOpened"),
        ("account-acc-1", 2, "MoneyDeposited"),
        ("account-acc-2", 2, "MoneyDeposited"),
        ("account-acc-1", 3, "MoneyWithdrawn"),
    ]


def test_an_event_has_the_contract_shape(client):
    lab_id, token = new_lab(client)
    seed(client, lab_id, token)

    event = events(client, lab_id, token)["events"][2]

    assert set(event) == EVENT_KEYS
    assert set(event["metadata"]) == METADATA_KEYS
    assert event["type"] == "MoneyDeposited"
    assert event["schema_version"] == 2
    assert event["stored_schema_version"] == 2
    assert event["data"] == {"account_id": "acc-1", "amount": "50.00", "currency": "USD"}
    assert all(isinstance(v, str) and v for v in event["metadata"].values())
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|\+00:00)", event["metadata"]["recorded_at"])


def test_each_event_gets_its_own_event_id(client):
    lab_id, token = new_lab(client)
    seed(client, lab_id, token)

    ids = [e["metadata"]["event_id"] for e in events(client, lab_id, token)["events"]]

    assert len(set(ids)) == len(ids) == 5


def test_after_and_limit_page_through_the_log(client):
    lab_id, token = new_lab(client)
    seed(client, lab_id, token)

    first = events(client, lab_id, token, "?after=0&limit=2")
    second = events(client, lab_id, token, "?after=2&limit=2")
    third = events(client, lab_id, token, "?after=4&limit=2")
    past_head = events(client, lab_id, token, "?after=5")

    assert [e["position"] for e in first["events"]] == [1, 2]
    assert [e["position"] for e in second["events"]] == [3, 4]
    assert [e["position"] for e in third["events"]] == [5]
    assert past_head["events"] == []
    assert {first["head"], second["head"], third["head"], past_head["head"]} == {5}


@pytest.mark.parametrize("query", ["?after=-1", "?limit=0", "?limit=100000", "?after=abc", "?limit=x"])
def test_bad_paging_parameters_are_a_422_with_a_plain_message(client, query):
    lab_id, token = new_lab(client)

    response = client.get(f"/api/labs/{lab_id}/events{query}", **auth(token))

    assert response.status_code == 422
    assert isinstance(response.json()["detail"], str)


def test_a_lab_sees_only_its_own_events(client):
    lab_a, token_a = new_lab(client)
    lab_b, token_b = new_lab(client)
    seed(client, lab_a, token_a)
    assert send(client, lab_b, token_b, {"command": "OpenAccount", "account_id": "b-1", "owner": "Bo"}).status_code == 201

    body_b = events(client, lab_b, token_b)

    # Positions start at 1 in every lab: each lab is its own log.
    assert [(e["position"], e["stream"]) for e in body_b["events"]] == [(1, "account-b-1")]
    assert body_b["head"] == 1
    assert events(client, lab_a, token_a)["head"] == 5


# --- Streams ---------------------------------------------------------------------------------------------------------


def test_it_serves_one_stream_with_its_version(client):
    lab_id, token = new_lab(client)
    seed(client, lab_id, token)

    response = client.get(f"/api/labs/{lab_id}/streams/account-acc-1", **auth(token))

    assert response.status_code == 200
    body = response.json()
    assert body["stream"] == "account-acc-1"
    assert body["version"] == 3
    assert [e["version"] for e in body["events"]] == [1, 2, 3]
    assert [e["position"] for e in body["events"]] == [1, 3, 5]
    assert all(set(e) == EVENT_KEYS for e in body["events"])


def test_an_unknown_stream_is_empty_at_version_0(client):
    lab_id, token = new_lab(client)

    response = client.get(f"/api/labs/{lab_id}/streams/account-nobody", **auth(token))

    assert response.status_code == 200
    assert response.json() == {"stream": "account-nobody", "version": 0, "events": []}


# --- Export ----------------------------------------------------------------------------------------------------------


async def read_stream(response) -> str:
    """The export streams asynchronously (as daphne serves it): read it the same way."""
    return "".join([chunk.decode() async for chunk in response.streaming_content])


def export_lines(client: Client, lab_id: str, token: str) -> list[dict]:
    response = client.get(f"/api/labs/{lab_id}/export", **auth(token))
    assert response.status_code == 200
    assert "ndjson" in response["Content-Type"]
    text = async_to_sync(read_stream)(response)
    assert text == "" or text.endswith("\n")
    return [json.loads(line) for line in text.splitlines()]


def test_export_is_one_json_event_a_line_in_position_order(client):
    lab_id, token = new_lab(client)
    seed(client, lab_id, token)

    lines = export_lines(client, lab_id, token)

    assert [line["position"] for line in lines] == [1, 2, 3, 4, 5]
    assert lines[0]["data"] == {"account_id": "acc-1", "owner": "Ada"}
    assert set(lines[0]["metadata"]) == METADATA_KEYS
    # The API's events and the export agree on everything the store holds.
    api_events = events(client, lab_id, token)["events"]
    for line, event in zip(lines, api_events, strict=True):
        assert (line["stream"], line["version"], line["type"]) == (event["stream"], event["version"], event["type"])
        assert line["metadata"] == event["metadata"]


def test_export_of_an_empty_lab_is_empty(client):
    lab_id, token = new_lab(client)

    assert export_lines(client, lab_id, token) == []


def test_export_writes_old_schema_events_as_stored_while_the_api_upcasts_them(client):
    call_command("loaddata", "demo_bank", verbosity=0)
    lab, token = start_scenario(Scenario.objects.get(pk="demo-bank"))

    lines = export_lines(client, lab.id, token)
    api_events = {e["position"]: e for e in events(client, lab.id, token, "?limit=1000")["events"]}

    old = [line for line in lines if line["type"] == "MoneyDeposited" and line["schema_version"] == 1]
    assert old, "the demo scenario carries v1 deposits"
    for line in old:
        # As stored: schema version 1, no currency.
        assert "currency" not in line["data"]
        # As read: upcast to v2 with the currency filled in, the stored version still reported.
        event = api_events[line["position"]]
        assert event["schema_version"] == 2
        assert event["stored_schema_version"] == 1
        assert event["data"] == {**line["data"], "currency": "USD"}
    current = [line for line in lines if line["type"] == "MoneyDeposited" and line["schema_version"] == 2]
    assert current and all(line["data"]["currency"] == "USD" for line in current)
    assert len(lines) == len(api_events) == len(Scenario.objects.get(pk="demo-bank").events)


# --- Join code -------------------------------------------------------------------------------------------------------


def test_join_code_gives_a_code_and_its_url(client):
    lab_id, token = new_lab(client)

    response = client.get(f"/api/labs/{lab_id}/join-code", **auth(token))

    assert response.status_code == 200
    body = response.json()
    assert body["url"] == f"/labs/join/{body['code']}"
    assert body["code"] != token
    assert token not in body["url"]


def test_the_join_url_adds_the_lab_to_a_browser_session(client):
    lab_id, token = new_lab(client)
    seed(client, lab_id, token)
    url = client.get(f"/api/labs/{lab_id}/join-code", **auth(token)).json()["url"]
    browser = Client()
    assert browser.get(f"/api/labs/{lab_id}/events").status_code == 404

    opened = browser.get(url)

    assert opened.status_code == 302
    assert opened["Location"] == f"/labs/{lab_id}/bank/"
    # Now this browser reaches the lab without a token: read...
    response = browser.get(f"/api/labs/{lab_id}/events")
    assert response.status_code == 200
    assert response.json()["head"] == 5
    assert browser.get(f"/labs/{lab_id}/bank/").status_code == 200


def test_an_unknown_join_code_is_a_404_and_adds_nothing(client):
    lab_id, _token = new_lab(client)
    browser = Client()

    assert browser.get("/labs/join/not-a-real-code").status_code == 404
    assert browser.get(f"/api/labs/{lab_id}/events").status_code == 404


# --- Access: 404 for anything you may not reach, and the same 404 every time ---------------------------------------

GETS = ["events", "streams/account-acc-1", "export", "join-code", "readmodels", "bank/accounts", "bank/accounts/acc-1"]


def other_sessions_lab() -> str:
    """A lab that a different browser session created (through the pages)."""
    owner = Client()
    response = owner.get("/labs/bank/")
    assert response.status_code == 302
    return response["Location"].split("/")[2]


@pytest.mark.parametrize("path", GETS)
def test_it_answers_404_with_the_same_body_whether_or_not_the_lab_exists(client, path):
    lab_id, token = new_lab(client)
    seed(client, lab_id, token)
    _other_id, other_token = new_lab(client)
    foreign = other_sessions_lab()

    answers = {
        "wrong token": client.get(f"/api/labs/{lab_id}/{path}", **auth("not-the-token")),
        "another lab's token": client.get(f"/api/labs/{lab_id}/{path}", **auth(other_token)),
        "no token": client.get(f"/api/labs/{lab_id}/{path}"),
        "not bearer": client.get(f"/api/labs/{lab_id}/{path}", HTTP_AUTHORIZATION=f"Basic {token}"),
        "another session's lab": client.get(f"/api/labs/{foreign}/{path}"),
        "no such lab": client.get(f"/api/labs/{'0' * 24}/{path}"),
        "no such lab, with a token": client.get(f"/api/labs/{'0' * 24}/{path}", **auth(token)),
    }

    bodies = set()
    for case, response in answers.items():
        assert response.status_code == 404, case
        assert response["Content-Type"].startswith("application/json"), case
        body = response.json()
        assert isinstance(body["detail"], str) and body["detail"], case
        bodies.add(response.content)
    assert len(bodies) == 1, f"the 404 bodies differ, which tells whether a lab exists: {bodies}"


def test_posts_without_access_are_404_and_append_nothing(client):
    lab_id, token = new_lab(client)
    seed(client, lab_id, token)
    deposit = {"command": "Deposit", "account_id": "acc-1", "amount": "1.00"}

    answers = [
        send(client, lab_id, "wrong", deposit),
        send(client, lab_id, None, deposit),
        send(client, "0" * 24, "wrong", deposit),
        client.post(f"/api/labs/{lab_id}/readmodels/balances", data=json.dumps({"action": "pause"}),
                    content_type="application/json", **auth("wrong")),
    ]

    assert [r.status_code for r in answers] == [404] * 4
    assert len({r.content for r in answers}) == 1
    assert events(client, lab_id, token)["head"] == 5
    assert not any(m["paused"] for m in client.get(f"/api/labs/{lab_id}/readmodels", **auth(token)).json()["read_models"])


# --- Browser sessions: no token needed, but POSTs need the CSRF token ---------------------------------------------


def browser_with_lab() -> tuple[Client, str]:
    browser = Client(enforce_csrf_checks=True)
    response = browser.get("/labs/bank/")
    assert response.status_code == 302
    lab_id = response["Location"].split("/")[2]
    assert response["Location"] == f"/labs/{lab_id}/bank/"
    assert browser.get(response["Location"]).status_code == 200  # renders the page, sets the CSRF cookie
    return browser, lab_id


def test_a_session_that_opened_the_bank_lab_reads_it_over_the_api_without_a_token():
    browser, lab_id = browser_with_lab()

    for path in GETS[:-1]:
        response = browser.get(f"/api/labs/{lab_id}/{path}")
        assert response.status_code == 200, path


def test_a_session_post_needs_the_csrf_token():
    browser, lab_id = browser_with_lab()
    head = browser.get(f"/api/labs/{lab_id}/events").json()["head"]
    body = json.dumps({"command": "OpenAccount", "account_id": "sess-1", "owner": "Ada"})

    refused = browser.post(f"/api/labs/{lab_id}/bank/commands", data=body, content_type="application/json")

    assert 400 <= refused.status_code < 500
    assert refused.status_code != 401
    # The lab is this session's own (it just read it): the answer says what is wrong, not "Not found".
    assert "csrf" in refused.json()["detail"].lower()
    assert browser.get(f"/api/labs/{lab_id}/events").json()["head"] == head

    accepted = browser.post(
        f"/api/labs/{lab_id}/bank/commands", data=body, content_type="application/json",
        HTTP_X_CSRFTOKEN=browser.cookies["csrftoken"].value,
    )

    assert accepted.status_code == 201
    assert browser.get(f"/api/labs/{lab_id}/events").json()["head"] == head + 1


def test_a_session_lab_also_opens_with_its_own_token_but_not_another_sessions():
    browser, lab_id = browser_with_lab()
    stranger = Client()

    assert stranger.get(f"/api/labs/{lab_id}/events").status_code == 404
    assert stranger.get(f"/labs/{lab_id}/bank/").status_code == 404


# --- Read models -----------------------------------------------------------------------------------------------------


def read_models(client: Client, lab_id: str, token: str) -> dict:
    response = client.get(f"/api/labs/{lab_id}/readmodels", **auth(token))
    assert response.status_code == 200
    body = response.json()
    return {"head": body["head"], **{m["name"]: m for m in body["read_models"]}}


def act(client: Client, lab_id: str, token: str, name: str, **body):
    return client.post(f"/api/labs/{lab_id}/readmodels/{name}", data=json.dumps(body),
                       content_type="application/json", **auth(token))


def accounts(client: Client, lab_id: str, token: str) -> dict:
    response = client.get(f"/api/labs/{lab_id}/bank/accounts", **auth(token))
    assert response.status_code == 200
    return response.json()


def test_it_lists_the_read_models_with_checkpoint_and_lag(client):
    lab_id, token = new_lab(client)
    seed(client, lab_id, token)

    models = read_models(client, lab_id, token)

    assert models["head"] == 5
    for name in ("balances", "statements", "summary"):
        assert models[name]["enabled"] is True
        assert models[name]["checkpoint"] == 5
        assert models[name]["lag"] == 0
        assert models[name]["mode"] == "inline"
        assert models[name]["paused"] is False
        assert models[name]["title"] and models[name]["description"]
    for name in ("large_transactions", "daily_totals"):
        assert models[name]["enabled"] is False
        assert models[name]["lag"] == 5


def test_a_paused_read_model_lags_and_resume_catches_it_up(client):
    lab_id, token = new_lab(client)
    seed(client, lab_id, token)

    paused = act(client, lab_id, token, "balances", action="pause")
    assert paused.status_code == 200
    assert {m["name"]: m for m in paused.json()["read_models"]}["balances"]["paused"] is True
    assert send(client, lab_id, token, {"command": "Deposit", "account_id": "acc-1", "amount": "5.00"}).status_code == 201

    stale = accounts(client, lab_id, token)
    assert stale["checkpoint"] < stale["head"]
    assert (stale["checkpoint"], stale["head"]) == (5, 6)
    assert {a["account_id"]: a["balance"] for a in stale["accounts"]}["acc-1"] == "30.00"  # a stale read
    assert read_models(client, lab_id, token)["balances"]["lag"] == 1
    assert read_models(client, lab_id, token)["statements"]["lag"] == 0  # the others kept going

    assert act(client, lab_id, token, "balances", action="resume").status_code == 200

    fresh = accounts(client, lab_id, token)
    assert fresh["checkpoint"] == fresh["head"] == 6
    assert {a["account_id"]: a["balance"] for a in fresh["accounts"]}["acc-1"] == "35.00"


def test_rebuild_refills_a_read_model_to_the_same_result(client):
    lab_id, token = new_lab(client)
    seed(client, lab_id, token)
    before = accounts(client, lab_id, token)

    response = act(client, lab_id, token, "balances", action="rebuild")

    assert response.status_code == 200
    after = accounts(client, lab_id, token)
    assert after == before
    assert read_models(client, lab_id, token)["balances"]["checkpoint"] == 5


def test_rebuild_of_a_paused_read_model_empties_it_until_resumed(client):
    lab_id, token = new_lab(client)
    seed(client, lab_id, token)
    act(client, lab_id, token, "balances", action="pause")

    act(client, lab_id, token, "balances", action="rebuild")

    emptied = accounts(client, lab_id, token)
    assert (emptied["accounts"], emptied["checkpoint"], emptied["head"]) == ([], 0, 5)
    act(client, lab_id, token, "balances", action="resume")
    assert len(accounts(client, lab_id, token)["accounts"]) == 2


def test_enabling_a_catalogue_read_model_fills_it_from_history(client):
    from eventlab.labs.services import projector

    lab_id, token = new_lab(client)
    seed(client, lab_id, token)
    send(client, lab_id, token, {"command": "Deposit", "account_id": "acc-1", "amount": "2500.00"})
    send(client, lab_id, token, {"command": "Withdraw", "account_id": "acc-1", "amount": "1000.00"})
    assert read_models(client, lab_id, token)["large_transactions"]["enabled"] is False

    response = act(client, lab_id, token, "large_transactions", action="enable")

    assert response.status_code == 200
    model = {m["name"]: m for m in response.json()["read_models"]}["large_transactions"]
    assert model["enabled"] is True
    assert model["checkpoint"] == 7
    assert model["lag"] == 0
    rows = list(projector.docs(lab_id, "large_transactions").values())
    assert [(r["position"], r["type"], r["amount"]) for r in rows] == [
        (6, "MoneyDeposited", "2500.00"),
        (7, "MoneyWithdrawn", "-1000.00"),
    ]


def test_a_slowed_read_model_switches_to_async_and_lags(client, django_capture_on_commit_callbacks):
    lab_id, token = new_lab(client)
    seed(client, lab_id, token)

    response = act(client, lab_id, token, "summary", action="configure", delay_ms=500)

    assert response.status_code == 200
    summary = {m["name"]: m for m in response.json()["read_models"]}["summary"]
    assert (summary["mode"], summary["delay_ms"]) == ("async", 500)
    with django_capture_on_commit_callbacks(execute=True):
        send(client, lab_id, token, {"command": "Deposit", "account_id": "acc-1", "amount": "1.00"})
    # Nothing drives a slowed projector here but a live socket: it stays behind.
    assert read_models(client, lab_id, token)["summary"]["lag"] == 1


def test_an_async_read_model_catches_up_after_commit(client, django_capture_on_commit_callbacks):
    lab_id, token = new_lab(client)
    seed(client, lab_id, token)
    assert act(client, lab_id, token, "balances", action="configure", mode="async").status_code == 200

    with django_capture_on_commit_callbacks(execute=True):
        send(client, lab_id, token, {"command": "Deposit", "account_id": "acc-1", "amount": "1.00"})

    after = accounts(client, lab_id, token)
    assert after["checkpoint"] == after["head"] == 6
    assert read_models(client, lab_id, token)["balances"]["mode"] == "async"


@pytest.mark.parametrize(
    "name, body, status",
    [
        ("no_such_model", {"action": "enable"}, 404),
        ("large_transactions", {"action": "pause"}, 404),  # not enabled in this lab yet
        ("balances", {"action": "explode"}, 422),
        ("balances", {"action": "configure", "delay_ms": -1}, 422),
        ("balances", {"action": "configure", "delay_ms": 10**9}, 422),
        ("balances", {"action": "configure", "mode": "sideways"}, 422),
        ("balances", {}, 422),
    ],
)
def test_bad_read_model_actions_are_refused_in_plain_words(client, name, body, status):
    lab_id, token = new_lab(client)
    seed(client, lab_id, token)
    before = read_models(client, lab_id, token)

    response = act(client, lab_id, token, name, **body)

    assert response.status_code == status
    assert isinstance(response.json()["detail"], str) and response.json()["detail"]
    assert read_models(client, lab_id, token) == before


# --- OpenAPI schema and docs -----------------------------------------------------------------------------------------


def test_the_openapi_schema_lists_the_contract_paths(client):
    response = client.get("/api/openapi.json")

    assert response.status_code == 200
    paths = response.json()["paths"]
    for path in (
        "/api/labs",
        "/api/labs/{lab_id}/events",
        "/api/labs/{lab_id}/streams/{stream}",
        "/api/labs/{lab_id}/export",
        "/api/labs/{lab_id}/join-code",
        "/api/labs/{lab_id}/bank/commands",
        "/api/labs/{lab_id}/bank/accounts",
        "/api/labs/{lab_id}/bank/accounts/{account_id}",
    ):
        assert path in paths, path


def test_the_docs_page_loads_no_asset_from_another_host(client):
    response = client.get("/api/docs")

    assert response.status_code == 200
    html = response.content.decode()
    assets = re.findall(r"<(?:script|link|img)\b[^>]*?\b(?:src|href)\s*=\s*[\"']([^\"']+)[\"']", html, re.I)
    assert assets, "the docs page loads its assets from somewhere"
    off_site = [url for url in assets if re.match(r"^(https?:)?//", url, re.I)]
    assert off_site == []
    # Nor from a script building a URL to a CDN.
    assert not re.search(r"https?://(cdn\.jsdelivr|unpkg|cdnjs|fonts\.googleapis)", html)
    # And the assets it does load are served here.
    for url in assets:
        if url.startswith("/static/"):
            assert client.get(url).status_code == 200, url
