"""Pages flat in log size: server time of each lab page on a small lab and on a large one.

Run from the repository root: `.venv/bin/python bench/run.py pages` (10^5 events), or
`.venv/bin/python bench/run.py pages 1000000` (`make bench-big`). Nothing here asserts a time.

Two labs are built the same way, through the store in batches of 1,000 events per append (so positions, versions,
snapshots and the append-only triggers are as the app makes them): a few saga, 2PC and resilience runs first (the
oldest events, so a list of runs that scans the log has to read all of it), then bank events on five accounts
(opened, then deposits; one in 100 is a large one), a snapshot every `snapshot_every` versions as commands take them,
then all five read models caught up. The small lab has SMALL events, the large one `size` (default LARGE).

Each page is fetched through Django's test client (every middleware, the session, the database; no network), the
small and the large lab interleaved, ROUNDS times; the median is printed with the ratio large / small and whether it
is within GOAL.
"""

from __future__ import annotations

import os
import statistics
import sys
import time

SMALL = 1_000
LARGE = 100_000
BATCH = 1_000
ACCOUNTS = [f"acct-{i}" for i in range(5)]
ROUNDS = 15
GOAL = 1.5


def bank_event(account_id: str, version: int) -> tuple[str, dict, int]:
    if version == 1:
        return "AccountOpened", {"account_id": account_id, "owner": f"Owner of {account_id}"}, 1
    amount = "1000.00" if version % 100 == 0 else "1.00"
    return "MoneyDeposited", {"account_id": account_id, "amount": amount, "currency": "USD"}, 2


def start_runs(lab) -> None:
    """One run of every preset of the three simulation labs."""
    from eventlab.resilience import services as resilience
    from eventlab.resilience.models import Preset as ResiliencePreset
    from eventlab.sagas import services as sagas
    from eventlab.sagas.models import Preset as SagaPreset
    from eventlab.twopc import services as twopc
    from eventlab.twopc.models import Preset as TwopcPreset

    for service, presets in ((sagas, SagaPreset), (twopc, TwopcPreset), (resilience, ResiliencePreset)):
        for preset in presets.objects.all():
            service.start(lab, preset.start)


def build(lab, events: int) -> None:
    from django.db import transaction

    from eventlab.bank.domain import Account, evolve, from_recorded, stream_name
    from eventlab.bank.projections import CATALOGUE
    from eventlab.eventstore.core import NewEvent
    from eventlab.labs.services import projector, store

    start_runs(lab)
    per_account = max(2, (events - store.head(lab.id)) // len(ACCOUNTS))
    states = {a: Account() for a in ACCOUNTS}
    for first in range(1, per_account + 1, BATCH):
        last = min(per_account, first + BATCH - 1)
        with transaction.atomic():
            for account in ACCOUNTS:
                batch = [NewEvent(*bank_event(account, v)) for v in range(first, last + 1)]
                for event in store.append(lab.id, stream_name(account), batch, first - 1).events:
                    state = states[account] = evolve(states[account], from_recorded(event))
                    if state.version % lab.snapshot_every == 0:
                        store.save_snapshot(lab.id, stream_name(account), state.version, state.as_dict())
    for projection in CATALOGUE:
        projector.enable(lab.id, projection.name)
    projector.catch_up(lab.id, list(projector.projections))


PAGES = {
    "bank lab page": ("/labs/{lab}/bank/", False),
    "bank: read-model panel": ("/labs/{lab}/bank/readmodels?account=acct-0", True),
    "bank: time-travel panel": ("/labs/{lab}/bank/time-travel?account=acct-0", True),
    "bank: sparse type filter (AccountOpened)": ("/labs/{lab}/bank/events?type=AccountOpened", True),
    "bank: stream filter (one account)": ("/labs/{lab}/bank/events?stream=account-acct-0", True),
    "saga lab page": ("/labs/{lab}/sagas/", False),
    "2PC lab page": ("/labs/{lab}/twopc/", False),
    "resilience lab page": ("/labs/{lab}/resilience/", False),
    "API: /api/openapi.json": ("/api/openapi.json", False),
    "2PC failure matrix ?run=1": ("/labs/{lab}/twopc/matrix/?run=1", False),
}


def first_command(client, lab_id: str) -> tuple[float, float]:
    """Seconds for the first command on a lab whose log was never published to the SSE feed, and seconds until the
    background publisher had sent the rest."""
    from eventlab.live import sse

    start = time.perf_counter()
    response = client.post(f"/labs/{lab_id}/bank/commands", {"command": "Deposit", "account_id": ACCOUNTS[0],
                                                              "amount": "1.00"}, secure=True,
                           headers={"HX-Request": "true"})
    took = time.perf_counter() - start
    assert response.status_code == 200, response.status_code
    while lab_id in sse._draining:
        time.sleep(0.05)
    return took, time.perf_counter() - start


def measure(client, labs: dict[str, str], rounds: int) -> dict[str, dict[str, float]]:
    times: dict[str, dict[str, list[float]]] = {page: {size: [] for size in labs} for page in PAGES}
    for page, (url, htmx) in PAGES.items():  # warm up: caches, the session, compiled templates
        for lab_id in labs.values():
            response = client.get(url.format(lab=lab_id), secure=True, headers={"HX-Request": "true"} if htmx else {})
            assert response.status_code == 200, (page, response.status_code)
    for _ in range(rounds):
        for page, (url, htmx) in PAGES.items():
            for size, lab_id in labs.items():
                start = time.perf_counter()
                response = client.get(url.format(lab=lab_id), secure=True,
                                      headers={"HX-Request": "true"} if htmx else {})
                times[page][size].append(time.perf_counter() - start)
                assert response.status_code == 200, (page, response.status_code)
    return {page: {size: statistics.median(t) for size, t in by_size.items()} for page, by_size in times.items()}


def profile(client, lab_id: str) -> None:
    import cProfile
    import pstats

    for page, (url, htmx) in PAGES.items():
        profiler = cProfile.Profile()
        profiler.enable()
        client.get(url.format(lab=lab_id), secure=True, headers={"HX-Request": "true"} if htmx else {})
        profiler.disable()
        print(f"--- {page}")
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(r"eventlab|sqlite3|ninja", 12)


def run(size: int = LARGE, rounds: int = ROUNDS) -> None:
    """Called by bench/run.py after django.setup() and migrate, on a fresh SQLite file."""
    from django.core.management import call_command
    from django.test import Client

    from eventlab.labs.services import create_lab, store

    call_command("loaddata", "saga_presets", "twopc_presets", "resilience_presets", verbosity=0)
    client = Client()
    labs = {}
    built = {}
    for name, events in (("small", SMALL), ("large", size)):
        lab, _ = create_lab(f"bench: pages, {name}")
        began = time.perf_counter()
        build(lab, events)
        built[name] = (store.head(lab.id), time.perf_counter() - began)
        assert client.get(lab.join_url, secure=True).status_code in (200, 302)
        labs[name] = lab.id
    woken = {name: first_command(client, lab_id) for name, lab_id in labs.items()}
    if os.environ.get("PAGES_PROFILE"):  # where the large lab's time goes, page by page
        profile(client, labs["large"])
    results = measure(client, labs, rounds)
    header = ("page", "small lab", "large lab", "ratio", f"<= {GOAL}x?")
    cells = [header]
    for page, by_size in results.items():
        ratio = by_size["large"] / by_size["small"]
        cells.append((page, f"{by_size['small'] * 1e3:.2f} ms", f"{by_size['large'] * 1e3:.2f} ms", f"{ratio:.2f}x",
                      "met" if ratio <= GOAL else "NOT met"))
    ratio = woken["large"][0] / woken["small"][0]
    cells.append(("bank: the first command, waking the SSE backlog (once)", f"{woken['small'][0] * 1e3:.2f} ms",
                  f"{woken['large'][0] * 1e3:.2f} ms", f"{ratio:.2f}x", "met" if ratio <= GOAL else "NOT met"))
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    for n, row in enumerate(cells):
        print(" | ".join([row[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)]))
        if n == 0:
            print("-+-".join("-" * w for w in widths))
    print(
        f"\nServer time through Django's test client, median of {rounds} interleaved rounds. Small lab: "
        f"{built['small'][0]:,} events (built in {built['small'][1]:.1f} s); large lab: {built['large'][0]:,} events "
        f"(built in {built['large'][1]:.1f} s), {len(ACCOUNTS)} accounts, a snapshot every 10 versions.\n"
        f"The first command: one Deposit through the page, timed once per lab; the whole log was still unpublished "
        f"to the SSE feed (built through the store, no commit hooks), so it wakes the backlog. The background "
        f"publisher then sent the rest in {woken['small'][1]:.1f} s (small) and {woken['large'][1]:.1f} s (large), "
        f"before the pages were timed."
    )


def main(argv: list[str]) -> None:
    size = int(argv[0]) if argv else LARGE
    run(size)


if __name__ == "__main__":
    main(sys.argv[1:])
