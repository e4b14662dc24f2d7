"""The resilience lab in a real browser: every preset shows what its description promises (a breaker opening and
closing, a shared pool starving inventory while isolated pools do not, a thread pool's queue, a retry storm's load,
retries meeting an open breaker, an instance evicted and rejoining, a breaker stuck half-open and its fix), time
travel and what-if runs, the run live in a second browser, predictions, a request's trace, the keyboard, bad
settings, and axe on the lab page and run pages."""

import re

import pytest
from playwright.sync_api import expect

from .conftest import serious

pytestmark = pytest.mark.e2e

RUN_URL = re.compile(r"/labs/\w+/resilience/(\w+)/")


def seconds(page) -> int:
    return int(page.inner_text("#step-count"))


def run_id(page) -> str:
    return page.get_attribute("#run", "data-run")


def live(page):
    expect(page.locator("#live-status")).to_have_attribute("data-state", "live")
    return page


def open_preset(page, server, slug):
    """From the resilience lab (reached as a learner does, through /labs/resilience/), run a preset; wait until
    live."""
    page.goto(server + "/labs/resilience/")
    page.click(f"#preset-{slug}")
    page.wait_for_url(re.compile(rf"/resilience/\w+/\?preset={slug}$"))
    return live(page)


def press(page, button: str, to: int) -> None:
    page.click(button)
    expect(page.locator("#step-count")).to_have_text(str(to))


def step(page, times=1):
    """Press Step (or, when a prediction is asked, "Skip the question and step"); wait for each second to show."""
    for _ in range(times):
        press(page, "#step", seconds(page) + 1)


def run_for(page, total: int) -> None:
    """Run 30 s and 10 s, then step, until `total` more seconds have passed."""
    target = seconds(page) + total
    while seconds(page) < target:
        left = target - seconds(page)
        if left >= 30:
            press(page, "#run-30", seconds(page) + 30)
        elif left >= 10:
            press(page, "#run-10", seconds(page) + 10)
        else:
            step(page)


def number(page, selector: str) -> float:
    return float(page.inner_text(selector).replace(",", ""))


@pytest.fixture
def res_page(server, new_page):
    """A learner's browser on the resilience lab page of its own lab."""
    page = new_page()
    page.goto(server + "/labs/resilience/")
    expect(page.locator("h1")).to_contain_text("Resilience lab")
    return page


# --- Every preset shows what its description promises ------------------------------------------------------------


def test_the_breaker_trips_fails_fast_and_recovers(server, new_page):
    page = open_preset(new_page(), server, "breaker-trips-and-recovers")
    expect(page.locator(".preset-intro")).to_contain_text("payments starts failing 80% of its calls")
    breaker = page.locator("#breaker-payments")
    expect(breaker).to_have_attribute("data-state", "CLOSED")
    step(page, 2)
    expect(breaker.locator("ol.cells li.ok").first).to_be_visible()  # the window fills
    run_for(page, 8)
    expect(breaker).to_have_attribute("data-state", "OPEN")
    expect(page.locator("#breaker-state-payments")).to_have_text("OPEN")
    expect(breaker.locator("g.mstate.current")).to_have_attribute("data-state", "OPEN")
    expect(breaker.locator("g.medge.last")).to_have_attribute("data-edge", "CLOSED → OPEN")
    expect(breaker).to_contain_text("Failing fast: no call reaches payments.")
    expect(breaker.locator("ol.transitions")).to_contain_text("CLOSED → OPEN — failure rate")
    expect(page.locator("#svc-payments")).to_have_attribute("data-breaker", "OPEN")
    expect(page.locator("#breaker-orders")).to_have_attribute("data-state", "CLOSED")
    # Calls while OPEN fail fast, and the request list says so.
    expect(page.locator("#request-list")).to_contain_text("breaker open: failed fast")
    run_for(page, 20)
    expect(breaker).to_have_attribute("data-state", "CLOSED")
    expect(breaker.locator("ol.transitions")).to_contain_text("HALF_OPEN → CLOSED — the 3 test calls went well enough")
    expect(breaker.locator("ol.transitions")).to_contain_text("HALF_OPEN → OPEN")  # tried while still failing
    expect(page.locator("#band-payments")).to_contain_text("OPEN 6–")
    expect(page.locator("#band-payments")).to_contain_text(re.compile(r"CLOSED \d+–30 s$"))
    assert page.dialogs == []


def test_a_shared_pool_starves_inventory_and_isolated_pools_do_not(server, new_page):
    shared = open_preset(new_page(), server, "slow-dependency-shared-pool")
    run_for(shared, 10)
    expect(shared.locator("#pool-shared h3")).to_contain_text("One shared semaphore for orders, payments, inventory")
    expect(shared.locator("#pool-shared")).to_contain_text("FULL")
    assert number(shared, "#bulkhead-rejected-inventory") > 0
    assert number(shared, "#bulkhead-rejected-orders") > 0
    assert number(shared, "#rejected-shared") > 0

    isolated = open_preset(new_page(), server, "slow-dependency-isolated-pools")
    run_for(isolated, 10)
    expect(isolated.locator("#pool-shared")).to_have_count(0)
    for name in ("orders", "payments", "inventory"):
        expect(isolated.locator(f"#pool-{name}")).to_be_visible()
    assert number(isolated, "#bulkhead-rejected-inventory") == 0
    assert number(isolated, "#bulkhead-rejected-orders") == 0
    assert number(isolated, "#bulkhead-rejected-payments") > 0
    expect(isolated.locator("#rejected-inventory")).to_have_text("0")
    expect(isolated.locator("#chart-pool-payments")).to_be_visible()


def test_a_thread_pool_bulkhead_queues_until_the_queue_is_full(server, new_page):
    page = open_preset(new_page(), server, "slow-dependency-thread-pool")
    run_for(page, 10)
    pool = page.locator("#pool-payments")
    expect(pool).to_contain_text("5 of 5 threads busy · 10 waiting in a queue of 10")
    expect(pool.locator("ol.queue li.waiting")).to_have_count(10)
    assert int(pool.get_attribute("data-rejected")) > 0
    expect(page.locator("#pool-inventory")).to_have_attribute("data-rejected", "0")


def test_the_retry_storm_multiplies_the_load(server, new_page):
    page = open_preset(new_page(), server, "retry-storm")
    timeline = page.locator("#retry-timeline")
    expect(timeline.locator("g.retry-row").first).to_have_attribute("data-waits", "100,200,400,800")
    expect(page.locator("#retry-panel")).to_contain_text("no jitter (this run): waits of 100, 200, 400, 800 ms")
    expect(page.locator("#retry-panel")).to_contain_text("full jitter: waits of")
    step(page)
    calm = number(page, "#load-factor")
    run_for(page, 20)
    stormy = number(page, "#load-factor")
    assert stormy > calm + 0.2, (calm, stormy)
    assert number(page, "#attempts-per-request") > 1.3
    expect(page.locator("#chart-traffic g.series[data-series=retries] polyline")).to_be_attached()


def test_retries_meet_an_open_breaker_and_fail_fast(server, new_page):
    page = open_preset(new_page(), server, "retry-with-breaker")
    run_for(page, 10)
    expect(page.locator("#breaker-payments")).to_have_attribute("data-state", re.compile("OPEN|HALF_OPEN"))
    fast_fails = page.locator("#calls-payments td").nth(4)
    assert int(fast_fails.inner_text()) > 0
    expect(page.locator("#retry-panel")).to_contain_text("A call the breaker refused is retried too")
    # Turning retry_when_open off, from the settings panel, mid-run.
    page.uncheck("#retry_retry_when_open")
    page.click("#apply-settings")
    expect(page.locator("#retry-panel")).to_contain_text("A call the breaker refused is not retried.")
    expect(page.locator("#retry_retry_when_open")).not_to_be_checked()


def test_an_instance_dies_is_evicted_traffic_moves_and_it_rejoins(server, new_page):
    page = open_preset(new_page(), server, "instance-dies-under-load")
    instance = page.locator("#inst-orders-2")
    row = page.locator("#reg-orders-2")
    step(page, 6)
    expect(instance).to_have_attribute("data-status", "down-listed")
    expect(instance).to_contain_text("DOWN, listed")
    expect(row).to_contain_text("✗ down")
    expect(row).to_contain_text("listed")
    step(page, 2)
    expect(instance).to_have_attribute("data-status", "evicted")
    expect(instance.locator("line.cross")).to_have_count(2)
    expect(row).to_contain_text("evicted")
    expect(row.locator(".missed")).to_be_visible()
    calls = int(row.locator("td").nth(3).inner_text())
    run_for(page, 10)
    assert int(row.locator("td").nth(3).inner_text()) == calls  # no traffic while evicted
    expect(page.locator("#reg-orders-1")).not_to_contain_text("down")
    run_for(page, 3)
    expect(instance).to_have_attribute("data-status", "up")
    expect(row).to_contain_text("✓ up")
    step(page)
    assert int(row.locator("td").nth(3).inner_text()) > calls


def test_a_breaker_stuck_half_open_is_explained_and_recovers_with_a_maximum_wait(server, new_page):
    page = open_preset(new_page(), server, "stuck-half-open")
    run_for(page, 12)
    breaker = page.locator("#breaker-payments")
    expect(breaker).to_have_attribute("data-state", "HALF_OPEN")
    expect(page.locator("#permits-payments")).to_have_text("3 of 3")
    expect(breaker.locator("ol.cells li.pending")).to_have_count(3)
    stuck = page.locator("#stuck-payments")
    expect(stuck).to_contain_text("Stuck in half-open: the breaker let its 3 test calls through")
    expect(stuck).to_contain_text("it refuses every other call")
    run_for(page, 10)
    expect(breaker).to_have_attribute("data-state", "HALF_OPEN")  # still stuck
    # The fix: a maximum wait in half-open (and payments healthy again), from the settings panel.
    page.fill("#breaker_max_wait_half_open_ms", "5000")
    page.fill("#payments_failure_pct", "0")
    page.fill("#payments_latency_ms", "50")
    page.click("#apply-settings")
    expect(page.locator("#breaker_max_wait_half_open_ms")).to_have_value("5000")
    run_for(page, 20)
    expect(breaker).to_have_attribute("data-state", "CLOSED")
    expect(stuck).to_have_count(0)
    expect(breaker.locator("ol.transitions")).to_contain_text("HALF_OPEN → OPEN — the test calls did not finish")
    expect(breaker.locator("ol.transitions")).to_contain_text("HALF_OPEN → CLOSED")


def test_a_breaker_that_backs_off_waits_longer_after_each_failed_trial(server, new_page):
    page = open_preset(new_page(), server, "breaker-backs-off")
    run_for(page, 20)
    breaker = page.locator("#breaker-payments")
    transitions = breaker.locator("ol.transitions")
    expect(transitions).to_contain_text("open wait 4,000 ms (opening 2 in a row)")
    expect(transitions).to_contain_text("open wait 8,000 ms (opening 3 in a row)")
    expect(transitions).to_contain_text("open wait 16,000 ms (opening 4 in a row)")
    expect(breaker).to_have_attribute("data-state", "OPEN")
    expect(breaker.locator(".open-note")).to_contain_text("Open wait 16000 ms (opened 4 times in a row)")
    run_for(page, 35)  # payments recovered at 40 s: the next trial closes it
    expect(transitions).to_contain_text("HALF_OPEN → CLOSED — the 3 test calls went well enough")
    run_for(page, 8)  # failing again from 60 s: opened at once, with the first wait, 2 s, again
    expect(transitions.locator("li").nth(0)).to_contain_text("OPEN → HALF_OPEN — 2,000 ms open")


def test_the_jitters_side_by_side_a_growing_open_wait_and_a_forced_open_breaker(server, new_page):
    """Resilience4j's waitIntervalFunctionInOpenState (each opening in a row waits longer), transitionToForcedOpenState
    and the retry timeline's five rows (no jitter, Resilience4j's randomized wait, the AWS full, equal and
    decorrelated jitters), set from the settings panel mid-run."""
    page = open_preset(new_page(), server, "retry-with-breaker")
    timeline = page.locator("#retry-timeline")
    expect(timeline.locator("g.retry-row")).to_have_count(5)
    for kind in ("none", "randomized", "full", "equal", "decorrelated"):
        expect(timeline.locator(f'g.retry-row[data-jitter="{kind}"]')).to_have_count(1)
    expect(page.locator("#retry-panel")).to_contain_text("▶ full jitter (this run): waits of")
    expect(page.locator("#retry-panel")).to_contain_text("decorrelated jitter: waits of")
    page.select_option("#retry_jitter", "decorrelated")
    page.fill("#breaker_wait_open_multiplier", "2")
    page.click("#apply-settings")
    expect(page.locator("#retry-panel")).to_contain_text("▶ decorrelated jitter (this run): waits of")
    expect(page.locator("#breaker_wait_open_multiplier")).to_have_value("2")
    run_for(page, 20)  # payments keeps failing: the breaker reopens, each time waiting longer
    breaker = page.locator("#breaker-payments")
    expect(breaker.locator("ol.transitions")).to_contain_text("open wait 10,000 ms (opening 2 in a row)")
    page.select_option("#breaker_mode", "forced_open")
    page.click("#apply-settings")
    expect(breaker).to_have_attribute("data-state", "FORCED_OPEN")
    expect(page.locator("#special-payments")).to_contain_text("every call is refused")
    assert serious(page) == []  # the states set by hand, the failure-kind table and the five jitter rows
    page.select_option("#breaker_mode", "normal")
    page.click("#apply-settings")
    expect(breaker).to_have_attribute("data-state", "CLOSED")
    expect(breaker.locator("ol.transitions")).to_contain_text("FORCED_OPEN → CLOSED")


# --- Time travel --------------------------------------------------------------------------------------------------


def test_back_and_forward_then_acting_from_the_past_forks_a_what_if_run(server, new_page):
    page = open_preset(new_page(), server, "breaker-trips-and-recovers")
    original = run_id(page)
    run_for(page, 10)
    expect(page.locator("#breaker-payments")).to_have_attribute("data-state", "OPEN")
    for n in range(9, 3, -1):
        press(page, "#back", n)
    expect(page.locator(".pinned")).to_contain_text("You are looking back at second 4")
    expect(page.locator("#run-status")).to_contain_text("of 10")
    expect(page.locator("#breaker-payments")).to_have_attribute("data-state", "CLOSED")
    assert page.url.endswith("?at=4")
    page.click("#forward")
    expect(page.locator("#step-count")).to_have_text("5")
    # Acting from second 5 starts a new run from there: kill payments-1 in the what-if.
    page.click("#kill-payments-1")
    expect(page.locator("#run")).not_to_have_attribute("data-run", original)
    forked = run_id(page)
    expect(page.locator("#step-count")).to_have_text("5")
    expect(page.locator(".pinned")).to_have_count(0)
    expect(page.locator("#inst-payments-1")).to_have_attribute("data-status", "down-listed")
    expect(page.locator(".run-line")).to_contain_text(f"forked from run {original} at second 5")
    page.wait_for_url(re.compile(rf"/resilience/{forked}/$"))
    page.locator(".run-line a", has_text=original).click()
    page.wait_for_url(re.compile(rf"/resilience/{original}/$"))
    expect(page.locator("#step-count")).to_have_text("10")
    expect(page.locator("#inst-payments-1")).to_have_attribute("data-status", "up")


def test_back_to_the_latest_second(server, new_page):
    page = open_preset(new_page(), server, "retry-storm")
    step(page, 3)
    page.click("#back")
    expect(page.locator(".pinned")).to_be_visible()
    page.get_by_role("link", name="Back to the latest second").click()
    expect(page.locator(".pinned")).to_have_count(0)
    expect(page.locator("#step-count")).to_have_text("3")
    page.wait_for_url(RUN_URL)
    assert "at=" not in page.url


# --- A request's trace ----------------------------------------------------------------------------------------------


def test_picking_a_request_shows_its_trace_with_retries(server, new_page):
    page = open_preset(new_page(), server, "retry-storm")
    run_for(page, 10)
    rows = page.locator("#request-list tbody tr")
    retried = rows.filter(has=page.locator("td", has_text=re.compile(r"^[2-5]$"))).first
    request_id = retried.locator("a").inner_text()
    retried.locator("a").click()
    expect(page.locator("#trace-h")).to_contain_text(f"request {request_id}")
    page.wait_for_url(re.compile(rf"\?request={request_id[1:]}$"))
    expect(page.locator("#request-list tr[aria-current=true] a")).to_have_text(request_id)
    waterfall = page.locator("table.res-waterfall")
    expect(waterfall.locator("tr.wf-decision").first).to_contain_text("gateway")
    expect(waterfall.locator("tr.wf-wait").first).to_contain_text("backoff: retry in")
    expect(waterfall.locator("tr.wf-span", has_text="attempt 2 on")).to_have_count(1)


# --- Live in a second browser ---------------------------------------------------------------------------------------


def second_browser_on(page, new_page):
    """Open the lab's join link in another browser context (another session), then the same run."""
    other = new_page()
    page.locator("details.join summary").click()
    other.goto(page.input_value("#join-url"))
    other.goto(page.url.split("?")[0])
    return live(other)


def test_a_step_in_one_browser_redraws_the_run_in_another(server, new_page):
    page = open_preset(new_page(), server, "breaker-trips-and-recovers")
    step(page)
    other = second_browser_on(page, new_page)
    expect(other.locator("#step-count")).to_have_text("1")
    other.evaluate("window.notReloaded = true")
    run_for(page, 9)
    expect(other.locator("#step-count")).to_have_text("10")
    expect(other.locator("#breaker-payments")).to_have_attribute("data-state", "OPEN")
    page.click("#kill-inventory-3")
    expect(other.locator("#inst-inventory-3")).to_have_attribute("data-status", "down-listed")
    expect(other.locator("#happenings")).to_contain_text("inventory-3 was killed")
    # The same document all along: the panel was swapped in over the websocket, not reloaded.
    assert other.evaluate("window.notReloaded") is True


def test_a_tab_looking_back_keeps_its_view_and_is_told_the_run_moved_on(server, new_page):
    page = open_preset(new_page(), server, "retry-storm")
    step(page, 3)
    other = second_browser_on(page, new_page)
    other.click("#back")
    expect(other.locator("#step-count")).to_have_text("2")
    live(other)
    expect(other.locator("#run-news")).to_have_text("")
    press(page, "#run-10", 13)
    expect(other.locator("#run-news")).to_contain_text("The run moved on: 11 seconds past the one you are looking at")
    expect(other.locator("#step-count")).to_have_text("2")
    expect(other.locator(".pinned")).to_contain_text("looking back at second 2")
    other.locator("#run-news").get_by_role("link", name="See the latest").click()
    expect(other.locator("#step-count")).to_have_text("13")


# --- Predict, then observe ------------------------------------------------------------------------------------------


def step_until_prompt(page, limit=10):
    for _ in range(limit):
        if page.locator("form.predict").count():
            return
        step(page)
    expect(page.locator("form.predict")).to_be_visible()


def test_a_right_prediction_is_confirmed(server, new_page):
    page = open_preset(new_page(), server, "breaker-trips-and-recovers")
    step_until_prompt(page)
    expect(page.locator("form.predict legend")).to_contain_text("in second 6 something in the system is about to")
    page.check("input[name=predict][value=opens]")
    page.click("#predict-step")
    expect(page.locator("#step-count")).to_have_text("6")
    expect(page.locator("#prediction")).to_contain_text("You predicted it")
    expect(page.locator("#prediction")).to_contain_text("A circuit breaker opens")
    expect(page.locator("#breaker-payments")).to_have_attribute("data-state", "OPEN")


def test_a_wrong_prediction_says_not_quite(server, new_page):
    page = open_preset(new_page(), server, "instance-dies-under-load")
    step_until_prompt(page)
    page.check("input[name=predict][value=nothing]")
    page.click("#predict-step")
    expect(page.locator("#prediction")).to_contain_text("Not quite")
    expect(page.locator("#prediction")).to_contain_text("The registry removes a dead instance")
    step(page)
    expect(page.locator("#prediction")).to_have_count(0)


def test_predicting_needs_a_choice(server, new_page):
    page = open_preset(new_page(), server, "breaker-trips-and-recovers")
    step_until_prompt(page)
    at = seconds(page)
    page.click("#predict-step")
    page.wait_for_timeout(300)
    assert seconds(page) == at
    assert page.locator("input[name=predict]").first.evaluate("el => !el.validity.valid")


# --- The keyboard ---------------------------------------------------------------------------------------------------


def test_enter_on_step_steps_and_keeps_focus(server, new_page):
    page = open_preset(new_page(), server, "retry-storm")
    page.focus("#step")
    for n in range(1, 5):
        page.keyboard.press("Enter")
        expect(page.locator("#step-count")).to_have_text(str(n))
        page.wait_for_timeout(150)  # let the websocket's copy of the panel arrive too
        assert page.evaluate("document.activeElement.id") == "step"


def test_focus_stays_on_run_10_when_another_browser_steps(server, new_page):
    page = open_preset(new_page(), server, "retry-storm")
    other = second_browser_on(page, new_page)
    other.focus("#run-10")
    step(page, 2)
    expect(other.locator("#step-count")).to_have_text("2")
    assert other.evaluate("document.activeElement.id") == "run-10"
    other.keyboard.press("Enter")
    expect(other.locator("#step-count")).to_have_text("12")
    expect(page.locator("#step-count")).to_have_text("12")


def test_the_start_form_works_from_the_keyboard(res_page):
    page = res_page
    page.focus("#rate_rps")
    page.keyboard.press("Control+A")
    page.keyboard.type("15")
    page.focus("#breaker")
    page.keyboard.press("Space")
    expect(page.locator("#breaker")).to_be_checked()
    page.focus("#start-run")
    page.keyboard.press("Enter")
    page.wait_for_url(RUN_URL)
    expect(page.locator(".run-line")).to_contain_text("15 requests/s · breakers on (count window of 10)")


# --- Bad settings ---------------------------------------------------------------------------------------------------


def test_bad_settings_are_refused_in_plain_words_and_start_nothing(res_page):
    page = res_page
    url = page.url
    expect(page.locator("ul.runs li")).to_have_count(0)
    page.fill("#rate_rps", "1000")
    page.fill("#payments_latency_ms", "700")
    page.click("#start-run")
    expect(page.locator("#start-error")).to_contain_text(
        "rate_rps (requests per second) must be a number from 0 to 100.")
    expect(page.locator("#rate_rps")).to_have_value("1000")  # the form keeps what was typed
    expect(page.locator("#payments_latency_ms")).to_have_value("700")
    page.goto(url)
    expect(page.locator("#start-error")).to_have_count(0)
    expect(page.locator(".panel", has=page.locator("#runs-h"))).to_contain_text("No runs yet.")


def test_a_bad_breaker_setting_is_named(res_page):
    page = res_page
    page.check("#breaker")
    page.fill("#breaker_half_open_calls", "0")
    page.click("#start-run")
    expect(page.locator("#start-error")).to_contain_text("breaker.half_open_calls must be a whole number")


def test_a_bad_setting_mid_run_is_refused_and_changes_nothing(server, new_page):
    page = open_preset(new_page(), server, "retry-storm")
    step(page)
    page.fill("#rate_rps", "lots")
    page.click("#apply-settings")
    expect(page.locator("#run-error")).to_contain_text("rate_rps (requests per second) must be a number")
    expect(page.locator("#step-count")).to_have_text("1")
    expect(page.locator(".run-line")).to_contain_text("30 requests/s")
    page.select_option("#kind", "kill")
    page.fill("#instance", "9")
    page.click("#inject")
    expect(page.locator("#run-error")).to_contain_text("instance must be a whole number from 1 to 3.")


# --- Accessibility --------------------------------------------------------------------------------------------------



def test_axe_on_the_lab_page_with_an_error_and_runs(server, new_page):
    page = new_page()
    page.goto(server + "/labs/resilience/")
    page.locator("details.join summary").click()
    assert serious(page) == []
    page.click("#preset-retry-storm")
    page.wait_for_url(RUN_URL)
    page.locator(".crumbs a").click()
    page.wait_for_selector("ul.runs li")
    page.fill("#rate_rps", "-1")
    page.click("#start-run")
    page.wait_for_selector("#start-error")
    assert serious(page) == []


def test_axe_on_run_pages(server, new_page):
    page = open_preset(new_page(), server, "breaker-trips-and-recovers")
    step_until_prompt(page)  # the predict form
    page.locator("details.as-text summary").click()
    assert serious(page) == []
    page.check("input[name=predict][value=opens]")
    page.click("#predict-step")
    page.wait_for_selector("#prediction")
    assert serious(page) == []

    stuck = open_preset(new_page(), server, "stuck-half-open")
    run_for(stuck, 12)
    stuck.wait_for_selector("#stuck-payments")
    stuck.click("#back")
    stuck.wait_for_selector(".pinned")
    assert serious(stuck) == []

    pools = open_preset(new_page(), server, "slow-dependency-thread-pool")
    run_for(pools, 10)
    pools.click("#kill-orders-1")
    expect(pools.locator("#inst-orders-1")).to_have_attribute("data-status", "down-listed")
    pools.fill("#rate_rps", "nope")
    pools.click("#apply-settings")
    pools.wait_for_selector("#run-error")
    assert serious(pools) == []
