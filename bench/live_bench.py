"""Live fan-out: what one commit costs when many browsers watch one lab (`bench/run.py live` runs it alone).

1. Fan-out. daphne runs `bench.live_asgi:application` (the app plus a bench-only bare consumer) on a free port on
   127.0.0.1, on a fresh SQLite file, DEBUG off. For N = 100 and 200: a bank lab made through the API, N clients each
   with its own session (each opens the lab's join link for its cookie, sends an Origin header) on the lab's
   websocket, all on one view (the bank page, live, account acc-1's statement open); and a second lab with N bare
   clients: the bare consumer joins the lab's channel group the same way and answers each wake-up with constant
   payloads of the sizes the lab's own push had; and a third lab with N clients on the same view of a consumer that
   renders once per socket, as the lab's consumer did before (the reference for the CPU goal: at least 10x below it).
   Rounds alternate: a Deposit on the lab (through the JSON API), wait until every client has the whole push; the
   same on the bare lab; the same on the per-socket lab. Measured: commit -> receipt at every client
   (from just before the POST to the push's last message), p50 and p99 over all clients and commits; and daphne's CPU
   time (utime + stime from /proc/<pid>/stat, read once daphne is quiet again) per event per client.
2. One push on a big lab vs a small lab: the bank page's update for one new event (the renderer the websocket calls,
   in this process) on a lab of LIVE_BIG_EVENTS events (10^5 by default; 10^6 takes minutes to build) vs 10^3
   events, median of PUSHES. The events are Deposits over ACCOUNTS accounts, appended in batches, read models built
   by the projector.

Everything stays on 127.0.0.1; every wait has a timeout.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CLIENTS = tuple(int(n) for n in os.environ.get("LIVE_CLIENTS", "100,200").split(","))
COMMITS = int(os.environ.get("LIVE_COMMITS", "20"))  # timed commits per side per N
WARMUP = 3
SMALL, BIG = 1_000, int(os.environ.get("LIVE_BIG_EVENTS", "100000"))
ACCOUNTS = 20
BATCH = 1_000
PUSHES = 15
TIMEOUT = 60  # seconds a push may take before the round is reported as missed
TICK = os.sysconf("SC_CLK_TCK")


# --- daphne ---------------------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_daphne(env: dict, log_path: Path) -> tuple[str, subprocess.Popen]:
    port = free_port()
    daphne = shutil.which("daphne", path=str(Path(sys.executable).parent)) or "daphne"
    log = open(log_path, "w")  # noqa: SIM115 - the process owns it until it ends
    process = subprocess.Popen([daphne, "-b", "127.0.0.1", "-p", str(port), "bench.live_asgi:application"],
                               env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(url + "/api/docs", timeout=2)  # noqa: S310 - our own local server
            return url, process
        except OSError:
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                raise RuntimeError("daphne did not start: " + log_path.read_text()) from None
            time.sleep(0.2)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime (fields 14 and 15 of proc(5))


async def settled_cpu_seconds(pid: int) -> float:
    """daphne's CPU time once it has gone quiet: a consumer may still work after its last frame has arrived, and that
    work belongs to the commit that caused it, not to the next round."""
    last = cpu_seconds(pid)
    for _ in range(40):
        await asyncio.sleep(0.05)
        now = cpu_seconds(pid)
        if now == last:
            return now
        last = now
    return last


# --- HTTP -----------------------------------------------------------------------------------------------------------


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


OPENER = urllib.request.build_opener(NoRedirect)


def call(url: str, method: str = "GET", body: dict | None = None, token: str = "") -> tuple[int, dict, dict]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, method=method, data=data)  # noqa: S310 - our own local server
    if body is not None:
        request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        response = OPENER.open(request, timeout=30)
    except urllib.error.HTTPError as error:  # a redirect (not followed) or an error
        response = error
    raw = response.read()
    try:
        data = json.loads(raw) if raw else {}
    except ValueError:
        data = {}
    return response.status, data, response.headers


def new_lab(base: str) -> tuple[str, str, str]:
    """A lab made through the API: its id, token and join link."""
    status, lab, _ = call(base + "/api/labs", "POST", {})
    assert status == 201, (status, lab)
    _, join, _ = call(f"{base}/api/labs/{lab['id']}/join-code", token=lab["token"])
    return lab["id"], lab["token"], join["url"]


def session_cookie(base: str, join_url: str) -> str:
    """A new browser session that opened the join link."""
    status, _, headers = call(base + join_url)
    assert status == 302, status
    for header in headers.get_all("Set-Cookie"):
        if header.startswith("sessionid="):
            return header.split(";", 1)[0]
    raise AssertionError("no session cookie")


def command(base: str, lab: str, token: str, body: dict) -> None:
    status, data, _ = call(f"{base}/api/labs/{lab}/bank/commands", "POST", body, token)
    assert status == 201, (status, data)


# --- fan-out ----------------------------------------------------------------------------------------------------------


class Client:
    """One browser's socket: every message's arrival time, and an event set when a push is complete."""

    def __init__(self, websocket, end: str):
        self.websocket, self.end = websocket, end
        self.done = asyncio.Event()
        self.last_end = 0.0
        self.sizes: list[int] = []
        self._current: list[int] = []
        self.task = asyncio.create_task(self.read())

    async def read(self) -> None:
        async for message in self.websocket:
            self._current.append(len(message))
            if self.end in message:
                self.last_end, self.sizes, self._current = time.perf_counter(), self._current, []
                self.done.set()

    async def next_push(self) -> None:
        await asyncio.wait_for(self.done.wait(), TIMEOUT)
        self.done.clear()


async def open_clients(base: str, path: str, cookies: list[str], first: str, end: str) -> list[Client]:
    from websockets.asyncio.client import connect

    ws_base = base.replace("http://", "ws://")

    async def one(cookie: str) -> Client:
        websocket = await connect(ws_base + path, origin=base, additional_headers={"Cookie": cookie},
                                  compression=None, max_size=None, ping_interval=None, open_timeout=TIMEOUT)
        client = Client(websocket, end)
        await websocket.send(first)
        await client.next_push()
        return client

    clients = []
    for start in range(0, len(cookies), 25):  # a few at a time: a browser class does not connect in one instant
        clients += await asyncio.gather(*(one(c) for c in cookies[start:start + 25]))
    return clients


async def commit_and_wait(clients: list[Client], commit) -> list[float]:
    """Seconds from just before the commit to each client's receipt of the whole push."""
    for client in clients:
        client.done.clear()
    start = time.perf_counter()
    await asyncio.to_thread(commit)
    await asyncio.gather(*(client.next_push() for client in clients))
    return [client.last_end - start for client in clients]


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def fan_out(base: str, pid: int, n: int) -> dict:
    """Three labs in one daphne process: the lab's consumer, the bare consumer, the one-render-per-socket consumer."""
    paths = {"real": "/ws/labs/{}/", "bare": "/bench/bare/{}/", "per_socket": "/bench/per-socket/{}/"}
    labs = {}
    for side in paths:
        lab, token, join = await asyncio.to_thread(new_lab, base)
        await asyncio.to_thread(command, base, lab, token,
                                {"command": "OpenAccount", "account_id": "acc-1", "owner": "Ada"})
        labs[side] = (lab, token, [await asyncio.to_thread(session_cookie, base, join) for _ in range(n)])
    deposit = {"command": "Deposit", "account_id": "acc-1", "amount": "1.00"}
    view = json.dumps({"page": "bank", "after": 1, "stream": "", "type": "", "live": True, "account": "acc-1"})
    clients: dict[str, list[Client]] = {}
    sizes: list[int] = []
    for side, path in paths.items():  # the lab's consumer first: the bare one sends what its push weighs
        lab, token, cookies = labs[side]
        first = json.dumps({"sizes": sizes}) if side == "bare" else view
        clients[side] = await open_clients(base, path.format(lab), cookies, first, 'id="lab-head"')
        for _ in range(WARMUP):
            await commit_and_wait(clients[side], lambda lab=lab, token=token: command(base, lab, token, deposit))
        sizes = sizes or clients[side][0].sizes
    latencies: dict[str, list[float]] = {side: [] for side in paths}
    cpu = dict.fromkeys(paths, 0.0)
    for _ in range(COMMITS):  # interleaved, so a noisy moment on the shared machine hits every side
        for side, (lab, token, _) in labs.items():
            before = await settled_cpu_seconds(pid)
            latencies[side] += await commit_and_wait(clients[side],
                                                     lambda lab=lab, token=token: command(base, lab, token, deposit))
            cpu[side] += await settled_cpu_seconds(pid) - before
    for client in [c for side in clients.values() for c in side]:
        await client.websocket.close()
        client.task.cancel()
    return {
        "sizes": sizes,
        **{f"{side}_p{p}": percentile(values, p) for side, values in latencies.items() for p in (50, 99)},
        **{f"{side}_cpu": seconds / (COMMITS * n) for side, seconds in cpu.items()},
    }


# --- one push, big lab vs small lab -------------------------------------------------------------------------------


def build_lab(events: int) -> str:
    from django.db import transaction

    from eventlab.bank.projections import DEFAULT
    from eventlab.eventstore.core import NewEvent
    from eventlab.labs.services import create_lab, projector, store

    lab, _ = create_lab(f"bench: {events:,} events")
    versions = {f"acc-{a}": 0 for a in range(ACCOUNTS)}
    written = 0
    while written < events:
        with transaction.atomic():
            for account, version in versions.items():
                count = min(BATCH // ACCOUNTS, events - written)
                if count <= 0:
                    break
                batch = []
                for v in range(version + 1, version + count + 1):
                    if v == 1:
                        batch.append(NewEvent("AccountOpened", {"account_id": account, "owner": "Ada"}, 1))
                    else:
                        batch.append(NewEvent("MoneyDeposited", {"account_id": account, "amount": "1.00",
                                                                 "currency": "USD"}, 2))
                store.append(lab.id, f"account-{account}", batch, version)
                versions[account] = version + count
                written += count
        projector.catch_up(lab.id, [p.name for p in DEFAULT])
    return lab.id


def median_push_seconds(lab_id: str) -> float:
    from eventlab.bank import services
    from eventlab.bank.live import render_update
    from eventlab.labs.models import Lab
    from eventlab.labs.services import store

    lab = Lab.objects.get(pk=lab_id)
    view = {"page": "bank", "after": 0, "stream": "", "type": "", "live": True, "account": "acc-1", "run": "",
            "at": 0, "pinned": False}
    known = {"balances", "statements", "summary"}
    times = []
    for _ in range(PUSHES + 2):
        services.execute(lab, {"command": "Deposit", "account_id": "acc-1", "amount": "1.00"})
        after = store.head(lab_id) - 1
        start = time.perf_counter()
        render_update(lab_id, after, view, known)
        times.append(time.perf_counter() - start)
    return statistics.median(times[2:])


# --- report ---------------------------------------------------------------------------------------------------------


def report(rows: list[tuple[str, str, str, float, str, bool | None]]) -> None:
    from run import report as table

    table(rows)


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="eventlab-live-bench-"))
    env = {**os.environ, "SQLITE_PATH": str(tmp / "eventlab.sqlite3"), "DEBUG": "false",
           "SECURE_SSL_REDIRECT": "false", "SECRET_KEY": "bench-only-" + uuid.uuid4().hex,
           "DJANGO_SETTINGS_MODULE": "eventlab.settings", "PYTHONPATH": str(ROOT)}
    for key in ("DATABASE_URL", "REDIS_URL"):
        env.pop(key, None)
    os.environ.clear()
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    began = time.perf_counter()
    process = None
    try:
        import django

        django.setup()
        from django.core.management import call_command
        from django.db import connection

        call_command("migrate", verbosity=0)
        small, big = build_lab(SMALL), build_lab(BIG)
        built = time.perf_counter() - began
        push_small, push_big = median_push_seconds(small), median_push_seconds(big)
        connection.close()
        url, process = start_daphne(env, tmp / "daphne.log")
        fan = {n: asyncio.run(fan_out(url, process.pid, n)) for n in CLIENTS}
    finally:
        if process is not None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
        shutil.rmtree(tmp, ignore_errors=True)

    print(f"Live fan-out: one daphne process, SQLite, in-memory channel layer; {COMMITS} interleaved commits per side "
          f"after {WARMUP} warm-up; a push is {fan[CLIENTS[0]]['sizes']} characters.\n")
    rows = []
    for n, f in fan.items():
        p99, bare99, cpu = f["real_p99"], f["bare_p99"], f["real_cpu"]
        rows += [
            (f"live, {n} clients: commit -> receipt p99 vs bare consumer", f"{p99 * 1e3:.0f} ms",
             f"{bare99 * 1e3:.0f} ms", p99 / bare99, "<= 2x", p99 / bare99 <= 2),
            (f"live, {n} clients: commit -> receipt p50 vs bare consumer", f"{f['real_p50'] * 1e3:.0f} ms",
             f"{f['bare_p50'] * 1e3:.0f} ms", f["real_p50"] / f["bare_p50"], "-", None),
            (f"live, {n} clients: daphne CPU/event/client vs one render per socket", f"{cpu * 1e3:.3f} ms",
             f"{f['per_socket_cpu'] * 1e3:.3f} ms", cpu / f["per_socket_cpu"], "<= 0.1x",
             cpu / f["per_socket_cpu"] <= 0.1),
            (f"live, {n} clients: daphne CPU/event/client vs bare consumer", f"{cpu * 1e3:.3f} ms",
             f"{f['bare_cpu'] * 1e3:.3f} ms", cpu / f["bare_cpu"], "-", None),
            (f"live, {n} clients: one render per socket, p99 vs bare (before)", f"{f['per_socket_p99'] * 1e3:.0f} ms",
             f"{bare99 * 1e3:.0f} ms", f["per_socket_p99"] / bare99, "-", None),
        ]
    rows.append((f"live: one push on a {BIG:,}-event lab vs a {SMALL:,}-event lab", f"{push_big * 1e3:.2f} ms",
                 f"{push_small * 1e3:.2f} ms", push_big / push_small, "<= 1.5x", push_big / push_small <= 1.5))
    report(rows)
    print(f"\nOne push: the bank page's update for one new event, median of {PUSHES} (labs built in {built:.0f} s). "
          f"Total {time.perf_counter() - began:.0f} s.")


if __name__ == "__main__":
    main()
