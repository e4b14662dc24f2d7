"""The two-phase commit half of the JSON API (API.md, "Two-phase commit"), what is the 2PC lab's alone: its run's and
step's shapes, delivering a chosen message, outcomes, faults, recovering a named node, a what-if fork, the list of
runs' participants, its starts' and variants' plain-words 422s, each preset ending as its description says, and the
run's events in the lab's log, next to the bank's. What every run lab shares (start, step, back to a step, fork, run
to the end, the body policy, 404s, OpenAPI components) is tests/contract/test_run_lab_api.py's."""

import json

import pytest
from django.core.management import call_command
from django.test import Client

from eventlab.twopc.models import Preset

pytestmark = pytest.mark.django_db

ORDER = {"customer": "Ada", "items": [{"sku": "book", "qty": 1, "price": "12.50"}]}
PARTICIPANTS = ["orders", "payments", "inventory"]
RUN_KEYS = {"id", "outcome", "coordinator", "participants", "blocked_ms"}
EVENT_KEYS = {"position", "stream", "version", "type", "schema_version", "stored_schema_version", "data", "metadata"}
STATES = {"idle", "working", "prepared", "read_only", "committed", "aborted", "crashed"}
OUTCOMES = {"committed", "aborted", "blocked", "in_progress"}
CRASH_BEFORE_DECISION = {"kind": "coordinator_crash", "at": "before_decision"}
CRASH_AFTER_DECISION = {"kind": "coordinator_crash", "at": "after_decision"}
INVENTORY_CRASH = {"kind": "participant_crash", "participant": "inventory", "at": "after_vote"}


def auth(token: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def post(client: Client, lab, path: str, body=None, raw: str | None = None, token: str | None = None):
    data = raw if raw is not None else ("" if body is None else json.dumps(body))
    return client.post(f"/api/labs/{lab.id}/twopc{path}", data=data, content_type="application/json",
                       **auth(token or lab.token))


def get(client: Client, lab, path: str = "", token: str | None = None):
    return client.get(f"/api/labs/{lab.id}/twopc{path}", **auth(token or lab.token))


def start(client: Client, lab, faults=(), order=ORDER, seed=1, **more) -> dict:
    response = post(client, lab, "", {"seed": seed, "order": order, "faults": list(faults), **more})
    assert response.status_code == 201, response.content
    return response.json()


def ok(response) -> dict:
    assert response.status_code == 200, response.content
    return response.json()


def log(client: Client, lab) -> dict:
    response = client.get(f"/api/labs/{lab.id}/events?limit=1000", **auth(lab.token))
    assert response.status_code == 200, response.content
    return response.json()


def head(client: Client, lab) -> int:
    return log(client, lab)["head"]


def assert_plain(response, status: int) -> str:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    detail = response.json()["detail"]
    assert isinstance(detail, str) and 5 < len(detail) < 500
    return detail


def assert_contract_shape(run: dict) -> None:
    """Every key API.md lists, with the types and values it promises."""
    assert set(run) >= RUN_KEYS
    assert isinstance(run["id"], str) and run["id"]
    assert run["outcome"] in OUTCOMES
    coordinator = run["coordinator"]
    assert set(coordinator) >= {"state", "decision", "log"}
    assert coordinator["decision"] in (None, "commit", "abort")
    assert isinstance(coordinator["log"], list)
    for name, participant in run["participants"].items():
        assert name in PARTICIPANTS
        assert set(participant) >= {"state", "vote", "locks"}
        assert participant["state"] in STATES
        assert participant["vote"] in (None, "yes", "no", "read_only")
        assert isinstance(participant["locks"], list) and all(isinstance(row, str) for row in participant["locks"])
    assert isinstance(run["blocked_ms"], int) and run["blocked_ms"] >= 0


def states(run: dict) -> dict[str, str]:
    return {name: p["state"] for name, p in run["participants"].items()}


# --- Start, step, run -------------------------------------------------------------------------------------------------


def test_start_answers_201_with_every_key_the_contract_lists_and_the_defaults(client):
    created = client.post("/api/labs").json()  # a lab made over HTTP, as curl would
    response = client.post(f"/api/labs/{created['id']}/twopc", data=json.dumps({}),
                           content_type="application/json", **auth(created["token"]))

    assert response.status_code == 201, response.content
    assert response["Content-Type"].startswith("application/json")
    run = response.json()
    assert_contract_shape(run)
    assert (run["outcome"], run["done"], run["step"], run["blocked_ms"]) == ("in_progress", False, 0, 0)
    assert run["coordinator"] == {"state": "idle", "decision": None, "log": []}
    assert run["participants"] == {name: {
        "state": "idle", "durable_state": "idle", "vote": None, "locks": [], "locked_ms": 0,
        "in_doubt": False, "waiting": []} for name in PARTICIPANTS}
    assert list(run["participants"]) == PARTICIPANTS
    # The default order: Ada, one book at 12.50; the default seed 1; no faults.
    assert run["order"] == {"order_id": "order-1", "customer": "Ada",
                            "items": [{"sku": "book", "qty": 1, "price": "12.50"}], "amount": "12.50"}
    assert (run["seed"], run["faults"], run["steps"], run["crashed"]) == (1, [], [], [])
    assert (run["forked_from"], run["fork_step"]) == (None, None)
    assert [m["type"] for m in run["pending"]] == ["StartWork", "LockRequest", "RequestTimeout"]
    assert isinstance(run["trace_id"], str) and len(run["trace_id"]) == 32


def test_start_with_some_participants_and_an_order(client, lab):
    order = {"customer": "Grace", "items": [{"sku": "pen", "qty": 3, "price": "1.50"}]}

    run = start(client, lab, participants=["payments", "orders"], order=order, seed=42)

    assert list(run["participants"]) == ["orders", "payments"]
    assert run["order"]["customer"] == "Grace" and run["order"]["amount"] == "4.50"
    assert run["order"]["order_id"] == "order-42" and run["seed"] == 42
    done = ok(post(client, lab, f"/{run['id']}/run"))
    assert done["outcome"] == "committed"
    assert done["participants"]["payments"]["vote"] == "yes"
    assert done["blocked_ms"] == 0  # inventory is not in it: no other order waits


def test_each_step_answers_outcome_step_done_and_what_was_delivered(client, lab):
    run = start(client, lab)

    first = ok(post(client, lab, f"/{run['id']}/step"))
    second = ok(post(client, lab, f"/{run['id']}/step", {}))

    assert set(first) == {"outcome", "step", "done", "delivered", "prediction"} and first["prediction"] is None
    assert (first["outcome"], first["step"], first["done"]) == ("in_progress", 1, False)
    assert set(first["delivered"]) >= {"step", "type", "from", "to", "message", "at_ms"}
    # The transaction does its work first (the participants lock their rows), then asks the coordinator to commit.
    assert (first["delivered"]["message"], first["delivered"]["from"], first["delivered"]["to"]) == (
        "StartWork", "client", "client")
    assert (second["step"], second["delivered"]["message"], second["delivered"]["from"]) == (2, "Work", "client")
    assert second["delivered"]["at_ms"] >= first["delivered"]["at_ms"]
    while "BeginTransaction" not in [s["message"] for s in ok(get(client, lab, f"/{run['id']}"))["steps"]]:
        ok(post(client, lab, f"/{run['id']}/step"))
    while ok(get(client, lab, f"/{run['id']}"))["steps"][-1]["message"] != "Prepare":
        ok(post(client, lab, f"/{run['id']}/step"))
    now = ok(get(client, lab, f"/{run['id']}"))
    assert now["coordinator"]["state"] == "collecting"
    assert now["coordinator"]["log"] == []  # nothing is logged before the prepare phase (presumed abort)


def test_deliver_picks_a_pending_message_that_is_not_first(client, lab):
    run = start(client, lab)
    ok(post(client, lab, f"/{run['id']}/step"))
    pending = ok(get(client, lab, f"/{run['id']}"))["pending"]
    assert [m["type"] for m in pending[:3]] == ["Work"] * 3
    third = pending[2]

    stepped = ok(post(client, lab, f"/{run['id']}/step", {"deliver": third["id"]}))

    assert (stepped["delivered"]["message"], stepped["delivered"]["to"]) == ("Work", third["to"])
    assert stepped["delivered"]["message_id"] == third["id"]
    now = ok(get(client, lab, f"/{run['id']}"))
    assert {pending[0]["id"], pending[1]["id"]} <= {m["id"] for m in now["pending"]}
    assert now["participants"][third["to"]]["state"] == "working" and now["participants"][third["to"]]["locks"]


@pytest.mark.parametrize("deliver", ["m999", "m1", 7, ["m2"], "x" * 41])
def test_delivering_a_message_not_in_flight_is_a_422_that_appends_nothing(lab, deliver):
    client = Client(raise_request_exception=False)
    run = start(client, lab)
    ok(post(client, lab, f"/{run['id']}/step"))  # m1 is delivered already
    before = head(client, lab)

    assert_plain(post(client, lab, f"/{run['id']}/step", {"deliver": deliver}), 422)

    assert head(client, lab) == before


def test_run_goes_to_the_end_and_get_answers_the_same(client, lab):
    run = start(client, lab)

    done = ok(post(client, lab, f"/{run['id']}/run"))

    assert_contract_shape(done)
    assert (done["outcome"], done["done"], done["pending"], done["crashed"]) == ("committed", True, [], [])
    assert states(done) == dict.fromkeys(PARTICIPANTS, "committed")
    assert all(p["vote"] == "yes" and p["locks"] == [] for p in done["participants"].values())
    assert (done["coordinator"]["state"], done["coordinator"]["decision"]) == ("done", "commit")
    assert [e["type"] for e in done["coordinator"]["log"]] == ["DecisionLogged", "TransactionEnded"]
    assert done["protocol"] == "presumed_abort" and done["costs"]["forced"] == 7 and done["costs"]["acks"] == 3
    assert done["blocked_ms"] > 0  # the other order waited for the book's stock row
    assert done["messages"] == 12 and done["lock_ms"] > 0
    assert done["votes"] == dict.fromkeys(PARTICIPANTS, "yes")
    assert done["step"] == len(done["steps"])
    assert ok(get(client, lab, f"/{run['id']}")) == done


# --- Back to a step ---------------------------------------------------------------------------------------------------


# --- Faults, recover, fork --------------------------------------------------------------------------------------------


def test_a_vote_no_injected_before_the_vote_aborts(client, lab):
    run = start(client, lab)
    ok(post(client, lab, f"/{run['id']}/step"))  # the Prepares are on their way

    injected = ok(post(client, lab, f"/{run['id']}/faults",
                       {"faults": [{"kind": "vote_no", "participant": "payments"}]}))
    assert_contract_shape(injected)
    assert {"kind": "vote_no", "participant": "payments"} in injected["faults"]
    done = ok(post(client, lab, f"/{run['id']}/run"))

    assert done["outcome"] == "aborted"
    assert done["participants"]["payments"]["vote"] == "no"
    assert states(done) == dict.fromkeys(PARTICIPANTS, "aborted")
    assert all(p["locks"] == [] for p in done["participants"].values())
    assert done["coordinator"]["decision"] == "abort"


@pytest.mark.parametrize("body", [
    {"faults": [{"kind": "meteor"}]},
    {"faults": [{"kind": "vote_no", "participant": "billing"}]},
    {"faults": [{"kind": "participant_crash", "participant": "orders", "at": "whenever"}]},
    {"faults": [{"kind": "drop", "message": "Commit", "nth": 0}]},
    {"faults": [{"kind": "drop", "message": "Commit", "nth": 101}]},
    {"faults": [{"kind": "delay", "message": "VoteYes", "ms": 600_001}]},
    {"faults": [{"kind": "coordinator_crash", "at": "before_decision", "restart_after_ms": -1}]},
    {"faults": "vote_no"},
    {"faults": [{"kind": "drop", "message": "Ack"}] * 21},
    {"faults": None},
    {},
])
def test_faults_the_run_cannot_take_are_a_422_that_appends_nothing(lab, body):
    client = Client(raise_request_exception=False)
    run = start(client, lab)
    ok(post(client, lab, f"/{run['id']}/step"))
    before = head(client, lab)

    assert_plain(post(client, lab, f"/{run['id']}/faults", body), 422)

    assert head(client, lab) == before


def test_a_crashed_coordinator_blocks_the_run_until_recover(client, lab):
    run = start(client, lab, faults=[CRASH_BEFORE_DECISION])

    stuck = ok(post(client, lab, f"/{run['id']}/run"))
    assert (stuck["outcome"], stuck["done"], stuck["crashed"]) == ("blocked", False, ["coordinator"])
    assert stuck["coordinator"]["state"] == "crashed" and stuck["coordinator"]["decision"] is None
    assert stuck["votes"] == {}  # what it heard lived in memory
    assert all(p["state"] == "prepared" and p["in_doubt"] and p["locks"] for p in stuck["participants"].values())
    before = head(client, lab)
    assert "recover" in assert_plain(post(client, lab, f"/{run['id']}/step"), 422)
    assert "recover" in assert_plain(post(client, lab, f"/{run['id']}/run"), 422)
    assert head(client, lab) == before

    recovered = ok(post(client, lab, f"/{run['id']}/recover"))  # no body: every crashed node
    assert recovered["crashed"] == []
    done = ok(post(client, lab, f"/{run['id']}/run"))
    assert (done["outcome"], done["done"]) == ("aborted", True)  # presumed abort
    assert states(done) == dict.fromkeys(PARTICIPANTS, "aborted")
    assert done["blocked_ms"] > stuck["blocked_ms"] > 10_000


def test_recover_a_named_node(lab):
    client = Client(raise_request_exception=False)
    run = start(client, lab, faults=[CRASH_AFTER_DECISION, INVENTORY_CRASH])
    stuck = ok(post(client, lab, f"/{run['id']}/run"))
    assert stuck["crashed"] == ["coordinator", "inventory"]
    before = head(client, lab)

    for node in ("payments", "nobody", "x" * 5_000):
        detail = assert_plain(post(client, lab, f"/{run['id']}/recover", {"node": node}), 422)
        assert "has not crashed" in detail and "coordinator, inventory" in detail
    for node in (7, ["inventory"], {"name": "inventory"}):
        assert_plain(post(client, lab, f"/{run['id']}/recover", {"node": node}), 422)
    assert head(client, lab) == before

    one = ok(post(client, lab, f"/{run['id']}/recover", {"node": "inventory"}))
    assert one["crashed"] == ["coordinator"]
    assert one["participants"]["inventory"]["state"] == "prepared"
    ok(post(client, lab, f"/{run['id']}/recover", {"node": "coordinator"}))
    done = ok(post(client, lab, f"/{run['id']}/run"))
    assert (done["outcome"], done["done"]) == ("committed", True)
    assert states(done) == dict.fromkeys(PARTICIPANTS, "committed")


def test_a_fork_is_a_what_if_that_changes_only_itself(client, lab):
    run = start(client, lab)
    original = ok(post(client, lab, f"/{run['id']}/run"))
    before = [e for e in log(client, lab)["events"] if e["stream"] == f"twopc-{run['id']}"]

    fork = post(client, lab, f"/{run['id']}/fork", {"at_step": 1}).json()

    assert_contract_shape(fork)
    assert fork["steps"] == original["steps"][:1]
    ok(post(client, lab, f"/{fork['id']}/faults", {"faults": [{"kind": "vote_no", "participant": "inventory"}]}))
    assert ok(post(client, lab, f"/{fork['id']}/run"))["outcome"] == "aborted"
    assert ok(get(client, lab, f"/{run['id']}")) == original
    assert [e for e in log(client, lab)["events"] if e["stream"] == f"twopc-{run['id']}"] == before


def test_the_list_of_runs(client, lab):
    assert ok(get(client, lab)) == {"runs": []}
    first = start(client, lab, seed=3)
    second = start(client, lab, participants=["orders"])

    listed = ok(get(client, lab))["runs"]

    assert [r["id"] for r in listed] == [second["id"], first["id"]]
    assert set(listed[0]) == {"id", "seed", "participants", "forked_from", "fork_step", "started_at"}
    assert (listed[1]["seed"], listed[1]["participants"]) == (3, PARTICIPANTS)
    assert listed[0]["participants"] == ["orders"]
    assert all(r["started_at"] for r in listed)


# --- Who may reach a run, and bad requests ----------------------------------------------------------------------------


@pytest.mark.parametrize(("path", "body"), [("/RUN/step", {"deliver": 7}), ("/RUN/recover", {"node": 7}),
                                            ("/RUN/fork", {"at_step": "x"}), ("", {"seed": "x"})])
def test_a_bad_body_to_a_lab_one_cannot_reach_is_a_404(client, lab, path, body):
    # The lab is checked first: a bad body to a lab one cannot reach is a 404, never a 422 that hints it exists.
    from eventlab.labs.services import create_lab

    run = start(client, lab)
    _, other_token = create_lab()

    for lab_id, headers in ((lab.id, auth(other_token)), (lab.id, {}), ("no-such-lab", auth(lab.token))):
        response = client.post(f"/api/labs/{lab_id}/twopc{path.replace('RUN', run['id'])}", data=json.dumps(body),
                               content_type="application/json", **headers)
        assert_plain(response, 404)


@pytest.mark.parametrize("body", [
    {"order": {"customer": "Ada", "items": []}},
    {"order": {"customer": "Ada", "items": [{"sku": "book", "qty": -1, "price": "12.50"}]}},
    {"order": {"customer": "Ada", "items": [{"sku": "book", "qty": 1, "price": "1.005"}]}},
    {"order": {}},
    {"order": "Ada's book"},
    {"participants": []},
    {"participants": ["orders", "orders"]},
    {"participants": ["orders", "billing"]},
    {"participants": None},
    {"participants": ["orders"], "faults": [{"kind": "vote_no", "participant": "payments"}]},
    {"faults": [{"kind": "vote_no", "participant": "payments", "ms": 5}]},
    {"faults": [{"kind": "coordinator_crash", "at": "sometime"}]},
    {"seed": True},
    {"seed": -1},
    {"seed": None},
])
def test_a_start_the_lab_cannot_take_is_a_422_that_appends_nothing(lab, body):
    client = Client(raise_request_exception=False)
    before = head(client, lab)

    assert_plain(post(client, lab, "", body), 422)

    assert head(client, lab) == before


def test_an_empty_order_says_so(client, lab):
    detail = assert_plain(post(client, lab, "", {"order": {"customer": "Ada", "items": []}}), 422)

    assert detail == "No items in order."


def test_html_in_the_customers_name_is_stored_as_given_and_returned_as_plain_json(client, lab):
    name = '<script>alert("hi")</script><b>Ada</b>'
    response = post(client, lab, "", {"order": {"customer": name, "items": ORDER["items"]}})
    assert response.status_code == 201, response.content
    assert response["Content-Type"].startswith("application/json")
    run = response.json()

    done = ok(post(client, lab, f"/{run['id']}/run"))

    assert run["order"]["customer"] == name
    assert done["order"]["customer"] == name
    started = [e for e in log(client, lab)["events"] if e["type"] == "TwoPCRunStarted"]
    assert started[0]["data"]["order"]["customer"] == name
    worked = [e for e in log(client, lab)["events"] if e["type"] == "WorkDone"]
    assert worked[0]["data"]["order"]["customer"] == name
    prepared = [e for e in log(client, lab)["events"] if e["type"] == "Prepared" and e["data"]["node"] == "payments"]
    assert prepared[0]["data"]["locks"] == [f"account:{name}"]


def test_a_long_customer_name_is_a_422_not_echoed_back(client, lab):
    detail = assert_plain(post(client, lab, "", {"order": {"customer": "x" * 5_000, "items": ORDER["items"]}}), 422)

    assert "at most 100" in detail


# --- The presets ------------------------------------------------------------------------------------------------------


@pytest.fixture
def presets() -> dict[str, dict]:
    call_command("loaddata", "twopc_presets", verbosity=0)
    return {preset.slug: preset.start for preset in Preset.objects.all()}


def start_preset(client, lab, presets, slug) -> dict:
    response = post(client, lab, "", presets[slug])
    assert response.status_code == 201, response.content
    return response.json()


def finish(client, lab, run) -> dict:
    return ok(post(client, lab, f"/{run['id']}/run"))


def test_the_fixture_holds_the_presets(presets):
    assert list(presets) == ["commit", "vote-no", "coordinator-crash-after-prepare",
                             "coordinator-crash-after-decision", "participant-crash", "vote-timeout", "commit-lost",
                             "presumed-nothing-vote-no", "read-only", "one-phase", "cooperative-unblocks",
                             "cooperative-blocked"]


def test_preset_commit_commits_and_the_other_order_waits_for_the_stock_row(client, lab, presets):
    done = finish(client, lab, start_preset(client, lab, presets, "commit"))

    assert (done["outcome"], done["done"]) == ("committed", True)
    assert states(done) == dict.fromkeys(PARTICIPANTS, "committed")
    assert done["blocked_ms"] > 0
    kinds = [e["type"] for e in done["coordinator"]["log"]]
    assert kinds == ["DecisionLogged", "TransactionEnded"]
    # The decision was logged before any Commit went out.
    decided = done["coordinator"]["log"][0]["step"]
    commits = [s for s in done["steps"] if s["message"] == "Commit"]
    assert len(commits) == 3 and all(s["step"] > decided for s in commits)


def test_preset_vote_no_rolls_everyone_back(client, lab, presets):
    done = finish(client, lab, start_preset(client, lab, presets, "vote-no"))

    assert (done["outcome"], done["done"]) == ("aborted", True)
    assert done["participants"]["payments"]["vote"] == "no"
    assert states(done) == dict.fromkeys(PARTICIPANTS, "aborted")  # even those that voted Yes
    assert all(p["locks"] == [] for p in done["participants"].values())
    assert done["coordinator"]["decision"] == "abort"


def test_preset_coordinator_crash_after_prepare_blocks_in_doubt_then_recover_presumes_abort(client, lab, presets):
    run = start_preset(client, lab, presets, "coordinator-crash-after-prepare")

    stuck = finish(client, lab, run)

    assert (stuck["outcome"], stuck["crashed"]) == ("blocked", ["coordinator"])
    assert stuck["coordinator"]["decision"] is None
    assert all(p["vote"] == "yes" and p["in_doubt"] and p["locks"] for p in stuck["participants"].values())
    assert stuck["blocked_ms"] > 0 and stuck["participants"]["inventory"]["waiting"]
    asked = [e for e in log(client, lab)["events"] if e["type"] == "DecisionAsked"]
    assert {e["data"]["node"] for e in asked} == set(PARTICIPANTS)

    ok(post(client, lab, f"/{run['id']}/recover"))
    done = finish(client, lab, run)

    assert (done["outcome"], done["done"]) == ("aborted", True)
    assert done["coordinator"]["log"] == []  # presumed abort: no record, so abort — and nothing written
    assert any(e["type"] == "PresumedAbort" for e in log(client, lab)["events"])
    assert states(done) == dict.fromkeys(PARTICIPANTS, "aborted")
    assert all(p["locks"] == [] for p in done["participants"].values())


def test_preset_coordinator_crash_after_decision_blocks_then_recover_commits(client, lab, presets):
    run = start_preset(client, lab, presets, "coordinator-crash-after-decision")

    stuck = finish(client, lab, run)

    assert (stuck["outcome"], stuck["crashed"]) == ("blocked", ["coordinator"])
    assert (stuck["coordinator"]["state"], stuck["coordinator"]["decision"]) == ("crashed", "commit")
    assert states(stuck) == dict.fromkeys(PARTICIPANTS, "prepared")  # no participant has heard it

    ok(post(client, lab, f"/{run['id']}/recover"))
    done = finish(client, lab, run)

    assert (done["outcome"], done["done"]) == ("committed", True)
    assert states(done) == dict.fromkeys(PARTICIPANTS, "committed")


def test_preset_participant_crash_commits_with_inventory_down_then_recover_commits_it(client, lab, presets):
    run = start_preset(client, lab, presets, "participant-crash")

    partial = finish(client, lab, run)

    assert (partial["outcome"], partial["crashed"], partial["done"]) == ("committed", ["inventory"], False)
    assert states(partial) == {"orders": "committed", "payments": "committed", "inventory": "crashed"}
    assert partial["participants"]["inventory"]["locks"] == ["stock:book"]  # held in its log while it is down
    assert partial["participants"]["inventory"]["vote"] == "yes"

    ok(post(client, lab, f"/{run['id']}/recover", {"node": "inventory"}))
    done = finish(client, lab, run)

    assert (done["outcome"], done["done"], done["crashed"]) == ("committed", True, [])
    assert states(done) == dict.fromkeys(PARTICIPANTS, "committed")
    assert done["participants"]["inventory"]["locks"] == []


def test_preset_vote_timeout_aborts_and_the_late_vote_changes_nothing(client, lab, presets):
    done = finish(client, lab, start_preset(client, lab, presets, "vote-timeout"))

    assert (done["outcome"], done["done"]) == ("aborted", True)
    events = log(client, lab)["events"]
    timed_out = [e["data"]["missing"] for e in events if e["type"] == "VoteTimedOut"]
    assert len(timed_out) == 1 and timed_out[0]
    assert any(e["type"] == "MessageDelayed" and e["data"]["type"] == "VoteYes" for e in events)
    assert states(done) == dict.fromkeys(PARTICIPANTS, "aborted")
    assert done["coordinator"]["decision"] == "abort"
    assert [e["type"] for e in done["coordinator"]["log"]].count("DecisionLogged") == 1


def test_preset_commit_lost_commits_after_the_decision_is_sent_again(client, lab, presets):
    done = finish(client, lab, start_preset(client, lab, presets, "commit-lost"))

    assert (done["outcome"], done["done"]) == ("committed", True)
    assert states(done) == dict.fromkeys(PARTICIPANTS, "committed")
    events = log(client, lab)["events"]
    assert [e["data"]["type"] for e in events if e["type"] == "MessageDropped"] == ["Commit"]
    decided = next(e for e in events if e["type"] == "DecisionLogged")
    resent = next(e for e in events if e["type"] == "DecisionResent")
    assert resent["data"]["at_ms"] - decided["data"]["at_ms"] == 1_000
    assert done["messages"] == 13


# --- The run in the lab's log, next to the bank ---------------------------------------------------------------------------


def test_the_runs_events_are_in_the_labs_log_in_its_own_stream(client, lab):
    run = start(client, lab)
    ok(post(client, lab, f"/{run['id']}/step"))
    ok(post(client, lab, f"/{run['id']}/faults", {"faults": [{"kind": "drop", "message": "Ack"}]}))
    ok(post(client, lab, f"/{run['id']}/run"))

    page = log(client, lab)

    events = page["events"]
    assert page["head"] == len(events) == events[-1]["position"]
    assert [e["position"] for e in events] == list(range(1, len(events) + 1))
    assert all(set(e) == EVENT_KEYS and e["stream"] == f"twopc-{run['id']}" for e in events)
    assert [e["version"] for e in events] == list(range(1, len(events) + 1))
    types = [e["type"] for e in events]
    assert types[0] == "TwoPCRunStarted" and events[0]["data"]["run_id"] == run["id"]
    assert types[1:].count("TwoPCRunStarted") == 0
    assert types.count("TwoPCStepTaken") == ok(get(client, lab, f"/{run['id']}"))["step"]
    assert types.count("TwoPCFaultsInjected") == 1
    assert {"MessageSent", "MessageDelivered", "MessageDropped", "TransactionBegun", "Prepared", "VoteReceived",
            "DecisionLogged", "Committed", "TransactionEnded", "LockWaiting", "LockGranted"} <= set(types)
    engine = [e for e in events if not e["type"].startswith("TwoPC")]
    assert all("step" in e["data"] and "at_ms" in e["data"] for e in engine)
    stream = client.get(f"/api/labs/{lab.id}/streams/twopc-{run['id']}", **auth(lab.token)).json()
    assert stream["version"] == len(events)


def test_the_bank_still_works_on_a_lab_with_twopc_runs_and_ignores_their_events(client, lab):
    run = start(client, lab)
    ok(post(client, lab, f"/{run['id']}/run"))
    twopc_head = head(client, lab)

    accounts = ok(client.get(f"/api/labs/{lab.id}/bank/accounts", **auth(lab.token)))
    assert accounts == {"accounts": [], "checkpoint": twopc_head, "head": twopc_head}

    opened = client.post(f"/api/labs/{lab.id}/bank/commands", content_type="application/json", **auth(lab.token),
                         data=json.dumps({"command": "OpenAccount", "account_id": "acc-1", "owner": "Ada"}))
    assert opened.status_code == 201, opened.content
    assert opened.json()["events"][0]["position"] == twopc_head + 1
    again = start(client, lab)  # more 2PC events after the bank's
    ok(post(client, lab, f"/{again['id']}/run"))
    accounts = ok(client.get(f"/api/labs/{lab.id}/bank/accounts", **auth(lab.token)))
    assert [a["account_id"] for a in accounts["accounts"]] == ["acc-1"]
    assert accounts["checkpoint"] == accounts["head"] == head(client, lab)
    assert ok(get(client, lab, f"/{run['id']}"))["outcome"] == "committed"  # the bank's events are not the run's


# --- Variants and options (Mohan, Lindsay & Obermarck 1986; Gray & Reuter; Bernstein et al. ch. 7) ---------------


@pytest.mark.parametrize(("body", "message"), [
    ({"protocol": "presumed_commit"}, "presumed_abort (the default) or presumed_nothing"),
    ({"protocol": 7}, "presumed_abort (the default) or presumed_nothing"),
    ({"read_only": ["billing"]}, "read_only lists participants of this transaction"),
    ({"read_only": "orders"}, "read_only lists participants of this transaction"),
    ({"read_only": ["orders", "orders"]}, "read_only lists participants of this transaction"),
    ({"participants": ["payments"], "read_only": ["orders"]}, "read_only lists participants of this transaction"),
    ({"one_phase": True}, "One-phase commit needs exactly one participant; this transaction has 3"),
    ({"one_phase": "yes", "participants": ["payments"]}, "one_phase is true or false."),
    ({"cooperative": 1}, "cooperative is true or false."),
    ({"cooperative": True, "participants": ["payments"]}, "at least two participants"),
])
def test_a_variant_or_option_that_does_not_fit_is_a_422_in_plain_words_that_appends_nothing(lab, body, message):
    client = Client(raise_request_exception=False)
    before = head(client, lab)

    assert message in assert_plain(post(client, lab, "", body), 422)

    assert head(client, lab) == before


def test_the_variants_differ_in_forced_writes_messages_and_acks_for_the_same_no_vote(client, lab):
    """Presumed abort: the abort is not forced and not acknowledged; presumed nothing: both (R*, 1986)."""
    runs = {protocol: finish(client, lab, start(client, lab, faults=[{"kind": "vote_no", "participant": "payments"}],
                                                protocol=protocol))
            for protocol in ("presumed_abort", "presumed_nothing")}
    pa, pn = runs["presumed_abort"], runs["presumed_nothing"]
    assert pa["protocol"] == "presumed_abort" and pn["protocol"] == "presumed_nothing"
    assert (pa["costs"]["coordinator_forced"], pa["costs"]["acks"], pa["costs"]["messages"]) == (0, 0, 8)
    assert (pn["costs"]["coordinator_forced"], pn["costs"]["acks"], pn["costs"]["messages"]) == (1, 2, 10)


def test_read_only_one_phase_and_cooperative_runs_over_the_api(client, lab):
    read_only = finish(client, lab, start(client, lab, read_only=["orders"]))
    assert read_only["participants"]["orders"]["vote"] == "read_only" and read_only["costs"]["messages"] == 10
    one = finish(client, lab, start(client, lab, participants=["payments"], one_phase=True))
    assert one["outcome"] == "committed" and one["costs"]["by_type"] == {"CommitOnePhase": 1, "Ack": 1}
    crash = {"kind": "coordinator_crash", "at": "before_decision", "restart_after_ms": None}
    unblocked = finish(client, lab, start(client, lab, faults=[{"kind": "vote_no", "participant": "inventory"}, crash],
                                          cooperative=True))
    assert (unblocked["outcome"], unblocked["crashed"]) == ("aborted", ["coordinator"])
    blocked = finish(client, lab, start(client, lab, faults=[crash], cooperative=True))
    assert blocked["outcome"] == "blocked"


def test_a_step_can_carry_a_prediction_and_answers_how_it_turned_out(client, lab):
    run = start(client, lab, faults=[{"kind": "drop", "message": "Commit", "nth": 1}])
    while ok(get(client, lab, f"/{run['id']}"))["prompt"] is None:
        ok(post(client, lab, f"/{run['id']}/step"))
    prompt = ok(get(client, lab, f"/{run['id']}"))["prompt"]
    assert prompt["message"] == "Commit" and "dropped" in [c["key"] for c in prompt["choices"]]

    stepped = ok(post(client, lab, f"/{run['id']}/step", {"predict": "dropped"}))

    assert stepped["prediction"] == {"step": stepped["step"], "predicted": "dropped", "happened": "dropped",
                                     "right": True, "asked": True}
    assert ok(get(client, lab, f"/{run['id']}"))["predictions"] == [stepped["prediction"]]
    refused = Client(raise_request_exception=False)
    refused.cookies = client.cookies
    assert "Unknown prediction" in assert_plain(post(refused, lab, f"/{run['id']}/step", {"predict": "meteor"}), 422)
