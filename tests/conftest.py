"""Test harness shared by every suite.

The events table is append-only, enforced by database triggers. pytest-django flushes the database after
`transaction=True` tests, which the triggers (rightly) refuse; only here, around that flush, are they dropped and put
back. Most tests never need a flush: every test makes its own lab, and labs never see each other's events.
"""

import pytest
from django.core.management.commands import flush


@pytest.fixture(scope="session", autouse=True)
def _flush_around_append_only_triggers():
    original = flush.Command.handle

    def handle(self, *args, **options):
        from eventlab.eventstore import triggers

        database = options.get("database", "default")
        triggers.drop(database)
        try:
            return original(self, *args, **options)
        finally:
            triggers.create(database)

    flush.Command.handle = handle
    yield
    flush.Command.handle = original


@pytest.fixture
def lab(db):
    """A fresh lab (and its API token as `lab.token`)."""
    from eventlab.labs.services import create_lab

    new_lab, token = create_lab()
    new_lab.token = token
    return new_lab
