"""Benchmark 6: runs are not replayed per request (issue 11). `bench/run.py runs` runs it alone.

One resilience run at 100 requests/s, driven to 30 and to 300 virtual seconds (two runs, same seed and settings).
Each figure is the median of RUNS_REPEATS interleaved rounds, through the lab's services in Django (SQLite file,
DEBUG off), with the page's view built as the run page does (`run_context`: load, then everything the panel draws,
the Predict prompt included; the template rendering is not timed):
- load: a page view of the run at its head (`RunPages.run_context`), at 300 s against at 30 s;
- Step: one Step through the lab (`RunService.act`, in the lab's write transaction) followed by the page view
  that shows its result, near 300 s against near 30 s (the late run is stepped from 270 s, the early from 30 s);
- how many inputs a Step replayed (the counter `RunLog.replayed_inputs`): goal, only its own one;
- Back (no goal, to show what is left): the page pinned to step 180 of the 300-second run (60 seconds into its
  second two-minute Run input, whose start is the nearest snapshot) against step 15 of the 30-second run.
Goals: each ratio at most 1.5. Nothing here asserts a time.
"""

from __future__ import annotations

import statistics
import time

RUNS_REPEATS = 15
RATE = {"seed": 7, "settings": {"rate_rps": 100}, "faults": [
    {"kind": "failure_rate", "service": "payments", "pct": 60, "at_ms": 10_000},
    {"kind": "kill", "service": "inventory", "instance": 1, "at_ms": 20_000}]}


def _drive(services, lab, seconds: int):
    run = services.start(lab, RATE)
    left = seconds * 1000
    while left > 0:
        ms = min(left, 120_000)
        run = services.act(lab, run.id, {"input": "run", "ms": ms})
        left -= ms
    return run


def bench_runs() -> list[tuple[str, str, str, float, str, bool | None]]:
    from eventlab.labs.services import create_lab
    from eventlab.resilience import services
    from eventlab.resilience.views import PAGES

    log = services.SERVICE.log
    lab, _ = create_lab("bench: resilience runs")
    early, late = _drive(services, lab, 30), _drive(services, lab, 270)
    full = _drive(services, lab, 300)

    def view(run_id: str) -> None:
        PAGES.run_context(lab, run_id, None, {})

    def back(run_id: str, at: str) -> None:
        PAGES.run_context(lab, run_id, at, {})

    def step(run_id: str) -> None:
        services.act(lab, run_id, {"input": "step"})
        PAGES.run_context(lab, run_id, None, {})

    def timed(fn, *args) -> float:
        began = time.perf_counter()
        fn(*args)
        return time.perf_counter() - began

    view(early.id), view(full.id)  # warm: whatever a first load costs is not what a page view costs
    loads: dict[str, list[float]] = {"early": [], "late": []}
    steps: dict[str, list[float]] = {"early": [], "late": []}
    backs: dict[str, list[float]] = {"early": [], "late": []}
    replayed: list[int] = []
    for _ in range(RUNS_REPEATS):
        loads["early"].append(timed(view, early.id))
        loads["late"].append(timed(view, full.id))
        backs["early"].append(timed(back, early.id, "15"))
        backs["late"].append(timed(back, full.id, "180"))
        steps["early"].append(timed(step, early.id))
        before = getattr(log, "replayed_inputs", None)
        steps["late"].append(timed(step, late.id))
        if before is not None:
            replayed.append(log.replayed_inputs - before)
    load_early, load_late = statistics.median(loads["early"]), statistics.median(loads["late"])
    step_early, step_late = statistics.median(steps["early"]), statistics.median(steps["late"])
    rows = [
        ("resilience 100 rps: page view of a run at 300 s vs at 30 s", f"{load_late * 1e3:.2f} ms",
         f"{load_early * 1e3:.2f} ms", load_late / load_early, "<= 1.5x", load_late / load_early <= 1.5),
        ("resilience 100 rps: one Step + its page view near 300 s vs near 30 s", f"{step_late * 1e3:.2f} ms",
         f"{step_early * 1e3:.2f} ms", step_late / step_early, "<= 1.5x", step_late / step_early <= 1.5),
    ]
    back_early, back_late = statistics.median(backs["early"]), statistics.median(backs["late"])
    rows.append(("resilience 100 rps: Back to step 180 of 300 vs step 15 of 30 (page view)",
                 f"{back_late * 1e3:.2f} ms", f"{back_early * 1e3:.2f} ms", back_late / back_early, "-", None))
    if replayed:
        most = max(replayed) + 1  # the Step's own input, taken once
        rows.append(("resilience: inputs one Step takes (replayed + its own; most of all rounds) vs 1", f"{most}",
                     "1", float(most), "<= 1x", most <= 1))
    return rows
