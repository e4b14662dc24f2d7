"""The (lab, type, position) index: a type filter and the list of runs read only what they show, newest first,
whatever the log's size. Behaviour is the store's as before (the contract suite checks it); these check the index is
there after migrate, the append-only triggers with it, and that the queries that need it are served by it."""

import pytest
from django.db import connection

from eventlab.eventstore import triggers
from eventlab.eventstore.core import NewEvent
from eventlab.labs.services import store
from eventlab.sagas import services as sagas
from eventlab.sagas.handlers import LOG

pytestmark = pytest.mark.django_db

START = {"mode": "orchestration", "seed": 1,
         "order": {"customer": "Ada", "items": [{"sku": "book", "qty": 1, "price": "12.50"}]}}


def deposits(lab_id: str, stream: str, first: int, n: int) -> None:
    events = [NewEvent("MoneyDeposited", {"account_id": stream, "amount": "1.00", "currency": "USD"}, 2)] * n
    store.append(lab_id, f"account-{stream}", events, first - 1)


def test_the_index_and_the_triggers_are_there_after_migrate():
    constraints = connection.introspection.get_constraints(connection.cursor(), "eventstore_event")
    assert constraints["event_lab_type"]["columns"] == ["lab", "type", "position"]
    assert constraints["event_lab_type"]["index"]
    assert triggers.names()


def test_the_run_list_is_every_runs_start_newest_first_across_other_events(lab):
    store.append(lab.id, "account-a", [NewEvent("AccountOpened", {"account_id": "a", "owner": "Ann"})], 0)
    runs = []
    for i in range(3):
        runs.append(sagas.start(lab, {**START, "seed": i + 1}).id)
        deposits(lab.id, "a", 2 + 50 * i, 50)

    listed = LOG.runs(store, lab.id)

    assert [e.stream for e in listed] == [LOG.stream_name(r) for r in reversed(runs)]
    assert [e.position for e in listed] == sorted((e.position for e in listed), reverse=True)


def test_a_sparse_type_filter_pages_back_in_position_order(lab):
    store.append(lab.id, "account-a", [NewEvent("AccountOpened", {"account_id": "a", "owner": "Ann"})], 0)
    deposits(lab.id, "a", 2, 30)
    store.append(lab.id, "account-b", [NewEvent("AccountOpened", {"account_id": "b", "owner": "Bob"})], 0)
    deposits(lab.id, "b", 2, 30)

    opened = store.read_back(lab.id, store.head(lab.id) + 1, 25, event_type="AccountOpened")

    assert [e.stream for e in opened] == ["account-b", "account-a"]
    assert store.read_back(lab.id, opened[0].position, 25, event_type="AccountOpened") == opened[1:]


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's query plan")
def test_sqlite_reads_a_type_newest_first_by_the_index_without_sorting(lab):
    with connection.cursor() as cursor:
        cursor.execute(
            "EXPLAIN QUERY PLAN SELECT position FROM eventstore_event WHERE lab = %s AND position < %s AND type = %s "
            "ORDER BY position DESC LIMIT 26", [lab.id, 10, "AccountOpened"])
        plan = " ".join(str(row[-1]) for row in cursor.fetchall())
    assert "event_lab_type" in plan
    assert "TEMP B-TREE" not in plan  # no sort of every match: the index is already in position order
