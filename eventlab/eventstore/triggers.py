"""The database itself refuses UPDATE and DELETE on the events table (and TRUNCATE on PostgreSQL).

Created by a migration and re-created after every migrate (Django's SQLite table rebuild drops triggers).
Only the test harness drops them, around a test-database flush.
"""

from django.db import connections

TABLE = "eventstore_event"
MESSAGE = "the event log is append-only: events are never updated or deleted"

SQLITE_CREATE = [
    f"CREATE TRIGGER IF NOT EXISTS {TABLE}_no_update BEFORE UPDATE ON {TABLE} "
    f"BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END",
    f"CREATE TRIGGER IF NOT EXISTS {TABLE}_no_delete BEFORE DELETE ON {TABLE} "
    f"BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END",
]
SQLITE_DROP = [f"DROP TRIGGER IF EXISTS {TABLE}_no_update", f"DROP TRIGGER IF EXISTS {TABLE}_no_delete"]

POSTGRES_CREATE = [
    f"""CREATE OR REPLACE FUNCTION {TABLE}_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION '{MESSAGE}'; END $$""",
    f"DROP TRIGGER IF EXISTS {TABLE}_no_change ON {TABLE}",
    f"CREATE TRIGGER {TABLE}_no_change BEFORE UPDATE OR DELETE ON {TABLE} "
    f"FOR EACH ROW EXECUTE FUNCTION {TABLE}_append_only()",
    f"DROP TRIGGER IF EXISTS {TABLE}_no_truncate ON {TABLE}",
    f"CREATE TRIGGER {TABLE}_no_truncate BEFORE TRUNCATE ON {TABLE} "
    f"FOR EACH STATEMENT EXECUTE FUNCTION {TABLE}_append_only()",
]
POSTGRES_DROP = [f"DROP TRIGGER IF EXISTS {TABLE}_no_change ON {TABLE}", f"DROP TRIGGER IF EXISTS {TABLE}_no_truncate ON {TABLE}"]


def _run(statements: list[str], using: str = "default") -> None:
    with connections[using].cursor() as cursor:
        for sql in statements:
            cursor.execute(sql)


def create(using: str = "default") -> None:
    vendor = connections[using].vendor
    _run(POSTGRES_CREATE if vendor == "postgresql" else SQLITE_CREATE, using)


def drop(using: str = "default") -> None:
    vendor = connections[using].vendor
    _run(POSTGRES_DROP if vendor == "postgresql" else SQLITE_DROP, using)


def names(using: str = "default") -> set[str]:
    """The append-only triggers present on the events table."""
    connection = connections[using]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT tgname FROM pg_trigger WHERE tgrelid = %s::regclass AND NOT tgisinternal", [TABLE]
            )
        else:
            cursor.execute("SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = %s", [TABLE])
        return {row[0] for row in cursor.fetchall()}


def on_post_migrate(using: str = "default", **kwargs) -> None:
    if TABLE in connections[using].introspection.table_names():
        create(using)
