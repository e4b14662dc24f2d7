"""The pages a learner clicks through, without a browser: every form posts plainly (no htmx) and with htmx (the
partial only), like the pages do with and without JavaScript."""

import re
import threading

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import Client

from eventlab.eventstore.models import StoredEvent
from eventlab.labs.models import Lab
from eventlab.labs.services import store

pytestmark = pytest.mark.django_db

HX = {"HX-Request": "true"}


def open_bank(client: Client) -> Lab:
    response = client.get("/labs/bank/")
    assert response.status_code == 302
    match = re.fullmatch(r"/labs/([0-9a-f]+)/bank/", response["Location"])
    assert match, response["Location"]
    return Lab.objects.get(pk=match.group(1))


def command(client: Client, lab: Lab, **form):
    response = client.post(f"/labs/{lab.id}/bank/commands", form, headers=HX)
    assert response.status_code == 200, response.content
    return response


def bank_with_history(client: Client, deposits: int = 3) -> Lab:
    lab = open_bank(client)
    command(client, lab, command="OpenAccount", account_id="acc-1", owner="Ada")
    for i in range(1, deposits + 1):
        command(client, lab, command="Deposit", account_id="acc-1", amount=f"{i}.00")
    return lab


def positions(html: str) -> list[int]:
    return [int(p) for p in re.findall(r'<tr id="event-(\d+)"', html)]


def text(response) -> str:
    return re.sub(r"\s+", " ", response.content.decode())


# --- The course map and the lab pages -------------------------------------------------------------------------------


def test_the_course_map_renders_and_creates_no_lab(client):
    before = Lab.objects.count()

    response = client.get("/")

    assert response.status_code == 200
    assert "Event Sourcing" in response.content.decode()
    assert 'href="/labs/bank/"' in response.content.decode()
    assert Lab.objects.count() == before
    assert "labs" not in client.session


def test_the_first_bank_page_creates_the_sessions_working_lab_once(client):
    before = Lab.objects.count()

    first = open_bank(client)
    second = open_bank(client)

    assert first == second
    assert Lab.objects.count() == before + 1
    assert first.kind == Lab.Kind.WORKING
    page = client.get(f"/labs/{first.id}/bank/")
    assert page.status_code == 200
    assert first.id[:8] in page.content.decode()


def test_without_the_demo_scenario_the_first_lab_is_empty(client):
    lab = open_bank(client)

    assert store.head(lab.id) == 0
    assert "No events yet" in client.get(f"/labs/{lab.id}/bank/").content.decode()


def test_with_the_demo_scenario_loaded_the_first_lab_starts_from_it(client):
    call_command("loaddata", "demo_bank", verbosity=0)

    lab = open_bank(client)

    assert store.head(lab.id) == 30
    html = client.get(f"/labs/{lab.id}/bank/").content.decode()
    assert 'id="event-30"' in html
    assert "upcast" in text(client.get(f"/labs/{lab.id}/bank/events?type=MoneyDeposited&before=10"))
    assert open_bank(client) == lab  # still only once


def test_two_browsers_get_two_labs(client):
    other = Client()

    assert open_bank(client) != open_bank(other)


def test_new_lab_creates_another_lab_and_keeps_the_old_one(client):
    old = bank_with_history(client)
    old_events = [e.as_dict() for e in store.read_log(old.id)]
    before = Lab.objects.count()

    response = client.post("/labs/new", {"scenario": ""})

    assert response.status_code == 302
    new_id = response["Location"].split("/")[2]
    assert new_id != old.id
    assert Lab.objects.count() == before + 1
    assert store.head(new_id) == 0
    # The new lab is now the working lab: /labs/bank/ leads there.
    assert open_bank(client).id == new_id
    # The old lab is untouched and still this session's.
    assert [e.as_dict() for e in store.read_log(old.id)] == old_events
    assert client.get(f"/labs/{old.id}/bank/").status_code == 200


def test_new_lab_from_the_demo_scenario(client):
    call_command("loaddata", "demo_bank", verbosity=0)
    open_bank(client)

    response = client.post("/labs/new", {"scenario": "demo-bank"})

    assert store.head(response["Location"].split("/")[2]) == 30


def test_the_lab_switcher_lists_this_sessions_labs(client):
    first = open_bank(client)
    second_id = client.post("/labs/new", {"scenario": ""})["Location"].split("/")[2]

    html = client.get(f"/labs/{second_id}/bank/").content.decode()
    assert 'id="lab-switch"' in html
    assert f'value="{first.id}"' in html
    # Picking the first again makes it the working lab.
    assert client.get(f"/labs/bank/?lab={first.id}")["Location"] == f"/labs/{first.id}/bank/"


def test_new_lab_needs_a_post(client):
    before = Lab.objects.count()

    assert client.get("/labs/new").status_code == 405
    assert Lab.objects.count() == before


def test_another_sessions_lab_page_is_a_404(client):
    lab = bank_with_history(client)
    stranger = Client()

    for path in ("bank/", "bank/events", "bank/readmodels", "bank/time-travel?account=acc-1"):
        assert stranger.get(f"/labs/{lab.id}/{path}").status_code == 404, path
    assert stranger.post(f"/labs/{lab.id}/bank/commands", {"command": "Deposit", "account_id": "acc-1",
                                                            "amount": "1"}).status_code == 404
    assert store.head(lab.id) == 4
    # Picking someone else's lab (or one that does not exist) in the lab switcher is a 404 too.
    assert stranger.get(f"/labs/bank/?lab={lab.id}").status_code == 404
    assert stranger.get("/labs/bank/?lab=no-such-lab").status_code == 404


def test_the_join_link_shares_the_lab_with_a_second_browser(client):
    lab = bank_with_history(client)
    second = Client()

    response = second.get(lab.join_url)

    assert response["Location"] == f"/labs/{lab.id}/bank/"
    command(second, lab, command="Deposit", account_id="acc-1", amount="4.00")
    assert store.head(lab.id) == 5
    assert 'id="event-5"' in client.get(f"/labs/{lab.id}/bank/").content.decode()


def test_the_lab_page_shows_the_join_link(client):
    lab = open_bank(client)

    html = client.get(f"/labs/{lab.id}/bank/").content.decode()

    assert f"http://testserver/labs/join/{lab.join_code}" in html


# --- Commands through the form ----------------------------------------------------------------------------------------


def test_an_accepted_command_shows_its_events_plain_and_with_htmx(client):
    lab = open_bank(client)

    plain = client.post(f"/labs/{lab.id}/bank/commands",
                        {"command": "OpenAccount", "account_id": "acc-1", "owner": "Ada"})
    partial = client.post(f"/labs/{lab.id}/bank/commands",
                          {"command": "Deposit", "account_id": "acc-1", "amount": "12.50"}, headers=HX)

    assert plain.status_code == partial.status_code == 200
    assert "<html" in plain.content.decode()
    assert "Accepted: OpenAccount" in text(plain)
    assert "#1</code> AccountOpened" in text(plain)
    assert 'id="event-1"' in plain.content.decode()  # the whole page, with the log
    assert "<html" not in partial.content.decode()
    # Only the result, swapped into the page's #command-result live region (which stays, so it is announced).
    assert 'id="command-result"' not in partial.content.decode()
    assert "Accepted: Deposit" in text(partial)
    assert "#2</code> MoneyDeposited on <code>account-acc-1</code> v2" in text(partial)


def test_a_command_id_from_the_form_makes_it_idempotent(client):
    lab = bank_with_history(client, 0)

    first = client.post(f"/labs/{lab.id}/bank/commands",
                        {"command": "Deposit", "account_id": "acc-1", "amount": "5", "command_id": "form-1"}, headers=HX)
    again = client.post(f"/labs/{lab.id}/bank/commands",
                        {"command": "Deposit", "account_id": "acc-1", "amount": "5", "command_id": "form-1"}, headers=HX)

    assert "Accepted" in text(first)
    assert "Already applied: nothing appended" in text(again)
    assert store.head(lab.id) == 2


@pytest.mark.parametrize("htmx", [False, True], ids=["plain", "htmx"])
def test_the_retry_form_with_the_same_command_id_appends_nothing(client, htmx):
    lab = bank_with_history(client, 0)
    first = client.post(f"/labs/{lab.id}/bank/commands", {"command": "Deposit", "account_id": "acc-1", "amount": "5"},
                        headers=HX)
    # The result carries a retry form with the command and its id as hidden fields.
    hidden = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)">', first.content.decode()))
    assert hidden["command"] == "Deposit" and hidden["command_id"]
    head = store.head(lab.id)

    response = client.post(f"/labs/{lab.id}/bank/retry", hidden, headers=HX if htmx else {})

    assert response.status_code == 200
    assert "Already applied: nothing appended" in text(response)
    assert hidden["command_id"] in response.content.decode()
    assert ("<html" in response.content.decode()) is not htmx
    assert store.head(lab.id) == head


def test_the_retry_form_with_a_new_command_id_appends(client):
    lab = bank_with_history(client, 0)

    response = client.post(f"/labs/{lab.id}/bank/retry",
                           {"command": "Deposit", "account_id": "acc-1", "amount": "5", "command_id": "fresh"},
                           headers=HX)

    assert "Accepted" in text(response)
    assert store.head(lab.id) == 2


# --- The race form: two tabs, one expected version --------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("htmx", [False, True], ids=["plain", "htmx"])
def test_the_race_form_lets_exactly_one_deposit_win(htmx):
    client = Client()
    lab = bank_with_history(client, 1)  # acc-1 at version 2
    assert store.head(lab.id) == 2

    response = client.post(f"/labs/{lab.id}/bank/race", {"account_id": "acc-1", "amount_a": "10.00",
                                                          "amount_b": "20.00"}, headers=HX if htmx else {})

    assert response.status_code == 200
    html = text(response)
    assert ("<html" in html) is not htmx
    assert html.count("Won —") == 1
    assert html.count("Lost: conflict (409)") == 1
    assert "expected version <strong>2</strong>, actual version <strong>3</strong>" in html
    events = store.read_log(lab.id)
    assert len(events) == 3  # exactly one event appended
    winner = events[-1]
    assert (winner.type, winner.version) == ("MoneyDeposited", 3)
    assert winner.data["amount"] in ("10.00", "20.00")
    assert f"Tab {'A' if winner.data['amount'] == '10.00' else 'B'}: deposit {winner.data['amount']}" in html


@pytest.mark.django_db(transaction=True)
def test_retrying_the_race_loser_appends_once_and_the_winner_never_again():
    client = Client()
    lab = bank_with_history(client, 1)
    race = client.post(f"/labs/{lab.id}/bank/race", {"account_id": "acc-1", "amount_a": "10.00",
                                                      "amount_b": "20.00"}, headers=HX).content.decode()
    forms = re.findall(r"<form .*?</form>", race, re.S)
    retries = [dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)">', f)) for f in forms]
    assert len(retries) == 2

    for form in retries:
        client.post(f"/labs/{lab.id}/bank/retry", form, headers=HX)
    for form in retries:  # and again: nothing more
        client.post(f"/labs/{lab.id}/bank/retry", form, headers=HX)

    amounts = sorted(e.data["amount"] for e in store.read_log(lab.id) if e.type == "MoneyDeposited")
    assert amounts == ["1.00", "10.00", "20.00"]
    assert store.head(lab.id) == 4
    connection.close()


@pytest.mark.parametrize("account_id", ["nobody", "", "bad id"])
def test_the_race_form_on_an_unknown_account_is_rejected(client, account_id):
    lab = bank_with_history(client, 0)

    response = client.post(f"/labs/{lab.id}/bank/race", {"account_id": account_id}, headers=HX)

    assert "Rejected" in text(response)
    assert store.head(lab.id) == 1


# --- The event panel ---------------------------------------------------------------------------------------------------


def two_accounts(client: Client) -> Lab:
    """acc-1: open + 20 deposits; acc-2: open + 10 deposits + 1 withdrawal, interleaved (33 events)."""
    lab = open_bank(client)
    command(client, lab, command="OpenAccount", account_id="acc-1", owner="Ada")
    command(client, lab, command="OpenAccount", account_id="acc-2", owner="Bo")
    for i in range(20):
        command(client, lab, command="Deposit", account_id="acc-1", amount="1")
        if i < 10:
            command(client, lab, command="Deposit", account_id="acc-2", amount="2")
    command(client, lab, command="Withdraw", account_id="acc-2", amount="1")
    assert store.head(lab.id) == 33
    return lab


def test_the_event_panel_shows_the_newest_25_and_pages_back(client):
    lab = two_accounts(client)

    latest = client.get(f"/labs/{lab.id}/bank/events", headers=HX).content.decode()
    assert positions(latest) == list(range(33, 8, -1))
    older_link = re.search(r'href="([^"]*before=(\d+))"', latest)
    assert older_link and older_link.group(2) == "9"

    older = client.get(older_link.group(1).replace("&amp;", "&"), headers=HX).content.decode()

    assert positions(older) == list(range(8, 0, -1))
    assert "Paged back" in older
    assert 'data-live="false"' in older
    assert "Latest (live)" in older


def test_the_event_panel_filters_by_stream(client):
    lab = two_accounts(client)

    html = client.get(f"/labs/{lab.id}/bank/events?stream=account-acc-2", headers=HX).content.decode()

    expected = [e.position for e in store.read_log(lab.id) if e.stream == "account-acc-2"]
    assert positions(html) == sorted(expected, reverse=True)
    assert len(expected) == 12
    assert '<option value="account-acc-2" selected>' in html


def test_the_event_panel_filters_by_type(client):
    lab = two_accounts(client)

    html = client.get(f"/labs/{lab.id}/bank/events?type=AccountOpened", headers=HX).content.decode()

    assert positions(html) == [2, 1]


def test_the_event_panel_filters_by_stream_and_type_and_pages(client):
    lab = two_accounts(client)
    deposits_1 = [e.position for e in store.read_log(lab.id) if e.stream == "account-acc-1" and e.type ==
                  "MoneyDeposited"]

    html = client.get(f"/labs/{lab.id}/bank/events?stream=account-acc-1&type=MoneyDeposited&before={deposits_1[10]}",
                      headers=HX).content.decode()

    assert positions(html) == sorted(deposits_1[:10], reverse=True)


def test_the_event_panel_says_when_nothing_matches(client):
    lab = two_accounts(client)

    html = client.get(f"/labs/{lab.id}/bank/events?type=AccountClosed", headers=HX).content.decode()

    assert positions(html) == []
    assert "No events match this filter" in html


def test_the_event_panel_shows_payload_and_metadata(client):
    lab = bank_with_history(client, 1)
    event = store.read_log(lab.id)[1]

    html = client.get(f"/labs/{lab.id}/bank/events", headers=HX).content.decode()

    assert event.metadata.event_id in html
    assert event.metadata.command_id in html
    assert "&quot;currency&quot;: &quot;USD&quot;" in html


@pytest.mark.parametrize("path", ["bank/events", "bank/readmodels", "bank/time-travel?account=acc-1"])
def test_every_partial_also_works_as_a_whole_page(client, path):
    lab = bank_with_history(client, 1)

    plain = client.get(f"/labs/{lab.id}/{path}").content.decode()
    partial = client.get(f"/labs/{lab.id}/{path}", headers=HX).content.decode()

    assert plain.lstrip().startswith("<!doctype html>")
    for part in ('id="event-panel"', 'id="readmodels"', 'id="time-travel"', 'id="command-result"'):
        assert part in plain
    assert "<html" not in partial
    assert "<body" not in partial
    assert partial.count('id="event-panel"') + partial.count('id="readmodels"') + partial.count(
        'id="time-travel"') == 1


# --- Time travel --------------------------------------------------------------------------------------------------------


def test_time_travel_shows_the_old_balance(client):
    lab = bank_with_history(client, 3)  # balances: v1 0.00, v2 1.00, v3 3.00, v4 6.00

    html = text(client.get(f"/labs/{lab.id}/bank/time-travel?account=acc-1&version=2", headers=HX))

    assert "Balance at version 2" in html
    assert '<dd id="tt-balance"><strong>1.00</strong> USD</dd>' in html
    assert "Version 2 of 4" in html
    assert "2 events replayed from the start (no snapshot)" in html
    assert "Previous version" in html and "Next version" in html


def test_time_travel_on_the_whole_page(client):
    lab = bank_with_history(client, 3)

    html = text(client.get(f"/labs/{lab.id}/bank/?account=acc-1&version=3"))

    assert '<dd id="tt-balance"><strong>3.00</strong> USD</dd>' in html


def test_time_travel_shows_the_snapshot_it_started_from(client):
    lab = bank_with_history(client, 11)  # versions 1..12, a snapshot at 10

    at_12 = text(client.get(f"/labs/{lab.id}/bank/time-travel?account=acc-1&version=12", headers=HX))
    at_5 = text(client.get(f"/labs/{lab.id}/bank/time-travel?account=acc-1&version=5", headers=HX))

    assert "taken at version 10 (every 10 events)" in at_12
    assert "snapshot at version 10 + 2 events replayed" in at_12
    assert '<strong>66.00</strong>' in at_12
    assert "5 events replayed from the start (no snapshot)" in at_5
    assert '<strong>10.00</strong>' in at_5


def test_time_travel_to_an_instant_on_the_page(client):
    lab = bank_with_history(client, 1)

    html = text(client.get(f"/labs/{lab.id}/bank/time-travel?account=acc-1&at=2000-01-01T00:00:00Z", headers=HX))

    assert '<strong>0.00</strong>' in html
    assert 'value="2000-01-01T00:00:00Z"' in html


def test_the_snapshot_setting_changes_when_snapshots_are_taken(client):
    lab = bank_with_history(client, 0)

    response = client.post(f"/labs/{lab.id}/bank/settings", {"snapshot_every": "2"})

    assert response.status_code == 302
    for _ in range(4):
        command(client, lab, command="Deposit", account_id="acc-1", amount="1")
    html = text(client.get(f"/labs/{lab.id}/bank/time-travel?account=acc-1", headers=HX))
    assert "taken at versions 2, 4 (every 2 events)" in html


# --- Read models --------------------------------------------------------------------------------------------------------


def readmodel_action(client: Client, lab: Lab, htmx: bool = True, **form):
    return client.post(f"/labs/{lab.id}/bank/readmodels/action", form, headers=HX if htmx else {})


def test_pausing_a_read_model_makes_it_lag_visibly(client):
    lab = bank_with_history(client, 1)

    paused = text(readmodel_action(client, lab, name="balances", action="pause"))
    command(client, lab, command="Deposit", account_id="acc-1", amount="5")
    lagging = text(client.get(f"/labs/{lab.id}/bank/readmodels", headers=HX))

    assert "<strong>paused</strong>" in paused
    assert 'value="resume" aria-label="Resume Accounts">Resume' in paused
    assert re.search(r'id="rm-balances-status" class="rm-status lagging".*?checkpoint <strong>2</strong> / head 3 · '
                     r"<strong>lag 1</strong> \(stale read\)", lagging)
    assert '<td class="num">1.00</td>' in lagging  # the stale balance

    resumed = text(readmodel_action(client, lab, name="balances", action="resume"))

    assert "checkpoint <strong>3</strong> / head 3 · up to date" in resumed
    assert '<td class="num">6.00</td>' in resumed


def test_the_read_model_form_without_htmx_redirects_back_to_the_page(client):
    lab = bank_with_history(client, 1)

    response = readmodel_action(client, lab, htmx=False, name="summary", action="pause")

    assert response.status_code == 302
    assert response["Location"] == f"/labs/{lab.id}/bank/#readmodels"
    assert "<strong>paused</strong>" in text(client.get(response["Location"]))


def test_slowing_a_read_model_shows_its_speed(client):
    lab = bank_with_history(client, 1)

    html = text(readmodel_action(client, lab, name="statements", action="configure", delay_ms="500"))

    assert "async · slowed: 500 ms per event" in html
    assert '<option value="500" selected>' in html

    back = text(readmodel_action(client, lab, name="statements", action="configure", delay_ms="0"))
    assert "slowed" not in back.split('id="rm-statements-status"')[1].split("</p>")[0]


def test_rebuilding_a_read_model_from_the_form(client):
    lab = bank_with_history(client, 2)

    html = text(readmodel_action(client, lab, name="balances", action="rebuild"))

    assert "checkpoint <strong>3</strong> / head 3 · up to date" in html
    assert '<td class="num">3.00</td>' in html


def test_adding_a_read_model_fills_it_from_history(client):
    lab = bank_with_history(client, 0)
    command(client, lab, command="Deposit", account_id="acc-1", amount="1500")
    command(client, lab, command="Deposit", account_id="acc-1", amount="20")
    before = client.get(f"/labs/{lab.id}/bank/readmodels", headers=HX).content.decode()
    assert 'id="rm-large_transactions-h"' not in before
    assert '<option value="large_transactions">' in before

    html = text(readmodel_action(client, lab, name="large_transactions", action="enable"))

    assert 'id="rm-large_transactions-h"' in html
    assert '<option value="large_transactions">' not in html
    assert "<td>2</td><td><code>acc-1</code></td><td>MoneyDeposited</td><td class=\"num\">1500.00</td>" in html
    assert "20.00" not in html.split('id="rm-large_transactions-body"')[1].split("</table>")[0]


def test_the_statement_read_model_follows_the_chosen_account(client):
    lab = bank_with_history(client, 1)
    command(client, lab, command="OpenAccount", account_id="acc-2", owner="Bo")
    command(client, lab, command="Deposit", account_id="acc-2", amount="7.77")

    html = text(client.get(f"/labs/{lab.id}/bank/readmodels?account=acc-2", headers=HX))

    assert "Statement of <code>acc-2</code>" in html
    assert "7.77" in html


def test_pages_never_write_events_directly(client):
    lab = bank_with_history(client, 1)
    before = StoredEvent.objects.filter(lab=lab.id).count()

    for path in ("bank/", "bank/events", "bank/readmodels", "bank/time-travel?account=acc-1"):
        client.get(f"/labs/{lab.id}/{path}")
        client.get(f"/labs/{lab.id}/{path}", headers=HX)

    assert StoredEvent.objects.filter(lab=lab.id).count() == before


@pytest.mark.django_db(transaction=True)
def test_two_browsers_racing_through_the_form_keep_the_log_gap_free():
    owner = Client()
    lab = bank_with_history(owner, 0)
    guest = Client()
    guest.get(lab.join_url)
    start = threading.Barrier(2)

    def deposit(browser: Client) -> None:
        try:
            start.wait(timeout=10)
            for _ in range(5):
                browser.post(f"/labs/{lab.id}/bank/commands",
                             {"command": "Deposit", "account_id": "acc-1", "amount": "1"}, headers=HX)
        finally:
            connection.close()

    threads = [threading.Thread(target=deposit, args=(b,)) for b in (owner, guest)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    events = store.read_log(lab.id)
    assert [e.position for e in events] == list(range(1, 12))
    assert [e.version for e in events] == list(range(1, 12))


def test_the_forms_need_the_csrf_token_the_page_gives_them():
    browser = Client(enforce_csrf_checks=True)
    lab = open_bank(browser)
    page = browser.get(f"/labs/{lab.id}/bank/").content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    form = {"command": "OpenAccount", "account_id": "acc-1", "owner": "Ada"}

    refused = browser.post(f"/labs/{lab.id}/bank/commands", form)
    assert refused.status_code == 403
    assert store.head(lab.id) == 0

    accepted = browser.post(f"/labs/{lab.id}/bank/commands", {**form, "csrfmiddlewaretoken": token})
    assert accepted.status_code == 200
    # htmx sends the token as a header (hx-headers on <body>).
    assert f'hx-headers=\'{{"X-CSRFToken": "{token}"}}\'' in page
    with_header = browser.post(f"/labs/{lab.id}/bank/commands", {**form, "account_id": "acc-2"},
                               headers={**HX, "X-CSRFToken": token})
    assert with_header.status_code == 200
    assert store.head(lab.id) == 2


def test_a_browser_lab_can_make_an_api_token_for_curl(client):
    lab = bank_with_history(client, 1)
    shown = client.post(f"/labs/{lab.id}/token", headers=HX).content.decode()
    token = re.search(r'id="token-value" type="text" readonly value="([^"]+)"', shown).group(1)
    # The token opens the lab over the API; making another one retires it.
    assert Client().get(f"/api/labs/{lab.id}/events", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 200
    client.post(f"/labs/{lab.id}/token", headers=HX)
    assert Client().get(f"/api/labs/{lab.id}/events", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 404
    # Another session cannot make tokens for this lab.
    assert Client().post(f"/labs/{lab.id}/token").status_code == 404


def test_paging_a_filtered_log_back_and_forward_returns_to_the_same_page(client):
    lab = bank_with_history(client, 0)
    command(client, lab, command="OpenAccount", account_id="acc-2", owner="Grace")
    for _ in range(30):  # interleaved, so positions of one stream are not contiguous
        command(client, lab, command="Deposit", account_id="acc-1", amount="1.00")
        command(client, lab, command="Deposit", account_id="acc-2", amount="1.00")
    url = f"/labs/{lab.id}/bank/events?stream=account-acc-1&type="
    first = client.get(url, headers=HX).content.decode()
    older_link = re.search(r'href="([^"]*before=\d+)"[^>]*>Older', first).group(1).replace("&amp;", "&")
    older = client.get(older_link, headers=HX).content.decode()
    newer_link = re.search(r'href="([^"]*before=\d+)"[^>]*>Newer', older).group(1).replace("&amp;", "&")
    back = client.get(newer_link, headers=HX).content.decode()
    # 31 acc-1 events: a page of 25, then the 6 oldest, then "Newer" shows the first 25 again.
    assert len(positions(first)) == 25 and len(positions(older)) == 6
    assert positions(back) == positions(first)
