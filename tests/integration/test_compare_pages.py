"""Saga vs 2PC pages, without a browser (eventlab.compare.views): the form starts a saga and a 2PC run with
the same order, seed and counterpart faults; the pair page steps, runs, recovers and resets both (plainly and with
htmx); the failure matrix runs in memory and replays a row as a run in the lab; bad input is a 422 in plain words that
appends nothing; another session's lab, or a run that is not in this lab, is a 404; names are escaped; every page
works without JavaScript. Then the websocket: a tab on the pair gets its panel when either run moves."""

import html
import json
import re

import pytest
from channels.db import database_sync_to_async
from django.test import Client

from eventlab.labs.models import Lab
from eventlab.labs.services import store
from eventlab.sagas import handlers as saga_handlers
from eventlab.sagas import services as saga_services
from eventlab.twopc import services as twopc_services
from eventlab.twopc.runs import LOG as TWOPC_LOG
from tests.integration.conftest import HTMX, XSS, assert_works_without_javascript, connected, received

PAIR_URL = re.compile(r"/labs/([0-9a-f]+)/twopc/compare/([0-9a-f]+)/([0-9a-f]+)/")


# --- Helpers ----------------------------------------------------------------------------------------------------------


def open_lab(client: Client) -> Lab:
    """The session's working lab, made the way a learner's first lab page makes it."""
    response = client.get("/labs/sagas/")
    assert response.status_code == 302
    return Lab.objects.get(pk=response["Location"].split("/")[2])


def form(**fields) -> dict:
    data = {"scenario": "none", "seed": "1", "customer": "Ada", "item-1-sku": "book", "item-1-qty": "1",
            "item-1-price": "12.50", "item-2-sku": "", "item-2-qty": "", "item-2-price": ""}
    data.update(fields)
    return data


def start(client: Client, lab: Lab, **fields) -> tuple[str, str]:
    response = client.post(f"/labs/{lab.id}/twopc/compare/start", form(**fields))
    assert response.status_code == 302, response.content
    match = PAIR_URL.fullmatch(response["Location"])
    assert match and match.group(1) == lab.id, response["Location"]
    return match.group(2), match.group(3)


def pair_url(lab: Lab, saga_id: str, twopc_id: str) -> str:
    return f"/labs/{lab.id}/twopc/compare/{saga_id}/{twopc_id}/"


def act(client: Client, lab: Lab, pair: tuple[str, str], action: str, **extra):
    return client.post(pair_url(lab, *pair) + "act", {"action": action}, **extra)


def load(lab: Lab, pair: tuple[str, str]):
    return saga_services.load(lab, pair[0]), twopc_services.load(lab, pair[1])


def words(response) -> str:
    """What a reader sees: the text without tags."""
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", response.content.decode())))


def assert_422(response, message: str) -> None:
    assert response.status_code == 422, response.content[:500]
    assert message in words(response), words(response)[:3000]


def number(page: str, row: str, column: int) -> str:
    """A cell of the numbers table (column 1: saga, 2: 2PC) as text."""
    cells = re.search(rf'<tr id="n-{row}">(.*?)</tr>', page, re.S).group(1)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", "", re.findall(r"<td[^>]*>(.*?)</td>", cells,
                                                                                  re.S)[column - 1]))).strip()


# --- The form ---------------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_form_offers_every_scenario_with_both_fault_lists(client):
    lab = open_lab(client)
    response = client.get(f"/labs/{lab.id}/twopc/compare/")
    assert response.status_code == 200
    page = response.content.decode()
    for key in ("none", "payment_declined", "shipping_failed", "controller_crash", "reply_lost", "reply_delayed"):
        assert f'id="scenario-{key}"' in page
    text = words(response)
    assert "payment_declined ↔ 2PC: vote_no payments" in text
    assert "orchestrator_crash after step 4 ↔ 2PC: coordinator_crash before_decision" in text
    assert "drop PaymentReserved ↔ 2PC: drop VoteYes" in text
    assert 'aria-current="page">2PC lab' in page  # the nav says where we are
    assert f'href="/labs/{lab.id}/twopc/matrix/"' in page


@pytest.mark.django_db
@pytest.mark.parametrize(("scenario", "saga_faults", "twopc_faults"), [
    ("none", [], []),
    ("payment_declined", [{"kind": "payment_declined"}], [{"kind": "vote_no", "participant": "payments"}]),
    ("shipping_failed", [{"kind": "shipping_failed"}], [{"kind": "vote_no", "participant": "inventory"}]),
    ("controller_crash", [{"kind": "orchestrator_crash", "after_step": 4, "restart_after_ms": None}],
     [{"kind": "coordinator_crash", "at": "before_decision", "restart_after_ms": None}]),
    ("reply_lost", [{"kind": "drop", "message": "PaymentReserved", "nth": 1}],
     [{"kind": "drop", "message": "VoteYes", "nth": 1}]),
    ("reply_delayed", [{"kind": "delay", "message": "PaymentReserved", "nth": 1, "ms": 5000}],
     [{"kind": "delay", "message": "VoteYes", "nth": 1, "ms": 5000}]),
])
def test_starting_makes_a_saga_and_a_2pc_run_with_the_same_order_seed_and_counterpart_faults(
        client, scenario, saga_faults, twopc_faults):
    lab = open_lab(client)
    pair = start(client, lab, scenario=scenario, seed="42", customer="Bo", **{"item-1-qty": "2",
                                                                               "item-2-sku": "pen",
                                                                               "item-2-qty": "1",
                                                                               "item-2-price": "3"})
    saga, twopc = load(lab, pair)
    assert saga.mode == "orchestration"
    assert saga.order == twopc.order
    assert saga.order["customer"] == "Bo" and saga.order["amount"] == "28.00"
    assert saga.started["seed"] == twopc.started["seed"] == 42
    assert saga.faults == saga_faults
    assert twopc.faults == twopc_faults
    assert saga.steps == twopc.steps == 0


@pytest.mark.django_db
@pytest.mark.parametrize(("fields", "message"), [
    pytest.param({"scenario": "meteor"}, "Pick one of the scenarios: No failure, The payment is declined", id="scenario"),
    pytest.param({"scenario": ""}, "Pick one of the scenarios", id="no-scenario"),
    pytest.param({"seed": "abc"}, "The seed must be a whole number", id="seed-word"),
    pytest.param({"seed": "-4"}, "The seed must be a whole number from 0", id="seed-negative"),
    pytest.param({"customer": " "}, "The customer's name must be some text.", id="no-customer"),
    pytest.param({"item-1-sku": "", "item-1-qty": "", "item-1-price": ""}, "No items in order.", id="no-items"),
    pytest.param({"item-1-qty": "--1"}, "Item 1's quantity must be a whole number", id="quantity"),
    pytest.param({"item-1-price": "1.234"}, "at most 2 decimal places", id="price"),
])
def test_a_bad_start_is_a_422_in_plain_words_that_appends_nothing(client, fields, message):
    lab = open_lab(client)
    before = store.head(lab.id)

    response = client.post(f"/labs/{lab.id}/twopc/compare/start", form(**fields))

    assert_422(response, message)
    page = response.content.decode()
    assert '<div class="bad" role="alert" id="start-error">' in page
    assert "<html" in page and 'id="compare-form"' in page  # the whole form again
    assert store.head(lab.id) == before


@pytest.mark.django_db
def test_the_refused_form_keeps_what_was_typed(client):
    lab = open_lab(client)
    response = client.post(f"/labs/{lab.id}/twopc/compare/start",
                           form(scenario="reply_lost", customer="Cy", seed="x"))
    page = response.content.decode()
    assert 'value="reply_lost" id="scenario-reply_lost" checked' in page
    assert 'value="Cy"' in page and 'id="seed" name="seed" inputmode="numeric" value="x"' in page


@pytest.mark.django_db
def test_the_form_needs_a_post_to_start(client):
    lab = open_lab(client)
    assert client.get(f"/labs/{lab.id}/twopc/compare/start").status_code == 405
    assert client.post(f"/labs/{lab.id}/twopc/compare/").status_code == 405


# --- The pair ---------------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_pair_page_shows_both_runs_the_numbers_and_the_courses_table(client):
    lab = open_lab(client)
    pair = start(client, lab, scenario="shipping_failed")
    response = client.get(pair_url(lab, *pair))
    assert response.status_code == 200
    page = response.content.decode()
    saga, twopc = load(lab, pair)
    assert (f'<div id="run" data-page="compare" data-run="{pair[0]}.{pair[1]}" '
            f'data-version="{saga.version + twopc.version}">') in page
    assert 'ws-connect="/ws/labs/' in page
    assert "<caption>What each run has done so far</caption>" in page
    assert '<th scope="row">Locks held, and for how long</th>' in page
    for aspect in ("Locks", "Failure handling", "Scalability", "Complexity"):
        assert f'<th scope="row">{aspect}</th>' in page
    assert "Shipping fails" in words(response)
    assert f'href="/labs/{lab.id}/sagas/{pair[0]}/"' in page and f'href="/labs/{lab.id}/twopc/{pair[1]}/"' in page


@pytest.mark.django_db
def test_step_both_steps_each_run_once_and_the_numbers_follow(client):
    lab = open_lab(client)
    pair = start(client, lab)
    for expected in (1, 2, 3):
        response = act(client, lab, pair, "step")
        assert response.status_code == 302 and response["Location"] == pair_url(lab, *pair)
        saga, twopc = load(lab, pair)
        assert saga.steps == twopc.steps == expected
    page = client.get(pair_url(lab, *pair)).content.decode()
    assert number(page, "steps", 1) == number(page, "steps", 2) == "3"
    assert '<strong id="saga-steps">3</strong>' in page and '<strong id="twopc-steps">3</strong>' in page


@pytest.mark.django_db
def test_run_both_to_the_end_then_the_numbers_are_final(client):
    lab = open_lab(client)
    pair = start(client, lab)
    act(client, lab, pair, "run")
    saga, twopc = load(lab, pair)
    assert saga.state == "completed" and twopc.outcome == "committed"
    response = client.get(pair_url(lab, *pair))
    page = response.content.decode()
    assert number(page, "outcome", 1) == "completed" and number(page, "outcome", 2) == "committed"
    assert number(page, "messages", 1) == "8" and number(page, "messages", 2) == "12"
    assert number(page, "blocked", 1) == "0 ms"
    assert number(page, "blocked", 2) == f"{twopc.blocked_ms()} ms"
    assert number(page, "locks", 1).startswith("0 rows, 0 ms")
    assert number(page, "locks", 2).startswith("3 rows, held up to")
    assert "“order pending, payment reserved”" in number(page, "readers", 1)
    assert number(page, "readers", 2).startswith("Uncommitted changes stayed behind locks")
    assert "Yet in phase 2 a reader of two databases could see" in number(page, "readers", 2)
    assert re.search(r'<button [^>]*id="step-both"[^>]* disabled>', page)
    assert re.search(r'<button [^>]*id="run-both"[^>]* disabled>', page)
    assert "both have finished" in words(response)


@pytest.mark.django_db
def test_when_one_run_has_finished_step_both_steps_the_other(client):
    lab = open_lab(client)
    pair = start(client, lab, scenario="payment_declined")
    saga_services.act(lab, pair[0], {"input": "run"})
    saga_before, twopc_before = load(lab, pair)
    saga_version, twopc_steps = saga_before.version, twopc_before.steps  # a loaded run is the cached head: read now

    act(client, lab, pair, "step")

    saga, twopc = load(lab, pair)
    assert saga.version == saga_version and twopc.steps == twopc_steps + 1


@pytest.mark.django_db
def test_the_controller_crash_recover_both_and_finish(client):
    lab = open_lab(client)
    pair = start(client, lab, scenario="controller_crash")
    act(client, lab, pair, "run")
    saga, twopc = load(lab, pair)
    assert saga.sim.crashed == {"orchestrator"} and twopc.outcome == "blocked"
    response = client.get(pair_url(lab, *pair))
    page = response.content.decode()
    assert 'id="recover-both"' in page
    assert number(page, "outcome", 2) == "blocked until recovery"
    assert number(page, "outcome", 1) == "waiting for recovery"
    assert "a node is down: recover it to carry on" in words(response)

    assert act(client, lab, pair, "recover").status_code == 302
    act(client, lab, pair, "run")

    saga, twopc = load(lab, pair)
    assert saga.state == "completed" and twopc.outcome == "aborted"
    page = client.get(pair_url(lab, *pair)).content.decode()
    assert number(page, "outcome", 1) == "completed (recovered by hand)"
    assert number(page, "outcome", 2) == "rolled back (recovered by hand)"
    assert 'id="recover-both"' not in page


@pytest.mark.django_db
def test_reset_starts_a_new_pair_with_the_same_start(client):
    lab = open_lab(client)
    pair = start(client, lab, scenario="reply_lost", seed="3", customer="Di")
    act(client, lab, pair, "run")

    response = act(client, lab, pair, "reset")

    match = PAIR_URL.fullmatch(response["Location"])
    new = match.group(2), match.group(3)
    assert set(new).isdisjoint(pair)
    (old_saga, old_twopc), (saga, twopc) = load(lab, pair), load(lab, new)
    assert saga.steps == twopc.steps == 0
    assert (saga.started, twopc.started) == (old_saga.started, old_twopc.started)


@pytest.mark.django_db
@pytest.mark.parametrize(("setup", "action", "message"), [
    ("run", "step", "Nothing is in flight in either run. Saga: Nothing is in flight: the saga has finished"),
    ("run", "run", "Nothing is in flight in either run."),
    ("", "recover", "Nothing has crashed in either run: there is nothing to recover."),
    ("", "explode", "Unknown action 'explode'."),
    ("", "", "Unknown action ''."),
])
def test_an_action_the_pair_cannot_take_is_a_422_that_appends_nothing(client, setup, action, message):
    lab = open_lab(client)
    pair = start(client, lab)
    if setup:
        act(client, lab, pair, setup)
    before = store.head(lab.id)

    plain = act(client, lab, pair, action)
    partial = act(client, lab, pair, action, **HTMX)

    assert_422(plain, message)
    assert "<html" in plain.content.decode()
    assert_422(partial, message)
    assert "<html" not in partial.content.decode()
    assert partial.content.decode().lstrip().startswith('<div id="run" data-page="compare"')
    assert '<div class="bad" role="alert" id="run-error">' in partial.content.decode()
    assert store.head(lab.id) == before


@pytest.mark.django_db
def test_htmx_gets_and_actions_answer_the_panel_and_the_announcement(client):
    lab = open_lab(client)
    pair = start(client, lab)
    got = client.get(pair_url(lab, *pair), **HTMX).content.decode()
    assert got.lstrip().startswith('<div id="run" data-page="compare"') and "<html" not in got

    response = act(client, lab, pair, "step", **HTMX)

    page = response.content.decode()
    assert response.status_code == 200 and "<html" not in page
    assert '<p id="run-announce" hx-swap-oob="innerHTML">Saga: step 1, in progress. Two-phase commit: step 1, ' \
           'in progress.</p>' in page
    assert "HX-Push-Url" not in response
    reset = act(client, lab, pair, "reset", **HTMX)
    assert PAIR_URL.fullmatch(reset["HX-Push-Url"])
    # Another target gets the whole page.
    other = client.get(pair_url(lab, *pair), HTTP_HX_REQUEST="true", HTTP_HX_TARGET="main")
    assert "<html" in other.content.decode()


# --- Who may see what, and unknown runs ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_another_sessions_lab_is_a_404_everywhere(client):
    lab = open_lab(client)
    pair = start(client, lab)
    before = store.head(lab.id)
    stranger = Client()
    open_lab(stranger)

    assert stranger.get(f"/labs/{lab.id}/twopc/compare/").status_code == 404
    assert stranger.post(f"/labs/{lab.id}/twopc/compare/start", form()).status_code == 404
    assert stranger.get(pair_url(lab, *pair)).status_code == 404
    assert stranger.get(pair_url(lab, *pair), **HTMX).status_code == 404
    for action in ("step", "run", "recover", "reset"):
        assert act(stranger, lab, pair, action).status_code == 404
    assert stranger.get(f"/labs/{lab.id}/twopc/matrix/").status_code == 404
    assert stranger.get(f"/labs/{lab.id}/twopc/matrix/?run=1").status_code == 404
    assert stranger.post(f"/labs/{lab.id}/twopc/matrix/replay",
                         {"row": "saga/payment_declined", "seed": "1"}).status_code == 404
    assert store.head(lab.id) == before


@pytest.mark.django_db
def test_runs_not_in_this_lab_or_swapped_are_a_404(client):
    lab = open_lab(client)
    pair = start(client, lab)
    other_id = client.post("/labs/new", {"scenario": "", "page": "twopc"})["Location"].split("/")[2]
    other = Lab.objects.get(pk=other_id)
    before = store.head(lab.id)

    for url in (pair_url(other, *pair), pair_url(lab, pair[1], pair[0]), pair_url(lab, pair[0], "0123456789ab"),
                pair_url(lab, "nope", pair[1])):
        assert client.get(url).status_code == 404, url
        assert client.post(url + "act", {"action": "step"}).status_code == 404, url
        assert client.post(url + "act", {"action": "explode"}).status_code == 404, url
    assert store.head(lab.id) == before and store.head(other.id) == 0


# --- Escaping ---------------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_html_in_names_is_escaped(client):
    lab = open_lab(client)
    pair = start(client, lab, customer=XSS, **{"item-1-sku": "<b>book</b>"})
    act(client, lab, pair, "run")
    refused = client.post(f"/labs/{lab.id}/twopc/compare/start", form(customer=XSS, seed="bad"))
    for response in (client.get(pair_url(lab, *pair)), client.get(pair_url(lab, *pair), **HTMX),
                     act(client, lab, pair, "step", **HTMX), refused):
        page = response.content.decode()
        assert "<script>alert" not in page and "<img src=x" not in page and "<b>book" not in page
        assert "&lt;script&gt;alert(" in page
    assert load(lab, pair)[0].order["customer"] == XSS


# --- The failure matrix -----------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_matrix_page_has_its_button_and_runs_nothing_until_pressed(client):
    lab = open_lab(client)
    before = store.head(lab.id)
    response = client.get(f"/labs/{lab.id}/twopc/matrix/")
    page = response.content.decode()
    assert response.status_code == 200
    assert 'id="run-matrix">Run the failure matrix</button>' in page
    assert "<table" not in page and 'id="matrix-empty"' in page
    assert store.head(lab.id) == before


@pytest.mark.django_db
def test_running_the_matrix_shows_both_tables_and_writes_nothing(client):
    lab = open_lab(client)
    before = store.head(lab.id)
    response = client.get(f"/labs/{lab.id}/twopc/matrix/", {"run": "1", "seed": "1"})
    page = response.content.decode()
    assert response.status_code == 200
    assert "<caption>Two-phase commit: each fault, how the transaction ended, and what it cost</caption>" in page
    assert "<caption>Saga: each fault, how the saga ended, and what it cost</caption>" in page
    for outcome in ("committed", "rolled-back", "blocked-until-recovery", "completed", "compensated",
                    "dead-lettered"):
        assert f'class="outcome outcome-{outcome}"' in page, outcome
    row = re.search(r'<tr id="row-twopc-coordinator-crash-before-decision">(.*?)</tr>', page, re.S).group(1)
    assert "blocked until recovery" in row and "rolled back" in row and "by hand" in row
    assert '<th scope="row">the coordinator crashes <span class="sub variant">presumed abort</span></th>' in row
    assert page.count('name="row"') == page.count("<tr id=\"row-")  # a replay button on every row
    text = words(response)
    assert "Blocked until recovery only when: coordinator_crash." in text
    assert "Something done twice only when: payments without idempotency; inventory without idempotency." in text
    assert store.head(lab.id) == before


@pytest.mark.django_db
def test_the_matrix_with_htmx_answers_only_its_part(client):
    lab = open_lab(client)
    response = client.get(f"/labs/{lab.id}/twopc/matrix/", {"run": "1"}, HTTP_HX_REQUEST="true",
                          HTTP_HX_TARGET="matrix")
    page = response.content.decode()
    assert page.lstrip().startswith('<div id="matrix">') and "<html" not in page
    assert 'id="twopc-matrix"' in page


@pytest.mark.django_db
@pytest.mark.parametrize("seed", ["abc", "-1", "99999999999", "1.5"])
def test_a_bad_matrix_seed_is_a_422_in_plain_words(client, seed):
    lab = open_lab(client)
    response = client.get(f"/labs/{lab.id}/twopc/matrix/", {"run": "1", "seed": seed})
    assert_422(response, "The seed must be a whole number from 0 to 2,147,483,647.")
    assert "<table" not in response.content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize(("row", "page", "faults"), [
    ("twopc/coordinator_crash/before_decision", "twopc",
     [{"kind": "coordinator_crash", "at": "before_decision", "restart_after_ms": None}]),
    ("twopc/drop/Rollback/2", "twopc",
     [{"kind": "vote_no", "participant": "payments"}, {"kind": "drop", "message": "Rollback", "nth": 2}]),
    ("saga/orchestrator_crash/4/manual", "sagas",
     [{"kind": "orchestrator_crash", "after_step": 4, "restart_after_ms": None}]),
    ("saga/idempotency_off/payments", "sagas",
     [{"kind": "duplicate", "message": "ReservePayment", "nth": 1}, {"kind": "idempotency_off",
                                                                       "service": "payments"}]),
])
def test_replaying_a_row_starts_its_run_in_the_lab(client, row, page, faults):
    lab = open_lab(client)
    response = client.post(f"/labs/{lab.id}/twopc/matrix/replay", {"row": row, "seed": "5"})
    assert response.status_code == 302
    match = re.fullmatch(rf"/labs/{lab.id}/{page}/([0-9a-f]+)/", response["Location"])
    assert match, response["Location"]
    service = saga_services if page == "sagas" else twopc_services
    run = service.load(lab, match.group(1))
    assert run.faults == faults and run.started["seed"] == 5 and run.steps == 0
    if page == "sagas":
        assert run.mode == "orchestration"


@pytest.mark.django_db
@pytest.mark.parametrize(("fields", "message"), [
    ({"row": "twopc/meteor", "seed": "1"}, "No row 'twopc/meteor' in the failure matrix."),
    ({"seed": "1"}, "Say which row of the failure matrix to replay."),
    ({"row": "saga/payment_declined", "seed": "x"}, "The seed must be a whole number"),
])
def test_replaying_a_bad_row_is_a_422_that_appends_nothing(client, fields, message):
    lab = open_lab(client)
    before = store.head(lab.id)
    response = client.post(f"/labs/{lab.id}/twopc/matrix/replay", fields)
    assert_422(response, message)
    assert store.head(lab.id) == before
    assert client.get(f"/labs/{lab.id}/twopc/matrix/replay").status_code == 405


# --- Without JavaScript ----------------------------------------------------------------------------------------------


def controls(page: str):
    """Every form and link of the page, checked to work without JavaScript (a form's hx-get is its action too)."""
    found = assert_works_without_javascript(page)
    for f in found.forms:
        if "hx-get" in f:
            assert f["hx-get"] == f["action"], f
    return found


def submit(client: Client, f: dict, **override):
    fields = {k: v for k, v in f["fields"].items() if v is not None}
    fields.update(override)
    return (client.post if f["method"] == "post" else client.get)(f["action"], fields)


@pytest.mark.django_db
def test_every_page_works_without_javascript(client):
    lab = open_lab(client)
    # The form, posted as the page fills it in, starts a pair.
    found = controls(client.get(f"/labs/{lab.id}/twopc/compare/").content.decode())
    response = submit(client, next(f for f in found.forms if f.get("id") == "compare-form"))
    pair = PAIR_URL.fullmatch(response["Location"]).groups()[1:]
    # Each button of the pair page does what it says, posted plainly.
    for action in ("step", "run"):
        page = controls(client.get(pair_url(lab, *pair)).content.decode())
        button = next(f for f in page.forms if f["fields"].get("action") == action)
        assert submit(client, button).status_code == 302
    saga, twopc = load(lab, pair)
    assert saga.done and twopc.done
    # The matrix button is a plain GET; a replay button a plain POST.
    page = controls(client.get(f"/labs/{lab.id}/twopc/matrix/").content.decode())
    matrix_page = submit(client, next(f for f in page.forms if f["method"] == "get"))
    assert matrix_page.status_code == 200
    replay = next(f for f in controls(matrix_page.content.decode()).forms if f["fields"].get("row"))
    assert submit(client, replay).status_code == 302


# --- Live: the pair's panel over the websocket -----------------------------------------------------------------------

@database_sync_to_async
def session_with_pair() -> tuple[str, str, tuple[str, str], int]:
    client = Client()
    lab = open_lab(client)
    pair = start(client, lab)
    saga, twopc = load(lab, pair)
    return lab.id, client.cookies["sessionid"].value, pair, saga.version + twopc.version


@database_sync_to_async
def step(lab_id: str, run_id: str, saga: bool) -> None:
    (saga_services if saga else twopc_services).act(Lab.objects.get(pk=lab_id), run_id, {"input": "step"})


@database_sync_to_async
def versions(lab_id: str, pair: tuple[str, str]) -> int:
    return (store.stream_version(lab_id, saga_handlers.stream_name(pair[0]))
            + store.stream_version(lab_id, TWOPC_LOG.stream_name(pair[1])))


def panels(messages: list[str]) -> list[str]:
    return [m for m in messages if '<div id="run" data-page="compare"' in m]


@pytest.mark.django_db(transaction=True)
async def test_a_tab_on_the_pair_gets_the_panel_when_either_run_moves():
    lab_id, cookie, pair, version = await session_with_pair()
    communicator = await connected(lab_id, cookie)
    await communicator.send_to(text_data=json.dumps({"page": "compare", "run": f"{pair[0]}.{pair[1]}",
                                                     "after": version}))
    first = await received(communicator)
    assert first and first[0].startswith('<span id="lab-head"') and panels(first) == []  # up to date

    await step(lab_id, pair[1], saga=False)  # another writer steps the 2PC run
    [panel] = panels(await received(communicator))
    now = await versions(lab_id, pair)
    assert f'data-run="{pair[0]}.{pair[1]}" data-version="{now}" hx-swap-oob="true"' in panel
    assert '<strong id="twopc-steps">1</strong>' in panel and '<strong id="saga-steps">0</strong>' in panel
    assert "Two-phase commit: step 1, in progress." in panel

    await step(lab_id, pair[0], saga=True)  # and the saga
    [panel] = panels(await received(communicator))
    assert '<strong id="saga-steps">1</strong>' in panel
    await communicator.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_a_malformed_or_foreign_pair_gets_only_the_lab_head():
    lab_id, cookie, pair, version = await session_with_pair()
    communicator = await connected(lab_id, cookie)
    for run in ("nonsense", f"{pair[1]}.{pair[0]}", "", f"{pair[0]}.{pair[1]}.x"):
        await communicator.send_to(text_data=json.dumps({"page": "compare", "run": run, "after": 0}))
        messages = await received(communicator)
        assert messages and all(m.startswith('<span id="lab-head"') for m in messages), (run, messages)
    await communicator.disconnect()
