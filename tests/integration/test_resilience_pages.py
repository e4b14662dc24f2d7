"""The resilience lab's pages, without a browser (eventlab.resilience.views): the lab page with its presets, settings
form and runs; starting a run from the form or a preset; every button of the run page (plainly, and with htmx: the
#run partial only); looking back and forking a what-if run; picking a request's trace; predict, then observe;
plain-words 422s that append nothing; 404s for other sessions' labs and unknown runs; escaping; every page working
without JavaScript; and the pictures each preset promises (a breaker opening and closing, a shared pool starving
inventory, an instance evicted and rejoining, a retry storm's load factor, a breaker stuck half-open).

What every simulation lab's pages do alike (start, a preset, step, back, fork, refusals, 404s, the htmx panel, the
predict prompt) is tested once for all of them by the run-lab contract, tests/contract/test_run_lab_pages.py; the
tests here are the resilience lab's own."""

import html
import re

import pytest
from django.core.management import call_command
from django.test import Client

from eventlab.labs.models import Lab
from eventlab.labs.services import store
from eventlab.resilience import services
from eventlab.resilience.models import Preset
from eventlab.resilience.runs import LOG
from tests.integration.conftest import (
    HTMX,
    XSS,
    assert_422,
    assert_run_partial,
    assert_works_without_javascript,
    controls,
    form_fields,
    parse,
    post_plainly,
    text,
    words,
)
from tests.integration.conftest import open_lab as open_shared
from tests.integration.conftest import run_id_of as run_of

pytestmark = pytest.mark.django_db

LAB = "resilience"  # the lab these pages belong to (the presets fixture loads its presets)

PRESETS = ("breaker-trips-and-recovers", "slow-dependency-shared-pool", "slow-dependency-isolated-pools",
           "slow-dependency-thread-pool", "retry-storm", "retry-with-breaker", "instance-dies-under-load",
           "stuck-half-open", "breaker-backs-off")


# --- Helpers ----------------------------------------------------------------------------------------------------------


def open_lab(client: Client) -> Lab:
    return open_shared(client, LAB)


def run_id_of(response, lab: Lab) -> str:
    """The run a plain (redirecting) answer leads to."""
    return run_of(response, lab, LAB)


def form(**fields) -> dict:
    """The start form as a browser posts it with its defaults (no pattern ticked, no fault), `fields` on top."""
    data = {"seed": "1", "rate_rps": "20", "unauthenticated_pct": "2", "rate_limit_capacity": "20",
            "rate_limit_refill_per_s": "10", "timeout_ms": "1000", "mix_orders": "40", "mix_payments": "30",
            "mix_inventory": "20", "mix_checkout": "10", "heartbeat_ms": "1000", "evict_after": "3",
            "breaker_shown": "1", "breaker_window": "count", "breaker_window_size": "10",
            "breaker_minimum_calls": "5", "breaker_failure_rate_threshold": "50",
            "breaker_slow_call_rate_threshold": "100", "breaker_slow_call_ms": "60000", "breaker_wait_open_ms": "5000",
            "breaker_half_open_calls": "3", "breaker_max_wait_half_open_ms": "0", "bulkhead_kind": "none",
            "bulkhead_pools": "isolated", "bulkhead_max_concurrent": "10", "bulkhead_max_wait_ms": "0",
            "bulkhead_queue_capacity": "10", "retry_shown": "1", "retry_max_attempts": "3", "retry_base_ms": "100",
            "retry_backoff": "exponential", "retry_multiplier": "2", "retry_max_wait_ms": "10000",
            "retry_jitter": "none", "retry_retry_when_open": "on"}
    for name in ("orders", "payments", "inventory"):
        data.update({f"{name}_instances": "3", f"{name}_failure_pct": "0", f"{name}_latency_ms": "50"})
    for n in (1, 2):
        data.update({f"fault{n}_kind": "", f"fault{n}_service": "payments", f"fault{n}_pct": "80",
                     f"fault{n}_ms": "2000", f"fault{n}_instance": "1", f"fault{n}_at_ms": "5000"})
    data.update(fields)
    return {k: v for k, v in data.items() if v is not None}


def run_url(lab: Lab, run_id: str) -> str:
    return f"/labs/{lab.id}/resilience/{run_id}/"


def start(client: Client, lab: Lab, **fields) -> str:
    return run_id_of(client.post(f"/labs/{lab.id}/resilience/start", form(**fields)), lab)


def preset(client: Client, lab: Lab, slug: str) -> str:
    return run_id_of(client.post(f"/labs/{lab.id}/resilience/preset", {"preset": slug}), lab)


def act(client: Client, lab: Lab, run_id: str, action: str, **fields):
    return client.post(f"{run_url(lab, run_id)}act", {"action": action, **fields})


def acted(client: Client, lab: Lab, run_id: str, action: str, **fields) -> str:
    """Act plainly; the run the redirect leads to."""
    return run_id_of(act(client, lab, run_id, action, **fields), lab)


def run_for(client: Client, lab: Lab, run_id: str, seconds: int) -> None:
    while seconds > 0:
        ms = min(seconds, 30) * 1000
        acted(client, lab, run_id, "run", ms=str(ms))
        seconds -= ms // 1000


def page_of(client: Client, lab: Lab, run_id: str, query: str = "") -> str:
    response = client.get(run_url(lab, run_id) + query)
    assert response.status_code == 200
    return response.content.decode()


def seconds_of(page: str) -> int:
    return int(re.search(r'<strong id="step-count">(\d+)</strong>', page).group(1))


def stream(lab: Lab, run_id: str) -> list[dict]:
    return [e.as_dict() for e in store.read_stream(lab.id, LOG.stream_name(run_id))]


def load(lab: Lab, run_id: str):
    return services.load(lab, run_id)


def attr(page: str, element_id: str, name: str) -> str:
    match = re.search(rf'<[^>]+ id="{re.escape(element_id)}"[^>]*>', page)
    assert match, element_id
    found = re.search(rf'\b{name}="([^"]*)"', match.group(0))
    assert found, (element_id, name, match.group(0))
    return found.group(1)


def element_text(page: str, element_id: str) -> str:
    match = re.search(rf'id="{re.escape(element_id)}"[^>]*>(.*?)</', page, re.S)
    assert match, element_id
    return html.unescape(match.group(1)).strip()


# --- The lab page ---------------------------------------------------------------------------------------------------


def test_the_lab_page_without_presets_says_how_to_load_them(client):
    lab = open_lab(client)

    page = text(client.get(f"/labs/{lab.id}/resilience/"))

    assert "No presets are loaded" in page and "loaddata resilience_presets" in page
    assert "No runs yet." in page
    assert parse(client.get(f"/labs/{lab.id}/resilience/")).one("link", "Resilience lab")["aria-current"] == "page"


def test_the_lab_page_lists_every_preset_in_order_with_its_description_and_button(client, presets):
    lab = open_lab(client)

    page = parse(client.get(f"/labs/{lab.id}/resilience/"))

    buttons = page.by_role("button", re.compile("^Run “"))
    assert [form_fields(b.form)["preset"] for b in buttons] == list(PRESETS)
    for p, button in zip(presets, buttons, strict=True):
        assert button.name == f"Run “{p.title}”"
        assert button.form.one("heading", p.title) and button.form.says(p.description)


def test_the_settings_form_shows_the_defaults(client):
    lab = open_lab(client)

    sent = form_fields(parse(client.get(f"/labs/{lab.id}/resilience/")).by_id("start-form"))  # as a browser posts it

    for name, value in (("rate_rps", "20"), ("timeout_ms", "1000"), ("payments_latency_ms", "50"),
                        ("orders_instances", "3"), ("breaker_window_size", "10"), ("breaker_wait_open_ms", "5000"),
                        ("bulkhead_max_concurrent", "10"), ("retry_base_ms", "100"), ("fault1_at_ms", "5000")):
        assert sent[name] == value, name
    assert "breaker" not in sent and "retry" not in sent  # their boxes are off by default
    assert sent["bulkhead_kind"] == "none"  # no bulkhead


def test_the_lab_page_lists_the_labs_runs_newest_first(client, presets):
    lab = open_lab(client)
    first = start(client, lab)
    second = preset(client, lab, "slow-dependency-shared-pool")

    response = client.get(f"/labs/{lab.id}/resilience/")

    links = re.findall(rf'<a href="/labs/{lab.id}/resilience/([0-9a-f]+)/">Run', response.content.decode())
    assert links == [second, first]
    seen = words(response)
    assert f"Run {second} · seed 1 · 20 req/s · shared semaphore bulkhead · 1 fault" in seen
    assert f"Run {first} · seed 1 · 20 req/s Every run" in seen


# --- Starting a run ---------------------------------------------------------------------------------------------------


def test_starting_from_the_form_with_every_pattern(client):
    lab = open_lab(client)
    before = store.head(lab.id)

    response = client.post(f"/labs/{lab.id}/resilience/start", form(
        seed="42", rate_rps="12.5", payments_failure_pct="30", inventory_latency_ms="120", orders_instances="4",
        breaker="on", breaker_window="time", breaker_window_size="5", breaker_max_wait_half_open_ms="4000",
        bulkhead_kind="threadpool", bulkhead_pools="shared", bulkhead_max_concurrent="6", bulkhead_queue_capacity="4",
        retry="on", retry_max_attempts="4", retry_jitter="full", retry_retry_when_open=None,
        fault1_kind="kill", fault1_service="orders", fault1_instance="2", fault1_at_ms="3000",
        fault2_kind="latency", fault2_service="payments", fault2_ms="900", fault2_at_ms="6000"))

    run_id = run_id_of(response, lab)
    assert response["Location"] == run_url(lab, run_id)
    assert store.head(lab.id) > before
    run = load(lab, run_id)
    s = run.settings
    assert (run.started["seed"], s.rate_rps, run.steps) == (42, 12.5, 0)
    assert s.services["payments"].failure_pct == 30 and s.services["inventory"].latency_ms == 120
    assert s.services["orders"].instances == 4 and len(run.sim.instances["orders"]) == 4
    assert (s.breaker.window, s.breaker.window_size, s.breaker.max_wait_half_open_ms) == ("time", 5, 4000)
    assert (s.bulkhead.kind, s.bulkhead_shared, s.bulkhead.max_concurrent, s.bulkhead.queue_capacity) == (
        "threadpool", True, 6, 4)
    assert (s.retry.max_attempts, s.retry.jitter, s.retry.retry_when_open) == (4, "full", False)
    assert run.faults == [{"kind": "kill", "service": "orders", "instance": 2, "at_ms": 3000},
                          {"kind": "latency", "service": "payments", "ms": 900, "at_ms": 6000}]
    page = client.get(response["Location"])
    seen = words(page)
    assert "Resilience run seed 42" in seen
    assert "12.5 requests/s · breakers on (time window of 5) · one shared thread-pool bulkhead of 6 · " \
           "up to 4 attempts (exponential, full jitter) · timeout 1000 ms." in seen
    assert "kill orders #2 at 3000 ms" in seen and "latency payments 900 ms at 6000 ms" in seen
    assert seconds_of(page.content.decode()) == 0


def test_the_default_form_starts_a_run_without_patterns(client):
    lab = open_lab(client)

    run = load(lab, start(client, lab))

    assert (run.settings.breaker, run.settings.bulkhead, run.settings.retry, run.faults) == (None, None, None, [])
    assert run.settings.rate_rps == 20


def test_a_blank_number_keeps_its_default(client):
    lab = open_lab(client)

    run = load(lab, start(client, lab, rate_rps="", timeout_ms=" ", payments_latency_ms=""))

    assert (run.settings.rate_rps, run.settings.timeout_ms, run.settings.services["payments"].latency_ms) == (
        20, 1000, 50)


def test_a_preset_button_starts_a_run_from_the_preset_and_the_page_shows_its_description(client, presets):
    lab = open_lab(client)
    p = Preset.objects.get(pk="retry-storm")

    response = client.post(f"/labs/{lab.id}/resilience/preset", {"preset": "retry-storm"})

    run_id = run_id_of(response, lab)
    assert response["Location"] == f"{run_url(lab, run_id)}?preset=retry-storm"
    run = load(lab, run_id)
    assert run.settings.retry.max_attempts == 5 and run.settings.rate_rps == 30
    assert run.faults == p.start["faults"]
    [intro] = parse(client.get(response["Location"])).by_class("preset-intro")
    assert intro.one("heading", p.title) and intro.says(p.description)
    assert parse(client.get(run_url(lab, run_id))).by_class("preset-intro") == []
    assert "preset-intro" not in text(client.get(f"{run_url(lab, run_id)}?preset=nope"))


def test_each_preset_button_starts_a_new_run(client, presets):
    lab = open_lab(client)

    ids = {preset(client, lab, slug) for slug in PRESETS}

    assert len(ids) == len(PRESETS)
    assert {e.data["run_id"] for e in LOG.runs(store, lab.id)} == ids


def test_start_and_preset_need_a_post(client, presets):
    lab = open_lab(client)

    assert client.get(f"/labs/{lab.id}/resilience/start").status_code == 405
    assert client.get(f"/labs/{lab.id}/resilience/preset?preset=retry-storm").status_code == 405
    assert client.post(f"/labs/{lab.id}/resilience/").status_code == 405
    assert store.head(lab.id) == 0


def test_a_preset_the_lab_cannot_start_is_a_422_not_a_500():
    Preset.objects.create(slug="broken", title="Broken", start={"settings": {"rate_rps": 1000}})
    client = Client(raise_request_exception=False)
    lab = open_lab(client)

    response = client.post(f"/labs/{lab.id}/resilience/preset", {"preset": "broken"})

    assert_422(response, "The preset 'Broken' cannot start: rate_rps (requests per second) must be a number from 0 "
                         "to 100.")
    assert store.head(lab.id) == 0


# --- Bad settings: plain words, 422, nothing appended --------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        pytest.param({"rate_rps": "lots"}, "rate_rps (requests per second) must be a number from 0 to 100.",
                     id="rate-word"),
        pytest.param({"rate_rps": "1000"}, "rate_rps (requests per second) must be a number from 0 to 100.",
                     id="rate-too-high"),
        pytest.param({"rate_rps": "-1"}, "rate_rps (requests per second) must be a number from 0 to 100.",
                     id="rate-negative"),
        pytest.param({"seed": "abc"}, "The seed must be a whole number", id="seed-word"),
        pytest.param({"payments_failure_pct": "150"}, "services.payments.failure_pct must be a number from 0 to 100.",
                     id="failure-over-100"),
        pytest.param({"orders_instances": "0"}, "services.orders.instances must be a whole number from 1 to 10.",
                     id="no-instances"),
        pytest.param({"orders_instances": "2.5"}, "services.orders.instances must be a whole number from 1 to 10.",
                     id="half-an-instance"),
        pytest.param({"timeout_ms": "0"}, "timeout_ms must be a whole number from 1 to 60,000.", id="timeout-0"),
        pytest.param({"mix_orders": "0", "mix_payments": "0", "mix_inventory": "0", "mix_checkout": "0"},
                     "mix must send some traffic to at least one path.", id="no-mix"),
        pytest.param({"breaker": "on", "breaker_window": "sideways"}, "breaker.window must be one of: count, time.",
                     id="breaker-window"),
        pytest.param({"breaker": "on", "breaker_failure_rate_threshold": "0"},
                     "breaker.failure_rate_threshold must be a number from 1 to 100.", id="breaker-threshold"),
        pytest.param({"breaker": "on", "breaker_half_open_calls": "0"},
                     "breaker.half_open_calls must be a whole number from 1 to 100.", id="breaker-half-open-calls"),
        pytest.param({"breaker": "on", "breaker_wait_open_multiplier": "0.5"},
                     "breaker.wait_open_multiplier must be a number from 1 to 10.", id="breaker-open-multiplier"),
        pytest.param({"breaker": "on", "breaker_wait_open_cap_ms": "soon"},
                     "breaker.wait_open_cap_ms must be a whole number from 0 to 3,600,000.", id="breaker-open-cap"),
        pytest.param({"breaker": "on", "breaker_mode": "sideways"},
                     "breaker.mode must be one of: normal, disabled, forced_open, metrics_only.", id="breaker-mode"),
        pytest.param({"retry": "on", "retry_randomization_factor": "2"},
                     "retry.randomization_factor must be a number from 0 to 1.", id="retry-randomization"),
        pytest.param({"bulkhead_kind": "bogus"}, "bulkhead.kind must be one of: semaphore, threadpool.",
                     id="bulkhead-kind"),
        pytest.param({"bulkhead_kind": "semaphore", "bulkhead_max_concurrent": "0"},
                     "bulkhead.max_concurrent must be a whole number from 1 to 1,000.", id="bulkhead-size"),
        pytest.param({"retry": "on", "retry_max_attempts": "11"},
                     "retry.max_attempts must be a whole number from 1 to 10.", id="retry-attempts"),
        pytest.param({"retry": "on", "retry_jitter": "lots"}, "retry.jitter must be one of: none, randomized, full, equal, decorrelated.",
                     id="retry-jitter"),
        pytest.param({"fault1_kind": "meteor"}, "Unknown fault kind 'meteor'.", id="fault-kind"),
        pytest.param({"fault1_kind": "kill", "fault1_service": "orders", "fault1_instance": "9"},
                     "instance must be a whole number from 1 to 3.", id="kill-no-such-instance"),
        pytest.param({"fault1_kind": "failure_rate", "fault1_service": "bakery"},
                     "The service must be one of: orders, payments, inventory.", id="fault-service"),
        pytest.param({"fault1_kind": "latency", "fault1_at_ms": "-5"}, "at_ms must be a whole number from 0",
                     id="fault-in-the-past"),
    ],
)
def test_bad_settings_are_a_422_in_plain_words_that_appends_nothing(client, fields, message):
    lab = open_lab(client)

    response = client.post(f"/labs/{lab.id}/resilience/start", form(**fields))

    assert_422(response, message)
    page = parse(response)
    refusal = page.by_id("start-error")
    assert refusal.role == "alert" and refusal.one("heading", "Not started") and refusal.says(message)
    assert page.by_id("start-form") is not None  # the whole lab page again, the form kept
    assert store.head(lab.id) == 0
    assert LOG.runs(store, lab.id) == []


def test_the_refused_form_keeps_what_was_typed(client):
    lab = open_lab(client)

    response = client.post(f"/labs/{lab.id}/resilience/start", form(
        rate_rps="500", seed="77", payments_latency_ms="700", breaker="on", breaker_wait_open_ms="2500",
        bulkhead_kind="threadpool", bulkhead_pools="shared", retry=None, fault1_kind="kill", fault1_instance="2"))

    assert response.status_code == 422
    kept = form_fields(parse(response).by_id("start-form"))  # what posting the form again would send
    for name, value in (("rate_rps", "500"), ("seed", "77"), ("payments_latency_ms", "700"),
                        ("breaker_wait_open_ms", "2500"), ("fault1_instance", "2"), ("breaker", "on"),
                        ("bulkhead_kind", "threadpool"), ("bulkhead_pools", "shared"), ("fault1_kind", "kill")):
        assert kept[name] == value, name
    assert "retry" not in kept


def test_html_typed_into_the_form_is_escaped_on_the_refused_page(client):
    lab = open_lab(client)

    response = client.post(f"/labs/{lab.id}/resilience/start", form(rate_rps=XSS, breaker="on",
                                                                     breaker_window=XSS))

    assert response.status_code == 422
    page = response.content.decode()
    assert "<script>alert" not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(" in page


# --- The run page's buttons -----------------------------------------------------------------------------------------


def test_step_lets_one_second_pass_and_redirects_back_to_the_run(client):
    lab = open_lab(client)
    run_id = start(client, lab)

    response = act(client, lab, run_id, "step")

    assert response.status_code == 302 and response["Location"] == run_url(lab, run_id)
    page = page_of(client, lab, run_id)
    assert seconds_of(page) == 1
    assert "virtual time 1000 ms" in page
    assert 'id="back" href="?at=0"' in page
    run = load(lab, run_id)
    assert run.steps == 1 and run.sim.ticks[0]["requests"] > 0


@pytest.mark.parametrize(("ms", "seconds"), [("10000", 10), ("30000", 30)])
def test_run_lets_10_or_30_seconds_pass(client, ms, seconds):
    lab = open_lab(client)
    run_id = start(client, lab)

    acted(client, lab, run_id, "run", ms=ms)

    assert load(lab, run_id).steps == seconds
    page = page_of(client, lab, run_id)
    assert seconds_of(page) == seconds
    for name, ms in (("Run 10 s", "10000"), ("Run 30 s", "30000")):
        assert form_fields(parse(page).one("button", name).form)["ms"] == ms


def test_a_run_at_its_end_refuses_to_step(client):
    lab = open_lab(client)
    run_id = start(client, lab, rate_rps="1")
    for _ in range(3):
        act(client, lab, run_id, "run", ms="120000")
    before = store.head(lab.id)
    assert load(lab, run_id).steps == 300

    assert_422(act(client, lab, run_id, "step"), "A run lasts at most 300 virtual seconds: reset to start again.")
    assert_422(act(client, lab, run_id, "run", ms="10000"), "A run lasts at most 300 virtual seconds")

    assert store.head(lab.id) == before
    page = page_of(client, lab, run_id)
    assert "Done: The run has reached 300 virtual seconds." in words(page)
    found = parse(page)
    assert "disabled" in found.one("button", "Step 1 s") and "disabled" in found.one("button", "Run 10 s")
    assert "disabled" not in found.one("button", "Reset (a new run)")


def test_changing_settings_mid_run_acts_from_then_on(client):
    lab = open_lab(client)
    run_id = start(client, lab)
    acted(client, lab, run_id, "run", ms="10000")
    page = page_of(client, lab, run_id)
    assert re.search(r'id="settings-form"', page)
    assert 'name="orders_instances"' not in page  # instance counts are fixed for the run

    acted(client, lab, run_id, "settings", **{k: v for k, v in form(
        rate_rps="40", payments_failure_pct="100", breaker="on", breaker_wait_open_ms="2000",
        retry="on", retry_max_attempts="2").items() if not k.startswith(("fault", "seed"))})
    acted(client, lab, run_id, "run", ms="10000")

    run = load(lab, run_id)
    assert run.settings.rate_rps == 40
    assert run.settings.services["payments"].failure_pct == 100
    assert run.settings.breaker.wait_open_ms == 2000 and run.settings.retry.max_attempts == 2
    assert run.breakers()["payments"]["transitions"][0]["to"] == "OPEN"
    assert all(t["at_ms"] >= 10_000 for t in run.breakers()["payments"]["transitions"])
    assert run.sim.ticks[-1]["requests"] > run.sim.ticks[5]["requests"]
    page = page_of(client, lab, run_id)
    settings = form_fields(parse(page).one("button", "Apply from now on").form)  # the form shows the settings now
    assert settings["rate_rps"] == "40" and settings["breaker"] == "on"


def test_a_partial_settings_form_changes_only_what_it_sends(client):
    lab = open_lab(client)
    run_id = start(client, lab, breaker="on", retry="on")

    acted(client, lab, run_id, "settings", payments_latency_ms="300")

    run = load(lab, run_id)
    assert run.settings.services["payments"].latency_ms == 300
    assert run.settings.breaker is not None and run.settings.retry is not None  # not sent: kept


def test_a_fault_scheduled_from_the_run_page_acts_at_its_time(client):
    lab = open_lab(client)
    run_id = start(client, lab)
    acted(client, lab, run_id, "step")
    page = page_of(client, lab, run_id)
    assert re.search(r'name="at_ms"[^>]* value="2000"', page)  # the next second, by default

    acted(client, lab, run_id, "faults", kind="failure_rate", service="inventory", pct="100", ms="2000",
          instance="1", at_ms="3000")
    acted(client, lab, run_id, "run", ms="10000")

    run = load(lab, run_id)
    assert run.faults[-1] == {"kind": "failure_rate", "service": "inventory", "pct": 100, "at_ms": 3000}
    assert run.settings.services["inventory"].failure_pct == 100
    page = page_of(client, lab, run_id)
    assert "failure_rate inventory 100% at 3000 ms" in words(page)
    assert "inventory's failure rate" not in words(page)


def test_kill_and_restart_buttons_per_instance(client):
    lab = open_lab(client)
    run_id = start(client, lab)
    acted(client, lab, run_id, "step")
    page = page_of(client, lab, run_id)
    for n in (1, 2, 3):
        assert parse(page).one("button", f"Kill payments-{n}").text == "Kill"

    acted(client, lab, run_id, "kill", service="payments", instance="2")

    page = page_of(client, lab, run_id)
    assert attr(page, "inst-payments-2", "data-status") == "down-listed"
    assert attr(page, "reg-payments-2", "data-status") == "down-listed"
    assert 'id="restart-payments-2" aria-label="Restart payments-2">Restart</button>' in page
    assert "payments-2 was killed" in words(page)
    acted(client, lab, run_id, "run", ms="10000")
    page = page_of(client, lab, run_id)
    assert attr(page, "inst-payments-2", "data-status") == "evicted"
    assert re.search(r'<tr id="reg-payments-2" class="reg-evicted" data-status="evicted">.*?<strong>evicted</strong>',
                     page, re.S)

    acted(client, lab, run_id, "restart", service="payments", instance="2")

    page = page_of(client, lab, run_id)
    assert attr(page, "inst-payments-2", "data-status") == "up"
    assert re.findall(r'<ul class="happenings".*?</ul>', page, re.S) == [
        '<ul class="happenings" id="happenings" aria-label="What changed in second 11"><li>payments-2 restarted</li>'
        '<li>payments-2 registered again</li></ul>']


def test_reset_starts_a_new_run_with_the_same_start(client, presets):
    lab = open_lab(client)
    run_id = preset(client, lab, "breaker-trips-and-recovers")
    acted(client, lab, run_id, "run", ms="10000")
    acted(client, lab, run_id, "settings", rate_rps="5")
    before = stream(lab, run_id)

    new_id = acted(client, lab, run_id, "reset")

    assert new_id != run_id
    old, new = load(lab, run_id), load(lab, new_id)
    assert new.steps == 0
    assert new.started["seed"] == old.started["seed"] and new.started["faults"] == old.started["faults"]
    assert new.settings.rate_rps == 20  # the start's settings, not the changed ones
    assert "forked_from" not in new.started
    assert stream(lab, run_id) == before


def test_reset_of_a_what_if_run_is_a_plain_new_run(client):
    lab = open_lab(client)
    run_id = start(client, lab)
    acted(client, lab, run_id, "run", ms="10000")
    fork_id = acted(client, lab, run_id, "step", at="3")

    new_id = acted(client, lab, fork_id, "reset")

    assert new_id not in (run_id, fork_id)
    new = load(lab, new_id)
    assert new.steps == 0 and "forked_from" not in new.started and "fork_step" not in new.started


@pytest.mark.parametrize(
    ("action", "fields", "message"),
    [
        pytest.param("explode", {}, "Unknown action 'explode'.", id="unknown-action"),
        pytest.param("", {}, "Unknown action ''.", id="no-action"),
        pytest.param("run", {"ms": "lots"}, "ms must be a whole number from 1,000 to 120,000.", id="run-ms-word"),
        pytest.param("run", {"ms": "500"}, "ms must be a whole number from 1,000 to 120,000.", id="run-ms-small"),
        pytest.param("step", {"predict": "maybe"}, "Unknown prediction 'maybe'.", id="unknown-prediction"),
        pytest.param("kill", {"service": "orders", "instance": "9"}, "instance must be a whole number from 1 to 3.",
                     id="kill-no-such-instance"),
        pytest.param("kill", {"service": "bakery", "instance": "1"},
                     "The service must be one of: orders, payments, inventory.", id="kill-unknown-service"),
        pytest.param("restart", {"service": "orders", "instance": "1"}, "orders-1 is already up.",
                     id="restart-an-up-instance"),
        pytest.param("settings", {"rate_rps": "1000"}, "rate_rps (requests per second) must be a number from 0 to 100.",
                     id="settings-rate"),
        pytest.param("settings", {"bulkhead_kind": "bogus"}, "bulkhead.kind must be one of: semaphore, threadpool.",
                     id="settings-bulkhead"),
        pytest.param("faults", {"kind": "meteor", "service": "orders"}, "Unknown fault kind 'meteor'.",
                     id="fault-kind"),
        pytest.param("faults", {"kind": "latency", "service": "orders", "ms": "0"},
                     "ms must be a whole number from 1 to 60,000.", id="fault-latency-0"),
        pytest.param("faults", {"kind": "kill", "service": "orders", "instance": "1", "at_ms": "1000"},
                     "at_ms must be a whole number from 2,000", id="fault-in-the-past"),
    ],
)
@pytest.mark.parametrize("htmx", [False, True], ids=["plain", "htmx"])
def test_an_action_the_run_cannot_take_is_a_422_that_appends_nothing(client, action, fields, message, htmx):
    lab = open_lab(client)
    run_id = start(client, lab)
    acted(client, lab, run_id, "step")
    acted(client, lab, run_id, "step")
    before, events = store.head(lab.id), stream(lab, run_id)

    response = client.post(f"{run_url(lab, run_id)}act", {"action": action, **fields}, **(HTMX if htmx else {}))

    assert_422(response, message)
    page = response.content.decode()
    refusal = parse(page).by_id("run-error")
    assert refusal.role == "alert" and refusal.one("heading", "Not done") and refusal.says(message)
    assert ("<html" in page) is not htmx
    assert seconds_of(page) == 2
    assert store.head(lab.id) == before
    assert stream(lab, run_id) == events


def test_killing_a_dead_instance_is_a_422(client):
    lab = open_lab(client)
    run_id = start(client, lab)
    acted(client, lab, run_id, "kill", service="orders", instance="1")

    assert_422(act(client, lab, run_id, "kill", service="orders", instance="1"), "orders-1 is already down.")


def test_act_needs_a_post(client):
    lab = open_lab(client)
    run_id = start(client, lab)

    assert client.get(f"{run_url(lab, run_id)}act?action=step").status_code == 405
    assert load(lab, run_id).steps == 0


# --- Looking back, and what-if runs ---------------------------------------------------------------------------------


def test_looking_back_shows_the_pinned_hint_and_that_second(client):
    lab = open_lab(client)
    run_id = start(client, lab)
    acted(client, lab, run_id, "run", ms="10000")

    page = page_of(client, lab, run_id, "?at=4")

    assert seconds_of(page) == 4
    found = parse(page)
    assert found.by_id("run-status").says("Second 4 of 10")
    assert found.says("You are looking back at second 4.")
    assert found.by_id("run")["data-at"] == "4"
    acts = [form_fields(f) for f in found.by_role("form") if f["action"].endswith("/act")]
    assert len(acts) >= 6 and all(f.get("at") == ("4" if f["action"] != "reset" else None) for f in acts)
    assert found.by_id("back")["href"] == "?at=3" and found.by_id("forward")["href"] == "?at=5"
    assert "virtual time 4000 ms" in page
    assert "over 4 seconds" in page  # the plots end there too


def test_looking_back_stops_inside_a_long_run(client, presets):
    lab = open_lab(client)
    run_id = preset(client, lab, "breaker-trips-and-recovers")
    acted(client, lab, run_id, "run", ms="30000")

    early, late = page_of(client, lab, run_id, "?at=5"), page_of(client, lab, run_id, "?at=8")

    assert attr(early, "breaker-payments", "data-state") == "CLOSED"
    assert attr(late, "breaker-payments", "data-state") == "OPEN"


@pytest.mark.parametrize("action", ["step", "run"])
def test_acting_on_an_earlier_second_forks_a_what_if_run_and_leaves_the_original(client, action):
    lab = open_lab(client)
    run_id = start(client, lab)
    acted(client, lab, run_id, "run", ms="10000")
    original = stream(lab, run_id)

    fork_id = acted(client, lab, run_id, action, at="4", ms="10000")

    assert fork_id != run_id
    assert stream(lab, run_id) == original
    fork = load(lab, fork_id)
    assert (fork.started["forked_from"], fork.started["fork_step"]) == (run_id, 4)
    assert fork.steps == (5 if action == "step" else 14)
    assert fork.sim.ticks[:4] == load(lab, run_id).sim.ticks[:4]  # the same first four seconds
    page = page_of(client, lab, fork_id)
    assert f"A what-if run forked from run {run_id} at second 4." in words(page)
    assert f"what-if from {run_id} at second 4" in words(client.get(f"/labs/{lab.id}/resilience/"))


def test_killing_an_instance_while_looking_back_forks_with_the_kill(client):
    lab = open_lab(client)
    run_id = start(client, lab)
    acted(client, lab, run_id, "run", ms="10000")

    fork_id = acted(client, lab, run_id, "kill", service="inventory", instance="3", at="2")

    assert fork_id != run_id
    assert all(i.alive for i in load(lab, run_id).sim.instances["inventory"])
    fork = load(lab, fork_id)
    assert fork.steps == 2 and not fork.sim.instances["inventory"][2].alive


def test_a_refused_action_while_looking_back_forks_nothing(client):
    lab = open_lab(client)
    run_id = start(client, lab)
    acted(client, lab, run_id, "run", ms="10000")
    before = store.head(lab.id)

    response = act(client, lab, run_id, "faults", kind="meteor", service="orders", at="3")

    assert_422(response, "Unknown fault kind 'meteor'.")
    assert "You are looking back at second 3." in words(response)
    assert seconds_of(response.content.decode()) == 3
    assert store.head(lab.id) == before
    assert len(LOG.runs(store, lab.id)) == 1


# --- Requests and their traces ----------------------------------------------------------------------------------------


def test_the_request_list_links_each_request_to_its_trace(client, presets):
    lab = open_lab(client)
    run_id = preset(client, lab, "retry-storm")
    acted(client, lab, run_id, "run", ms="10000")
    run = load(lab, run_id)
    page = page_of(client, lab, run_id)
    shown = re.findall(r'<a id="req-(\d+)" href="\?request=(\d+)"', page)
    assert shown and all(a == b for a, b in shown)
    assert [int(a) for a, _ in shown] == [r["id"] for r in run.requests()[:25]]

    retried = next(r for r in run.requests() if r["outcome"] != "in flight" and any(
        d[2].startswith("retry in") for d in r["decisions"]))
    page = page_of(client, lab, run_id, f"?request={retried['id']}")

    row = re.search(r'<tr class="outcome-[\w-]+" aria-current="true">.*?</tr>', page, re.S).group(0)
    assert f'id="req-{retried["id"]}"' in row
    seen = words(page)
    assert f"Trace waterfall request #{retried['id']}" in seen
    assert f"{retried['client']} → /{retried['path']} at {retried['arrived_ms']} ms" in seen
    assert "↻ backoff: retry in 100 ms" in seen
    assert "attempt 1 on payments-" in seen and "attempt 2 on payments-" in seen


def test_the_default_trace_is_the_newest_request_that_says_the_most(client, presets):
    lab = open_lab(client)
    run_id = preset(client, lab, "retry-storm")
    acted(client, lab, run_id, "run", ms="10000")
    run = load(lab, run_id)

    page = page_of(client, lab, run_id)

    newest_retried = next(r for r in run.requests() if r["outcome"] != "in flight" and any(
        d[2].startswith("retry in") for d in r["decisions"]))
    assert f"Trace waterfall request #{newest_retried['id']}" in words(page)


@pytest.mark.parametrize("wanted", ["1", "999999"])
def test_a_request_no_longer_kept_says_so(client, wanted):
    lab = open_lab(client)
    run_id = start(client, lab, rate_rps="50")
    acted(client, lab, run_id, "run", ms="10000")  # more than the 300 requests a run keeps

    page = page_of(client, lab, run_id, f"?request={wanted}")

    assert f"Request #{wanted} is not kept any more" in words(page)


@pytest.mark.parametrize("wanted", ["abc", "-1", "1" * 20, ""])
def test_a_request_that_is_not_a_number_shows_the_default_trace(client, wanted):
    lab = open_lab(client)
    run_id = start(client, lab)
    acted(client, lab, run_id, "step")

    page = page_of(client, lab, run_id, f"?request={wanted}")

    assert "is not kept any more" not in page
    assert "Trace waterfall request #" in words(page)


def test_a_pinned_view_keeps_its_second_when_picking_a_request(client):
    lab = open_lab(client)
    run_id = start(client, lab)
    acted(client, lab, run_id, "run", ms="10000")

    page = page_of(client, lab, run_id, "?at=3")

    link = re.search(r'<a id="req-(\d+)" href="([^"]+)"', page)
    assert link.group(2) == f"?request={link.group(1)}&amp;at=3"
    picked = page_of(client, lab, run_id, f"?request={link.group(1)}&at=3")
    assert seconds_of(picked) == 3 and f"Trace waterfall request #{link.group(1)}" in words(picked)


# --- Predict, then observe ------------------------------------------------------------------------------------------


def step_until_prompt(client, lab, run_id, limit=12) -> str:
    for _ in range(limit):
        page = page_of(client, lab, run_id)
        if "Predict, then observe" in page:
            return page
        acted(client, lab, run_id, "step")
    raise AssertionError("no prompt")


def test_the_page_asks_before_a_breaker_opens_and_confirms_a_right_guess(client, presets):
    lab = open_lab(client)
    run_id = preset(client, lab, "breaker-trips-and-recovers")

    page = step_until_prompt(client, lab, run_id)

    assert load(lab, run_id).steps == 5
    assert "in second 6 something in the system is about to change state" in words(page)
    assert 'id="step" class="primary"' not in page  # the plain Step gives way to the question
    assert "Skip the question and step" in page
    for key in ("nothing", "opens", "half_open", "closes", "evicted", "registered"):
        assert f'name="predict" value="{key}"' in page
    acted(client, lab, run_id, "step", predict="opens")
    after = page_of(client, lab, run_id)
    assert "You predicted it" in words(after)
    assert "What happened: A circuit breaker opens: calls to that service start failing fast." in words(after)
    assert load(lab, run_id).predictions[-1]["right"] is True


def test_a_wrong_guess_says_not_quite_and_the_verdict_belongs_to_that_second(client, presets):
    lab = open_lab(client)
    run_id = preset(client, lab, "instance-dies-under-load")
    step_until_prompt(client, lab, run_id)

    acted(client, lab, run_id, "step", predict="closes")

    page = page_of(client, lab, run_id)
    assert "Not quite" in words(page)
    assert "What happened: The registry removes a dead instance" in words(page)
    acted(client, lab, run_id, "step")
    assert 'id="prediction"' not in page_of(client, lab, run_id)


# --- What each preset shows -----------------------------------------------------------------------------------------


def test_the_breaker_opens_fails_fast_and_closes_again(client, presets):
    lab = open_lab(client)
    run_id = preset(client, lab, "breaker-trips-and-recovers")
    run_for(client, lab, run_id, 8)

    page = page_of(client, lab, run_id)
    assert attr(page, "breaker-payments", "data-state") == "OPEN"
    assert attr(page, "svc-payments", "data-breaker") == "OPEN"
    assert re.search(r'<g class="mstate ms-open current" data-state="OPEN">', page)
    assert re.search(r'<g class="medge last" data-edge="CLOSED → OPEN">', page)
    assert "Failing fast: no call reaches payments." in words(page)
    assert "CLOSED → OPEN — failure rate" in words(page)
    assert attr(page, "breaker-orders", "data-state") == "CLOSED"
    assert "Window: the last 10 calls — 10 calls" in words(page)

    run_for(client, lab, run_id, 22)

    page = page_of(client, lab, run_id)
    assert attr(page, "breaker-payments", "data-state") == "CLOSED"
    band = words(re.search(r'<li id="band-payments">.*?</li>', page).group(0))
    assert band.startswith("payments: CLOSED 1–5 s, OPEN 6–")
    assert "HALF_OPEN" in band and re.search(r", CLOSED \d+–30 s$", band), band
    assert "HALF_OPEN → CLOSED — the 3 test calls went well enough" in words(page)


def test_a_shared_pool_rejects_inventory_calls_and_isolated_pools_do_not(client, presets):
    lab = open_lab(client)
    shared = preset(client, lab, "slow-dependency-shared-pool")
    isolated = preset(client, lab, "slow-dependency-isolated-pools")
    run_for(client, lab, shared, 12)
    run_for(client, lab, isolated, 12)

    shared_page, isolated_page = page_of(client, lab, shared), page_of(client, lab, isolated)

    assert 'id="pool-shared"' in shared_page and 'id="pool-payments"' not in shared_page
    assert "One shared semaphore for orders, payments, inventory" in shared_page
    assert int(element_text(shared_page, "bulkhead-rejected-inventory")) > 0
    assert int(element_text(shared_page, "bulkhead-rejected-orders")) > 0
    assert int(attr(shared_page, "pool-shared", "data-rejected")) > 0
    assert {f'id="pool-{n}"' in isolated_page for n in ("orders", "payments", "inventory")} == {True}
    assert int(element_text(isolated_page, "bulkhead-rejected-inventory")) == 0
    assert int(element_text(isolated_page, "bulkhead-rejected-orders")) == 0
    assert int(element_text(isolated_page, "bulkhead-rejected-payments")) > 0
    assert int(attr(isolated_page, "pool-inventory", "data-rejected")) == 0
    assert "Pool usage: payments' own semaphore" in words(isolated_page)


def test_a_thread_pool_queues_calls_before_rejecting_them(client, presets):
    lab = open_lab(client)
    run_id = preset(client, lab, "slow-dependency-thread-pool")
    run_for(client, lab, run_id, 10)

    page = page_of(client, lab, run_id)

    assert "payments' own thread pool" in words(page)
    assert int(attr(page, "pool-payments", "data-waiting")) == 10
    assert "5 of 5 threads busy · 10 waiting in a queue of 10" in words(page)
    assert int(attr(page, "pool-payments", "data-rejected")) > 0
    assert page.count('<li class="cell waiting">') >= 10


def test_the_retry_storm_multiplies_the_load(client, presets):
    lab = open_lab(client)
    run_id = preset(client, lab, "retry-storm")
    acted(client, lab, run_id, "step")
    calm = float(element_text(page_of(client, lab, run_id), "load-factor"))
    run_for(client, lab, run_id, 20)

    page = page_of(client, lab, run_id)

    storm = float(element_text(page, "load-factor"))
    assert storm > calm + 0.2
    assert 'data-waits="100,200,400,800"' in page  # no jitter: 100, 200, 400, 800 ms
    assert "no jitter (this run): waits of 100, 200, 400, 800 ms (1500 ms in all)" in words(page)
    assert "full jitter: waits of" in words(page)
    assert float(element_text(page, "attempts-per-request")) > 1.3


def test_an_instance_dies_is_evicted_and_rejoins(client, presets):
    lab = open_lab(client)
    run_id = preset(client, lab, "instance-dies-under-load")
    run_for(client, lab, run_id, 6)

    page = page_of(client, lab, run_id)
    assert attr(page, "inst-orders-2", "data-status") == "down-listed"
    assert "DOWN, listed" in page
    run_for(client, lab, run_id, 3)
    page = page_of(client, lab, run_id)
    assert attr(page, "inst-orders-2", "data-status") == "evicted"
    assert re.search(r'<line class="cross"', page)
    assert re.search(r'<tr id="reg-orders-2" [^>]*>.*?<span class="missed">\d missed</span>', page, re.S)
    calls = load(lab, run_id).registry()["orders"][1]["calls"]
    run_for(client, lab, run_id, 10)
    assert load(lab, run_id).registry()["orders"][1]["calls"] == calls  # no traffic while evicted
    run_for(client, lab, run_id, 3)
    page = page_of(client, lab, run_id)
    assert attr(page, "inst-orders-2", "data-status") == "up"
    assert load(lab, run_id).registry()["orders"][1]["calls"] > calls


def test_a_breaker_stuck_half_open_is_explained_and_recovers(client, presets):
    lab = open_lab(client)
    run_id = preset(client, lab, "stuck-half-open")
    run_for(client, lab, run_id, 12)

    page = page_of(client, lab, run_id)
    assert attr(page, "breaker-payments", "data-state") == "HALF_OPEN"
    assert element_text(page, "permits-payments") == "3 of 3"
    assert page.count('<li class="cell pending">…</li>') >= 3
    stuck = words(re.search(r'<p class="stuck" id="stuck-payments".*?</p>', page, re.S).group(0))
    assert "Stuck in half-open: the breaker let its 3 test calls through" in stuck
    assert "maxWaitDurationInHalfOpenState" in stuck

    # Resilience4j's fix: a maximum wait in half-open sends it back to OPEN to try again.
    acted(client, lab, run_id, "settings", breaker_shown="1", breaker="on", breaker_max_wait_half_open_ms="5000",
          payments_failure_pct="0", payments_latency_ms="50")
    run_for(client, lab, run_id, 20)

    page = page_of(client, lab, run_id)
    assert 'id="stuck-payments"' not in page
    assert attr(page, "breaker-payments", "data-state") == "CLOSED"
    assert "HALF_OPEN → OPEN" in words(page)
    assert "HALF_OPEN → CLOSED" in words(page)


def test_every_svg_picture_has_a_title_and_a_description(client, presets):
    lab = open_lab(client)
    run_id = preset(client, lab, "retry-with-breaker")
    acted(client, lab, run_id, "run", ms="10000")
    acted(client, lab, run_id, "settings", bulkhead_kind="semaphore")
    acted(client, lab, run_id, "step")

    page = page_of(client, lab, run_id)

    pictures = re.findall(r'<svg [^>]*role="img"[^>]*>(.*?)</svg>', page, re.S)
    assert len(pictures) >= 10  # system, 3 breakers, retry, 3 plots, a pool plot, the breaker bands
    for picture in pictures:
        assert re.search(r"<title id=\"[^\"]+\">[^<]+</title>\s*<desc id=\"[^\"]+\">[^<]+</desc>", picture), picture[:300]
    for labelled in re.findall(r'<svg [^>]*role="img" aria-labelledby="([^"]+)"', page):
        for element_id in labelled.split():
            assert f'id="{element_id}"' in page
    ids = re.findall(r'\sid="([^"]+)"', page)
    assert len(ids) == len(set(ids)), {i for i in ids if ids.count(i) > 1}


# --- htmx: the #run partial, and the announcement out of band -------------------------------------------------------



def test_an_htmx_get_of_the_run_page_answers_the_run_partial(client):
    lab = open_lab(client)
    run_id = start(client, lab)
    acted(client, lab, run_id, "step")

    page = assert_run_partial(client.get(run_url(lab, run_id), **HTMX))

    assert seconds_of(page) == 1
    assert re.match(r"Second 1: \d+ requests, \d+ ok", parse(page).by_id("run-announce").text)


def test_an_htmx_get_with_another_target_gets_the_whole_page(client):
    lab = open_lab(client)
    run_id = start(client, lab)

    response = client.get(run_url(lab, run_id), HTTP_HX_REQUEST="true", HTTP_HX_TARGET="main")

    assert "<html" in response.content.decode()


def test_an_htmx_get_back_in_time_or_of_a_request_answers_the_partial(client):
    lab = open_lab(client)
    run_id = start(client, lab)
    acted(client, lab, run_id, "run", ms="10000")

    page = assert_run_partial(client.get(f"{run_url(lab, run_id)}?at=2", **HTMX))
    assert seconds_of(page) == 2 and "You are looking back at second 2." in words(page)
    request_id = load(lab, run_id).requests()[3]["id"]
    page = assert_run_partial(client.get(f"{run_url(lab, run_id)}?request={request_id}", **HTMX))
    assert f"Trace waterfall request #{request_id}" in words(page)


@pytest.mark.parametrize(("action", "fields"), [
    ("step", {}), ("run", {"ms": "10000"}), ("settings", {"rate_rps": "7"}),
    ("faults", {"kind": "latency", "service": "orders", "ms": "300"}),
    ("kill", {"service": "orders", "instance": "1"}),
])
def test_an_htmx_action_answers_the_run_partial_without_a_push_url(client, action, fields):
    lab = open_lab(client)
    run_id = start(client, lab)

    response = client.post(f"{run_url(lab, run_id)}act", {"action": action, **fields}, **HTMX)

    assert response.status_code == 200
    page = assert_run_partial(response)
    assert "HX-Push-Url" not in response
    run = load(lab, run_id)
    assert f'data-run="{run_id}"' in page and f'data-version="{run.version}"' in page
    assert seconds_of(page) == run.steps


def test_an_htmx_fork_answers_the_new_runs_partial_and_pushes_its_url(client):
    lab = open_lab(client)
    run_id = start(client, lab)
    acted(client, lab, run_id, "run", ms="10000")
    original = stream(lab, run_id)

    response = client.post(f"{run_url(lab, run_id)}act", {"action": "step", "at": "2"}, **HTMX)

    page = assert_run_partial(response)
    fork_id = re.search(r'data-run="([0-9a-f]+)"', page).group(1)
    assert fork_id != run_id
    assert response["HX-Push-Url"] == run_url(lab, fork_id)
    assert seconds_of(page) == 3 and 'data-at=""' in page
    assert stream(lab, run_id) == original


def test_an_htmx_reset_pushes_the_new_runs_url(client):
    lab = open_lab(client)
    run_id = start(client, lab)
    acted(client, lab, run_id, "step")

    response = client.post(f"{run_url(lab, run_id)}act", {"action": "reset"}, **HTMX)

    page = assert_run_partial(response)
    new_id = re.search(r'data-run="([0-9a-f]+)"', page).group(1)
    assert new_id != run_id and response["HX-Push-Url"] == run_url(lab, new_id)
    assert seconds_of(page) == 0


# --- Who may see what -----------------------------------------------------------------------------------------------


def test_new_lab_from_the_resilience_lab_comes_back_to_it(client):
    open_lab(client)

    response = client.post("/labs/new", {"scenario": "", "page": "resilience"})

    assert re.fullmatch(r"/labs/[0-9a-f]+/resilience/", response["Location"])


# --- Escaping -------------------------------------------------------------------------------------------------------


def test_html_in_refused_inputs_is_escaped_on_the_run_page(client):
    lab = open_lab(client)
    run_id = start(client, lab)

    for fields in ({"action": XSS}, {"action": "step", "predict": XSS}, {"action": "faults", "kind": XSS},
                   {"action": "kill", "service": XSS, "instance": "1"}):
        for extra in ({}, HTMX):
            response = client.post(f"{run_url(lab, run_id)}act", fields, **extra)
            assert response.status_code == 422
            page = response.content.decode()
            assert "<script>alert" not in page and "<img src=x" not in page, fields


def test_html_in_a_preset_is_escaped(client):
    Preset.objects.create(slug="xss", title=XSS, description=XSS, start={"settings": {"rate_rps": 5}})
    lab = open_lab(client)

    lab_page = client.get(f"/labs/{lab.id}/resilience/").content.decode()
    run_page = client.get(client.post(f"/labs/{lab.id}/resilience/preset", {"preset": "xss"})["Location"])

    for page in (lab_page, run_page.content.decode()):
        assert "<script>alert" not in page and "<img src=x" not in page
        assert "&lt;script&gt;alert(" in page


# --- Without JavaScript ---------------------------------------------------------------------------------------------


def test_the_lab_pages_start_form_as_filled_in_starts_the_default_run(client, presets):
    lab = open_lab(client)

    found = assert_works_without_javascript(client.get(f"/labs/{lab.id}/resilience/").content.decode())

    start_form = next(f for f in found.forms if f.get("id") == "start-form")
    assert start_form["fields"]["bulkhead_kind"] == "none" and start_form["fields"]["fault1_kind"] == ""
    run = load(lab, run_id_of(post_plainly(client, start_form), lab))
    assert run.settings.rate_rps == 20 and run.settings.breaker is None and run.faults == []
    # With the breaker ticked, as a learner would.
    run = load(lab, run_id_of(post_plainly(client, start_form, breaker="on"), lab))
    assert run.settings.breaker.window_size == 10


def test_every_state_of_the_run_page_works_without_javascript(client, presets):
    lab = open_lab(client)
    fresh = start(client, lab)
    predicting = preset(client, lab, "breaker-trips-and-recovers")
    for _ in range(5):
        acted(client, lab, predicting, "step")
    busy = preset(client, lab, "retry-with-breaker")
    acted(client, lab, busy, "run", ms="10000")
    acted(client, lab, busy, "kill", service="orders", instance="1")
    pages = {"fresh": run_url(lab, fresh), "predicting": run_url(lab, predicting), "busy": run_url(lab, busy),
             "pinned": f"{run_url(lab, busy)}?at=3"}

    seen = set()
    for name, url in pages.items():
        found = assert_works_without_javascript(page_of(client, lab, url.split("/")[-2].split("?")[0],
                                                        "?" + url.split("?")[1] if "?" in url else ""))
        for f in found.forms:
            if f["action"].endswith("/act"):
                assert f["method"] == "post", (name, f)
                seen.add(f["fields"]["action"])
    assert seen == {"step", "run", "settings", "faults", "kill", "restart", "reset"}


def test_the_run_pages_forms_do_what_they_say_when_posted_plainly(client):
    lab = open_lab(client)
    run_id = start(client, lab)
    acted(client, lab, run_id, "run", ms="10000")
    page = controls(page_of(client, lab, run_id))

    # The settings form, as the page fills it in, changes nothing…
    settings = next(f for f in page.forms if f.get("id") == "settings-form")
    before = load(lab, run_id).settings
    assert run_id_of(post_plainly(client, settings), lab) == run_id
    assert load(lab, run_id).settings == before
    # …and with one number changed, changes just that.
    post_plainly(client, settings, payments_failure_pct="40")
    assert load(lab, run_id).settings.services["payments"].failure_pct == 40
    assert load(lab, run_id).settings.rate_rps == before.rate_rps
    # Schedule a fault on a pinned view: a what-if run with it.
    pinned = controls(page_of(client, lab, run_id, "?at=4"))
    inject = next(f for f in pinned.forms if f.get("id") == "inject-form")
    fork_id = run_id_of(post_plainly(client, inject, kind="kill", service="orders", instance="3"), lab)
    assert fork_id != run_id
    fork = load(lab, fork_id)
    assert fork.faults[-1] == {"kind": "kill", "service": "orders", "instance": 3, "at_ms": 5000}
    # Run 30 s on the fork.
    fork_page = controls(page_of(client, lab, fork_id))
    run30 = next(f for f in fork_page.forms if f["fields"].get("ms") == "30000")
    post_plainly(client, run30)
    assert load(lab, fork_id).steps == 34


# --- The preset fixture -----------------------------------------------------------------------------------------------


def test_loading_the_presets_twice_is_harmless_and_writes_no_events():
    from eventlab.eventstore.models import StoredEvent

    events, labs = StoredEvent.objects.count(), Lab.objects.count()
    call_command("loaddata", "resilience_presets", verbosity=0)
    first = list(Preset.objects.values_list("slug", "title", "description", "position", "start"))
    call_command("loaddata", "resilience_presets", verbosity=0)

    assert list(Preset.objects.values_list("slug", "title", "description", "position", "start")) == first
    assert [slug for slug, *_ in first] == list(PRESETS)
    assert StoredEvent.objects.count() == events and Lab.objects.count() == labs


def test_the_breaker_form_sets_which_failures_count_its_mode_and_a_growing_open_wait_and_shows_them(client):
    """The settings Resilience4j names — recordExceptions / ignoreExceptions (CircuitBreakerConfig), the
    waitIntervalFunctionInOpenState (an IntervalFunction.ofExponentialBackoff), transitionToForcedOpenState
    (CircuitBreakerStateMachine) — taken from the form, stored, and drawn on the run page."""
    lab = open_lab(client)
    run_id = start(client, lab, breaker="on", breaker_kinds_shown="1", breaker_record_error="on",
                   breaker_record_refused="on", breaker_ignore_timeout="on", breaker_wait_open_multiplier="1.5",
                   breaker_wait_open_cap_ms="20000", breaker_mode="forced_open",
                   retry="on", retry_jitter="decorrelated", retry_randomization_factor="0.25")

    breaker = load(lab, run_id).settings.breaker
    assert (breaker.record, breaker.ignore, breaker.wait_open_multiplier, breaker.wait_open_cap_ms, breaker.mode) == (
        ("error", "refused"), ("timeout",), 1.5, 20_000, "forced_open")
    acted(client, lab, run_id, "step")
    page = page_of(client, lab, run_id)
    assert attr(page, "breaker-payments", "data-state") == "FORCED_OPEN"
    assert "FORCED_OPEN (set by hand): every call is refused" in element_text(page, "special-payments")
    said = words(page)
    assert ("Counts as failures: errors, refused connections; as successes: bulkhead rejections, calls finding no "
            "instance; not at all (ignored): timeouts.") in said
    for kind in ("none", "randomized", "full", "equal", "decorrelated"):  # the jitters side by side
        assert f'data-jitter="{kind}"' in page
    assert "▶ decorrelated jitter (this run)" in said and "randomized ±25%" in said
    # The form shows what the run uses.
    assert re.search(r'name="breaker_ignore_timeout" value="on" aria-label="ignore a timeout" checked', page)
    assert not re.search(r'name="breaker_ignore_error" value="on" aria-label="ignore an error answer" checked', page)
    assert re.search(r'<option value="forced_open" selected>', page)
    assert re.search(r'name="breaker_wait_open_multiplier"[^>]* value="1.5"', page)
