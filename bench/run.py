"""EventLab benchmarks: each figure is printed next to a baseline measured in the same run, as a ratio.

Run from the repository root: `.venv/bin/python bench/run.py` (or `make bench`). Nothing here asserts a time.

1. Append throughput, one event per transaction, through `DjangoEventStore.append` (Django, SQLite file configured
   like settings.SQLITE_OPTIONS, DEBUG off as in production), against
   a. raw `sqlite3` running the same five statements (the store's own SQL text) on the same schema (copied from the
      Django-migrated file), with the same PRAGMAs and BEGIN IMMEDIATE … COMMIT;
   b. the `eventsourcing` library's SQLiteApplicationRecorder, one StoredEvent per `insert_events` call, on its own
      file: once as the library ships (it leaves `synchronous` at SQLite's default, FULL: an fsync per commit) and
      once with `synchronous=NORMAL` like ours (the like-for-like durability comparison).
2. Time travel: `load_account(version=109)` vs `load_account(version=99_999)` on one account stream of 100,000
   events with a snapshot every 10 versions (the lab default): both 9 events past a snapshot, the worst case.
   The stream is built quickly: `store.append` with 1,000 events per call, all in one transaction, plus
   `store.save_snapshot` of the folded state every 10 versions.
3. Read-model rebuild: `Projector.rebuild` + `catch_up` over the log written by benchmark 1, in log events per
   second, against the append rate of 1: the accounts read model alone, and the three default ones in one pass.
4. Simulation runs (saga, 2PC): a run is stored as its inputs plus the engine's events, and loaded by replaying
   the inputs. For one long saga run (lost messages, retries, a dead letter, a compensation) and one 2PC run (the
   coordinator down after prepare, participants in doubt, recovery, presumed abort), against the same replay on the
   pure engine with the inputs already in memory:
   a. loading it from the log (read the stream, replay);
   b. one Step as the page and the API do it (load, step, append, in the lab's write transaction).
5. Learn pages: server time to answer a request (Django's test client through every middleware, session and
   database; no network), median of LEARN_REPEATS interleaved rounds, for the course map, every topic page and a quiz
   answer (graded, appended to the personal lab, the verdict rendered), from a session with some progress. Baseline:
   the bare base template rendered through the same request path. Goal: median under 15 ms.
   `bench/run.py learn` runs this one alone.
6. Live fan-out: commit -> websocket receipt and daphne's CPU with 100 and 200 clients on one lab, against a bare
   consumer in the same daphne process; one push on a big lab vs a small one (bench/live_bench.py; its own process,
   after the others; `bench/run.py live` runs it alone).
7. Runs are not replayed per request (bench/runs_bench.py): a resilience run's page view and Step at 300 virtual
   seconds against at 30. `bench/run.py runs` runs this one alone.
8. Pages flat in log size (bench/pages_bench.py, its own process, after the others; run alone by
   `bench/run.py pages [events]`): each lab page's server time on a 10^3-event lab and on a large one (10^5 by
   default), and the ratio.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

EVENTS = 5_000  # appended per timed repeat, per backend
WARMUP = 500
REPEATS = 5  # append repeats, interleaved across backends
REBUILDS = 3
ACCOUNTS = [f"bench-{i}" for i in range(5)]
STREAM_EVENTS = 100_000
STREAM_BATCH = 1_000
LOADS = 200  # time-travel loads per version, median taken
EARLY, LATE = 109, STREAM_EVENTS - 1  # time travel to these versions
RUN_LOADS = 50
LEARN_REPEATS = 40
SAGA_FAULTS = [{"kind": "drop", "message": "ShipItems", "nth": n} for n in (1, 2, 3, 4)] + [
    {"kind": "duplicate", "message": "ReservePayment"}]


def bank_event(account_id: str, version: int) -> tuple[str, dict, int]:
    """(type, data, schema version) of the `version`-th event of an account: opened, then deposits of 1.00."""
    if version == 1:
        return "AccountOpened", {"account_id": account_id, "owner": f"Owner of {account_id}"}, 1
    return "MoneyDeposited", {"account_id": account_id, "amount": "1.00", "currency": "USD"}, 2


def rate(append_one, versions: dict[str, int], count: int) -> float:
    """Events per second for `count` one-event appends spread round-robin over the accounts."""
    start = time.perf_counter()
    for i in range(count):
        account = ACCOUNTS[i % len(ACCOUNTS)]
        version = versions[account] + 1
        append_one(account, version)
        versions[account] = version
    return count / (time.perf_counter() - start)


# --- 1. appends ------------------------------------------------------------------------------------------------------


def django_appender(store, lab: str):
    from eventlab.bank.domain import stream_name
    from eventlab.eventstore.core import NewEvent, new_id

    def append_one(account: str, version: int) -> None:
        event_type, data, schema = bank_event(account, version)
        store.append(lab, stream_name(account), [NewEvent(event_type, data, schema)], version - 1, new_id())

    return append_one


def raw_appender(path: str, schema: list[str]):
    """The same statements as DjangoEventStore.append, through the sqlite3 module directly."""
    from django.conf import settings

    from eventlab.eventstore.core import dumps
    from eventlab.eventstore.recorder import append_statements

    sql = append_statements("sqlite")  # the store's own statements, with sqlite3's placeholders
    pragmas = [p.strip() for p in settings.SQLITE_OPTIONS["init_command"].split(";") if p.strip()]  # the app's own
    conn = sqlite3.connect(path, isolation_level=None, timeout=30)
    for statement in pragmas + schema:
        conn.execute(statement)
    conn.execute("INSERT INTO eventstore_log (lab, head) VALUES ('raw', 0)")

    def append_one(account: str, version: int) -> None:
        event_type, data, schema_version = bank_event(account, version)
        stream, command_id = f"account-{account}", str(uuid.uuid4())
        conn.execute("BEGIN IMMEDIATE")
        try:
            head = conn.execute(sql["head"], (1, "raw")).fetchone()[0]
            if conn.execute(sql["command"], ("raw", command_id)).fetchone() is not None:
                raise RuntimeError("command id reused")
            current = conn.execute(sql["version"], ("raw", stream)).fetchone()[0] or 0
            if current != version - 1:
                raise RuntimeError(f"expected version {version - 1}, found {current}")
            recorded_at = str(datetime.now(UTC).replace(tzinfo=None))
            conn.execute(sql["insert"], ("raw", head, stream, version, event_type, schema_version, dumps(data),
                                        str(uuid.uuid4()), command_id, command_id, command_id, recorded_at))
            conn.execute(sql["record"], ("raw", command_id, "", head, head))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    return append_one, conn


def eventsourcing_appender(path: str, synchronous: str | None):
    """The eventsourcing library's SQLite application recorder, one StoredEvent per insert_events call."""
    from eventsourcing.persistence import StoredEvent
    from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteConnectionPool, SQLiteDatastore

    from eventlab.eventstore.core import dumps

    class Pool(SQLiteConnectionPool):
        def _create_connection(self):
            connection = super()._create_connection()
            if synchronous:
                connection._sqlite_conn.execute(f"PRAGMA synchronous={synchronous}")
            return connection

    datastore = SQLiteDatastore(path, lock_timeout=30)
    datastore.pool = Pool(db_name=path, lock_timeout=30)
    recorder = SQLiteApplicationRecorder(datastore)
    recorder.create_table()
    ids = {account: uuid.uuid4() for account in ACCOUNTS}

    def append_one(account: str, version: int) -> None:
        event_type, data, _ = bank_event(account, version)
        recorder.insert_events(
            [StoredEvent(ids[account], version, f"eventlab.bank.domain:{event_type}", dumps(data).encode())]
        )

    return append_one, datastore


def bench_appends(tmp: Path, lab: str) -> dict[str, float]:
    from django.db import connection

    from eventlab.labs.services import store

    with connection.cursor() as cursor:  # the events tables, indexes and triggers exactly as migrated
        cursor.execute(
            "SELECT sql FROM sqlite_master WHERE sql IS NOT NULL AND tbl_name LIKE 'eventstore%' "
            "ORDER BY type = 'trigger', type = 'index'"
        )
        schema = [row[0] for row in cursor.fetchall()]
    raw, raw_conn = raw_appender(str(tmp / "raw.sqlite3"), schema)
    es_full, es_full_store = eventsourcing_appender(str(tmp / "es-full.sqlite3"), None)
    es_normal, es_normal_store = eventsourcing_appender(str(tmp / "es-normal.sqlite3"), "NORMAL")
    backends = {
        "django": django_appender(store, lab),
        "raw": raw,
        "es_full": es_full,
        "es_normal": es_normal,
    }
    versions = {name: dict.fromkeys(ACCOUNTS, 0) for name in backends}
    for name, append_one in backends.items():
        rate(append_one, versions[name], WARMUP)
    results: dict[str, list[float]] = {name: [] for name in backends}
    for _ in range(REPEATS):  # interleaved, so drift (disk, CPU) hits every backend alike
        for name, append_one in backends.items():
            results[name].append(rate(append_one, versions[name], EVENTS))
    raw_conn.close()
    es_full_store.close()
    es_normal_store.close()
    assert store.head(lab) == WARMUP + REPEATS * EVENTS
    return {name: statistics.median(rates) for name, rates in results.items()}


# --- 2. time travel --------------------------------------------------------------------------------------------------


def build_long_stream(lab, account: str) -> None:
    from django.db import transaction

    from eventlab.bank.domain import Account, evolve, from_recorded, stream_name
    from eventlab.eventstore.core import NewEvent
    from eventlab.labs.services import store

    stream, state = stream_name(account), Account()
    with transaction.atomic():
        for first in range(1, STREAM_EVENTS + 1, STREAM_BATCH):
            batch = [NewEvent(*bank_event(account, v)) for v in range(first, first + STREAM_BATCH)]
            for event in store.append(lab.id, stream, batch, first - 1).events:
                state = evolve(state, from_recorded(event))
                if state.version % lab.snapshot_every == 0:
                    store.save_snapshot(lab.id, stream, state.version, state.as_dict())


def median_load_seconds(lab_id: str, account: str, version: int) -> tuple[float, int]:
    """Median seconds of LOADS loads at `version`, and how many events each load replayed after its snapshot."""
    from eventlab.bank.handlers import load_account
    from eventlab.labs.services import store

    times = []
    for _ in range(LOADS):
        start = time.perf_counter()
        loaded = load_account(store, lab_id, account, version=version)
        times.append(time.perf_counter() - start)
    assert loaded.account.version == version and loaded.account.balance == version - 1, loaded
    return statistics.median(times), loaded.replayed_events


def bench_time_travel() -> tuple[tuple[float, int], tuple[float, int], float]:
    from eventlab.labs.services import create_lab

    lab, _ = create_lab("bench: one long stream")
    start = time.perf_counter()
    build_long_stream(lab, "long")
    built = time.perf_counter() - start
    # Versions just before a snapshot: the worst case, 9 events replayed after it at both ends.
    median_load_seconds(lab.id, "long", EARLY)  # warm up
    median_load_seconds(lab.id, "long", LATE)
    return median_load_seconds(lab.id, "long", EARLY), median_load_seconds(lab.id, "long", LATE), built


# --- 3. rebuild ------------------------------------------------------------------------------------------------------


def bench_rebuild(lab_id: str, names: list[str]) -> float:
    from decimal import Decimal

    from eventlab.labs.services import projector, store

    events = store.head(lab_id)
    rates = []
    for _ in range(REBUILDS):
        start = time.perf_counter()
        projector.rebuild(lab_id, names)
        projector.catch_up(lab_id, names)  # one pass over the log feeds them all
        rates.append(events / (time.perf_counter() - start))
    balances = projector.docs(lab_id, "balances")
    expected = Decimal(events // len(ACCOUNTS) - 1)  # every account: opened, then n-1 deposits of 1.00
    assert all(Decimal(doc["balance"]) == expected for doc in balances.values()), balances
    return statistics.median(rates)


# --- 4. simulation runs (saga, 2PC) ------------------------------------------------------------------------------


def bench_run(services, run_class, start: dict, inputs: list[dict]) -> tuple[float, float, float, int]:
    """Median seconds: pure replay, load from the log, one Step through the lab; and the run's steps."""
    from eventlab.labs.services import create_lab

    lab, _ = create_lab("bench: runs")
    run = services.start(lab, start)
    for given in inputs:
        run = services.act(lab, run.id, given)

    def pure() -> None:
        replayed = run_class(run.id, run.started)
        for given in run.inputs:
            replayed.act(given)

    def load() -> None:
        services.load(lab, run.id)

    def step() -> None:  # each on a fresh fork, so every step appends to a run of the same length
        fork = services.fork(lab, run.id, run.steps - 1)
        services.act(lab, fork.id, {"input": "step"})

    def median(fn) -> float:
        fn()
        times = []
        for _ in range(RUN_LOADS):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
        return statistics.median(times)

    loaded = services.load(lab, run.id)
    assert loaded.step_list() == run.step_list() and loaded.sim.history == run.sim.history
    fork_time = median(lambda: services.fork(lab, run.id, run.steps - 1))
    return median(pure), median(load), median(step) - fork_time, run.steps


def bench_saga() -> tuple[float, float, float, int]:
    from eventlab.sagas import services
    from eventlab.sagas.runs import SagaRun

    order = {"customer": "Ada", "items": [{"sku": "book", "qty": 1, "price": "12.50"}]}
    return bench_run(services, SagaRun, {"mode": "orchestration", "seed": 1, "order": order, "faults": SAGA_FAULTS},
                     [{"input": "run"}, {"input": "compensate", "dead_letter": "dl-1"}, {"input": "run"}])


def bench_twopc() -> tuple[float, float, float, int]:
    from eventlab.twopc import services
    from eventlab.twopc.runs import TwoPCRun

    crash = [{"kind": "coordinator_crash", "at": "before_decision", "restart_after_ms": None}]
    return bench_run(services, TwoPCRun, {"seed": 1, "faults": crash},
                     [{"input": "run"}, {"input": "recover"}, {"input": "run"}])


# --- 5. learn pages -----------------------------------------------------------------------------------------------------


def bench_learn() -> dict[str, object]:
    """Median seconds per request: the bare base template (baseline), the course map, each topic page, a quiz answer."""
    import types

    from django.conf import settings
    from django.core.management import call_command
    from django.shortcuts import render
    from django.test import Client
    from django.urls import clear_url_caches, path

    from eventlab import urls
    from eventlab.labs import registry
    from eventlab.learn.models import Question
    from eventlab.learn.topics import SLUGS

    call_command("loaddata", *(name for plugin in registry.plugins() for name in plugin.fixtures), verbosity=0)
    questions = ROOT / "fixtures" / "quiz_questions.json"
    call_command("loaddata", str(questions if questions.exists() else ROOT / "tests/e2e/learn_questions.json"),
                 verbosity=0)
    bench_urls = types.ModuleType("bench_urls")
    bench_urls.urlpatterns = [path("bench/bare", lambda request: render(request, "base.html", {}))] + urls.urlpatterns
    sys.modules["bench_urls"] = bench_urls
    settings.ROOT_URLCONF = "bench_urls"
    clear_url_caches()

    client = Client()
    question = Question.objects.filter(kind="single").order_by("topic", "position").first()
    answer = {"answer": question.answer[0]}
    pages = {"bare": "/bench/bare", "map": "/", **{slug: f"/learn/{slug}/" for slug in SLUGS}}
    for url in pages.values():  # the personal lab, its PageRead events, warm caches
        assert client.get(url, secure=True).status_code == 200, url
    for _ in range(5):  # some answers in the log, as a learner would have
        client.post(f"/learn/quiz/{question.slug}/answer", answer, secure=True, headers={"HX-Request": "true"})

    times: dict[str, list[float]] = {name: [] for name in [*pages, "answer"]}
    for _ in range(LEARN_REPEATS):
        for name, url in pages.items():
            start = time.perf_counter()
            response = client.get(url, secure=True)
            times[name].append(time.perf_counter() - start)
            assert response.status_code == 200
        start = time.perf_counter()
        response = client.post(f"/learn/quiz/{question.slug}/answer", answer, secure=True,
                               headers={"HX-Request": "true"})
        times["answer"].append(time.perf_counter() - start)
        assert response.status_code == 200 and b"<h3>Right</h3>" in response.content
    medians = {name: statistics.median(t) for name, t in times.items()}
    topic_times = [t for slug in SLUGS for t in times[slug]]
    return {**medians, "topics": statistics.median(topic_times), "slowest": max(SLUGS, key=medians.get),
            "all": statistics.median([t for name, ts in times.items() if name != "bare" for t in ts])}


def learn_rows(learn: dict) -> list[tuple[str, str, str, float, str, bool | None]]:
    bare = learn["bare"]
    rows = []
    for label, key in (("learn: the course map", "map"), ("learn: a topic page (all 10)", "topics"),
                       (f"learn: the slowest topic page ({learn['slowest']})", learn["slowest"]),
                       ("learn: a quiz answer (grade, append, verdict)", "answer")):
        rows.append((f"{label} vs the bare base template", f"{learn[key] * 1e3:.2f} ms", f"{bare * 1e3:.2f} ms",
                     learn[key] / bare, "< 15 ms", learn[key] < 0.015))
    return rows


# --- report ----------------------------------------------------------------------------------------------------------


def report(rows: list[tuple[str, str, str, float, str, bool | None]]) -> None:
    header = ("metric", "ours", "baseline", "ratio", "goal", "met?")
    cells = [header] + [
        (m, ours, base, f"{ratio:.2f}x", goal, "-" if met is None else ("yes" if met else "NO"))
        for m, ours, base, ratio, goal, met in rows
    ]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    for n, row in enumerate(cells):
        print(" | ".join([row[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)]))
        if n == 0:
            print("-+-".join("-" * w for w in widths))


def main() -> None:
    if sys.argv[1:] == ["live"]:
        import live_bench

        live_bench.main()
        return
    only_learn = sys.argv[1:] == ["learn"]
    only_runs = sys.argv[1:] == ["runs"]
    only_pages = sys.argv[1:2] == ["pages"]  # `pages [events]`: bench/pages_bench.py alone
    tmp = Path(tempfile.mkdtemp(prefix="eventlab-bench-"))
    os.environ.pop("DATABASE_URL", None)
    os.environ["SQLITE_PATH"] = str(tmp / "eventlab.sqlite3")
    os.environ["DEBUG"] = "false"  # production: no query log on every cursor
    os.environ.setdefault("SECRET_KEY", "bench-only-" + uuid.uuid4().hex)
    os.environ["DJANGO_SETTINGS_MODULE"] = "eventlab.settings"
    sys.path.insert(0, str(ROOT))
    try:
        import django

        django.setup()
        from django.core.management import call_command
        from django.db import connection

        from eventlab.labs.services import create_lab

        call_command("migrate", verbosity=0)
        began = time.perf_counter()
        from runs_bench import bench_runs

        if only_runs:
            report(bench_runs())
            print(f"\nRuns: median of interleaved rounds. Total {time.perf_counter() - began:.0f} s.")
            return
        if only_pages:
            import pages_bench

            pages_bench.main(sys.argv[2:])
            return
        if only_learn:
            report(learn_rows(bench_learn()))
            print(f"\nLearn pages: median of {LEARN_REPEATS} interleaved rounds. Total {time.perf_counter() - began:.0f} s.")
            return
        lab, _ = create_lab("bench: appends")
        appends = bench_appends(tmp, lab.id)
        (early, early_replayed), (late, late_replayed), built = bench_time_travel()
        rebuild_one = bench_rebuild(lab.id, ["balances"])
        rebuild = bench_rebuild(lab.id, ["balances", "statements", "summary"])
        saga_pure, saga_load, saga_step, saga_steps = bench_saga()
        twopc_pure, twopc_load, twopc_step, twopc_steps = bench_twopc()
        learn = bench_learn()
        runs = bench_runs()
        connection.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    ours = appends["django"]
    print(
        f"EventLab benchmarks: SQLite {sqlite3.sqlite_version}, WAL, synchronous=NORMAL, BEGIN IMMEDIATE; "
        f"{REPEATS} interleaved repeats of {EVENTS:,} one-event appends over {len(ACCOUNTS)} streams "
        f"(after {WARMUP} warm-up), median.\n"
    )
    report([
        ("append: DjangoEventStore vs raw sqlite3, same SQL", f"{ours:,.0f} ev/s", f"{appends['raw']:,.0f} ev/s",
         ours / appends["raw"], ">= 0.8x", ours / appends["raw"] >= 0.8),
        ("append: vs eventsourcing, synchronous=NORMAL (like ours)", f"{ours:,.0f} ev/s",
         f"{appends['es_normal']:,.0f} ev/s", ours / appends["es_normal"], ">= 1.5x",
         ours / appends["es_normal"] >= 1.5),
        ("append: vs eventsourcing as shipped (synchronous=FULL)", f"{ours:,.0f} ev/s",
         f"{appends['es_full']:,.0f} ev/s", ours / appends["es_full"], ">= 1.5x", ours / appends["es_full"] >= 1.5),
        (f"time travel: load v{LATE:,} vs v{EARLY} (snapshot every 10)", f"{late * 1e3:.3f} ms",
         f"{early * 1e3:.3f} ms", late / early, "<= 2x", late / early <= 2),
        ("rebuild the accounts read model vs append rate", f"{rebuild_one:,.0f} ev/s", f"{ours:,.0f} ev/s",
         rebuild_one / ours, ">= 10x", rebuild_one / ours >= 10),
        ("rebuild all 3 default read models (one pass) vs append", f"{rebuild:,.0f} ev/s", f"{ours:,.0f} ev/s",
         rebuild / ours, ">= 10x", rebuild / ours >= 10),
        (f"saga: load a {saga_steps}-step run from the log vs pure replay", f"{saga_load * 1e3:.2f} ms",
         f"{saga_pure * 1e3:.2f} ms", saga_load / saga_pure, "-", None),
        ("saga: one Step (load, step, append) vs pure replay", f"{saga_step * 1e3:.2f} ms",
         f"{saga_pure * 1e3:.2f} ms", saga_step / saga_pure, "-", None),
        (f"2PC: load a {twopc_steps}-step run from the log vs pure replay", f"{twopc_load * 1e3:.2f} ms",
         f"{twopc_pure * 1e3:.2f} ms", twopc_load / twopc_pure, "-", None),
        ("2PC: one Step (load, step, append) vs pure replay", f"{twopc_step * 1e3:.2f} ms",
         f"{twopc_pure * 1e3:.2f} ms", twopc_step / twopc_pure, "-", None),
        *learn_rows(learn),
        *runs,
    ])
    print(
        f"\nTime travel: median of {LOADS} loads each (events replayed after the snapshot: {early_replayed} at v{EARLY}, "
        f"{late_replayed} at v{LATE:,}); the stream and its {STREAM_EVENTS // 10:,} snapshots were written "
        f"in {built:.1f} s ({STREAM_BATCH:,} events per append call, one transaction).\n"
        f"Rebuild: log events per second over the {WARMUP + REPEATS * EVENTS:,}-event log of the append benchmark "
        f"(the statements read model writes a row per event), median of {REBUILDS}.\n"
        f"Saga and 2PC: median of {RUN_LOADS}; a Step is timed on a fresh fork each time (the fork's own time subtracted).\n"
        f"Learn pages: median of {LEARN_REPEATS} interleaved rounds through Django's test client (no network).\n"
        f"Total {time.perf_counter() - began:.0f} s."
    )
    print()
    subprocess.run([sys.executable, __file__, "live"], check=False)  # its own process: it sets up its own database
    subprocess.run([sys.executable, __file__, "pages"], check=False)  # its own database, 10^5 events


if __name__ == "__main__":
    main()
