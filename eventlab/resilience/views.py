"""The resilience lab's pages. Thin: read the form, call the service, render; what every simulation lab's run pages
share (presets, time travel, forks, the htmx panel, live updates) is eventlab.labs.runpages."""

from __future__ import annotations

import re
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from eventlab.labs.access import lab_for
from eventlab.labs.models import Lab
from eventlab.labs.runpages import RunPages, last_prediction
from eventlab.labs.services import store
from eventlab.sim.runlog import Invalid

from . import pictures, services
from .breaker import FAILURE_KINDS, MODES, BreakerSettings
from .bulkhead import BulkheadSettings
from .models import Preset
from .retry import BACKOFFS, JITTERS, RetrySettings
from .runs import FAULT_KINDS, LOG, OUTCOMES, ResilienceRun
from .system import PATHS, SERVICES, Settings

FAULT_ROWS = 2  # fault rows on the start form
RUN_MS = (10_000, 30_000)  # the Run buttons
BREAKER_NUMBERS = ("window_size", "minimum_calls", "failure_rate_threshold", "slow_call_rate_threshold",
                   "slow_call_ms", "wait_open_ms", "wait_open_multiplier", "wait_open_cap_ms", "half_open_calls",
                   "max_wait_half_open_ms")
BULKHEAD_NUMBERS = ("max_concurrent", "max_wait_ms", "queue_capacity")
RETRY_NUMBERS = ("max_attempts", "base_ms", "multiplier", "max_wait_ms", "randomization_factor")
KIND_BOXES = tuple(f"breaker_{which}_{kind}" for which in ("record", "ignore") for kind in FAILURE_KINDS)
CHECKBOXES = ("breaker", "breaker_automatic_half_open", "retry", "retry_retry_when_open", *KIND_BOXES)
FAILURE_KIND_LABELS = {"error": "an error answer", "timeout": "a timeout", "refused": "connection refused",
                       "bulkhead_full": "bulkhead full", "no_instance": "no instance"}
MODE_LABELS = {"normal": "normal: CLOSED, OPEN, HALF_OPEN", "disabled": "DISABLED: let every call through, record "
               "nothing", "forced_open": "FORCED_OPEN: refuse every call", "metrics_only": "METRICS_ONLY: record, "
               "never change state"}
FORM_CHOICES = {"services": SERVICES, "paths": PATHS, "fault_kinds": FAULT_KINDS, "backoffs": BACKOFFS,
                "jitters": JITTERS, "bulkhead_kinds": ("none", "semaphore", "threadpool"), "run_ms": RUN_MS,
                "failure_kinds": [{"key": k, "label": FAILURE_KIND_LABELS[k]} for k in FAILURE_KINDS],
                "breaker_modes": [{"key": k, "label": MODE_LABELS[k]} for k in MODES]}


def lab_context(request: HttpRequest, lab: Lab, typed: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    """The lab page; `typed`: what a refused form held, shown again."""
    values = {"seed": "1", **form_values(Settings()), **(typed or {})}
    return {
        **PAGES.lab_base(request, lab),
        "runs": [run_summary(e.data) for e in LOG.runs(store, lab.id)],
        "values": values, "fault_rows": fault_rows(values),
        **FORM_CHOICES,
        **extra,
    }


FAULT_DEFAULTS = {"kind": "", "service": "payments", "pct": "80", "ms": "2000", "instance": "1", "at_ms": "5000"}


def fault_rows(values: dict[str, Any]) -> list[dict[str, Any]]:
    """The start form's fault rows, as typed (or their defaults)."""
    rows = []
    for n in range(1, FAULT_ROWS + 1):
        prefix = f"fault{n}_"
        row = {key: values.get(prefix + key, default) for key, default in FAULT_DEFAULTS.items()}
        rows.append({**row, "prefix": prefix, "label": f"Fault {n}", "optional": True})
    return rows


def run_summary(started: dict[str, Any]) -> dict[str, Any]:
    """A line in the lab page's list of runs."""
    s = started.get("settings") or {}
    patterns = [name for name in ("breaker", "bulkhead", "retry") if s.get(name)]
    if s.get("bulkhead"):
        patterns[patterns.index("bulkhead")] = ("shared " if s["bulkhead"].get("shared") else "") + \
            ("thread-pool" if s["bulkhead"].get("kind") == "threadpool" else "semaphore") + " bulkhead"
    return {**started, "rate": s.get("rate_rps"), "patterns": patterns}


# --- Forms ----------------------------------------------------------------------------------------------------------


def _number(text: str | None, default: Any = None) -> Any:
    """A form's number: an int, a float, or (when it is neither) the text itself, so validation names it;
    `default` if blank."""
    text = (text or "").strip()
    if not text:
        return default
    if re.fullmatch(r"-?[0-9]{1,9}", text):
        return int(text)
    if re.fullmatch(r"-?[0-9]{0,9}\.[0-9]{1,6}", text):
        return float(text)
    return text[:40]


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    return "" if value is None else str(value)


def form_values(settings: Settings) -> dict[str, Any]:
    """Every settings field of the forms, as the form shows it (flat names: `orders_failure_pct`, `breaker_window`)."""
    values: dict[str, Any] = {
        "rate_rps": settings.rate_rps, "unauthenticated_pct": settings.unauthenticated_pct,
        "timeout_ms": settings.timeout_ms, "rate_limit_capacity": settings.bucket_capacity,
        "rate_limit_refill_per_s": settings.bucket_refill_per_s, "heartbeat_ms": settings.heartbeat_ms,
        "evict_after": settings.evict_after,
    }
    for path in PATHS:
        values[f"mix_{path}"] = settings.mix.get(path, 0)
    for name, spec in settings.services.items():
        for key in ("instances", "failure_pct", "latency_ms"):
            values[f"{name}_{key}"] = getattr(spec, key)
    breaker = settings.breaker or BreakerSettings()
    values.update({f"breaker_{k}": getattr(breaker, k) for k in (*BREAKER_NUMBERS, "window", "mode")})
    for kind in FAILURE_KINDS:
        values[f"breaker_record_{kind}"] = kind in breaker.record
        values[f"breaker_ignore_{kind}"] = kind in breaker.ignore
    values["breaker"], values["breaker_automatic_half_open"] = settings.breaker is not None, breaker.automatic_half_open
    bulkhead = settings.bulkhead or BulkheadSettings()
    values.update({f"bulkhead_{k}": getattr(bulkhead, k) for k in BULKHEAD_NUMBERS})
    values["bulkhead_kind"] = settings.bulkhead.kind if settings.bulkhead else "none"
    values["bulkhead_pools"] = "shared" if settings.bulkhead_shared else "isolated"
    retry = settings.retry or RetrySettings(max_attempts=3)
    values.update({f"retry_{k}": getattr(retry, k) for k in (*RETRY_NUMBERS, "backoff", "jitter")})
    values["retry"], values["retry_retry_when_open"] = settings.retry is not None, retry.retry_when_open
    return kind_rows({k: v if isinstance(v, bool) else _text(v) for k, v in values.items()})


def kind_rows(values: dict[str, Any]) -> dict[str, Any]:
    """The record / ignore boxes of each failure kind, as rows the form draws."""
    values["breaker_kinds"] = [{"key": k, "label": FAILURE_KIND_LABELS[k], "record": values.get(f"breaker_record_{k}"),
                                "ignore": values.get(f"breaker_ignore_{k}")} for k in FAILURE_KINDS]
    return values


def posted_values(post) -> dict[str, Any]:
    """A refused form shown again as it was typed."""
    values = {k: post.get(k, "")[:200] for k in post if k not in CHECKBOXES}
    for box in CHECKBOXES:
        values[box] = box in post
    return kind_rows(values)


def settings_from_form(post, starting: bool) -> dict[str, Any]:
    """The settings the form says (only the fields it sent: a missing number keeps the current value). A pattern's
    fieldset sends `<pattern>_shown`, so an unticked box there means "off"."""
    settings: dict[str, Any] = {}

    def put(target: dict[str, Any], key: str, field: str) -> None:
        value = _number(post.get(field))
        if value is not None:
            target[key] = value

    for key in ("rate_rps", "unauthenticated_pct", "timeout_ms"):
        put(settings, key, key)
    groups = {"mix": {p: f"mix_{p}" for p in PATHS},
              "rate_limit": {"capacity": "rate_limit_capacity", "refill_per_s": "rate_limit_refill_per_s"},
              "discovery": {"heartbeat_ms": "heartbeat_ms", "evict_after": "evict_after"}}
    for group, fields in groups.items():
        given: dict[str, Any] = {}
        for key, field in fields.items():
            put(given, key, field)
        if given:
            settings[group] = given
    services_given = {}
    for name in SERVICES:
        spec: dict[str, Any] = {}
        for key in (("instances",) if starting else ()) + ("failure_pct", "latency_ms"):
            put(spec, key, f"{name}_{key}")
        if spec:
            services_given[name] = spec
    if services_given:
        settings["services"] = services_given
    if post.get("breaker_shown"):
        if "breaker" in post:
            breaker: dict[str, Any] = {"window": post.get("breaker_window", "count")[:40],
                                       "automatic_half_open": "breaker_automatic_half_open" in post}
            if post.get("breaker_mode"):
                breaker["mode"] = post["breaker_mode"][:40]
            if post.get("breaker_kinds_shown"):  # the record / ignore boxes were on the form
                for which in ("record", "ignore"):
                    breaker[which] = [k for k in FAILURE_KINDS if f"breaker_{which}_{k}" in post]
            for key in BREAKER_NUMBERS:
                put(breaker, key, f"breaker_{key}")
            settings["breaker"] = breaker
        else:
            settings["breaker"] = None
    if post.get("bulkhead_kind"):
        kind = post["bulkhead_kind"][:40]
        if kind == "none":
            settings["bulkhead"] = None
        else:
            bulkhead: dict[str, Any] = {"kind": kind, "shared": post.get("bulkhead_pools") == "shared"}
            for key in BULKHEAD_NUMBERS:
                put(bulkhead, key, f"bulkhead_{key}")
            settings["bulkhead"] = bulkhead
    if post.get("retry_shown"):
        if "retry" in post:
            retry: dict[str, Any] = {"backoff": post.get("retry_backoff", "exponential")[:40],
                                     "jitter": post.get("retry_jitter", "none")[:40],
                                     "retry_when_open": "retry_retry_when_open" in post}
            for key in RETRY_NUMBERS:
                put(retry, key, f"retry_{key}")
            settings["retry"] = retry
        else:
            settings["retry"] = None
    return settings


def fault_from_form(post, prefix: str = "") -> dict[str, Any]:
    """One fault from its fields (`<prefix>kind`, `<prefix>service`…), only the fields its kind takes."""
    field = lambda name: post.get(prefix + name)  # noqa: E731
    kind = (field("kind") or "")[:40]
    fault: dict[str, Any] = {"kind": kind, "service": (field("service") or "")[:40]}
    if kind == "failure_rate":
        fault["pct"] = _number(field("pct"))
    elif kind == "latency":
        fault["ms"] = _number(field("ms"))
    elif kind in ("kill", "restart"):
        fault["instance"] = _number(field("instance"))
    at = _number(field("at_ms"))
    if at is not None:
        fault["at_ms"] = at
    return fault


def start_from_form(post) -> dict[str, Any]:
    faults = [fault_from_form(post, f"fault{n}_") for n in range(1, FAULT_ROWS + 1) if post.get(f"fault{n}_kind")]
    return {"seed": _number(post.get("seed"), 1), "settings": settings_from_form(post, starting=True),
            "faults": faults}


@require_POST
def start(request: HttpRequest, lab_id: str) -> HttpResponse:
    lab = lab_for(request, lab_id)
    try:
        run = services.start(lab, start_from_form(request.POST))
    except Invalid as invalid:
        context = lab_context(request, lab, typed=posted_values(request.POST), error=str(invalid))
        return render(request, "resilience/lab.html", context, status=422)
    return redirect("resilience-run", lab_id=lab.id, run_id=run.id)


# --- A run ----------------------------------------------------------------------------------------------------------


def _request_id(raw: str | None) -> int | None:
    if raw is None or not raw.strip().isdecimal() or len(raw) > 9:
        return None
    return int(raw)


def run_view(run: ResilienceRun, query: Any = None) -> dict[str, Any]:
    """Everything the run panel draws (`?request=<id>` picks the request whose trace is drawn)."""
    wanted = _request_id((query or {}).get("request"))
    chosen = pictures.chosen_request(run, wanted)
    ticks = run.sim.ticks
    return {
        "announce": pictures.announcement(run), "done": run.done, "idle": run.idle_reason() if run.done else None,
        "clock_s": run.sim.clock_ms // 1000, "totals": run.totals(), "tick": ticks[-1] if ticks else None,
        "error_pct": pictures.error_pct(ticks[-1]) if ticks else None,
        "happenings": pictures.happenings(run), "prompt": run.prompt(),
        "prediction": last_prediction(run, OUTCOMES),
        "system": pictures.system_diagram(run), "registry": pictures.registry(run),
        "breakers": pictures.breaker_views(run), "pools": pictures.pools(run), "by_service": pictures.by_service(run),
        "retry": pictures.retry_timeline(run), "charts": pictures.charts(run), "bands": pictures.breaker_bands(run),
        "requests": pictures.request_list(run), "trace": pictures.waterfall(run, chosen),
        "wanted": wanted, "missing": wanted is not None and chosen is None,
        "seconds": list(reversed(ticks))[:60],
        "values": form_values(run.settings),
        "inject": {**FAULT_DEFAULTS, "kind": "failure_rate", "at_ms": str((run.steps + 1) * 1000), "prefix": "",
                   "label": "Fault", "optional": False},
    }


def given_from_form(action: str, post) -> dict[str, Any]:
    if action == "step":
        given: dict[str, Any] = {"input": "step"}
        if post.get("predict"):
            given["predict"] = post["predict"][:40]
        return given
    if action == "run":
        return {"input": "run", "ms": _number(post.get("ms"), RUN_MS[0])}
    if action == "settings":
        return {"input": "settings", "settings": settings_from_form(post, starting=False)}
    if action == "faults":
        return {"input": "faults", "faults": [fault_from_form(post)]}
    return {"input": action, "service": post.get("service", "")[:40], "instance": _number(post.get("instance"))}


PAGES = RunPages(
    page="resilience", templates="resilience", lab_url="resilience-lab", run_url="resilience-run",
    services=services.SERVICE, presets=Preset, run_view=run_view, lab_context=lab_context,
    given_from_form=given_from_form, actions=("step", "run", "settings", "faults", "kill", "restart", "reset"),
    choices=FORM_CHOICES,
)
start_preset = require_POST(PAGES.start_preset)
run_page = require_GET(PAGES.run_page)
act = require_POST(PAGES.act)
resilience_home = PAGES.home
lab_page = require_GET(PAGES.lab_page)
