"""Writers racing on real database connections: one winner per version, and a log with no gaps, ever.

Each thread opens its own database connection (Django gives every thread its own) and closes it when done.
These tests commit for real (`transaction=True`), as a server's requests would.
"""

import threading
import time
from decimal import Decimal

import pytest
from django.db import connection

from eventlab.bank import services
from eventlab.eventstore.core import ConcurrencyError, NewEvent
from eventlab.eventstore.recorder import DjangoEventStore

pytestmark = pytest.mark.django_db(transaction=True)

WRITERS = 8


def run_threads(target, count: int, *args) -> list:
    """Start `count` threads on `target(i, barrier, *args)` together; return what each returned or raised."""
    barrier = threading.Barrier(count)
    outcomes: list = [None] * count

    def body(i: int) -> None:
        try:
            outcomes[i] = target(i, barrier, *args)
        except BaseException as exc:  # reported to the test, not swallowed
            outcomes[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=body, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a writer hung"
    return outcomes


@pytest.fixture
def log_id(lab):
    return lab.id


def test_writers_expecting_the_same_version_have_exactly_one_winner(log_id):
    store = DjangoEventStore()
    store.append(log_id, "account-x", [NewEvent("Happened", {"by": "setup"})], 0)

    def write(i, barrier):
        # Everybody read version 1 and now appends at once.
        barrier.wait()
        return store.append(log_id, "account-x", [NewEvent("Happened", {"by": i})], expected_version=1)

    outcomes = run_threads(write, WRITERS)
    winners = [o for o in outcomes if not isinstance(o, BaseException)]
    losers = [o for o in outcomes if isinstance(o, BaseException)]
    # One append wins; every other one is told it lost, naming the versions.
    assert len(winners) == 1, outcomes
    assert len(losers) == WRITERS - 1
    assert all(isinstance(e, ConcurrencyError) and (e.expected, e.actual) == (1, 2) for e in losers), losers
    # The stream holds the setup event and the winner's, nothing else, and the log has no gap.
    stream = store.read_stream(log_id, "account-x")
    assert [e.version for e in stream] == [1, 2]
    assert stream[1].data == winners[0].events[0].data
    assert [e.position for e in store.read_log(log_id)] == [1, 2]
    assert store.head(log_id) == 2


def test_new_stream_racers_expecting_version_0_have_exactly_one_winner(log_id):
    store = DjangoEventStore()

    def write(i, barrier):
        barrier.wait()
        return store.append(log_id, "account-new", [NewEvent("Opened", {"by": i}), NewEvent("Noted", {"by": i})], 0)

    outcomes = run_threads(write, WRITERS)
    assert sum(not isinstance(o, BaseException) for o in outcomes) == 1, outcomes
    assert all(isinstance(o, ConcurrencyError) for o in outcomes if isinstance(o, BaseException)), outcomes
    # The winner's two events are the whole stream: all or nothing.
    assert [e.version for e in store.read_stream(log_id, "account-new")] == [1, 2]
    assert store.head(log_id) == 2


def test_a_tailing_reader_sees_every_position_once_in_order_while_writers_race(log_id):
    store = DjangoEventStore()
    per_writer, total = 1000, WRITERS * 1000
    done = threading.Event()
    failures: list[BaseException] = []

    def write(i, barrier):
        barrier.wait()
        # One event per append (a transaction each), spread over a few streams per writer.
        for n in range(per_writer):
            store.append(log_id, f"w{i}-s{n % 5}", [NewEvent("Happened", {"writer": i, "n": n})], None)

    def tail():
        # A live subscriber: read what is after the last position seen, again and again.
        seen: list[int] = []
        last, deadline = 0, time.monotonic() + 120
        try:
            while last < total and time.monotonic() < deadline:
                page = store.read_log(log_id, after=last, limit=1000)
                for event in page:
                    seen.append(event.position)
                    last = event.position
                if len(page) < 1000:
                    time.sleep(0.005)  # caught up with the writers: poll again shortly
        except BaseException as exc:  # reported to the test, not swallowed
            failures.append(exc)
        finally:
            connection.close()
            done.set()
        return seen

    seen_box: list[list[int]] = []
    reader = threading.Thread(target=lambda: seen_box.append(tail()))
    reader.start()
    outcomes = run_threads(write, WRITERS)
    reader.join(timeout=150)

    assert not reader.is_alive() and not failures, failures
    assert [o for o in outcomes if o is not None] == []
    seen = seen_box[0]
    # Every position exactly once, in order, from 1, without a gap: nothing skipped, nothing repeated.
    assert seen == list(range(1, total + 1))
    assert store.head(log_id) == total
    # And every writer's events are all there, each stream at its full version.
    assert store.stream_version(log_id, "w0-s0") == per_writer // 5
    assert len({(e.data["writer"], e.data["n"]) for e in store.read_log(log_id)}) == total


def test_bank_commands_racing_without_an_expected_version_all_succeed(lab):
    services.execute(lab, {"command": "OpenAccount", "account_id": "shared", "owner": "Everyone"})
    per_thread = 15

    def deposit(i, barrier):
        barrier.wait()
        # No expected version: the server retries when another deposit got in first.
        for _ in range(per_thread):
            services.execute(lab, {"command": "Deposit", "account_id": "shared", "amount": "1.25"})

    outcomes = run_threads(deposit, WRITERS)
    assert [o for o in outcomes if o is not None] == []
    # Every deposit landed exactly once: the balance is exact and the versions contiguous.
    account = services.load(lab, "shared").account
    assert account.balance == Decimal("1.25") * WRITERS * per_thread
    assert account.version == 1 + WRITERS * per_thread
    events = services.store.read_stream(lab.id, "account-shared")
    assert [e.version for e in events] == list(range(1, 2 + WRITERS * per_thread))
