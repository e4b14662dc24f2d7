"""The resilience lab's pictures, laid out in Python (pure) and drawn by templates as SVG: the system (client, gateway,
services and their instances), the registry, each service's circuit breaker as a state machine with its window, the
bulkheads' pools, the retry timeline, the per-second plots, and the trace waterfall of one request.

Every picture is a projection of the run; colour is never the only signal (states are named, dead instances are
dashed and evicted ones crossed out, failed calls carry a ✗, plot lines differ in dash pattern and are labelled).
"""

from __future__ import annotations

import random
from dataclasses import replace
from typing import Any

from .breaker import CLOSED, DISABLED, FAILURE_KINDS, FORCED_OPEN, HALF_OPEN, METRICS_ONLY, OPEN
from .retry import JITTERS, schedule
from .runs import ResilienceRun
from .system import SERVICES

OUTCOME_LABELS = {
    "ok": "ok", "error": "error", "timeout": "timed out", "breaker_open": "breaker open: failed fast",
    "bulkhead_full": "bulkhead full: rejected", "no_instance": "no instance registered",
    "unauthorized": "401: no valid API key", "rate_limited": "429: over the rate limit", "in flight": "in flight",
    "refused": "connection refused",
}
GATEWAY_REFUSALS = ("unauthorized", "rate_limited")
STUCK_MS = 3_000  # half-open with every test call out and none decided for this long: "stuck"
MAX_CELLS = 40  # window, permit and queue cells drawn at most


def possessive(name: str) -> str:
    return f"{name}'" if name.endswith("s") else f"{name}'s"


# --- The system ---------------------------------------------------------------------------------------------------

ROW_H, BOX_H = 100, 84
INST_W, INST_H, INST_STEP, INST_PER_ROW = 70, 34, 74, 5
SVC_X, SVC_W, INST_X = 430, 170, 620


def instance_status(alive: bool, registered: bool) -> tuple[str, str]:
    """(css class, words) of an instance."""
    if alive and registered:
        return "up", "up"
    if registered:
        return "down-listed", "DOWN, listed"
    if not alive:
        return "evicted", "evicted"
    return "joining", "up, unlisted"


def _lines(y: int, texts: list[str], first: int = 18, step: int = 15) -> list[dict[str, Any]]:
    """Text lines of a box, each with its baseline."""
    return [{"text": text, "y": y + first + n * step, "first": n == 0} for n, text in enumerate(texts)]


def system_diagram(run: ResilienceRun) -> dict[str, Any]:
    """Client → gateway → services, each with its instances (alive or dead, registered or evicted)."""
    sim, settings = run.sim, run.settings
    outcomes = run.totals()["outcomes"]
    height = 16 + ROW_H * len(SERVICES)
    mid = height // 2
    client = {"x": 10, "y": mid - 48, "w": 150, "h": 96, "cx": 85,
              "lines": _lines(mid - 48, ["Load generator", f"{settings.rate_rps:g} requests/s", "clients: web,",
                                         "mobile, partner"])}
    gateway = {"x": 210, "y": mid - 70, "w": 170, "h": 140, "cx": 295,
               "lines": _lines(mid - 70, ["API gateway",
                         f"auth: {outcomes.get('unauthorized', 0):,} × 401",
                         f"rate limit: {outcomes.get('rate_limited', 0):,} × 429"
                         if settings.bucket_capacity else "rate limit: off",
                         "routes /orders /payments", "/inventory by path;",
                         "/checkout: all three"])}
    services, arrows, words = [], [], []
    for i, name in enumerate(SERVICES):
        y = 16 + i * ROW_H
        cy = y + BOX_H // 2
        spec = settings.services[name]
        breaker = sim.breakers.get(name)
        bulkhead = sim.bulkheads.get(name)
        pool = (f"pool {bulkhead.in_use}/{bulkhead.settings.max_concurrent}"
                + (" (shared)" if settings.bulkhead_shared else "")) if bulkhead else "no bulkhead"
        instances = []
        for j, inst in enumerate(sim.instances[name]):
            css, status = instance_status(inst.alive, inst.registered)
            ix, iy = INST_X + (j % INST_PER_ROW) * INST_STEP, y + 4 + (j // INST_PER_ROW) * (INST_H + 6)
            instances.append({"name": inst.name, "css": css, "status": status, "x": ix, "y": iy, "x2": ix + INST_W,
                              "y2": iy + INST_H, "cx": ix + INST_W // 2, "name_y": iy + 14, "status_y": iy + 28,
                              "alive": inst.alive, "registered": inst.registered})
        services.append({
            "name": name, "x": SVC_X, "y": y, "w": SVC_W, "h": BOX_H, "cx": SVC_X + SVC_W // 2,
            "breaker": breaker.state if breaker else None,
            "lines": _lines(y, [name, f"breaker {breaker.state}" if breaker else "no breaker", pool,
                                f"fails {spec.failure_pct:g}% · {spec.latency_ms:,} ms"], first=20, step=17),
            "instances": instances, "link_y": cy, "link_x1": SVC_X + SVC_W, "link_x2": INST_X,
        })
        arrows.append({"x1": gateway["x"] + gateway["w"], "y1": mid, "x2": SVC_X, "y2": cy,
                       "label": f"/{name}", "lx": SVC_X - 6, "ly": cy - 6})
        up = sum(1 for i in instances if i["css"] == "up")
        state = f", breaker {breaker.state}" if breaker else ""
        others = [f"{i['name']} {i['status']}" for i in instances if i["css"] != "up"]
        words.append(f"{name}: {up} of {len(instances)} instances up and listed"
                     + (f" ({'; '.join(others)})" if others else "") + state)
    return {
        "width": INST_X + INST_PER_ROW * INST_STEP + 6, "height": height, "client": client, "gateway": gateway,
        "services": services, "arrows": arrows,
        "in_arrow": {"x1": client["x"] + client["w"], "x2": gateway["x"], "y": mid, "label": f"{settings.rate_rps:g}/s"},
        "desc": f"A load generator sends {settings.rate_rps:g} requests per second to the API gateway, which "
                f"authenticates, rate-limits and routes them to three services. " + ". ".join(words) + ".",
    }


def registry(run: ResilienceRun) -> list[dict[str, Any]]:
    """The service registry as a table: each instance's health and heartbeat age."""
    sim = run.sim
    beat = run.settings.heartbeat_ms
    rows = []
    for name, instances in sim.instances.items():
        for inst in instances:
            css, status = instance_status(inst.alive, inst.registered)
            age = sim.clock_ms - inst.last_heartbeat_ms
            rows.append({"service": name, "number": inst.number, "name": inst.name, "css": css, "status": status,
                         "alive": inst.alive, "registered": inst.registered,
                         "last_heartbeat_ms": inst.last_heartbeat_ms, "age_ms": age,
                         "missed": age // beat if not inst.alive else 0, "calls": inst.calls})
    return rows


# --- Circuit breakers ---------------------------------------------------------------------------------------------

M_BOX_W, M_BOX_H = 120, 44
M_PLACES = {CLOSED: (10, 24), OPEN: (290, 24), HALF_OPEN: (150, 130)}


def _cells(items: list[dict[str, Any]], total: int) -> tuple[list[dict[str, Any]], int]:
    """At most MAX_CELLS cells (the newest), and how many more there were."""
    more = max(0, total - MAX_CELLS)
    return items[-MAX_CELLS:], more


def breaker_views(run: ResilienceRun) -> list[dict[str, Any]]:
    """Per service: the state machine (current state lit, the last transition marked), the window, the failure rate
    against its threshold, the half-open permits, the transitions with their reasons, and "stuck" explained."""
    now = run.sim.clock_ms
    views = []
    for name, data in run.breakers().items():
        breaker = run.sim.breakers[name]
        s = breaker.settings
        state = data["state"]
        last = data["transitions"][-1] if data["transitions"] else None
        boxes = []
        for target, (x, y) in M_PLACES.items():
            boxes.append({"state": target, "x": x, "y": y, "cx": x + M_BOX_W // 2, "current": target == state,
                          "label_y": y + 19, "status_y": y + 35, "css": target.lower().replace("_", "-"),
                          "status": f"now, since {data['since_ms']:,} ms" if target == state else ""})
        decide = s.half_open_minimum
        half_fail = "test calls fail" + (f" or {s.max_wait_half_open_ms:,} ms pass" if s.max_wait_half_open_ms else "")
        open_wait = breaker.open_wait_ms
        edges = [
            (CLOSED, OPEN, (130, 46, 290, 46), (210, 26, "middle"),
             [f"failure rate ≥ {s.failure_rate_threshold:g}%", f"(≥ {s.effective_minimum} calls)"]),
            (OPEN, HALF_OPEN, (320, 68, 260, 130), (268, 92, "end"),
             [f"after {open_wait:,} ms" + (" (auto)" if s.automatic_half_open else ""), "and a call"]),
            (HALF_OPEN, OPEN, (280, 130, 340, 68), (324, 110, "start"), half_fail.split(" or ", 1)),
            (HALF_OPEN, CLOSED, (170, 130, 90, 68), (118, 104, "end"), [f"{decide} test call"
                                                                        f"{'s' if decide > 1 else ''}",
                                                                        "pass"]),
        ]
        machine_edges = []
        for source, target, (x1, y1, x2, y2), (lx, ly, anchor), label in edges:
            machine_edges.append({"x1": x1, "y1": y1, "x2": x2, "y2": y2, "lx": lx, "ly": ly, "anchor": anchor,
                                  "lines": [{"text": t, "y": ly + 12 * k} for k, t in enumerate(label)],
                                  "last": bool(last and last["from"] == source and last["to"] == target),
                                  "name": f"{source} → {target}"})
        # The window (CLOSED), the test calls (HALF_OPEN)
        if state in (CLOSED, METRICS_ONLY):
            calls = [{"failed": f, "slow": sl, "at_ms": at} for at, f, sl in breaker.window]
            cells, more = _cells(calls, len(calls))
            capacity = s.window_size if s.window == "count" else None
            empty = max(0, min(MAX_CELLS, capacity or 0) - len(cells)) if capacity else 0
            window = {"kind": s.window, "cells": cells, "more": more, "empty": range(empty),
                      "label": (f"the last {s.window_size} calls" if s.window == "count"
                                else f"the calls of the last {s.window_size} s"),
                      "calls": data["calls"], "failed": sum(1 for c in calls if c["failed"])}
        else:
            window = None
        permits = None
        results = list(breaker.half_open_results) if state == HALF_OPEN else []
        if state == HALF_OPEN:
            out = data["half_open_permits"] - len(results)
            permits = {"allowed": s.half_open_calls, "decide": decide, "used": data["half_open_permits"],
                       "finished": len(results),
                       "out": out, "results": [{"failed": f, "slow": sl} for f, sl in results][:MAX_CELLS],
                       "pending": range(min(out, MAX_CELLS)),
                       "free": range(min(max(0, s.half_open_calls - data["half_open_permits"]), MAX_CELLS))}
        rate = data["failure_rate"]
        minimum = decide if state == HALF_OPEN else s.effective_minimum
        stuck = (state == HALF_OPEN and data["half_open_permits"] >= s.half_open_calls
                 and len(results) < decide and now - data["since_ms"] >= STUCK_MS)
        views.append({
            "service": name, "owner": possessive(name), "state": state, "since_ms": data["since_ms"], "settings": s,
            "boxes": boxes, "edges": machine_edges, "window": window, "permits": permits,
            "rate": rate, "rate_text": (f"{rate:.0f}%" if rate is not None
                                        else f"not yet: {data['calls']} of {minimum} calls needed"),
            "threshold": s.failure_rate_threshold, "rate_width": round(rate or 0, 1),
            "slow_rate": data["slow_rate"], "not_permitted": data["not_permitted"],
            "open_until": f"{data['since_ms'] + open_wait:,} ms" if state == OPEN else None,
            "open_wait": open_wait, "openings": breaker.attempts, "ignored": breaker.ignored,
            "special": SPECIAL_STATES.get(state), "counts": counts_text(s),
            "transitions": list(reversed(data["transitions"]))[:12], "transition_count": len(data["transitions"]),
            "stuck": stuck, "stuck_text": stuck_explanation(s, data, len(results), now, run.settings.timeout_ms)
            if stuck else "",
            "desc": f"{possessive(name)} breaker is {state} since {data['since_ms']:,} ms"
                    + (f"; failure rate {rate:.0f}% against a threshold of {s.failure_rate_threshold:g}%"
                       if rate is not None else "")
                    + (f"; {data['half_open_permits']} of {s.half_open_calls} test calls let through, "
                       f"{len(results)} finished" if state == HALF_OPEN else "")
                    + (f"; last change: {last['from']} to {last['to']} at {last['at_ms']:,} ms because "
                       f"{last['reason']}" if last else "") + ".",
        })
    return views


SPECIAL_STATES = {
    DISABLED: "DISABLED (set by hand): every call goes through and nothing is recorded — no protection at all.",
    FORCED_OPEN: "FORCED_OPEN (set by hand): every call is refused, however healthy the service; only setting the "
                 "state machine back to normal closes it.",
    METRICS_ONLY: "METRICS_ONLY (set by hand): every call goes through and is recorded, the rates are computed, but the "
                  "breaker never opens — watch what it would have done.",
}


def counts_text(s: Any) -> str:
    """Which failures the breaker counts, in words."""
    words = {"error": "errors", "timeout": "timeouts", "refused": "refused connections",
             "bulkhead_full": "bulkhead rejections", "no_instance": "calls finding no instance"}
    ignored = [words[k] for k in FAILURE_KINDS if k in s.ignore]
    recorded = [words[k] for k in FAILURE_KINDS if k in s.record and k not in s.ignore]
    success = [words[k] for k in FAILURE_KINDS if k not in s.record and k not in s.ignore]
    parts = [f"Counts as failures: {', '.join(recorded) or 'nothing'}"]
    if success:
        parts.append(f"as successes: {', '.join(success)}")
    if ignored:
        parts.append(f"not at all (ignored): {', '.join(ignored)}")
    return "; ".join(parts) + "."


def stuck_explanation(s: Any, data: dict[str, Any], finished: int, now: int, timeout_ms: int) -> str:
    waited = now - data["since_ms"]
    decide = s.half_open_minimum
    text = (f"Stuck in half-open: the breaker let its {s.half_open_calls} test call"
            f"{'s' if s.half_open_calls > 1 else ''} through {waited:,} ms ago and only {finished} ha"
            f"{'s' if finished == 1 else 've'} finished. It decides once {decide} of them ha"
            f"{'s' if decide == 1 else 've'} finished (the smaller of the minimum number of calls and the permitted "
            f"test calls), and until then it refuses every other call ({data['not_permitted']:,} refused so far). "
            f"The test calls hang "
            f"on a service that does not answer, so nothing finishes, nothing decides, and no traffic gets "
            f"through. ")
    if s.max_wait_half_open_ms:
        return text + (f"The maximum wait in half-open ({s.max_wait_half_open_ms:,} ms) will send it back to OPEN "
                       f"to try again.")
    return text + (f"It leaves only when the hanging calls end — at the latest when they time out after "
                   f"{timeout_ms:,} ms. The fix: a maximum wait in half-open (Resilience4j's "
                   f"maxWaitDurationInHalfOpenState; set max_wait_half_open_ms below), or a shorter timeout.")


# --- Bulkheads ----------------------------------------------------------------------------------------------------


def pools(run: ResilienceRun) -> list[dict[str, Any]]:
    """Each bulkhead once (a shared one serves every service): permits or threads in use, calls waiting, rejections."""
    groups: dict[int, tuple[Any, list[str]]] = {}
    for name, bulkhead in run.sim.bulkheads.items():
        groups.setdefault(id(bulkhead), (bulkhead, []))[1].append(name)
    out = []
    for bulkhead, services in groups.values():
        s = bulkhead.settings
        shared = len(services) > 1
        thread_pool = s.kind == "threadpool"
        size = s.max_concurrent
        waiting = len(bulkhead.waiting)
        queue = s.queue_capacity if thread_pool else waiting
        out.append({
            "key": "shared" if shared else services[0], "services": services, "shared": shared,
            "kind": "thread pool" if thread_pool else "semaphore", "thread_pool": thread_pool,
            "size": size, "in_use": bulkhead.in_use, "waiting": waiting, "rejected": bulkhead.rejected,
            "peak": bulkhead.peak, "queue_capacity": s.queue_capacity if thread_pool else None,
            "max_wait_ms": None if thread_pool else s.max_wait_ms,
            "slots_used": range(min(bulkhead.in_use, MAX_CELLS)),
            "slots_free": range(min(max(0, size - bulkhead.in_use), max(0, MAX_CELLS - bulkhead.in_use))),
            "queue_used": range(min(waiting, MAX_CELLS)),
            "queue_free": range(min(max(0, queue - waiting), max(0, MAX_CELLS - waiting))) if thread_pool else [],
            "full": bulkhead.in_use >= size,
            "title": (f"One shared {'thread pool' if thread_pool else 'semaphore'} for {', '.join(services)}"
                      if shared else f"{possessive(services[0])} own {'thread pool' if thread_pool else 'semaphore'}"),
        })
    return out


def by_service(run: ResilienceRun) -> dict[str, Any]:
    """How each service's calls ended, over the requests the run still keeps (its most recent ones)."""
    stats = {name: {"ok": 0, "error": 0, "timeout": 0, "refused": 0, "breaker_open": 0, "bulkhead_full": 0,
                    "no_instance": 0, "retries": 0} for name in SERVICES}
    for request in run.sim.requests:
        for span in request.spans:
            stats[span["service"]][span["outcome"]] += 1
        for _at, where, what in request.decisions:
            if where not in stats:
                continue
            if "failed fast" in what:
                stats[where]["breaker_open"] += 1
            elif "bulkhead full" in what or "no permit within" in what:
                stats[where]["bulkhead_full"] += 1
            elif "no instance registered" in what:
                stats[where]["no_instance"] += 1
            elif what.startswith("retry in"):
                stats[where]["retries"] += 1
    return {"requests": len(run.sim.requests), "rows": [{"service": name, **row} for name, row in stats.items()]}


# --- Retry --------------------------------------------------------------------------------------------------------

RT_LEFT, RT_WIDTH, RT_ROW = 150, 540, 46


def jitter_label(retry: Any, jitter: str) -> str:
    if jitter == "none":
        return "no jitter"
    if jitter == "randomized":
        return f"randomized ±{retry.randomization_factor * 100:g}%"
    return f"{jitter} jitter"


JITTER_HOW = {
    "none": "the backoff itself",
    "randomized": "Resilience4j's randomized wait: a whole number of ms in backoff × (1 ± factor)",
    "full": "random(0, backoff)",
    "equal": "backoff/2 + random(0, backoff/2)",
    "decorrelated": "min(longest wait, random(first wait, previous wait × 3))",
}


def retry_timeline(run: ResilienceRun) -> dict[str, Any] | None:
    """The waits a call makes if every attempt fails, on a time axis: without jitter and with each kind of it, side
    by side (each row's draws from a copy of the run's seed), the run's own kind marked."""
    retry = run.settings.retry
    if retry is None or retry.max_attempts < 2:
        return None
    seed = run.started["seed"]
    waits_of = {j: schedule(replace(retry, jitter=j), random.Random(seed)) for j in JITTERS}
    plain, jitter = waits_of["none"], retry.jitter if retry.jitter != "none" else "full"
    horizon = max(max(sum(w) for w in waits_of.values()), 1)
    scale = RT_WIDTH / horizon
    rows = []
    for n, kind in enumerate(JITTERS):
        waits = waits_of[kind]
        this_run = kind == retry.jitter
        y = 26 + n * RT_ROW
        at, attempts, gaps = 0, [], []
        attempts.append({"n": 1, "x": RT_LEFT, "at_ms": 0, "labelled": True})
        labelled_x = RT_LEFT
        for k, wait in enumerate(waits, start=2):
            x1 = RT_LEFT + round(at * scale)
            at += wait
            x2 = RT_LEFT + round(at * scale)
            gaps.append({"x1": x1, "x2": x2, "mid": (x1 + x2) // 2, "wait": wait, "labelled": x2 - x1 >= 44})
            attempts.append({"n": k, "x": x2, "at_ms": at, "labelled": x2 - labelled_x >= 18})
            if attempts[-1]["labelled"]:
                labelled_x = x2
        rows.append({"label": jitter_label(retry, kind) + (" (this run)" if this_run else ""), "kind": kind,
                     "this_run": this_run, "how": JITTER_HOW[kind], "y": y, "attempts": attempts, "gaps": gaps,
                     "waits": waits, "total": at})
    ticks = _ticks(horizon)
    totals = run.totals()
    admitted = totals["requests"] - sum(totals["outcomes"].get(k, 0) for k in GATEWAY_REFUSALS)
    count = len(JITTERS)
    return {
        "settings": retry, "rows": rows, "width": RT_LEFT + RT_WIDTH + 40, "height": 26 + count * RT_ROW + 20,
        "axis_y": 26 + count * RT_ROW - 6,
        "ticks": [{"x": RT_LEFT + round(t * scale), "label": f"{t:,}"} for t in ticks],
        "plain": plain, "jittered": waits_of[jitter], "jitter": jitter, "worst": retry.max_attempts,
        "attempts_per_request": round(totals["attempts"] / max(1, admitted), 2),
        "desc": f"Up to {retry.max_attempts} attempts a call. "
                + "; ".join(f"{r['label']}: waits of {', '.join(f'{w:,} ms' for w in r['waits'])}" for r in rows)
                + ".",
    }


def _ticks(horizon: float, count: int = 5) -> list[int]:
    """Round tick values from 0 to `horizon`, about `count` of them."""
    step = next(c for c in NICE if c >= horizon / count)
    return list(range(0, int(horizon) + 1, step))


NICE = [unit * 10 ** power for power in range(0, 8) for unit in (1, 2, 5)]


# --- Plots over time ----------------------------------------------------------------------------------------------

PLOT_W, PLOT_H, PAD_L, PAD_R, PAD_T, PAD_B = 560, 150, 46, 70, 12, 26
DASHES = ("", "6 4", "2 3", "10 3 2 3", "1 5")


def _series_chart(key: str, title: str, ticks: list[dict[str, Any]], lines: list[tuple[str, Any]], unit: str,
                  top: float | None = None, guide: tuple[float, str] | None = None) -> dict[str, Any]:
    """A line chart: one line per (label, value-of-tick) with a distinct dash pattern and a label at its end."""
    seconds = [t["second"] for t in ticks]
    span = max(seconds[-1] if seconds else 0, 10)
    values = [[fn(t) for t in ticks] for _label, fn in lines]
    high = max([v for vs in values for v in vs if v is not None] + [guide[0] if guide else 0, 1])
    top = top if top is not None else _nice(high)
    x = lambda second: PAD_L + round((second / span) * PLOT_W, 1)  # noqa: E731
    y = lambda value: PAD_T + round(PLOT_H - (min(value, top) / top) * PLOT_H, 1)  # noqa: E731
    drawn = []
    for n, ((label, _fn), vs) in enumerate(zip(lines, values, strict=True)):
        segments, current = [], []
        for second, value in zip(seconds, vs, strict=True):
            if value is None:
                if current:
                    segments.append(current)
                current = []
            else:
                current.append(f"{x(second)},{y(value)}")
        if current:
            segments.append(current)
        last = next(((s, v) for s, v in zip(reversed(seconds), reversed(vs), strict=True) if v is not None), None)
        drawn.append({"label": label, "n": n, "dash": DASHES[n % len(DASHES)],
                      "points": [" ".join(seg) for seg in segments],
                      "dots": [{"x": float(p.split(",")[0]), "y": float(p.split(",")[1])} for seg in segments
                               for p in seg] if len(seconds) <= 2 else [],
                      "end": {"x": x(last[0]) + 4, "y": y(last[1]) + 4 + 0, "value": last[1]} if last else None,
                      "last": last[1] if last else None})
    _spread_labels(drawn)
    y_ticks = [{"y": y(v), "label": f"{v:g}"} for v in (0, top / 2, top)]
    x_ticks = [{"x": x(s), "label": f"{s}"} for s in _ticks(span, 6) if s <= span]
    summary = "; ".join(f"{d['label']} {_fmt(d['last'])}{unit}" for d in drawn)
    return {
        "key": key, "title": title, "lines": drawn, "width": PAD_L + PLOT_W + PAD_R, "height": PAD_T + PLOT_H + PAD_B,
        "x0": PAD_L, "x1": PAD_L + PLOT_W, "y0": PAD_T + PLOT_H, "y_top": PAD_T, "y_ticks": y_ticks,
        "x_ticks": x_ticks, "unit": unit,
        "guide": {"y": y(guide[0]), "label": guide[1]} if guide else None,
        "desc": (f"{title} over {len(ticks)} second{'s' if len(ticks) != 1 else ''}. Last second: {summary}."
                 if ticks else f"{title}: nothing yet."),
    }


def _fmt(value: Any) -> str:
    if value is None:
        return "—"
    return f"{value:.0f}" if isinstance(value, float) else f"{value:,}"


def _spread_labels(drawn: list[dict[str, Any]]) -> None:
    """Keep end labels at least 11 px apart."""
    ends = sorted((d for d in drawn if d["end"]), key=lambda d: d["end"]["y"])
    previous = None
    for d in ends:
        if previous is not None and d["end"]["y"] - previous < 11:
            d["end"]["y"] = previous + 11
        previous = d["end"]["y"]


def _nice(value: float) -> float:
    """The smallest round number at or above `value` (a plot's top)."""
    return next(c for c in [unit * 10 ** power for power in range(0, 8) for unit in (1, 2, 2.5, 5)] if c >= value)


def error_pct(tick: dict[str, Any]) -> float | None:
    """Failed requests among those the gateway let in (401 and 429 are the gateway doing its job, not errors)."""
    admitted = sum(n for k, n in tick["outcomes"].items() if k not in GATEWAY_REFUSALS)
    if not admitted:
        return None
    return 100 * (admitted - tick["outcomes"].get("ok", 0)) / admitted


def charts(run: ResilienceRun) -> list[dict[str, Any]]:
    ticks = run.sim.ticks
    out = [
        _series_chart("traffic", "Requests and service calls per second", ticks, [
            ("requests", lambda t: t["requests"]), ("ok", lambda t: t["ok"]),
            ("calls", lambda t: t["calls"]), ("retries", lambda t: t["retries"])], "/s"),
        _series_chart("errors", "Error % of admitted requests", ticks, [("errors", error_pct)], "%", top=100),
        _series_chart("latency", "Latency of answered requests (ms)", ticks, [
            ("p50", lambda t: t["p50"]), ("p95", lambda t: t["p95"]), ("p99", lambda t: t["p99"])], " ms"),
    ]
    for pool in pools(run):
        key = pool["key"]
        size = pool["size"]
        out.append(_series_chart(
            f"pool-{key}", f"Pool usage: {pool['title']}", ticks, [
                ("in use", lambda t, k=key: t["pools"].get(k, {}).get("in_use") if t["pools"] else None),
                ("waiting", lambda t, k=key: t["pools"].get(k, {}).get("waiting") if t["pools"] else None),
                ("rejected/s", _rejected_per_second(ticks, key))],
            "", guide=(size, f"size {size}")))
    return out


def _rejected_per_second(ticks: list[dict[str, Any]], key: str):
    previous: dict[int, int] = {}
    total = 0
    for tick in ticks:
        now = tick["pools"].get(key, {}).get("rejected") if tick["pools"] else None
        if now is None:
            previous[tick["second"]] = None
            continue
        previous[tick["second"]] = now - total
        total = now
    return lambda t: previous.get(t["second"])


BAND_H, BAND_GAP, BAND_L = 22, 10, 74
HEIGHTS = {CLOSED: 4, HALF_OPEN: 12, OPEN: 22, DISABLED: 2, METRICS_ONLY: 4, FORCED_OPEN: 22}


def breaker_bands(run: ResilienceRun) -> dict[str, Any] | None:
    """Breaker state over time: a band per service; the bar's height is the state (low CLOSED, middle HALF_OPEN,
    full OPEN) so the picture reads without colour."""
    if not run.sim.breakers:
        return None
    ticks = run.sim.ticks
    span = max(ticks[-1]["second"] if ticks else 0, 10)
    width = PLOT_W / span
    bands = []
    for n, name in enumerate(run.sim.breakers):
        top = PAD_T + n * (BAND_H + BAND_GAP)
        cells, runs = [], []
        for tick in ticks:
            state = tick["breakers"].get(name)
            if state is None:
                continue
            h = HEIGHTS[state]
            cells.append({"x": BAND_L + round((tick["second"] - 1) * width, 1), "w": round(max(width, 1), 1),
                          "y": top + BAND_H - h, "h": h, "state": state, "second": tick["second"]})
            if runs and runs[-1]["state"] == state:
                runs[-1]["to"] = tick["second"]
            else:
                runs.append({"state": state, "from": tick["second"], "to": tick["second"]})
        flips = [{"x": BAND_L + round(t.at_ms / 1000 / span * PLOT_W, 1), "y1": top - 3, "y2": top + BAND_H,
                  "text": f"{t.at_ms:,} ms: {t.source} → {t.target}"}
                 for t in run.sim.breakers[name].transitions if t.at_ms <= run.sim.clock_ms]
        bands.append({"service": name, "y": top, "label_y": top + BAND_H - 4, "cells": cells, "flips": flips,
                      "summary": ", ".join(f"{r['state']} {r['from']}–{r['to']} s" if r["from"] != r["to"]
                                           else f"{r['state']} {r['from']} s" for r in runs) or "no seconds yet"})
    height = PAD_T + len(bands) * (BAND_H + BAND_GAP) + PAD_B
    return {"bands": bands, "width": BAND_L + PLOT_W + 30, "height": height, "axis_y": height - PAD_B + 2,
            "x0": BAND_L, "x1": BAND_L + PLOT_W, "label_x": BAND_L - 6,
            "x_ticks": [{"x": BAND_L + round(s / span * PLOT_W, 1), "label": f"{s}"} for s in _ticks(span, 6)
                        if s <= span],
            "desc": "Breaker state each second (bar height: low CLOSED, middle HALF_OPEN, full OPEN; the states set by hand: "
                    "lowest DISABLED, low METRICS_ONLY, full FORCED_OPEN). "
                    + "; ".join(f"{b['service']}: {b['summary']}" for b in bands) + "."}


# --- Requests and their traces ------------------------------------------------------------------------------------


def request_list(run: ResilienceRun, limit: int = 25) -> list[dict[str, Any]]:
    rows = []
    for r in run.requests()[:limit]:
        attempts = sum(1 for _at, _where, what in r["decisions"] if what.startswith("attempt ")) + sum(
            1 for s in r["spans"] if s["outcome"] == "ok")
        rows.append({"id": r["id"], "client": r["client"], "path": r["path"], "outcome": r["outcome"],
                     "outcome_text": OUTCOME_LABELS.get(r["outcome"], r["outcome"]),
                     "arrived_ms": r["arrived_ms"],
                     "latency_ms": None if r["ended_ms"] is None else r["ended_ms"] - r["arrived_ms"],
                     "attempts": attempts})
    return rows


def chosen_request(run: ResilienceRun, wanted: int | None) -> dict[str, Any] | None:
    """The request asked for (if the run still keeps it); else the newest finished one that says the most: retried,
    else failed, else aggregated, else any."""
    requests = run.requests()
    if wanted is not None:
        return next((r for r in requests if r["id"] == wanted), None)
    finished = [r for r in requests if r["outcome"] != "in flight"]
    retried = (r for r in finished if any(d[2].startswith("retry in") for d in r["decisions"]))
    failed = (r for r in finished if r["outcome"] not in ("ok", *GATEWAY_REFUSALS))
    aggregated = (r for r in finished if r["path"] == "checkout")
    for candidates in (retried, failed, aggregated, iter(finished)):
        found = next(candidates, None)
        if found is not None:
            return found
    return None


def waterfall(run: ResilienceRun, request: dict[str, Any] | None) -> dict[str, Any] | None:
    """One request through gateway → services: the gateway's decisions and each service's decisions as moments, each
    attempt on an instance as a span, backoff waits as dotted spans; retries included."""
    if request is None:
        return None
    start = request["arrived_ms"]
    end = request["ended_ms"] if request["ended_ms"] is not None else run.sim.clock_ms
    rows: list[dict[str, Any]] = []
    for at, where, what in request["decisions"]:
        row = {"at_ms": at, "where": where, "what": what, "kind": "decision", "duration_ms": 0}
        if what.startswith("retry in "):
            wait = int(what.split()[2])
            row.update(kind="wait", duration_ms=wait, what=f"backoff: {what}")
            end = max(end, at + wait)
        elif what.startswith("attempt "):
            row["kind"] = "failure"
        rows.append(row)
    for span in request["spans"]:
        rows.append({"at_ms": span["start_ms"], "where": span["service"], "kind": "span",
                     "what": f"attempt {span['attempt']} on {span['instance']}: "
                             f"{OUTCOME_LABELS.get(span['outcome'], span['outcome'])}",
                     "outcome": span["outcome"], "duration_ms": span["end_ms"] - span["start_ms"]})
        end = max(end, span["end_ms"])
    order = {"decision": 0, "failure": 2, "span": 1, "wait": 3}
    rows.sort(key=lambda r: (r["at_ms"], order[r["kind"]]))
    horizon = max(end - start, 1)
    for row in rows:
        row["offset_ms"] = row["at_ms"] - start
        row["left"] = round(100 * row["offset_ms"] / horizon, 2)
        row["width"] = round(100 * row["duration_ms"] / horizon, 2)
        row["outcome"] = row.get("outcome") or ("error" if row["kind"] == "failure" else "")
    return {"request": request, "rows": rows, "horizon_ms": horizon,
            "latency_ms": None if request["ended_ms"] is None else request["ended_ms"] - start,
            "outcome_text": OUTCOME_LABELS.get(request["outcome"], request["outcome"]),
            "retries": sum(1 for r in rows if r["kind"] == "wait")}


# --- Words ----------------------------------------------------------------------------------------------------------

EVENT_WORDS = {
    "InstanceKilled": "{instance} was killed", "InstanceRestarted": "{instance} restarted",
    "InstanceEvicted": "the registry evicted {instance} ({reason})",
    "InstanceRegistered": "{instance} registered again",
    "SettingsChanged": "the settings changed",
}


def happenings(run: ResilienceRun, step: int | None = None) -> list[str]:
    """What changed state during second `step` (default: the last one), in words."""
    step = run.steps if step is None else step
    out = []
    for event in run.sim.history:
        if event.step != step or event.type == "TickSummarized":
            continue
        if event.type == "BreakerTransitioned":
            d = event.data
            out.append(f"{possessive(d['service'])} breaker went {d['from']} → {d['to']} at {event.at_ms:,} ms: {d['reason']}")
        elif event.type == "FaultActed":
            d = event.data
            value = f"{d['pct']:g}%" if d["kind"] == "failure_rate" else f"{d['ms']:,} ms"
            kind = "failure rate" if d["kind"] == "failure_rate" else "latency"
            out.append(f"{possessive(d['service'])} {kind} became {value} at {event.at_ms:,} ms")
        elif event.type in EVENT_WORDS:
            out.append(EVENT_WORDS[event.type].format(**event.data))
    return out


def announcement(run: ResilienceRun) -> str:
    """One sentence for screen readers after each change."""
    if not run.sim.ticks:
        return "The run is at second 0: nothing has happened yet."
    tick = run.sim.ticks[-1]
    errors = error_pct(tick)
    said = (f"Second {tick['second']}: {tick['requests']} requests, {tick['ok']} ok"
            + (f", {errors:.0f}% errors" if errors is not None else "")
            + (f", p95 {tick['p95']:,} ms" if tick["p95"] is not None else "") + ".")
    changes = happenings(run)
    return said + (" " + "; ".join(changes) + "." if changes else "")
