"""The bank lab's pages. Thin: build a command, call the service, render. htmx requests get the partial,
plain requests the whole page, so everything works without JavaScript (just not live)."""

from __future__ import annotations

import asyncio
import json
import threading
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from asgiref.sync import sync_to_async
from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from eventlab.eventstore.core import CommandIdReused, ConcurrencyError, RecordedEvent, StoreError
from eventlab.eventstore.models import Snapshot
from eventlab.labs import readmodels
from eventlab.labs.access import lab_for
from eventlab.labs.models import Lab
from eventlab.labs.services import projector, store
from eventlab.labs.signals import command_handled
from eventlab.labs.views import lab_bar_context, working_lab

from . import services
from .api import parse_instant
from .domain import Rejected, fold, from_recorded, parse_account_id, stream_name
from .projections import statement_key

PAGE_SIZE = 25
BANK_TYPES = ["AccountOpened", "MoneyDeposited", "MoneyWithdrawn", "AccountClosed"]
LIVE_ROWS = 50


@dataclass
class Outcome:
    """What happened to one command, as the page shows it."""

    title: str
    accepted: bool
    events: list[RecordedEvent]
    reason: str = ""
    command_id: str = ""
    duplicate: bool = False
    conflict: ConcurrencyError | None = None
    payload: dict[str, Any] | None = None
    error: Exception | None = None  # the refusal itself, with its traceback (the course locates decide's check by it)


def run(lab: Lab, payload: dict[str, Any], command_id: str, expected_version: int | None, title: str) -> Outcome:
    try:
        result = services.execute(lab, payload, command_id, expected_version)
    except ConcurrencyError as conflict:
        return Outcome(title, False, [], str(conflict), command_id, conflict=conflict, payload=payload)
    except (Rejected, CommandIdReused) as rejected:
        return Outcome(title, False, [], str(rejected), command_id, payload=payload, error=rejected)
    return Outcome(title, True, result.events, "", command_id, result.duplicate, payload=payload)


# --- Pages ---------------------------------------------------------------------------------------------------------


def bank_home(request: HttpRequest) -> HttpResponse:
    return redirect("bank-lab", lab_id=working_lab(request).id)


@require_GET
def lab_page(request: HttpRequest, lab_id: str) -> HttpResponse:
    lab = lab_for(request, lab_id)
    return render(request, "bank/lab.html", page_context(request, lab))


def page_context(request: HttpRequest, lab: Lab, **extra: Any) -> dict[str, Any]:
    account = request.GET.get("account") or extra.pop("account", None)
    accounts = account_rows(lab)
    ids = [a["account_id"] for a in accounts]
    if account not in ids:
        account = ids[0] if ids else None
    context = {
        "nav": "bank",
        **lab_bar_context(request, lab, "bank"),
        "accounts": accounts,
        **events_context(request, lab),
        **readmodels_context(lab, account),
        **time_travel_context(lab, account, request.GET.get("version"), request.GET.get("at")),
    }
    context.update(extra)
    return context


def account_rows(lab: Lab) -> list[dict[str, Any]]:
    return sorted(projector.docs(lab.id, "balances").values(), key=lambda d: d["account_id"])


# --- Commands --------------------------------------------------------------------------------------------------------


def _command_id(post) -> str:
    """The command id the form sent, or a new one."""
    return (post.get("command_id") or "").strip() or str(uuid.uuid4())


def _show_outcome(request: HttpRequest, lab: Lab, outcome: Outcome, status: int = 200) -> HttpResponse:
    if request.htmx:
        return render(request, "bank/lab.html#command-result", {"lab": lab, "outcome": outcome}, status=status)
    return render(request, "bank/lab.html", page_context(request, lab, outcome=outcome), status=status)


def _expected_version(raw: str | None) -> int | None | str:
    raw = (raw or "").strip()
    if not raw:
        return None
    if not raw.isdecimal() or len(raw) > 9:
        return "An expected version is a whole number, 0 or more."
    return int(raw)


@require_POST
def command(request: HttpRequest, lab_id: str) -> HttpResponse:
    lab = lab_for(request, lab_id)
    post = request.POST
    name = post.get("command", "")
    payload = {"command": name, "account_id": post.get("account_id", "")}
    if name == "OpenAccount":
        payload["owner"] = post.get("owner", "")
    if name in ("Deposit", "Withdraw"):
        payload["amount"] = post.get("amount", "")
    command_id = _command_id(post)
    expected = _expected_version(post.get("expected_version"))
    if isinstance(expected, str):
        outcome = Outcome(name or "Command", False, [], expected, command_id, payload=payload)
    else:
        outcome = run(lab, payload, command_id, expected, name or "Command")
    command_handled.send(sender=Outcome, request=request, lab=lab, payload=payload, outcome=outcome)
    return _show_outcome(request, lab, outcome, 200 if outcome.accepted else (409 if outcome.conflict else 422))


@require_POST
async def race(request: HttpRequest, lab_id: str) -> HttpResponse:
    """Two deposits on the same expected version, sent at the same moment from two threads: exactly one wins.

    Async, so the two contenders run in the server's own worker threads: their after-commit broadcasts then reach
    the live feed through the server's event loop, as every other command's do."""
    lab = await sync_to_async(lab_for)(request, lab_id)
    post = request.POST
    amounts = [post.get("amount_a", "10.00"), post.get("amount_b", "20.00")]
    account_id = post.get("account_id", "")
    try:
        account_id = parse_account_id(account_id)
        version = (await sync_to_async(services.load)(lab, account_id)).account.version
        if version == 0:
            raise Rejected(f"There is no account {account_id}; open it first.")
    except Rejected as rejected:
        outcomes = [Outcome("Race", False, [], str(rejected))]
    else:
        start = threading.Barrier(2)

        def contender(i: int) -> Outcome:
            try:
                start.wait(timeout=5)
                payload = {"command": "Deposit", "account_id": account_id, "amount": amounts[i]}
                title = f"Tab {'AB'[i]}: deposit {amounts[i]} expecting version {version}"
                return run(lab, payload, str(uuid.uuid4()), version, title)
            finally:
                connection.close()  # this worker thread's own connection

        outcomes = list(await asyncio.gather(*(sync_to_async(contender, thread_sensitive=False)(i) for i in (0, 1))))
    context = {"race": outcomes, "race_account": account_id}
    if request.htmx:
        return await sync_to_async(render)(request, "bank/lab.html#race-result", {"lab": lab, **context})
    full = await sync_to_async(page_context)(request, lab, **context)
    return await sync_to_async(render)(request, "bank/lab.html", full)


@require_POST
def retry(request: HttpRequest, lab_id: str) -> HttpResponse:
    """Send a command again with the same command id: the store recognises it and appends nothing."""
    lab = lab_for(request, lab_id)
    post = request.POST
    payload = {k: post[k] for k in ("command", "account_id", "owner", "amount") if post.get(k)}
    command_id = _command_id(post)
    expected = _expected_version(post.get("expected_version"))
    title = f"Retry of {payload.get('command', 'command')} with command id {command_id[:8]}…"
    outcome = run(lab, payload, command_id, None if isinstance(expected, str) else expected, title)
    return _show_outcome(request, lab, outcome)


# --- The event store panel -------------------------------------------------------------------------------------------


def events_context(request: HttpRequest, lab: Lab) -> dict[str, Any]:
    """A page of the log, newest first, filtered by stream and type; `before` pages back from a position."""
    stream = request.GET.get("stream", "")[:200]
    event_type = request.GET.get("type", "")[:100]
    before = request.GET.get("before", "")
    before_position = int(before) if before.isdecimal() and len(before) < 15 else None
    head = store.head(lab.id)
    top = min(before_position - 1, head) if before_position else head
    matching = store.read_back(lab.id, top + 1, PAGE_SIZE + 1, stream or None, event_type or None)
    page = matching[:PAGE_SIZE]
    newer = None
    if before_position is not None and top < head:
        above = store.read_log(lab.id, after=top, limit=PAGE_SIZE, stream=stream or None, event_type=event_type or None)
        newer = above[-1].position + 1 if above else None
    return {
        "head": head,
        "events": page,
        "filter_stream": stream,
        "filter_type": event_type,
        # The filter asked for stays selectable even when it is not a bank stream (a personal lab's `progress`).
        "streams": (streams := streams_of(lab)) + ([stream] if stream and stream not in streams else []),
        "types": BANK_TYPES + ([event_type] if event_type and event_type not in BANK_TYPES else []),
        "older": page[-1].position if len(matching) > PAGE_SIZE else None,
        "paged": before_position is not None,
        "newer": newer,
    }


def streams_of(lab: Lab) -> list[str]:
    return [stream_name(a["account_id"]) for a in account_rows(lab)]


@require_GET
def events_panel(request: HttpRequest, lab_id: str) -> HttpResponse:
    lab = lab_for(request, lab_id)
    if request.htmx:
        return render(request, "bank/lab.html#event-panel", {"lab": lab, **events_context(request, lab)})
    return render(request, "bank/lab.html", page_context(request, lab))


# --- Read models -----------------------------------------------------------------------------------------------------


def readmodels_context(lab: Lab, account: str | None) -> dict[str, Any]:
    state = readmodels.status(lab)
    content = {
        "balances": account_rows(lab),
        "statement": statement_lines(lab, account),
        "statement_account": account,
        "summary": projector.docs(lab.id, "summary").get("bank"),
        "large_transactions": projector.newest(lab.id, "large_transactions", LIVE_ROWS),
        "daily_totals": list(reversed(projector.docs(lab.id, "daily_totals").values())),
    }
    return {"readmodels": state["read_models"], "rm": content, "rm_head": state["head"]}


def statement_lines(lab: Lab, account: str | None) -> list[dict[str, Any]]:
    """The account's newest LIVE_ROWS statement lines, newest first, read by key (the account's own row holds its
    line count), so as many rows as shown however long the statement is."""
    if not account:
        return []
    running = projector.docs_at(lab.id, "statements", [account]).get(account)
    if not running:
        return []
    keys = [statement_key(account, line) for line in range(running["lines"], max(0, running["lines"] - LIVE_ROWS), -1)]
    docs = projector.docs_at(lab.id, "statements", keys)
    return [docs[key] for key in keys if key in docs]


@require_GET
def statement(request: HttpRequest, lab_id: str) -> HttpResponse:
    lab = lab_for(request, lab_id)
    if request.htmx:
        context = readmodels_context(lab, request.GET.get("account"))
        return render(request, "bank/lab.html#readmodels", {"lab": lab, "accounts": account_rows(lab), **context})
    return render(request, "bank/lab.html", page_context(request, lab))


@require_POST
def readmodel_action(request: HttpRequest, lab_id: str) -> HttpResponse:
    lab = lab_for(request, lab_id)
    name = request.POST.get("name", "")
    action = request.POST.get("action", "")
    delay = request.POST.get("delay_ms", "")
    error = ""
    if action not in ("enable", "pause", "resume", "rebuild", "configure"):
        error = "Choose pause, resume, rebuild or a speed."
    else:
        try:
            readmodels.act(lab, name, action, delay_ms=int(delay) if delay.isdecimal() and len(delay) < 6 else None)
        except (readmodels.UnknownReadModel, StoreError) as exc:
            error = str(exc)
    account = request.POST.get("account")
    if request.htmx:
        context = readmodels_context(lab, account)
        return render(request, "bank/lab.html#readmodels",
                      {"lab": lab, "accounts": account_rows(lab), "rm_error": error, **context},
                      status=422 if error else 200)
    return redirect(reverse("bank-lab", kwargs={"lab_id": lab.id}) + "#readmodels")


# --- Time travel ------------------------------------------------------------------------------------------------------


CHART_POINTS = 200  # a long stream's chart draws at most about this many points (the chart is 560 wide)
SNAPSHOTS_LISTED = 12  # the panel names the newest snapshots only


def time_travel_context(lab: Lab, account: str | None, version: str | None, at: str | None) -> dict[str, Any]:
    """The account at a version or an instant. Reads a bounded amount whatever the stream's length: the version
    loaded (snapshot + tail), the one event at it, the newest snapshots, and a chart of at most ~CHART_POINTS."""
    if not account:
        return {"tt": None}
    stream = stream_name(account)
    current = store.stream_version(lab.id, stream)
    if current == 0:
        return {"tt": None}
    error = ""
    moment = None
    chosen = current
    if at:
        moment = parse_instant(at)
        if moment is None:
            error = f"{at[:40]!r} is not a date and time."
    if moment is not None:
        loaded = services.load(lab, account, at=moment)
        chosen = loaded.account.version
    else:
        if version and version.isdecimal() and len(version) < 10:
            chosen = max(1, min(int(version), current))
        elif version:
            error = "A version is a whole number."
        loaded = services.load(lab, account, version=chosen)
    head = loaded if chosen == current else services.load(lab, account, version=current)
    points = balance_series(lab, stream, current, head.account.balance)
    snapshots = list(
        Snapshot.objects.filter(lab=lab.id, stream=stream).order_by("-version")
        .values_list("version", flat=True)[:SNAPSHOTS_LISTED + 1]
    )
    return {
        "tt": {
            "account": account,
            "current": current,
            "version": chosen,
            "state": loaded.account,
            "replayed": loaded.replayed_events,
            "snapshot_version": loaded.snapshot_version,
            "at": at or "",
            "error": error,
            "event": store.read_stream(lab.id, stream, chosen - 1, chosen)[0] if chosen else None,
            "chart": chart(points, chosen, loaded.account.balance),
            "snapshot_every": lab.snapshot_every,
            "snapshots": sorted(snapshots[:SNAPSHOTS_LISTED]),
            "more_snapshots": len(snapshots) > SNAPSHOTS_LISTED,
        }
    }


def balance_points(events: list[RecordedEvent]) -> list[tuple[int, Decimal]]:
    points, state = [], None
    for event in events:
        state = fold([from_recorded(event)], state)
        points.append((state.version, state.balance))
    return points


def balance_series(lab: Lab, stream: str, current: int, balance: Decimal) -> list[tuple[int, Decimal]]:
    """(version, balance) points for the chart, ending at (`current`, `balance`). A stream of up to CHART_POINTS
    events is folded whole; a longer one is sampled at its snapshots, at most ~CHART_POINTS of them, read by key."""
    if current <= CHART_POINTS:
        return balance_points(store.read_stream(lab.id, stream))
    every = max(1, lab.snapshot_every)
    spacing = -(-current // CHART_POINTS)
    spacing = -(-spacing // every) * every  # a multiple of the snapshot interval, so most targets have one
    targets = list(range(spacing, current, spacing))
    found = _snapshot_balances(lab, stream, targets)
    if len(found) < len(targets) // 2:  # the interval changed on the way: sample the snapshots there are
        versions = list(
            Snapshot.objects.filter(lab=lab.id, stream=stream, version__lt=current).order_by("version")
            .values_list("version", flat=True)
        )
        found = _snapshot_balances(lab, stream, versions[::max(1, -(-len(versions) // CHART_POINTS))])
    return [(1, Decimal("0.00")), *found, (current, balance)]


def _snapshot_balances(lab: Lab, stream: str, versions: list[int]) -> list[tuple[int, Decimal]]:
    rows = Snapshot.objects.filter(lab=lab.id, stream=stream, version__in=versions).order_by("version")
    return [(v, Decimal(json.loads(state)["balance"])) for v, state in rows.values_list("version", "state")]


def chart(points: list[tuple[int, Decimal]], chosen: int, balance: Decimal | None = None, width: int = 560,
          height: int = 160) -> dict[str, Any]:
    """Coordinates for the balance-over-versions SVG (a step line), with the chosen version (at `balance`, when
    given; else its point) marked."""
    pad = 28
    max_balance = max([p[1] for p in points] + [balance or Decimal("1"), Decimal("1")])
    n = max(points[-1][0] if points else 0, 2)

    def x(version: int) -> float:
        return round(pad + (version - 1) * (width - 2 * pad) / (n - 1), 1)

    def y(balance: Decimal) -> float:
        return round(height - pad - float(balance / max_balance) * (height - 2 * pad), 1)

    step = max(1, len(points) // CHART_POINTS)  # long streams: draw at most ~CHART_POINTS points
    path = []
    for version, amount in points[::step] + points[-1:]:
        path.append(f"{'M' if not path else 'L'}{x(version)},{y(amount)}")
    before_first = (1, Decimal(0))  # an instant before the account existed: the start of the chart, at zero
    if chosen == 0:
        marker = before_first
    elif balance is not None:
        marker = (chosen, balance)
    else:
        marker = next((p for p in points if p[0] == chosen), points[-1])
    return {
        "width": width, "height": height, "pad": pad, "path": " ".join(path), "max": max_balance,
        "mx": x(marker[0]), "my": y(marker[1]), "base": height - pad, "right": width - pad,
    }


@require_GET
def time_travel(request: HttpRequest, lab_id: str) -> HttpResponse:
    lab = lab_for(request, lab_id)
    account = request.GET.get("account") or None
    context = {"lab": lab, "accounts": account_rows(lab),
               **time_travel_context(lab, account, request.GET.get("version"), request.GET.get("at"))}
    if request.htmx:
        return render(request, "bank/lab.html#time-travel", context)
    return render(request, "bank/lab.html", page_context(request, lab))


@require_POST
def lab_settings(request: HttpRequest, lab_id: str) -> HttpResponse:
    lab = lab_for(request, lab_id)
    raw = request.POST.get("snapshot_every", "")
    if raw.isdecimal() and 1 <= int(raw) <= 10_000:
        lab.snapshot_every = int(raw)
        lab.save(update_fields=["snapshot_every"])
    return redirect(reverse("bank-lab", kwargs={"lab_id": lab.id}) + "#time-travel")

