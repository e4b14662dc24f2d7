"""The database itself keeps the log append-only: no UPDATE, no DELETE (and no TRUNCATE on PostgreSQL).

Each forbidden statement runs in its own `transaction.atomic()`: on PostgreSQL a failed statement spoils the
transaction around it, and the test carries on afterwards.
"""

import pytest
from django.core.management.sql import emit_post_migrate_signal
from django.db import DatabaseError, connection, transaction

from eventlab.eventstore import triggers
from eventlab.eventstore.core import NewEvent
from eventlab.eventstore.models import StoredEvent
from eventlab.eventstore.recorder import DjangoEventStore

pytestmark = pytest.mark.django_db

REFUSAL = "append-only"


@pytest.fixture
def log_with_events(lab):
    store = DjangoEventStore()
    store.append(lab.id, "account-a", [NewEvent("AccountOpened", {"account_id": "a", "owner": "Ann"})], 0)
    store.append(lab.id, "account-a", [NewEvent("MoneyDeposited", {"account_id": "a", "amount": "5.00"}, 1)], 1)
    return lab.id


def stored_rows(log: str) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT position, stream, version, type, data FROM eventstore_event WHERE lab = %s ORDER BY position",
            [log],
        )
        return cursor.fetchall()


def refused(sql: str, params=()) -> str:
    """Run `sql`, expecting the database to refuse it; return the database's message."""
    with pytest.raises(DatabaseError) as error, transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)
    return str(error.value)


def expected_triggers() -> set[str]:
    if connection.vendor == "postgresql":
        return {"eventstore_event_no_change", "eventstore_event_no_truncate"}
    return {"eventstore_event_no_update", "eventstore_event_no_delete"}


def test_the_append_only_triggers_exist_after_migrate():
    assert triggers.names() == expected_triggers()


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE eventstore_event SET data = '{\"amount\": \"5000000.00\"}' WHERE lab = %s AND position = 2",
        "UPDATE eventstore_event SET type = 'MoneyWithdrawn' WHERE lab = %s",
        "UPDATE eventstore_event SET position = position + 100 WHERE lab = %s",
        "DELETE FROM eventstore_event WHERE lab = %s AND position = 2",
        "DELETE FROM eventstore_event WHERE lab = %s",
    ],
    ids=["update-payload", "update-type", "update-position", "delete-one", "delete-all"],
)
def test_raw_sql_cannot_change_or_remove_events(log_with_events, sql):
    before = stored_rows(log_with_events)
    # Someone with a database shell tries to rewrite history.
    message = refused(sql, [log_with_events])
    # The database says no, in words, and every row is as it was.
    assert REFUSAL in message
    assert stored_rows(log_with_events) == before


def test_the_orm_cannot_change_or_remove_events_either(log_with_events):
    before = stored_rows(log_with_events)
    with pytest.raises(DatabaseError, match=REFUSAL), transaction.atomic():
        StoredEvent.objects.filter(lab=log_with_events).update(type="Rewritten")
    with pytest.raises(DatabaseError, match=REFUSAL), transaction.atomic():
        StoredEvent.objects.filter(lab=log_with_events).delete()
    event = StoredEvent.objects.get(lab=log_with_events, position=1)
    event.data = "{}"
    with pytest.raises(DatabaseError, match=REFUSAL), transaction.atomic():
        event.save()
    assert stored_rows(log_with_events) == before


@pytest.mark.skipif(connection.vendor != "postgresql", reason="TRUNCATE exists only on PostgreSQL")
def test_truncate_is_refused_on_postgresql(log_with_events):
    before = stored_rows(log_with_events)
    assert REFUSAL in refused("TRUNCATE eventstore_event")
    assert stored_rows(log_with_events) == before


def test_appending_still_works_under_the_triggers(log_with_events):
    # The triggers forbid changing the past, not adding to it.
    store = DjangoEventStore()
    store.append(log_with_events, "account-a", [NewEvent("AccountClosed", {"account_id": "a"})], 2)
    assert [row[0] for row in stored_rows(log_with_events)] == [1, 2, 3]


def test_the_triggers_come_back_after_the_table_is_re_created(log_with_events):
    # Simulate what Django's SQLite table rebuild (a later AlterField) does: the triggers silently vanish.
    triggers.drop()
    assert triggers.names() == set()
    # The post_migrate hook that runs after every migrate puts them back…
    triggers.on_post_migrate(using=connection.alias)
    assert triggers.names() == expected_triggers()
    # …and they refuse again.
    assert REFUSAL in refused("DELETE FROM eventstore_event WHERE lab = %s", [log_with_events])


def test_migrate_re_creates_the_triggers_through_its_post_migrate_signal(log_with_events):
    # The hook is wired to the signal migrate sends, not only callable by hand.
    triggers.drop()
    emit_post_migrate_signal(verbosity=0, interactive=False, db=connection.alias)
    assert triggers.names() == expected_triggers()
    assert REFUSAL in refused("UPDATE eventstore_event SET version = 9 WHERE lab = %s", [log_with_events])


def test_re_creating_the_triggers_twice_is_harmless():
    triggers.on_post_migrate(using=connection.alias)
    triggers.on_post_migrate(using=connection.alias)
    assert triggers.names() == expected_triggers()
