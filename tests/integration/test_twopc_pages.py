"""The two-phase commit lab's pages, without a browser (eventlab.twopc.views): the lab page with its presets, runs and
links, starting a transaction from the form or a preset, every button of the run page (plainly, and with htmx: the
#run partial only), looking back and forking a what-if run, the pictures (sequence diagram, the protocol's state, the
outcome in words), plain-words 422s that append nothing, 404s for other sessions' labs and unknown runs, escaping,
and every page working without JavaScript. Then each preset, through the pages, ends where its description says.

What every simulation lab's pages do alike (start, a preset, step, back, fork, refusals, 404s, the htmx panel, the
predict prompt) is tested once for all of them by the run-lab contract, tests/contract/test_run_lab_pages.py; the
tests here are the 2PC lab's own."""

import html
import re
import subprocess
import sys

import pytest
from django.core.management import call_command
from django.test import Client

from eventlab.eventstore.models import StoredEvent
from eventlab.labs.models import Lab
from eventlab.labs.services import store
from eventlab.twopc import services
from eventlab.twopc.models import Preset
from eventlab.twopc.runs import LOG
from tests.integration.conftest import (
    HTMX,
    XSS,
    assert_422,
    assert_run_partial,
    assert_works_without_javascript,
    controls,
    form_fields,
    open_lab,
    parse,
    post_plainly,
    text,
)
from tests.integration.conftest import run_id_of as run_of

pytestmark = pytest.mark.django_db

LAB = "twopc"  # the lab these pages belong to (the presets fixture loads its presets)

PRESETS = ("commit", "vote-no", "coordinator-crash-after-prepare", "coordinator-crash-after-decision",
           "participant-crash", "vote-timeout", "commit-lost", "presumed-nothing-vote-no", "read-only", "one-phase",
           "cooperative-unblocks", "cooperative-blocked")
EVERYONE = ["orders", "payments", "inventory"]
BLOCKED = "Participants voted Yes and the coordinator is down: they cannot decide alone and hold their locks until " \
          "it recovers."


# --- Helpers ----------------------------------------------------------------------------------------------------------


def open_twopc(client: Client) -> Lab:
    return open_lab(client, LAB)


def run_id_of(response, lab: Lab) -> str:
    """The run a plain (redirecting) answer leads to."""
    return run_of(response, lab, LAB)


ROW_DEFAULTS = {  # what each fault row's fields hold until the learner changes them
    "vote_no-participant": "payments", "participant_crash-participant": "inventory",
    "participant_crash-at": "after_vote", "participant_crash-restart_ms": "1000",
    "coordinator_crash-at": "before_decision", "coordinator_crash-restart_ms": "1000",
    "drop-nth": "1", "drop-message": "Commit", "delay-nth": "1", "delay-message": "VoteYes", "delay-ms": "5000",
}


def form(**fields) -> dict:
    """The start form as a browser posts it (every participant, only the first item row filled, every fault row's
    fields as the page fills them), `fields` on top."""
    data = {"participant": EVERYONE, "seed": "1", "customer": "Ada", "item-1-sku": "book", "item-1-qty": "1",
            "item-1-price": "12.50", "item-2-sku": "", "item-2-qty": "", "item-2-price": "", **ROW_DEFAULTS}
    data.update(fields)
    return data


def run_url(lab: Lab, run_id: str) -> str:
    return f"/labs/{lab.id}/twopc/{run_id}/"


def start(client: Client, lab: Lab, **fields) -> str:
    return run_id_of(client.post(f"/labs/{lab.id}/twopc/start", form(**fields)), lab)


def preset(client: Client, lab: Lab, slug: str) -> str:
    return run_id_of(client.post(f"/labs/{lab.id}/twopc/preset", {"preset": slug}), lab)


def act(client: Client, lab: Lab, run_id: str, action: str, **fields):
    return client.post(f"{run_url(lab, run_id)}act", {"action": action, **fields})


def acted(client: Client, lab: Lab, run_id: str, action: str, **fields) -> str:
    """Act plainly; the run the redirect leads to."""
    return run_id_of(act(client, lab, run_id, action, **fields), lab)


def page_of(client: Client, lab: Lab, run_id: str, query: str = "") -> str:
    response = client.get(run_url(lab, run_id) + query)
    assert response.status_code == 200
    return response.content.decode()


def words(response) -> str:
    """What a reader sees: the text without tags."""
    content = response if isinstance(response, str) else response.content.decode()
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", content)))


def step_count(page: str) -> int:
    return int(re.search(r'<strong id="step-count">(\d+)</strong>', page).group(1))


def outcome(page: str) -> str:
    return re.search(r'<span class="outcome outcome-(\w+)" id="outcome">([^<]+)</span>', page).group(1, 2)


def sentence(page: str) -> str:
    return html.unescape(re.search(r'<p id="outcome-text" class="outcome-text">([^<]*)</p>', page).group(1))


def participant(page: str, name: str) -> str:
    """The participant's card on the page, as words."""
    match = re.search(rf'<div class="participant state-\w+" id="p-{name}">(.*?)</table>(.*?)</div>', page, re.S)
    return words(match.group(1) + match.group(2))


def number(page: str, name: str) -> str:
    return re.search(rf'<dd id="n-{name}">([^<]+)</dd>', page).group(1)


def stream(lab: Lab, run_id: str) -> list[dict]:
    return [e.as_dict() for e in store.read_stream(lab.id, LOG.stream_name(run_id))]


def load(lab: Lab, run_id: str):
    return services.load(lab, run_id)


def runs(lab: Lab) -> list:
    return LOG.runs(store, lab.id)


# --- The lab page ---------------------------------------------------------------------------------------------------


def test_the_lab_page_is_the_2pc_lab_in_the_nav_and_its_lab_bar_switches_to_the_2pc_lab(client):
    lab = open_twopc(client)
    client.post("/labs/new", {"scenario": "", "page": "twopc"})

    page = client.get(f"/labs/{lab.id}/twopc/").content.decode()

    found = parse(page)
    assert found.one("link", "2PC lab")["aria-current"] == "page"
    forms = found.by_role("form")
    assert any(f["action"] == "/labs/twopc/" and f["method"] == "get" for f in forms)  # the lab bar's "Switch lab"
    assert form_fields(found.one("button", "New lab").form)["page"] == "twopc"  # "New lab" stays in the 2PC lab


def test_new_lab_from_the_2pc_lab_opens_the_2pc_lab_of_the_new_lab(client):
    lab = open_twopc(client)

    response = client.post("/labs/new", {"scenario": "", "page": "twopc"})

    new_id = re.fullmatch(r"/labs/([0-9a-f]+)/twopc/", response["Location"]).group(1)
    assert new_id != lab.id
    assert client.get("/labs/twopc/")["Location"] == f"/labs/{new_id}/twopc/"


def test_the_lab_page_without_presets_says_how_to_load_them(client):
    lab = open_twopc(client)

    page = text(client.get(f"/labs/{lab.id}/twopc/"))

    assert "No presets are loaded" in page and "loaddata twopc_presets" in page
    assert "No runs yet." in page


def test_the_lab_page_lists_every_preset_in_order_with_its_description_and_button(client, presets):
    lab = open_twopc(client)

    page = parse(client.get(f"/labs/{lab.id}/twopc/"))

    buttons = page.by_role("button", re.compile("^Run “"))
    assert [form_fields(b.form)["preset"] for b in buttons] == list(PRESETS)
    for p, button in zip(presets, buttons, strict=True):
        assert button.name == f"Run “{p.title}”"
        assert button.form.one("heading", p.title) and button.form.says(p.description)
    assert not page.says("No presets are loaded")


def test_the_lab_page_links_to_the_side_by_side_comparison_and_the_failure_matrix(client):
    lab = open_twopc(client)

    page = parse(client.get(f"/labs/{lab.id}/twopc/"))

    assert page.one("link", "Saga vs 2PC side by side")["href"] == f"/labs/{lab.id}/twopc/compare/"
    assert page.one("link", "The failure matrix")["href"] == f"/labs/{lab.id}/twopc/matrix/"


def test_the_lab_page_lists_the_labs_runs_newest_first(client):
    lab = open_twopc(client)
    first = start(client, lab)
    second = start(client, lab, participant=["payments", "inventory"], seed="7", fault="vote_no")

    response = client.get(f"/labs/{lab.id}/twopc/")

    links = re.findall(rf'<a href="/labs/{lab.id}/twopc/([0-9a-f]+)/">Run', response.content.decode())
    assert links == [second, first]
    assert (f"Run {second} · payments, inventory · seed 7 · 1 fault Run {first} · orders, payments, inventory · "
            "seed 1 ") in words(response).replace("Run  ", "Run ").replace("  ", " ")
    assert "No runs yet." not in words(response)


# --- Starting a run ---------------------------------------------------------------------------------------------------


def test_starting_from_the_form_redirects_to_the_new_run(client):
    lab = open_twopc(client)
    before = store.head(lab.id)

    response = client.post(f"/labs/{lab.id}/twopc/start", form(
        seed="42", customer="Grace Hopper", **{"item-2-sku": "pen", "item-2-qty": "2", "item-2-price": "1.25"}))

    run_id = run_id_of(response, lab)
    assert response["Location"] == run_url(lab, run_id)
    assert store.head(lab.id) > before
    run = load(lab, run_id)
    assert (run.started["seed"], run.participants, run.steps, run.faults) == (42, EVERYONE, 0, [])
    assert run.order["customer"] == "Grace Hopper"
    assert run.order["items"] == [{"sku": "book", "qty": 1, "price": "12.50"}, {"sku": "pen", "qty": 2, "price": "1.25"}]
    page = client.get(response["Location"]).content.decode()
    seen = words(page)
    assert "Two-phase commit seed 42 · orders, payments, inventory" in seen
    assert "for Grace Hopper: 1 × book at 12.50, 2 × pen at 1.25 — total 15.00 USD." in seen
    assert "No faults injected." in seen
    assert step_count(page) == 0
    assert outcome(page) == ("in_progress", "In progress")
    assert sentence(page).startswith("Phase 1, prepare: the coordinator has 0 of 3 votes.")


def test_the_participants_checked_are_the_transactions_and_the_lanes_follow(client):
    lab = open_twopc(client)

    run_id = start(client, lab, participant=["orders", "payments"])

    assert load(lab, run_id).participants == ["orders", "payments"]
    acted(client, lab, run_id, "run")
    page = page_of(client, lab, run_id)
    lanes = re.findall(r'<g class="lane" data-lane="(\w+)">', page)
    assert lanes == ["client", "coordinator", "orders", "payments"]  # no inventory, so no other order waiting
    assert 'id="p-inventory"' not in page and 'id="other-order"' not in page
    assert outcome(page) == ("committed", "Committed")


def test_the_forms_fault_checkboxes_and_their_fields_become_the_runs_faults(client):
    lab = open_twopc(client)
    fields = {
        "fault": ["vote_no", "participant_crash", "coordinator_crash", "drop", "delay"],
        "vote_no-participant": "orders",
        "participant_crash-participant": "payments", "participant_crash-at": "before_vote",
        "participant_crash-restarts": "1", "participant_crash-restart_ms": "500",
        "coordinator_crash-at": "after_decision",  # "restarts by itself" left unchecked
        "coordinator_crash-restart_ms": "750",
        "drop-message": "Commit", "drop-nth": "2",
        "delay-message": "VoteYes", "delay-nth": "3", "delay-ms": "250",
    }

    run_id = start(client, lab, **fields)

    assert load(lab, run_id).faults == [
        {"kind": "vote_no", "participant": "orders"},
        {"kind": "participant_crash", "participant": "payments", "at": "before_vote", "restart_after_ms": 500},
        {"kind": "coordinator_crash", "at": "after_decision", "restart_after_ms": None},
        {"kind": "drop", "message": "Commit", "nth": 2},
        {"kind": "delay", "message": "VoteYes", "nth": 3, "ms": 250},
    ]
    tags = {e.text for e in parse(client.get(run_url(lab, run_id))).by_class("fault-tag")}
    assert tags >= {"vote_no orders", "participant_crash payments before_vote restarts after 500 ms",
                    "coordinator_crash after_decision", "drop Commit #2", "delay VoteYes #3 +250 ms"}


def test_restarts_by_itself_without_a_time_restarts_after_a_second(client):
    lab = open_twopc(client)

    run_id = start(client, lab, fault="coordinator_crash", **{"coordinator_crash-at": "before_decision",
                                                              "coordinator_crash-restarts": "1",
                                                              "coordinator_crash-restart_ms": ""})

    assert load(lab, run_id).faults == [{"kind": "coordinator_crash", "at": "before_decision",
                                         "restart_after_ms": 1_000}]


def test_a_fault_field_of_an_unchecked_fault_is_ignored(client):
    lab = open_twopc(client)

    run_id = start(client, lab, **{"drop-message": "Commit", "coordinator_crash-at": "never", "delay-ms": "-1"})

    assert load(lab, run_id).faults == []


def test_a_preset_button_starts_a_run_from_the_preset_and_the_page_shows_its_description(client, presets):
    lab = open_twopc(client)
    chosen = Preset.objects.get(pk="vote-no")

    response = client.post(f"/labs/{lab.id}/twopc/preset", {"preset": "vote-no"})

    run_id = run_id_of(response, lab)
    assert response["Location"] == f"{run_url(lab, run_id)}?preset=vote-no"
    run = load(lab, run_id)
    assert (run.started["seed"], run.faults) == (1, [{"kind": "vote_no", "participant": "payments"}])
    [intro] = parse(client.get(response["Location"])).by_class("preset-intro")
    assert intro.one("heading", chosen.title) and intro.says(chosen.description)
    # Without ?preset= (or with an unknown one) the run page shows no preset box.
    assert "preset-intro" not in text(client.get(run_url(lab, run_id)))
    assert "preset-intro" not in text(client.get(f"{run_url(lab, run_id)}?preset=nope"))


def test_each_preset_button_starts_a_new_run(client, presets):
    lab = open_twopc(client)

    ids = {preset(client, lab, slug) for slug in PRESETS}

    assert len(ids) == len(PRESETS)
    assert {e.data["run_id"] for e in runs(lab)} == ids


def test_start_and_preset_need_a_post(client, presets):
    lab = open_twopc(client)

    assert client.get(f"/labs/{lab.id}/twopc/start").status_code == 405
    assert client.get(f"/labs/{lab.id}/twopc/preset?preset=commit").status_code == 405
    assert client.post(f"/labs/{lab.id}/twopc/").status_code == 405
    assert store.head(lab.id) == 0


# --- Bad input: plain words, 422, nothing appended ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        pytest.param({"item-1-sku": "", "item-1-qty": "", "item-1-price": ""}, "No items in order.", id="no-items"),
        pytest.param({"item-1-qty": "-1"}, "Item 1's quantity must be a whole number from 1 to 1,000.",
                     id="negative-quantity"),
        pytest.param({"item-1-qty": "lots"}, "Item 1's quantity must be a whole number", id="word-quantity"),
        pytest.param({"item-1-price": "-3"}, "Item 1's price must be more than 0", id="negative-price"),
        pytest.param({"customer": "  "}, "The customer's name must be some text.", id="no-customer"),
        pytest.param({"seed": "abc"}, "The seed must be a whole number", id="seed-word"),
        pytest.param({"participant": []}, "The participants are one or more of orders, payments, inventory, each once.",
                     id="no-participants"),
        pytest.param({"participant": ["orders", "bakery"]}, "The participants are one or more of", id="bakery"),
        pytest.param({"participant": ["orders", "payments"], "fault": "vote_no", "vote_no-participant": "inventory"},
                     "The participant must be one of this transaction's: orders, payments.", id="vote-no-outsider"),
        pytest.param({"fault": "participant_crash", "participant_crash-participant": "payments",
                      "participant_crash-at": "whenever"},
                     "A participant_crash happens at one of: before_vote, after_vote.", id="crash-point"),
        pytest.param({"fault": "coordinator_crash", "coordinator_crash-at": "after_vote"},
                     "A coordinator_crash happens at one of: before_decision, after_decision.",
                     id="coordinator-crash-point"),
        pytest.param({"fault": "coordinator_crash", "coordinator_crash-at": "before_decision",
                      "coordinator_crash-restarts": "1", "coordinator_crash-restart_ms": "-5"},
                     "restart_after_ms must be a whole number from 0 to 600,000.", id="negative-restart"),
        pytest.param({"fault": "drop", "drop-message": "Telegram"}, "The message must be one of the protocol's",
                     id="drop-unknown-message"),
        pytest.param({"fault": "drop", "drop-message": "Commit", "drop-nth": "0"},
                     "nth must be a whole number from 1 to 100.", id="nth-0"),
        pytest.param({"fault": "delay", "delay-message": "VoteYes", "delay-ms": "-5"},
                     "ms must be a whole number from 1 to 600,000.", id="negative-delay"),
    ],
)
def test_bad_start_input_is_a_422_in_plain_words_that_appends_nothing(client, fields, message):
    lab = open_twopc(client)
    before = store.head(lab.id)

    response = client.post(f"/labs/{lab.id}/twopc/start", form(**fields))

    assert_422(response, message)
    page = parse(response)
    refusal = page.by_id("start-error")
    assert refusal.role == "alert" and refusal.one("heading", "Not started") and refusal.says(message)
    assert page.by_id("start-form") is not None  # the whole lab page again, the form kept
    assert store.head(lab.id) == before
    assert runs(lab) == []


@pytest.mark.parametrize("qty", ["--1", "---2"])
def test_a_quantity_with_two_minus_signs_is_a_422_not_a_500(qty):
    client = Client(raise_request_exception=False)
    lab = open_twopc(client)

    response = client.post(f"/labs/{lab.id}/twopc/start", form(**{"item-1-qty": qty}))

    assert_422(response, "Item 1's quantity must be a whole number from 1 to 1,000.")
    assert store.head(lab.id) == 0


def test_a_preset_the_lab_cannot_start_is_a_422_not_a_500():
    Preset.objects.create(slug="broken", title="Broken", start={"participants": ["orders", "bakery"]})
    client = Client(raise_request_exception=False)
    lab = open_twopc(client)

    response = client.post(f"/labs/{lab.id}/twopc/preset", {"preset": "broken"})

    assert_422(response, "The preset 'Broken' cannot start: The participants are one or more of")
    assert store.head(lab.id) == 0


def test_the_refused_form_keeps_what_was_typed(client):
    lab = open_twopc(client)

    response = client.post(f"/labs/{lab.id}/twopc/start", form(
        customer="Grace", seed="77", participant=["orders", "inventory"], fault=["drop"],
        **{"item-1-qty": "-1"}))

    page = response.content.decode()
    assert 'name="customer" maxlength="200" value="Grace"' in page
    assert 'name="seed" inputmode="numeric" value="77"' in page
    kept = form_fields(parse(page).by_id("start-form"))  # what posting the form again would send
    participants, faults = (v if isinstance(v, list) else [v] for v in (kept["participant"], kept["fault"]))
    assert "orders" in participants and "payments" not in participants
    assert "drop" in faults and "vote_no" not in faults


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        pytest.param({"kind": "meteor"}, "Unknown fault kind 'meteor'. The kinds are: vote_no, participant_crash,",
                     id="meteor"),
        pytest.param({}, "Unknown fault kind ''.", id="no-kind"),
        pytest.param({"kind": "vote_no", "vote_no-participant": "bakery"},
                     "The participant must be one of this transaction's: orders, payments, inventory.",
                     id="unknown-participant"),
        pytest.param({"kind": "participant_crash", "participant_crash-participant": "orders",
                      "participant_crash-at": "before_decision"},
                     "A participant_crash happens at one of: before_vote, after_vote.", id="wrong-point"),
        pytest.param({"kind": "drop", "drop-message": "Commit", "drop-nth": "0"},
                     "nth must be a whole number from 1 to 100.", id="nth-0"),
        pytest.param({"kind": "delay", "delay-message": "Ack", "delay-ms": "lots"},
                     "ms must be a whole number from 1 to 600,000.", id="delay-word"),
    ],
)
@pytest.mark.parametrize("htmx", [False, True], ids=["plain", "htmx"])
def test_a_bad_fault_from_the_inject_form_is_a_422_in_plain_words_that_appends_nothing(client, fields, message, htmx):
    lab = open_twopc(client)
    run_id = start(client, lab)
    for _ in range(3):
        acted(client, lab, run_id, "step")
    before, events = store.head(lab.id), stream(lab, run_id)

    response = client.post(f"{run_url(lab, run_id)}act", {"action": "faults", **fields}, **(HTMX if htmx else {}))

    assert_422(response, message)
    page = response.content.decode()
    refusal = parse(page).by_id("run-error")
    assert refusal.role == "alert" and refusal.one("heading", "Not done") and refusal.says(message)
    assert ("<html" in page) is not htmx
    assert 'id="run-announce" hx-swap-oob="innerHTML"' in page or not htmx
    assert step_count(page) == 3
    assert store.head(lab.id) == before
    assert stream(lab, run_id) == events


@pytest.mark.parametrize(
    ("action", "fields", "message"),
    [
        pytest.param("explode", {}, "Unknown action 'explode'.", id="unknown-action"),
        pytest.param("", {}, "Unknown action ''.", id="no-action"),
        pytest.param("recover", {}, "Nothing has crashed: there is nothing to recover.", id="recover-nothing"),
        pytest.param("recover", {"node": "orders"}, "Nothing has crashed: there is nothing to recover.",
                     id="recover-a-node"),
        pytest.param("step", {"pick": "m999"}, "Message 'm999' is not in flight.", id="pick-not-in-flight"),
        pytest.param("step", {"pick": "<b>m1</b>"}, "Message '<b>m1</b>' is not in flight.", id="pick-html"),
    ],
)
def test_an_action_the_run_cannot_take_is_a_422_that_appends_nothing(client, action, fields, message):
    lab = open_twopc(client)
    run_id = start(client, lab)
    before = store.head(lab.id)

    response = act(client, lab, run_id, action, **fields)

    assert_422(response, message)
    assert "<b>m1</b>" not in response.content.decode()
    assert store.head(lab.id) == before


def test_recovering_a_node_that_is_up_names_the_one_that_is_down(client, presets):
    lab = open_twopc(client)
    run_id = acted(client, lab, preset(client, lab, "coordinator-crash-after-prepare"), "run")
    before = store.head(lab.id)

    assert_422(act(client, lab, run_id, "recover", node="orders"),
               "'orders' has not crashed; down now: coordinator.")
    assert store.head(lab.id) == before


def test_stepping_or_running_a_finished_run_is_a_422(client):
    lab = open_twopc(client)
    run_id = acted(client, lab, start(client, lab), "run")
    before = store.head(lab.id)

    for action in ("step", "run"):
        assert_422(act(client, lab, run_id, action), "Nothing is in flight: the transaction has finished (committed).")

    assert store.head(lab.id) == before


def test_stepping_a_blocked_run_says_to_recover(client, presets):
    lab = open_twopc(client)
    run_id = acted(client, lab, preset(client, lab, "coordinator-crash-after-prepare"), "run")

    assert_422(act(client, lab, run_id, "step"),
               "Nothing is in flight and coordinator is down: recover to carry on.")
    page = page_of(client, lab, run_id)
    assert parse(page).by_id("idle").text == "Nothing is in flight and coordinator is down: recover to carry on."
    assert "disabled" in parse(page).one("button", "Step")


# --- The run page's buttons -----------------------------------------------------------------------------------------


def test_step_delivers_one_message_and_redirects_back_to_the_run(client):
    lab = open_twopc(client)
    run_id = start(client, lab)

    response = act(client, lab, run_id, "step")

    assert response.status_code == 302
    assert response["Location"] == run_url(lab, run_id)
    page = client.get(response["Location"]).content.decode()
    assert step_count(page) == 1
    [first] = parse(page).by_class("step-list")[0].by_role("listitem")
    assert first["value"] == "1"
    assert re.fullmatch(r"\d+ ms: StartWork from client to client — TimerFired", first.text)
    assert load(lab, run_id).steps == 1
    # The transaction starts its work: each participant is asked to do its part (and will lock its rows).
    assert len(re.findall(r"<td>Work</td><td>client → \w+</td>", page)) == 3
    # Nothing is in the coordinator's log before the prepare phase.
    assert "Nothing logged: the coordinator writes nothing before its decision." in page


def test_step_can_pick_a_message_that_is_not_first_in_flight(client):
    lab = open_twopc(client)
    run_id = start(client, lab)
    acted(client, lab, run_id, "step")
    pending = load(lab, run_id).pending()
    assert len(pending) >= 3
    page = page_of(client, lab, run_id)
    assert f'id="pick-{pending[0]["id"]}"' not in page  # the first one is what Step delivers
    for message in pending[1:]:
        button = parse(page).one("button", f"Deliver {message['id']} ({message['type']}) next")
        assert button.text == "Deliver next" and form_fields(button.form)["pick"] == message["id"]

    acted(client, lab, run_id, "step", pick=pending[2]["id"])

    assert load(lab, run_id).step_list()[-1]["message_id"] == pending[2]["id"]


def test_run_to_the_end_commits_and_every_picture_says_so(client):
    lab = open_twopc(client)
    run_id = start(client, lab)

    assert acted(client, lab, run_id, "run") == run_id

    run = load(lab, run_id)
    page = page_of(client, lab, run_id)
    assert outcome(page) == ("committed", "Committed")
    assert sentence(page) == ("Every participant voted Yes and the coordinator logged commit: every participant "
                              "committed and released its locks.")
    assert "Done: nothing left in flight." in page
    assert step_count(page) == run.steps > 10
    assert "disabled" in parse(page).one("button", "Run to the end")
    assert "disabled" not in parse(page).one("button", "Reset (a new run)")
    # The coordinator's log: begun, decided, ended.
    assert re.findall(r'<tr class="log-(\w+)">', page) == ["DecisionLogged", "TransactionEnded"]
    assert parse(page).by_id("coordinator-decision").text == "commit"
    for name in EVERYONE:
        card = participant(page, name)
        assert "State committed" in card and "Vote Yes" in card and "in doubt" not in card
        assert "Row Held for none" in card
    # The numbers.
    assert number(page, "steps") == str(run.steps)
    assert number(page, "messages") == str(run.messages_sent()) == "12"
    assert number(page, "lock-ms") == f"{run.lock_ms()} ms"
    assert number(page, "blocked-ms") == f"{run.blocked_ms()} ms"
    assert run.blocked_ms() > 0  # the other order waited for the stock until inventory committed
    assert f"The other order for the same stock got stock:book after {run.blocked_ms()} ms blocked." in words(page)
    # The sequence diagram: the decision is a note, Commit arrows in black.
    assert '<g class="mark mark-decision"><rect' in page and "decision logged: commit (forced)</text>" in page
    assert len(re.findall(r'<g class="arrow message commit"', page)) == 3
    assert 'class="arrow message abort' not in page


def test_one_no_vote_and_everyone_rolls_back_drawn_red_dashed_and_labelled(client, presets):
    lab = open_twopc(client)

    run_id = acted(client, lab, preset(client, lab, "vote-no"), "run")

    page = page_of(client, lab, run_id)
    assert outcome(page) == ("aborted", "Aborted")
    assert sentence(page) == ("The coordinator logged abort (not forced) (payments voted No): every participant rolled "
                              "back and "
                              "released its locks, even those that voted Yes.")
    for name, vote in (("orders", "Yes"), ("payments", "No"), ("inventory", "Yes")):
        card = participant(page, name)
        assert "State aborted" in card and f"Vote {vote}" in card and "Row Held for none" in card
    # A No vote and three Rollbacks: red (the red arrow head), dashed (the abort class) and labelled.
    no_votes = re.findall(r'<g class="arrow message abort vote-no" data-step="\d+">(.*?)</g>', page, re.S)
    rollbacks = re.findall(r'<g class="arrow message abort rollback" data-step="\d+">(.*?)</g>', page, re.S)
    assert len(no_votes) == 1 and len(rollbacks) == 2  # presumed abort: no Rollback to the No voter
    assert "VoteNo (votes No)</text>" in no_votes[0] and 'marker-end="url(#head-red)"' in no_votes[0]
    assert all("Rollback (abort)</text>" in r and 'marker-end="url(#head-red)"' in r for r in rollbacks)
    assert "payments votes No: card declined</text>" in page
    assert "decision logged: abort (not forced; then forgotten)</text>" in page
    assert 'class="vote-line abort"' in page  # the protocol picture: the No the coordinator heard


def test_the_coordinator_crashing_after_prepare_blocks_until_it_recovers_and_presumes_abort(client, presets):
    lab = open_twopc(client)
    run_id = acted(client, lab, preset(client, lab, "coordinator-crash-after-prepare"), "run")

    page = page_of(client, lab, run_id)
    assert outcome(page) == ("blocked", "Blocked")
    assert sentence(page) == BLOCKED + " Its log holds no decision: when it recovers it presumes abort."
    assert "coordinator down" in page
    assert parse(page).by_id("coordinator-state").text == "crashed"
    assert parse(page).by_id("coordinator-decision").text == "none yet"
    assert "Forgotten in the crash: the votes were never written to its log." in page
    # Every participant is prepared, in doubt, and holds its locks; the other order waits on inventory's.
    run = load(lab, run_id)
    states = run.participant_states()
    for name, row in (("orders", "order:order-1"), ("payments", "account:Ada"), ("inventory", "stock:book")):
        card = participant(page, name)
        assert "in doubt" in card and "State prepared" in card and "Vote Yes" in card
        assert f"{row} {states[name]['locked_ms']} ms" in card and states[name]["locked_ms"] >= 30_000
    waited = states["inventory"]["waiting"][0]["waited_ms"]
    assert (f'The <strong>other order</strong> waits for <code>stock:book</code>: time blocked '
            f'<strong class="blocked-counter" id="blocked-inventory">{waited} ms</strong>') in page
    assert number(page, "blocked-ms") == f"{waited} ms"
    assert page.count("IN DOUBT</text>") == 3 and "CRASHED</text>" in page and "BLOCKED</text>" in page
    assert "coordinator crashed: the votes in its memory lost, its log kept</text>" in page
    assert page.count("— coordinator is down</text>") >= 3  # the participants' questions, lost
    # One Recover button, for the coordinator.
    assert re.findall(r'id="(recover[\w-]*)"', page) == ["recover-coordinator"]
    assert form_fields(parse(page).by_id("recover-coordinator").form)["node"] == "coordinator"

    acted(client, lab, run_id, "recover", node="coordinator")
    acted(client, lab, run_id, "run")

    page = page_of(client, lab, run_id)
    assert outcome(page) == ("aborted", "Aborted")
    assert parse(page).by_id("coordinator-decision").text == ("abort (presumed abort: it recovered with no decision "
                                                              "in its log, and writes none)")
    assert "coordinator recovered: replayed its log" in page
    assert 'id="recover' not in page
    for name in EVERYONE:
        assert "State aborted" in participant(page, name) and "in doubt" not in participant(page, name)
    assert "got stock:book after" in page


def test_the_coordinator_crashing_after_its_decision_sends_it_again_when_recovered(client, presets):
    lab = open_twopc(client)
    run_id = acted(client, lab, preset(client, lab, "coordinator-crash-after-decision"), "run")

    page = page_of(client, lab, run_id)
    assert outcome(page) == ("blocked", "Blocked")
    assert sentence(page) == BLOCKED + " Its log already holds the decision (commit): recovering it sends it again."
    assert parse(page).by_id("coordinator-decision").text == "commit"

    acted(client, lab, run_id, "recover")  # no node: every crashed node
    acted(client, lab, run_id, "run")

    page = page_of(client, lab, run_id)
    assert outcome(page) == ("committed", "Committed")
    assert all("State committed" in participant(page, name) for name in EVERYONE)


def test_a_participant_crashing_after_its_vote_keeps_its_locks_while_down(client, presets):
    lab = open_twopc(client)
    run_id = acted(client, lab, preset(client, lab, "participant-crash"), "run")

    page = page_of(client, lab, run_id)
    card = participant(page, "inventory")
    assert "crashed" in card and "State crashed (its log says prepared)" in card and "in doubt" in card
    assert "stock:book" in card
    assert outcome(page) == ("committed", "Committed")
    assert sentence(page) == ("Every participant voted Yes and the coordinator logged commit, but inventory is down and "
                              "still holds its locks: it commits when it recovers and asks the coordinator.")
    assert re.findall(r'id="(recover[\w-]*)"', page) == ["recover-inventory"]
    assert "inventory crashed: memory lost, its log kept</text>" in page

    acted(client, lab, run_id, "recover", node="inventory")
    acted(client, lab, run_id, "run")

    page = page_of(client, lab, run_id)
    assert "State committed" in participant(page, "inventory")
    assert sentence(page).endswith("every participant committed and released its locks.")


def test_two_nodes_down_get_a_button_each_and_one_for_all(client):
    lab = open_twopc(client)
    run_id = start(client, lab, fault=["participant_crash", "coordinator_crash"],
                   **{"participant_crash-participant": "orders", "participant_crash-at": "after_vote",
                      "coordinator_crash-at": "before_decision"})
    acted(client, lab, run_id, "run")
    assert load(lab, run_id).sim.crashed == {"coordinator", "orders"}

    page = page_of(client, lab, run_id)

    assert re.findall(r'id="(recover[\w-]*)"', page) == ["recover-coordinator", "recover-orders", "recover-all"]
    acted(client, lab, run_id, "recover", node="orders")
    assert load(lab, run_id).sim.crashed == {"coordinator"}
    acted(client, lab, run_id, "recover")
    assert load(lab, run_id).sim.crashed == set()


def test_a_crash_that_restarts_by_itself_needs_no_recover(client):
    lab = open_twopc(client)
    run_id = start(client, lab, fault="coordinator_crash", **{"coordinator_crash-at": "before_decision",
                                                              "coordinator_crash-restarts": "1",
                                                              "coordinator_crash-restart_ms": "500"})

    acted(client, lab, run_id, "run")

    run = load(lab, run_id)
    assert (run.outcome, run.sim.crashed) == ("aborted", set())
    assert "coordinator recovered: replayed its log" in page_of(client, lab, run_id)


def test_a_late_vote_times_out_and_a_lost_commit_is_sent_again(client, presets):
    lab = open_twopc(client)
    late = acted(client, lab, preset(client, lab, "vote-timeout"), "run")
    lost = acted(client, lab, preset(client, lab, "commit-lost"), "run")

    page = page_of(client, lab, late)
    assert outcome(page) == ("aborted", "Aborted")
    assert "delayed 5,000 ms</text>" in page
    assert re.search(r"vote timeout: no vote from \w+</text>", page)
    page = page_of(client, lab, lost)
    assert outcome(page) == ("committed", "Committed")
    assert re.search(r'<g class="arrow message commit dropped" data-step="\d+">', page)
    assert "Commit — dropped by the network</text>" in page
    assert re.search(r'<path d="[^"]+" class="cross"/>', page)
    assert re.search(r"coordinator sends commit again to \w+</text>", page)


def test_faults_injected_from_the_run_page_take_only_their_fields_and_act(client):
    lab = open_twopc(client)
    run_id = start(client, lab)
    acted(client, lab, run_id, "step")

    acted(client, lab, run_id, "faults", kind="vote_no", **{"vote_no-participant": "inventory",
                                                            "drop-message": "Commit", "delay-ms": "9"})
    acted(client, lab, run_id, "faults", kind="coordinator_crash", **{"coordinator_crash-at": "after_decision"})
    acted(client, lab, run_id, "run")

    run = load(lab, run_id)
    assert run.faults == [{"kind": "vote_no", "participant": "inventory"},
                          {"kind": "coordinator_crash", "at": "after_decision", "restart_after_ms": None}]
    # Presumed abort: the abort record was lazy, still in the buffer when the coordinator crashed, so it is lost.
    assert (run.outcome, run.coordinator()["decision"]) == ("blocked", None)
    page = page_of(client, lab, run_id)
    assert '<span class="fault-tag">vote_no inventory</span>' in page
    assert "inventory votes No: cannot ship</text>" in page


def test_reset_starts_a_new_run_with_the_same_start(client):
    lab = open_twopc(client)
    run_id = start(client, lab, seed="9", customer="Grace", participant=["payments", "inventory"], fault="vote_no")
    acted(client, lab, run_id, "run")
    before = stream(lab, run_id)

    new_id = acted(client, lab, run_id, "reset")

    assert new_id != run_id
    old, new = load(lab, run_id), load(lab, new_id)
    assert new.steps == 0 and new.outcome == "in_progress"
    assert (new.started["seed"], new.participants, new.order, new.faults) == (9, old.participants, old.order,
                                                                              old.faults)
    assert "forked_from" not in new.started
    assert stream(lab, run_id) == before


def test_reset_of_a_what_if_run_is_a_plain_new_run(client):
    lab = open_twopc(client)
    run_id = acted(client, lab, start(client, lab), "run")
    fork_id = acted(client, lab, run_id, "step", at="2")

    new_id = acted(client, lab, fork_id, "reset")

    assert new_id not in (run_id, fork_id)
    new = load(lab, new_id)
    assert new.steps == 0 and "forked_from" not in new.started and "fork_step" not in new.started
    assert "A what-if run forked" not in words(page_of(client, lab, new_id))


def test_act_needs_a_post(client):
    lab = open_twopc(client)
    run_id = start(client, lab)

    assert client.get(f"{run_url(lab, run_id)}act?action=step").status_code == 405
    assert load(lab, run_id).steps == 0


# --- Looking back, and what-if runs ---------------------------------------------------------------------------------


def test_looking_back_shows_the_pinned_hint_the_step_and_the_pictures_as_they_were(client):
    lab = open_twopc(client)
    run_id = acted(client, lab, start(client, lab), "run")
    steps = load(lab, run_id).steps

    page = page_of(client, lab, run_id, "?at=14")

    found = parse(page)
    assert step_count(page) == 14
    assert found.by_id("run-status").says(f"Step 14 of {steps}")
    assert found.says("You are looking back at step 14.")
    assert found.by_id("run")["data-at"] == "14"
    acts = [form_fields(f) for f in found.by_role("form") if f["action"].endswith("/act")]
    assert all(f.get("at") == ("14" if f["action"] != "reset" else None) for f in acts)  # all but reset fork
    assert found.by_id("back")["href"] == "?at=13" and found.by_id("forward")["href"] == "?at=15"
    assert found.one("link", "Back to the latest step")["href"] == run_url(lab, run_id)
    assert [li["value"] for li in found.by_class("step-list")[0].by_role("listitem")][-1] == "14"
    # At step 14 everyone has voted Yes but the coordinator has not heard all: in doubt, locks held, undecided.
    assert outcome(page) == ("in_progress", "In progress")
    assert all("in doubt" in participant(page, name) for name in EVERYONE)
    assert '<dd id="coordinator-decision">none yet</dd>' in page
    assert "decision logged:" not in page


@pytest.mark.parametrize("action", ["step", "run"])
def test_acting_on_an_earlier_step_forks_a_what_if_run_and_leaves_the_original(client, action):
    lab = open_twopc(client)
    run_id = acted(client, lab, start(client, lab), "run")
    original = stream(lab, run_id)
    steps = load(lab, run_id).steps

    fork_id = acted(client, lab, run_id, action, at="2")

    assert fork_id != run_id
    assert stream(lab, run_id) == original
    fork = load(lab, fork_id)
    assert (fork.started["forked_from"], fork.started["fork_step"]) == (run_id, 2)
    assert fork.steps == (3 if action == "step" else steps)
    assert fork.step_list()[:2] == load(lab, run_id).step_list()[:2]  # the same first two steps
    assert f"A what-if run forked from run {run_id} at step 2." in words(page_of(client, lab, fork_id))
    assert f"what-if from <code>{run_id}</code> at step 2" in text(client.get(f"/labs/{lab.id}/twopc/"))


def test_injecting_a_fault_while_looking_back_forks_with_the_fault(client):
    lab = open_twopc(client)
    run_id = acted(client, lab, start(client, lab), "run")
    original = stream(lab, run_id)

    fork_id = acted(client, lab, run_id, "faults", kind="vote_no", at="1", **{"vote_no-participant": "orders"})
    acted(client, lab, fork_id, "run")

    assert stream(lab, run_id) == original
    assert load(lab, run_id).outcome == "committed"
    fork = load(lab, fork_id)
    assert fork.faults == [{"kind": "vote_no", "participant": "orders"}]
    assert fork.outcome == "aborted"


def test_recovering_while_looking_back_forks_and_recovers_the_fork(client, presets):
    lab = open_twopc(client)
    run_id = acted(client, lab, preset(client, lab, "coordinator-crash-after-prepare"), "run")

    fork_id = acted(client, lab, run_id, "recover", node="coordinator", at="20")

    assert fork_id != run_id
    assert load(lab, run_id).sim.crashed == {"coordinator"}
    fork = load(lab, fork_id)
    assert (fork.steps, fork.sim.crashed) == (20, set())


def test_a_refused_action_while_looking_back_forks_nothing(client):
    lab = open_twopc(client)
    run_id = acted(client, lab, start(client, lab), "run")
    before = store.head(lab.id)

    response = act(client, lab, run_id, "faults", kind="meteor", at="2")

    assert_422(response, "Unknown fault kind 'meteor'.")
    assert "You are looking back at step 2." in words(response)  # the view stays where it was
    assert step_count(response.content.decode()) == 2
    assert store.head(lab.id) == before
    assert len(runs(lab)) == 1


# --- htmx: the #run partial, and the announcement out of band -------------------------------------------------------



def test_an_htmx_get_of_the_run_page_answers_the_run_partial(client):
    lab = open_twopc(client)
    run_id = start(client, lab)
    acted(client, lab, run_id, "step")

    page = assert_run_partial(client.get(run_url(lab, run_id), **HTMX))

    assert step_count(page) == 1
    assert parse(page).by_id("run-announce").text == ("Step 1: StartWork from client to client, TimerFired. The "
                                                      "transaction is in progress.")


def test_the_full_page_is_live_on_the_labs_websocket_and_names_its_page(client):
    lab = open_twopc(client)
    run_id = start(client, lab)
    version = load(lab, run_id).version

    page = page_of(client, lab, run_id)

    found = parse(page)
    live = found.by_id("live")
    assert (live["ws-connect"], live["data-page"]) == (f"/ws/labs/{lab.id}/", "twopc")
    run = found.by_id("run")
    assert (run["data-page"], run["data-run"], run["data-at"], run["data-version"]) == ("twopc", run_id, "",
                                                                                        str(version))
    for region in ("run-announce", "run-news"):  # live regions, empty until something happens
        assert (found.by_id(region).role, found.by_id(region)["aria-live"], found.by_id(region).text) == (
            "status", "polite", "")


def test_an_htmx_get_with_another_target_gets_the_whole_page(client):
    lab = open_twopc(client)
    run_id = start(client, lab)

    response = client.get(run_url(lab, run_id), HTTP_HX_REQUEST="true", HTTP_HX_TARGET="main")

    assert "<html" in response.content.decode()


def test_an_htmx_get_back_in_time_answers_the_pinned_partial(client):
    lab = open_twopc(client)
    run_id = acted(client, lab, start(client, lab), "run")

    page = assert_run_partial(client.get(f"{run_url(lab, run_id)}?at=2", **HTMX))

    assert step_count(page) == 2
    assert "You are looking back at step 2." in page
    assert 'data-at="2"' in page


@pytest.mark.parametrize("action", ["step", "run", "faults"])
def test_an_htmx_action_answers_the_run_partial_without_a_push_url(client, action):
    lab = open_twopc(client)
    run_id = start(client, lab)

    response = client.post(f"{run_url(lab, run_id)}act", {"action": action, "kind": "vote_no",
                                                          "vote_no-participant": "orders"}, **HTMX)

    assert response.status_code == 200
    page = assert_run_partial(response)
    assert "HX-Push-Url" not in response
    assert f'data-run="{run_id}"' in page
    run = load(lab, run_id)
    assert step_count(page) == run.steps
    assert f'data-version="{run.version}"' in page
    if action == "faults":
        assert [e.text for e in parse(page).by_class("fault-tag")] == ["vote_no orders"]


def test_an_htmx_recover_answers_the_partial(client, presets):
    lab = open_twopc(client)
    run_id = acted(client, lab, preset(client, lab, "coordinator-crash-after-prepare"), "run")

    response = client.post(f"{run_url(lab, run_id)}act", {"action": "recover", "node": "coordinator"}, **HTMX)

    page = assert_run_partial(response)
    assert "coordinator recovered: replayed its log" in page
    assert "HX-Push-Url" not in response
    assert 'id="recover-coordinator"' not in page


def test_an_htmx_fork_answers_the_new_runs_partial_and_pushes_its_url(client):
    lab = open_twopc(client)
    run_id = acted(client, lab, start(client, lab), "run")
    original = stream(lab, run_id)

    response = client.post(f"{run_url(lab, run_id)}act", {"action": "step", "at": "2"}, **HTMX)

    assert response.status_code == 200
    page = assert_run_partial(response)
    fork_id = re.search(r'data-run="([0-9a-f]+)"', page).group(1)
    assert fork_id != run_id
    assert response["HX-Push-Url"] == run_url(lab, fork_id)
    assert step_count(page) == 3
    assert 'data-at=""' in page  # the new run is shown at its head, not pinned
    assert stream(lab, run_id) == original


def test_an_htmx_reset_pushes_the_new_runs_url(client):
    lab = open_twopc(client)
    run_id = start(client, lab)
    acted(client, lab, run_id, "step")

    response = client.post(f"{run_url(lab, run_id)}act", {"action": "reset"}, **HTMX)

    page = assert_run_partial(response)
    new_id = re.search(r'data-run="([0-9a-f]+)"', page).group(1)
    assert new_id != run_id
    assert response["HX-Push-Url"] == run_url(lab, new_id)
    assert step_count(page) == 0


def test_an_htmx_refusal_is_a_422_partial(client):
    lab = open_twopc(client)
    run_id = start(client, lab)
    before = store.head(lab.id)

    response = client.post(f"{run_url(lab, run_id)}act", {"action": "recover"}, **HTMX)

    assert response.status_code == 422
    page = assert_run_partial(response)
    assert "Nothing has crashed: there is nothing to recover." in page
    assert "HX-Push-Url" not in response
    assert store.head(lab.id) == before


# --- Who may see what -----------------------------------------------------------------------------------------------


def test_a_saga_run_is_not_a_2pc_run(client):
    lab = open_twopc(client)
    saga = client.post(f"/labs/{lab.id}/sagas/start", {"mode": "orchestration", "seed": "1", "customer": "Ada",
                                                       "item-1-sku": "book", "item-1-qty": "1",
                                                       "item-1-price": "12.50"})
    saga_id = saga["Location"].split("/")[4]

    assert client.get(run_url(lab, saga_id)).status_code == 404
    assert act(client, lab, saga_id, "step").status_code == 404


# --- Escaping -------------------------------------------------------------------------------------------------------


def assert_escaped(page: str) -> None:
    assert "<script>alert" not in page
    assert "<img src=x" not in page
    assert "&lt;script&gt;alert(" in page


def test_html_in_the_customer_name_is_escaped_on_the_run_page_and_in_its_pictures(client):
    lab = open_twopc(client)
    run_id = start(client, lab, customer=XSS, **{"item-1-sku": "<b>book</b>"})
    acted(client, lab, run_id, "step", at="")
    for _ in range(4):  # payments has locked the customer's account row (doing its work): the name is in the pictures
        acted(client, lab, run_id, "step")

    for response in (client.get(run_url(lab, run_id)), client.get(f"{run_url(lab, run_id)}?at=5"),
                     client.get(run_url(lab, run_id), **HTMX), act(client, lab, run_id, "run")):
        page = response.content.decode() if response.status_code == 200 else page_of(client, lab, run_id)
        assert_escaped(page)
        assert "<b>book" not in page
        assert "account:&lt;script&gt;" in page
    assert load(lab, run_id).order["customer"] == XSS  # stored as typed, escaped when shown
    fork = client.post(f"{run_url(lab, run_id)}act", {"action": "step", "at": "1"}, **HTMX).content.decode()
    assert_escaped(fork)


def test_html_in_the_customer_name_is_escaped_on_the_refused_lab_page(client):
    lab = open_twopc(client)

    response = client.post(f"/labs/{lab.id}/twopc/start", form(customer=XSS, seed=XSS, **{"item-1-qty": "-1"}))

    assert response.status_code == 422
    page = response.content.decode()
    assert_escaped(page)
    assert 'value="&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;&quot;&gt;&lt;img' in page


def test_html_in_the_customer_name_is_escaped_on_the_lab_page_and_the_raw_log(client):
    lab = open_twopc(client)
    start(client, lab, customer=XSS)

    assert "<script>alert" not in client.get(f"/labs/{lab.id}/twopc/").content.decode()
    raw = client.get(f"/labs/{lab.id}/bank/").content.decode()  # the event panel shows the run's events raw
    assert "<script>alert" not in raw and "<img src=x" not in raw


def test_a_too_long_customer_is_refused_in_plain_words(client):
    lab = open_twopc(client)

    assert_422(client.post(f"/labs/{lab.id}/twopc/start", form(customer="A" * 101)),
               "The customer's name must be at most 100 characters.")


# --- Without JavaScript ---------------------------------------------------------------------------------------------


def test_the_lab_page_works_without_javascript(client, presets):
    lab = open_twopc(client)
    start(client, lab)

    found = assert_works_without_javascript(client.get(f"/labs/{lab.id}/twopc/").content.decode())

    actions = {f["action"] for f in found.forms}
    assert {f"/labs/{lab.id}/twopc/start", f"/labs/{lab.id}/twopc/preset"} <= actions
    # The start form, exactly as the page fills it in, starts a run of every participant and no fault.
    start_form = next(f for f in found.forms if f.get("id") == "start-form")
    assert start_form["method"] == "post"
    assert {"fault", "participant", "vote_no-participant", "participant_crash-at", "coordinator_crash-at",
            "coordinator_crash-restarts", "drop-message", "delay-ms"} <= start_form["names"]
    response = post_plainly(client, start_form)
    run = load(lab, run_id_of(response, lab))
    assert (run.participants, run.faults, run.order["customer"]) == (EVERYONE, [], "Ada")
    assert run.order["items"] == [{"sku": "book", "qty": 1, "price": "12.50"}]
    # Ticking boxes: the defaults each row offers are the faults.
    response = post_plainly(client, start_form, fault=["vote_no", "participant_crash", "coordinator_crash", "drop",
                                                       "delay"])
    assert load(lab, run_id_of(response, lab)).faults == [
        {"kind": "vote_no", "participant": "payments"},
        {"kind": "participant_crash", "participant": "inventory", "at": "after_vote", "restart_after_ms": None},
        {"kind": "coordinator_crash", "at": "before_decision", "restart_after_ms": None},
        {"kind": "drop", "message": "Commit", "nth": 1},
        {"kind": "delay", "message": "VoteYes", "nth": 1, "ms": 5000},
    ]
    # A preset button, posted plainly.
    commit = next(f for f in found.forms if f["fields"].get("preset") == "commit")
    assert load(lab, run_id_of(post_plainly(client, commit), lab)).steps == 0


def test_every_state_of_the_run_page_works_without_javascript(client, presets):
    lab = open_twopc(client)
    fresh = start(client, lab)
    blocked = acted(client, lab, preset(client, lab, "coordinator-crash-after-prepare"), "run")
    two_down = start(client, lab, fault=["participant_crash", "coordinator_crash"],
                     **{"participant_crash-participant": "orders", "coordinator_crash-at": "before_decision"})
    acted(client, lab, two_down, "run")
    done = acted(client, lab, start(client, lab), "run")
    pages = {"fresh": run_url(lab, fresh), "blocked": run_url(lab, blocked), "two-down": run_url(lab, two_down),
             "done": run_url(lab, done), "pinned": f"{run_url(lab, done)}?at=3"}

    seen_buttons = set()
    for name, url in pages.items():
        response = client.get(url)
        assert response.status_code == 200, name
        found = assert_works_without_javascript(response.content.decode())
        for f in found.forms:
            if f["action"].endswith("/act"):
                assert f["method"] == "post", (name, f)
                assert f["fields"]["action"] in ("step", "run", "recover", "faults", "reset"), (name, f)
                seen_buttons.add(f["fields"]["action"])
    assert seen_buttons == {"step", "run", "recover", "faults", "reset"}


def test_the_run_pages_forms_do_what_they_say_when_posted_plainly(client, presets):
    lab = open_twopc(client)
    run_id = acted(client, lab, start(client, lab), "run")
    pinned = controls(page_of(client, lab, run_id, "?at=2"))

    # "Inject" on a pinned view, posted as the page fills it in with one radio picked: a what-if run with that fault.
    inject = next(f for f in pinned.forms if f.get("class") == "inject")
    assert "kind" not in inject["fields"]  # no fault picked until the learner picks one
    fork_id = run_id_of(post_plainly(client, inject, kind="vote_no"), lab)
    assert fork_id != run_id
    assert load(lab, fork_id).faults == [{"kind": "vote_no", "participant": "payments"}]
    # The Step button of the fork's page steps it; a Deliver button delivers its message.
    page = controls(page_of(client, lab, fork_id))
    step = next(f for f in page.forms if f["fields"].get("action") == "step" and "pick" not in f["fields"])
    assert run_id_of(post_plainly(client, step), lab) == fork_id
    assert load(lab, fork_id).steps == 3
    page = controls(page_of(client, lab, fork_id))
    deliver = [f for f in page.forms if "pick" in f["fields"]][-1]
    run_id_of(post_plainly(client, deliver), lab)
    assert load(lab, fork_id).step_list()[-1]["message_id"] == deliver["fields"]["pick"]
    # Recover, on a blocked run.
    blocked = acted(client, lab, preset(client, lab, "coordinator-crash-after-prepare"), "run")
    page = controls(page_of(client, lab, blocked))
    recover = next(f for f in page.forms if f["fields"].get("action") == "recover")
    assert run_id_of(post_plainly(client, recover), lab) == blocked
    assert load(lab, blocked).sim.crashed == set()


# --- Each preset, through the pages ---------------------------------------------------------------------------------

EXPECTED = {  # slug: (outcome before any recovery, the nodes to recover, the outcome at the end, the decision)
    "commit": ("committed", [], "committed", "commit"),
    "vote-no": ("aborted", [], "aborted", "abort"),
    "coordinator-crash-after-prepare": ("blocked", ["coordinator"], "aborted", "abort (presumed"),
    "coordinator-crash-after-decision": ("blocked", ["coordinator"], "committed", "commit"),
    "participant-crash": ("committed", ["inventory"], "committed", "commit"),
    "vote-timeout": ("aborted", [], "aborted", "abort"),
    "commit-lost": ("committed", [], "committed", "commit"),
    "presumed-nothing-vote-no": ("aborted", [], "aborted", "abort"),
    "read-only": ("committed", [], "committed", "commit"),
    "one-phase": ("committed", [], "committed", "none: one-phase commit"),
    # Cooperative termination: they learn abort from inventory while the coordinator is still down.
    "cooperative-unblocks": ("aborted", ["coordinator"], "aborted", "abort (presumed"),
    "cooperative-blocked": ("blocked", ["coordinator"], "aborted", "abort (presumed"),
}
FINAL_STATES = {"read-only": {"orders": "read_only"}}  # otherwise every participant committed or aborted


@pytest.mark.parametrize("slug", PRESETS)
def test_every_preset_ends_where_its_description_says_on_the_page(client, presets, slug):
    lab = open_twopc(client)
    before, down, after, decision = EXPECTED[slug]

    run_id = acted(client, lab, preset(client, lab, slug), "run")

    page = page_of(client, lab, run_id)
    assert outcome(page)[0] == before
    assert re.findall(r'id="recover-(\w+)"', page) == down
    for node in down:
        acted(client, lab, run_id, "recover", node=node)
        acted(client, lab, run_id, "run")
    page = page_of(client, lab, run_id)
    assert outcome(page)[0] == after
    assert "Done: nothing left in flight." in page
    assert re.search(rf'<dd id="coordinator-decision">{re.escape(decision)}', page)
    state = "committed" if after == "committed" else "aborted"
    names = load(lab, run_id).participants
    assert all(f"State {FINAL_STATES.get(slug, {}).get(name, state)}" in participant(page, name) for name in names)
    assert all("Row Held for none" in participant(page, name) for name in names)  # every lock released


def test_loading_the_presets_twice_is_harmless_and_writes_no_events():
    events, labs = StoredEvent.objects.count(), Lab.objects.count()

    call_command("loaddata", "twopc_presets", verbosity=0)
    first = list(Preset.objects.values_list("slug", "title", "description", "position", "start"))
    call_command("loaddata", "twopc_presets", verbosity=0)

    assert list(Preset.objects.values_list("slug", "title", "description", "position", "start")) == first
    assert [slug for slug, *_ in first] == list(PRESETS)
    assert StoredEvent.objects.count() == events
    assert Lab.objects.count() == labs


# --- The pictures are pure ------------------------------------------------------------------------------------------


def test_the_pictures_import_no_django():
    code = ("import sys, eventlab.twopc.pictures, eventlab.sim.sequence; "
            "sys.exit(any(m == 'django' or m.startswith('django.') for m in sys.modules))")
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


# --- Variants, options, prediction (Mohan, Lindsay & Obermarck 1986; Gray & Reuter; Bernstein et al. ch. 7) -------


@pytest.mark.parametrize(("fields", "message"), [
    ({"one_phase": "1"}, "One-phase commit needs exactly one participant; this transaction has 3"),
    ({"protocol": "presumed_commit"}, "presumed_abort (the default) or presumed_nothing"),
    ({"participant": ["payments"], "cooperative": "1"}, "at least two participants"),
    ({"participant": ["payments"], "read_only": ["orders"]}, "read_only lists participants of this transaction"),
])
def test_an_option_that_does_not_fit_is_a_form_error_that_keeps_the_choices_and_starts_nothing(client, fields,
                                                                                                 message):
    lab = open_twopc(client)

    response = client.post(f"/labs/{lab.id}/twopc/start", form(**fields))

    assert_422(response, message)
    assert 'id="start-error"' in response.content.decode()
    assert runs(lab) == []


def test_the_start_form_offers_the_variants_and_options_and_starts_what_was_picked(client):
    lab = open_twopc(client)
    page = client.get(f"/labs/{lab.id}/twopc/").content.decode()
    assert 'name="protocol" value="presumed_abort" checked' in page and 'value="presumed_nothing"' in page
    assert 'name="read_only" value="orders"' in page and 'name="one_phase"' in page and 'name="cooperative"' in page

    run_id = start(client, lab, protocol="presumed_nothing", read_only=["orders"], cooperative="1")

    options = load(lab, run_id).options
    assert options == {"protocol": "presumed_nothing", "read_only": ["orders"], "one_phase": False,
                       "cooperative": True}
    page = page_of(client, lab, run_id)
    assert ('<span id="variant">presumed nothing (basic 2PC); read-only: orders; cooperative termination</span>'
            in page)


def test_the_run_page_counts_forced_writes_messages_and_acks_and_sets_both_variants_side_by_side(client, presets):
    lab = open_twopc(client)
    run_id = acted(client, lab, preset(client, lab, "vote-no"), "run")

    page = page_of(client, lab, run_id)

    costs = re.sub(r"\s+([.;,)])", r"\1", words(re.search(r"<p id=\"cost-summary\">(.*?)</p>", page, re.S).group(0)))
    assert costs.strip() == ("2 forced writes, 4 lazy; 8 messages (3 Prepare, 2 VoteYes, 1 VoteNo, 2 Rollback); "
                             "0 acknowledgements.")
    variants = re.search(r'<table class="costs" id="variants">(.*?)</table>', page, re.S).group(1)
    assert re.search(r'id="v-coordinator-forced"><th scope="row">Coordinator forced writes</th><td>0</td><td>1</td>',
                     variants)
    assert re.search(r'id="v-acks"><th scope="row">Acknowledgements</th><td>0</td><td>2</td>', variants)
    assert re.search(r'id="v-messages"><th scope="row">Messages</th><td>8</td><td>10</td>', variants)
    assert "presumed abort (this run)" in variants


def test_what_another_reader_could_see_names_the_phase_two_split(client, presets):
    lab = open_twopc(client)
    run_id = acted(client, lab, preset(client, lab, "commit"), "run")

    readers = words(re.search(r'<p id="readers">(.*?)</p>', page_of(client, lab, run_id), re.S).group(0))

    assert "A split: from step" in readers and "had not yet applied the decision" in readers
    assert "A reader of both databases could see the order half done" in readers


def test_a_prompt_asks_for_a_prediction_before_a_fault_acts_and_the_verdict_follows(client, presets):
    lab = open_twopc(client)
    run_id = preset(client, lab, "commit-lost")
    while 'id="predict-step"' not in page_of(client, lab, run_id):
        acted(client, lab, run_id, "step")
    page = page_of(client, lab, run_id)
    assert "Predict, then observe: step" in words(page) and "<strong>Commit</strong>" in page
    assert 'name="predict" value="dropped"' in page and 'name="predict" value="as_planned"' in page
    assert 'id="step"' in page and "Skip the question and step" in page  # the plain Step is offered as a skip

    acted(client, lab, run_id, "step", predict="delayed")

    page = page_of(client, lab, run_id)
    assert "Not quite" in page and "You said: The message is held up in the network and arrives late." in words(page)
    assert "What happened: The network loses the message" in words(page)
    run = load(lab, run_id)
    assert run.predictions[-1]["happened"] == "dropped" and run.predictions[-1]["right"] is False
