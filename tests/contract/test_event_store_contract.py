"""One contract, every store: the in-memory store and the database store must behave the same.

`EventStoreContract` holds the tests; each backend subclasses it with its own `create_store()` (the pattern of the
`eventsourcing` library's recorder test cases). A new backend passes when its subclass passes.
"""

import dataclasses
import re
import time
from datetime import UTC, datetime, timedelta

import pytest

from eventlab.eventstore.core import (
    CommandIdReused,
    ConcurrencyError,
    InMemoryEventStore,
    NewEvent,
    UnknownLog,
    dumps,
    upcaster,
)
from eventlab.eventstore.recorder import DjangoEventStore

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def ev(n: int, type_: str = "Happened") -> NewEvent:
    return NewEvent(type_, {"n": n})


def evs(*ns: int) -> list[NewEvent]:
    return [ev(n) for n in ns]


# A made-up event type whose schema moved on, so the contract can check upcasting without any app's events.
@upcaster("ContractThingRenamed", 1)
def _contract_v1_to_v2(data):
    return {"label": data.pop("name"), **data}


class EventStoreContract:
    """The store's promises. Subclasses say which store; they do not add or skip tests."""

    def create_store(self):
        raise NotImplementedError

    @pytest.fixture
    def store(self):
        return self.create_store()

    @pytest.fixture
    def log(self, store, log_id):
        store.create_log(log_id)
        return log_id

    @pytest.fixture
    def other_log(self, store, other_log_id):
        store.create_log(other_log_id)
        return other_log_id

    # --- Versions and positions ---------------------------------------------------------------------------------

    def test_versions_start_at_1_and_are_contiguous(self, store, log):
        # Two events into a new stream, then three more.
        first = store.append(log, "s", evs(1, 2), expected_version=0)
        second = store.append(log, "s", evs(3, 4, 5), expected_version=2)
        assert [e.version for e in first.events] == [1, 2]
        assert [e.version for e in second.events] == [3, 4, 5]
        # Reading the stream gives them back in version order, payloads intact.
        stream = store.read_stream(log, "s")
        assert [e.version for e in stream] == [1, 2, 3, 4, 5]
        assert [e.data["n"] for e in stream] == [1, 2, 3, 4, 5]
        assert store.stream_version(log, "s") == 5

    def test_each_stream_counts_its_own_versions(self, store, log):
        store.append(log, "a", evs(1, 2), 0)
        store.append(log, "b", evs(3), 0)
        assert [e.version for e in store.read_stream(log, "b")] == [1]
        assert store.stream_version(log, "a") == 2
        assert store.stream_version(log, "nobody-wrote-here") == 0

    def test_positions_are_lab_wide_gap_free_from_1(self, store, log):
        # Appends to three streams interleave; positions count across all of them.
        store.append(log, "a", evs(1, 2), 0)
        store.append(log, "b", evs(3), 0)
        store.append(log, "a", evs(4), 2)
        store.append(log, "c", evs(5, 6, 7), None)
        assert [e.position for e in store.read_log(log)] == [1, 2, 3, 4, 5, 6, 7]
        assert [e.data["n"] for e in store.read_log(log)] == [1, 2, 3, 4, 5, 6, 7]
        assert store.head(log) == 7

    def test_a_refused_append_uses_up_no_position(self, store, log):
        store.append(log, "a", evs(1), 0)
        # A conflict and a reused command id are refused…
        with pytest.raises(ConcurrencyError):
            store.append(log, "a", evs(2, 3), 0)
        store.append(log, "b", evs(4), 0, command_id="cmd", command_fingerprint="x")
        with pytest.raises(CommandIdReused):
            store.append(log, "b", evs(5), None, command_id="cmd", command_fingerprint="y")
        # …and the next append takes the very next position: no gap.
        assert store.append(log, "a", evs(6), 1).events[0].position == 3
        assert [e.position for e in store.read_log(log)] == [1, 2, 3]

    # --- Optimistic concurrency ---------------------------------------------------------------------------------

    def test_expected_version_0_means_a_new_stream(self, store, log):
        store.append(log, "s", evs(1), expected_version=0)
        # The stream is not new any more.
        with pytest.raises(ConcurrencyError) as conflict:
            store.append(log, "s", evs(2), expected_version=0)
        assert (conflict.value.expected, conflict.value.actual) == (0, 1)

    def test_no_expected_version_appends_after_whatever_is_there(self, store, log):
        store.append(log, "s", evs(1, 2), None)
        assert [e.version for e in store.append(log, "s", evs(3), None).events] == [3]

    def test_a_conflict_names_the_expected_and_the_actual_version(self, store, log):
        store.append(log, "account-1", evs(1, 2, 3), 0)
        with pytest.raises(ConcurrencyError) as conflict:
            store.append(log, "account-1", evs(4), expected_version=1)
        error = conflict.value
        assert (error.stream, error.expected, error.actual) == ("account-1", 1, 3)
        message = str(error)
        assert "account-1" in message and "expected version 1" in message and "at version 3" in message

    def test_an_expected_version_ahead_of_the_stream_is_a_conflict(self, store, log):
        store.append(log, "s", evs(1), 0)
        with pytest.raises(ConcurrencyError) as conflict:
            store.append(log, "s", evs(2), expected_version=7)
        assert (conflict.value.expected, conflict.value.actual) == (7, 1)

    def test_an_append_is_all_or_nothing(self, store, log):
        store.append(log, "s", evs(1), 0)
        # Three events with a stale expected version: none of them lands.
        with pytest.raises(ConcurrencyError):
            store.append(log, "s", evs(2, 3, 4), 0)
        assert [e.data["n"] for e in store.read_log(log)] == [1]
        assert store.head(log) == 1 and store.stream_version(log, "s") == 1

    # --- Idempotent commands -------------------------------------------------------------------------------------

    def test_a_known_command_id_appends_nothing_and_returns_the_first_result(self, store, log):
        first = store.append(log, "s", evs(1, 2), 0, command_id="cmd-1", command_fingerprint="f1")
        assert not first.duplicate
        # The same command again (a client retrying after a timeout), even with a now-stale expected version.
        again = store.append(log, "s", evs(1, 2), 0, command_id="cmd-1", command_fingerprint="f1")
        assert again.duplicate
        assert again.events == first.events
        assert store.head(log) == 2
        # The store remembers which positions the command wrote.
        record = store.find_command(log, "cmd-1")
        assert (record.command_id, record.fingerprint, record.first_position, record.last_position) == (
            "cmd-1", "f1", 1, 2,
        )

    def test_a_command_id_is_known_across_the_whole_log(self, store, log):
        store.append(log, "a", evs(1), 0, command_id="cmd-1", command_fingerprint="f1")
        # The same command id sent for another stream is still the same command.
        again = store.append(log, "b", evs(1), 0, command_id="cmd-1", command_fingerprint="f1")
        assert again.duplicate and [e.stream for e in again.events] == ["a"]
        assert store.stream_version(log, "b") == 0

    def test_a_command_id_reused_for_a_different_command_is_refused(self, store, log):
        store.append(log, "s", evs(1), 0, command_id="cmd-1", command_fingerprint="deposit 10")
        with pytest.raises(CommandIdReused) as refused:
            store.append(log, "s", evs(2), None, command_id="cmd-1", command_fingerprint="deposit 11")
        assert refused.value.command_id == "cmd-1"
        assert "cmd-1" in str(refused.value)
        assert store.head(log) == 1

    def test_an_unknown_command_id_is_not_found(self, store, log):
        assert store.find_command(log, "never-sent") is None

    # --- Reading -------------------------------------------------------------------------------------------------

    def test_read_stream_takes_a_version_range(self, store, log):
        store.append(log, "s", evs(1, 2, 3, 4, 5), 0)
        store.append(log, "other", evs(99), 0)

        def versions(**kwargs):
            return [e.version for e in store.read_stream(log, "s", **kwargs)]

        assert versions() == [1, 2, 3, 4, 5]
        # After a version: exclusive. Up to a version: inclusive.
        assert versions(after_version=2) == [3, 4, 5]
        assert versions(to_version=3) == [1, 2, 3]
        assert versions(after_version=1, to_version=4) == [2, 3, 4]
        # Empty and out-of-range windows give nothing, and never another stream's events.
        assert versions(after_version=5) == []
        assert versions(to_version=0) == []
        assert versions(after_version=3, to_version=3) == []
        assert versions(to_version=50) == [1, 2, 3, 4, 5]
        assert store.read_stream(log, "missing") == []

    def test_read_log_pages_after_a_position(self, store, log):
        for n in range(1, 8):
            store.append(log, f"s{n % 3}", evs(n), None)

        def positions(**kwargs):
            return [e.position for e in store.read_log(log, **kwargs)]

        assert positions() == [1, 2, 3, 4, 5, 6, 7]
        assert positions(after=4) == [5, 6, 7]
        assert positions(limit=3) == [1, 2, 3]
        assert positions(after=2, limit=2) == [3, 4]
        assert positions(after=5, limit=10) == [6, 7]
        # Caught up: nothing after the head.
        assert positions(after=7) == []
        assert positions(after=100) == []
        assert positions(limit=0) == []

    def test_a_tailing_reader_sees_every_event_once(self, store, log):
        # A reader pages through the log while writers keep appending.
        seen, last = [], 0
        for n in range(1, 11):
            store.append(log, f"s{n % 4}", evs(n), None)
            page = store.read_log(log, after=last, limit=2)
            seen += [e.position for e in page]
            last = seen[-1]
        while page := store.read_log(log, after=last, limit=2):
            seen += [e.position for e in page]
            last = seen[-1]
        assert seen == list(range(1, 11))

    def test_read_positions_is_an_inclusive_range(self, store, log):
        store.append(log, "a", evs(1, 2, 3), 0)
        store.append(log, "b", evs(4, 5), 0)
        assert [e.position for e in store.read_positions(log, 2, 4)] == [2, 3, 4]
        assert [e.position for e in store.read_positions(log, 5, 5)] == [5]
        # Past the head it stops at the head; wholly past it, nothing.
        assert [e.position for e in store.read_positions(log, 4, 9)] == [4, 5]
        assert store.read_positions(log, 6, 9) == []

    def test_read_positions_from_before_the_first_position_starts_at_1(self, store, log):
        store.append(log, "a", evs(1, 2, 3, 4, 5), 0)
        # Positions start at 1; asking from 0 must not wrap around to the end of the log.
        assert [e.position for e in store.read_positions(log, 0, 2)] == [1, 2]

    def test_read_back_pages_newest_first_by_stream_and_type(self, store, log):
        store.append(log, "a", [ev(1, "Opened"), ev(2, "Paid")], 0)
        store.append(log, "b", [ev(3, "Opened"), ev(4, "Paid"), ev(5, "Paid")], 0)
        # Newest first, below `before`, at most `limit`.
        assert [e.position for e in store.read_back(log, 6, 3)] == [5, 4, 3]
        assert [e.position for e in store.read_back(log, 3, 10)] == [2, 1]
        # Filters apply before the limit, so a page is always full when enough events match.
        assert [e.position for e in store.read_back(log, 6, 2, stream="a")] == [2, 1]
        assert [e.position for e in store.read_back(log, 6, 2, event_type="Opened")] == [3, 1]
        assert [e.position for e in store.read_back(log, 6, 5, stream="b", event_type="Paid")] == [5, 4]
        assert store.read_back(log, 1, 5) == []

    def test_read_log_filters_by_stream_and_type_before_the_limit(self, store, log):
        store.append(log, "a", [ev(1, "Opened"), ev(2, "Paid")], 0)
        store.append(log, "b", [ev(3, "Opened"), ev(4, "Paid"), ev(5, "Paid")], 0)
        assert [e.position for e in store.read_log(log, stream="b")] == [3, 4, 5]
        assert [e.position for e in store.read_log(log, after=1, limit=2, event_type="Paid")] == [2, 4]
        assert [e.position for e in store.read_log(log, stream="a", event_type="Opened")] == [1]
        assert store.read_log(log, after=5, stream="b") == []

    def test_head_is_0_for_a_new_log_and_creating_it_again_changes_nothing(self, store, log):
        assert store.head(log) == 0
        store.append(log, "s", evs(1, 2), 0)
        # create_log is idempotent: it never resets a log.
        store.create_log(log)
        assert store.head(log) == 2
        assert len(store.read_log(log)) == 2

    # --- Time travel ----------------------------------------------------------------------------------------------

    def test_version_at_gives_the_streams_version_at_an_instant(self, store, log):
        before = datetime.now(UTC) - timedelta(seconds=1)
        first = store.append(log, "s", evs(1, 2), 0).events
        time.sleep(0.005)
        third = store.append(log, "s", evs(3), 2).events[0]
        store.append(log, "other", evs(4), 0)
        # Before anything was written: version 0.
        assert store.version_at(log, "s", before) == 0
        # At the instant of an append its events count; a microsecond before, they do not.
        assert store.version_at(log, "s", first[1].metadata.recorded_at) == 2
        assert store.version_at(log, "s", third.metadata.recorded_at) == 3
        assert store.version_at(log, "s", third.metadata.recorded_at - timedelta(microseconds=1)) == 2
        # Far in the future: the current version.
        assert store.version_at(log, "s", datetime.now(UTC) + timedelta(days=1)) == 3
        assert store.version_at(log, "missing", datetime.now(UTC)) == 0

    # --- Snapshots ---------------------------------------------------------------------------------------------------

    def test_snapshots_give_the_newest_one_at_or_before_a_version(self, store, log):
        store.append(log, "s", evs(*range(1, 8)), 0)
        assert store.latest_snapshot(log, "s") is None
        store.save_snapshot(log, "s", 3, {"total": 6, "name": "Zoë"})
        store.save_snapshot(log, "s", 6, {"total": 21, "name": "Zoë"})
        # The newest overall…
        newest = store.latest_snapshot(log, "s")
        assert (newest.stream, newest.version, newest.state) == ("s", 6, {"total": 21, "name": "Zoë"})
        # …and the newest usable for an older version.
        assert store.latest_snapshot(log, "s", at_most_version=6).version == 6
        assert store.latest_snapshot(log, "s", at_most_version=5).version == 3
        assert store.latest_snapshot(log, "s", at_most_version=3).version == 3
        assert store.latest_snapshot(log, "s", at_most_version=2) is None
        assert store.latest_snapshot(log, "other", at_most_version=7) is None
        # When it was taken is recorded in UTC.
        assert newest.taken_at.utcoffset() == timedelta(0)

    def test_saving_a_snapshot_twice_keeps_the_first(self, store, log):
        store.append(log, "s", evs(1, 2), 0)
        store.save_snapshot(log, "s", 2, {"total": 3})
        store.save_snapshot(log, "s", 2, {"total": 999})
        assert store.latest_snapshot(log, "s").state == {"total": 3}

    def test_a_snapshot_state_is_a_copy(self, store, log):
        store.append(log, "s", evs(1), 0)
        state = {"total": 1, "items": [1]}
        store.save_snapshot(log, "s", 1, state)
        # Changing the dict afterwards does not change what was saved.
        state["items"].append(2)
        assert store.latest_snapshot(log, "s").state == {"total": 1, "items": [1]}

    # --- Logs are isolated --------------------------------------------------------------------------------------------

    def test_logs_are_isolated_from_each_other(self, store, log, other_log):
        store.append(log, "s", evs(1, 2, 3), 0, command_id="cmd-1", command_fingerprint="f")
        store.save_snapshot(log, "s", 3, {"total": 6})
        # The other lab starts from nothing: its own positions, versions, command ids and snapshots.
        assert store.head(other_log) == 0
        assert store.read_log(other_log) == []
        assert store.stream_version(other_log, "s") == 0
        assert store.latest_snapshot(other_log, "s") is None
        assert store.find_command(other_log, "cmd-1") is None
        result = store.append(other_log, "s", evs(9), 0, command_id="cmd-1", command_fingerprint="other")
        assert not result.duplicate
        assert [(e.log, e.position, e.version) for e in result.events] == [(other_log, 1, 1)]
        # And the first lab is untouched.
        assert store.head(log) == 3
        assert [e.data["n"] for e in store.read_stream(log, "s")] == [1, 2, 3]
        assert all(e.log == log for e in store.read_log(log))

    def test_an_unknown_log_is_refused(self, store):
        with pytest.raises(UnknownLog) as refused:
            store.append("no-such-lab", "s", evs(1), None)
        assert "no-such-lab" in str(refused.value)
        with pytest.raises(UnknownLog):
            store.head("no-such-lab")

    # --- Events ------------------------------------------------------------------------------------------------------

    def test_events_are_immutable(self, store, log):
        event = store.append(log, "s", evs(1), 0).events[0]
        for obj, attribute in [(event, "version"), (event, "data"), (event.metadata, "event_id"), (ev(1), "data")]:
            with pytest.raises(dataclasses.FrozenInstanceError):
                setattr(obj, attribute, None)

    def test_changing_an_event_in_hand_does_not_change_the_log(self, store, log):
        store.append(log, "s", [NewEvent("Happened", {"n": 1, "tags": ["a"]})], 0)
        # A careless reader edits the payload it was given…
        event = store.read_log(log)[0]
        event.data["n"] = 666
        event.data["tags"].append("b")
        # …the next reader still sees what was recorded.
        assert store.read_log(log)[0].data == {"n": 1, "tags": ["a"]}
        assert store.read_stream(log, "s")[0].data == {"n": 1, "tags": ["a"]}

    def test_payloads_round_trip(self, store, log):
        data = {"text": "Zoë pays €5 💶", "nested": {"list": [1, 2.5, None, True]}, "quote": "it's \"fine\""}
        appended = store.append(log, "s", [NewEvent("Happened", data)], 0).events[0]
        read = store.read_log(log)[0]
        assert read.data == data
        assert read.stored_data == dumps(data)
        # What append returned is exactly what a reader gets.
        assert read == appended

    def test_an_old_schema_version_is_upcast_on_read_and_stored_as_written(self, store, log):
        store.append(log, "s", [NewEvent("ContractThingRenamed", {"name": "x"}, schema_version=1)], 0)
        event = store.read_log(log)[0]
        assert (event.schema_version, event.data) == (2, {"label": "x"})
        assert (event.stored_schema_version, event.stored_data) == (1, dumps({"name": "x"}))
        assert event.as_stored_dict()["data"] == {"name": "x"}

    # --- Metadata ----------------------------------------------------------------------------------------------------

    def test_every_event_gets_its_own_event_id(self, store, log):
        store.append(log, "a", evs(1, 2, 3), 0)
        store.append(log, "b", evs(4, 5), 0)
        ids = [e.metadata.event_id for e in store.read_log(log)]
        assert len(set(ids)) == 5
        assert all(UUID.match(i) for i in ids)

    def test_command_correlation_and_causation_ids(self, store, log):
        # Given only a command id: the command starts the conversation and causes its events.
        for event in store.append(log, "s", evs(1, 2), 0, command_id="cmd-1").events:
            assert (event.metadata.command_id, event.metadata.correlation_id, event.metadata.causation_id) == (
                "cmd-1", "cmd-1", "cmd-1",
            )
        # Given all three, each is kept as given.
        event = store.append(log, "s", evs(3), 2, command_id="cmd-2", correlation_id="conv-9",
                             causation_id="evt-7").events[0]
        assert (event.metadata.command_id, event.metadata.correlation_id, event.metadata.causation_id) == (
            "cmd-2", "conv-9", "evt-7",
        )
        # And they read back the same.
        assert store.read_log(log)[2].metadata == event.metadata

    def test_without_a_command_id_each_append_gets_a_fresh_one(self, store, log):
        first = store.append(log, "s", evs(1, 2), 0).events
        second = store.append(log, "s", evs(3), 2).events
        # One id per append, shared by its events, also used as correlation and causation.
        assert first[0].metadata.command_id == first[1].metadata.command_id
        assert first[0].metadata.command_id != second[0].metadata.command_id
        assert first[0].metadata.correlation_id == first[0].metadata.causation_id == first[0].metadata.command_id
        # The generated id is remembered like a given one.
        assert store.find_command(log, second[0].metadata.command_id).first_position == 3

    def test_recorded_at_is_an_aware_utc_time(self, store, log):
        before = datetime.now(UTC)
        appended = store.append(log, "s", evs(1), 0).events[0]
        after = datetime.now(UTC)
        for event in (appended, store.read_log(log)[0]):
            moment = event.metadata.recorded_at
            assert moment.tzinfo is not None and moment.utcoffset() == timedelta(0)
            assert before <= moment <= after
        assert event.as_dict()["metadata"]["recorded_at"].endswith("Z")

    # --- Empty appends ---------------------------------------------------------------------------------------------

    def test_an_empty_append_appends_nothing(self, store, log):
        store.append(log, "s", evs(1), 0)
        result = store.append(log, "s", [], 1)
        assert result.events == [] and not result.duplicate
        assert store.head(log) == 1
        assert store.stream_version(log, "s") == 1
        # The next real append still gets the next position and version.
        event = store.append(log, "s", evs(2), 1).events[0]
        assert (event.position, event.version) == (2, 2)


class TestInMemoryEventStore(EventStoreContract):
    def create_store(self):
        return InMemoryEventStore()


@pytest.mark.django_db
class TestDjangoEventStore(EventStoreContract):
    def create_store(self):
        return DjangoEventStore()
