"""The demo scenario fixture: loading it writes no events (and twice is harmless); starting it appends its events
through the store, so positions, versions, upcasting and snapshots are exactly what commands would have produced."""

import json
from collections import defaultdict
from decimal import Decimal

import pytest
from django.core.management import call_command

from eventlab.bank.domain import fold, from_recorded
from eventlab.eventstore.models import Snapshot, StoredEvent
from eventlab.labs.models import Lab, Scenario
from eventlab.labs.services import projector, start_scenario, store

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo() -> Scenario:
    call_command("loaddata", "demo_bank", verbosity=0)
    return Scenario.objects.get(pk="demo-bank")


@pytest.fixture
def demo_lab(demo) -> Lab:
    lab, _token = start_scenario(demo)
    return lab


def test_loading_the_fixture_writes_a_scenario_and_no_events():
    events_before, labs_before = StoredEvent.objects.count(), Lab.objects.count()

    call_command("loaddata", "demo_bank", verbosity=0)

    assert list(Scenario.objects.values_list("slug", flat=True)) == ["demo-bank"]
    assert StoredEvent.objects.count() == events_before
    assert Lab.objects.count() == labs_before


def test_loading_the_fixture_twice_is_harmless(demo):
    events = demo.events

    call_command("loaddata", "demo_bank", verbosity=0)

    assert Scenario.objects.count() == 1
    assert Scenario.objects.get(pk="demo-bank").events == events


def test_the_scenario_describes_bank_events_including_old_schema_versions(demo):
    assert demo.title
    assert len(demo.events) >= 20
    for item in demo.events:
        assert set(item) >= {"stream", "type", "data"}
        assert item["stream"].startswith("account-")
    assert any(i["type"] == "MoneyDeposited" and i.get("schema_version", 1) == 1 for i in demo.events)
    assert any(i["type"] == "MoneyDeposited" and i.get("schema_version") == 2 for i in demo.events)


def test_starting_it_appends_every_event_at_gap_free_positions(demo, demo_lab):
    events = store.read_log(demo_lab.id)

    assert [e.position for e in events] == list(range(1, len(demo.events) + 1))
    assert store.head(demo_lab.id) == len(demo.events)
    assert [(e.stream, e.type) for e in events] == [(i["stream"], i["type"]) for i in demo.events]
    # Stored exactly as the scenario gives them.
    for event, item in zip(events, demo.events, strict=True):
        assert json.loads(event.stored_data) == item["data"]
        assert event.stored_schema_version == item.get("schema_version", 1)


def test_each_stream_has_contiguous_versions_from_1(demo_lab):
    versions = defaultdict(list)
    for event in store.read_log(demo_lab.id):
        versions[event.stream].append(event.version)

    assert len(versions) >= 2
    for stream, seen in versions.items():
        assert seen == list(range(1, len(seen) + 1)), stream
        assert store.stream_version(demo_lab.id, stream) == len(seen)


def test_old_deposits_are_stored_as_v1_and_read_as_v2_in_usd(demo_lab):
    deposits = [e for e in store.read_log(demo_lab.id) if e.type == "MoneyDeposited"]
    old = [e for e in deposits if e.stored_schema_version == 1]

    assert old, "the demo carries v1 deposits"
    for event in old:
        assert "currency" not in json.loads(event.stored_data)  # the stored bytes never change
        assert event.schema_version == 2
        assert event.data["currency"] == "USD"
        assert event.data["amount"] == json.loads(event.stored_data)["amount"]
    assert all(e.schema_version == 2 and e.data["currency"] == "USD" for e in deposits)


def test_no_balance_ever_goes_negative_and_the_read_models_agree(demo_lab):
    by_stream = defaultdict(list)
    for event in store.read_log(demo_lab.id):
        by_stream[event.stream].append(from_recorded(event))

    finals = {}
    for stream, domain_events in by_stream.items():
        state = None
        for event in domain_events:
            state = fold([event], state)
            assert state.balance >= 0, (stream, state)
        finals[state.account_id] = state

    balances = projector.docs(demo_lab.id, "balances")
    assert {k: (Decimal(v["balance"]), v["status"], v["version"]) for k, v in balances.items()} == {
        k: (s.balance, s.status, s.version) for k, s in finals.items()
    }
    checkpoints = {c.projection: c.position for c in projector.checkpoints(demo_lab.id)}
    assert checkpoints == {name: store.head(demo_lab.id) for name in ("balances", "statements", "summary")}


def test_snapshots_are_taken_every_10_versions(demo_lab):
    assert demo_lab.snapshot_every == 10
    stream_versions = defaultdict(int)
    for event in store.read_log(demo_lab.id):
        stream_versions[event.stream] = event.version

    snapshots = defaultdict(list)
    for row in Snapshot.objects.filter(lab=demo_lab.id).order_by("stream", "version"):
        snapshots[row.stream].append(row.version)

    expected = {s: list(range(10, v + 1, 10)) for s, v in stream_versions.items() if v >= 10}
    assert expected, "the demo has at least one stream of 10 or more events"
    assert dict(snapshots) == expected


def test_a_snapshot_equals_the_full_replay_to_its_version(demo_lab):
    for row in Snapshot.objects.filter(lab=demo_lab.id):
        replayed = fold([from_recorded(e) for e in store.read_stream(demo_lab.id, row.stream, to_version=row.version)])
        assert json.loads(row.state) == replayed.as_dict()


def test_starting_it_twice_makes_two_independent_labs(demo):
    first, _ = start_scenario(demo)
    second, _ = start_scenario(demo)

    assert first.id != second.id
    assert store.head(first.id) == store.head(second.id) == len(demo.events)
    assert [e.metadata.event_id for e in store.read_log(first.id)] != [
        e.metadata.event_id for e in store.read_log(second.id)
    ]


def test_a_started_demo_lab_accepts_commands_after_its_history(demo_lab):
    from eventlab.bank import services

    stream_version = store.stream_version(demo_lab.id, "account-acc-1")

    result = services.execute(demo_lab, {"command": "Deposit", "account_id": "acc-1", "amount": "1.00"},
                              expected_version=stream_version)

    assert result.events[0].position == store.head(demo_lab.id)
    assert result.events[0].version == stream_version + 1


def test_the_management_command_starts_a_lab_from_the_scenario(demo):
    labs_before = set(Lab.objects.values_list("pk", flat=True))

    call_command("start_scenario", "demo-bank", verbosity=0)

    new = set(Lab.objects.values_list("pk", flat=True)) - labs_before
    assert len(new) == 1
    assert store.head(new.pop()) == len(demo.events)


def test_the_management_command_names_the_known_scenarios_for_an_unknown_one(demo):
    from django.core.management import CommandError

    labs_before = Lab.objects.count()

    with pytest.raises(CommandError, match="demo-bank"):
        call_command("start_scenario", "no-such-scenario", verbosity=0)

    assert Lab.objects.count() == labs_before
