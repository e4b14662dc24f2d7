"""axe-core in Chromium: no serious or critical violation on any page."""

import pytest

from .conftest import serious

pytestmark = pytest.mark.e2e



def test_course_map(server, new_page):
    page = new_page()
    page.goto(server + "/")
    assert serious(page) == []


def test_bank_lab(lab_page):
    # With results and expanded details, so their contents are checked too.
    lab_page.locator("form.command button[type=submit]").click()
    lab_page.wait_for_selector("#command-result h3")
    lab_page.get_by_role("button", name="Race").click()
    lab_page.wait_for_selector("#race-result h3")
    for summary in lab_page.locator("#event-rows details summary").all()[:3]:
        summary.click()
    lab_page.locator("details.join summary").click()
    assert serious(lab_page) == []


def test_bank_lab_empty(lab_page):
    lab_page.select_option("#new-lab-scenario", "")
    lab_page.get_by_role("button", name="New lab").click()
    lab_page.wait_for_selector("#live-status[data-state=live]")
    assert serious(lab_page) == []


def saga_run(page, server, preset):
    page.goto(server + "/labs/sagas/")
    page.click(f"#preset-{preset}")
    page.wait_for_selector("#live-status[data-state=live]")
    return page


def saga_step(page):
    before = page.inner_text("#step-count")
    page.click("#step")
    page.wait_for_function(f"document.getElementById('step-count').textContent !== '{before}'")


def test_saga_lab(server, new_page):
    page = new_page()
    page.goto(server + "/labs/sagas/")
    page.locator("details.join summary").click()
    assert serious(page) == []


def test_saga_lab_with_an_error_and_runs(server, new_page):
    page = saga_run(new_page(), server, "happy-path")
    page.locator(".crumbs a").click()
    page.wait_for_selector("ul.runs li")
    for field in ("sku", "qty", "price"):
        page.fill(f"#item-1-{field}", "")
    page.click("#start-run")
    page.wait_for_selector("#start-error")
    assert serious(page) == []


def test_saga_run_with_the_predict_prompt_and_the_steps_as_text(server, new_page):
    page = saga_run(new_page(), server, "payment-declined")
    while not page.locator("form.predict").count():
        saga_step(page)
    page.locator("details.as-text summary").click()
    page.locator("details.join summary").click()
    assert serious(page) == []
    # The verdict after a prediction, too.
    page.check("input[name=predict][value=as_planned]")
    page.click("#predict-step")
    page.wait_for_selector("#prediction")
    assert serious(page) == []


def test_saga_run_with_an_open_dead_letter(server, new_page):
    page = saga_run(new_page(), server, "message-lost-dead-letter")
    page.click("#run-all")
    page.wait_for_selector("#dead-letters button")
    page.locator("details.as-text summary").click()
    assert serious(page) == []


def test_saga_run_looking_back_and_told_of_news(server, new_page):
    page = saga_run(new_page(), server, "orchestrator-crash")
    for _ in range(5):
        saga_step(page)
    page.wait_for_selector("#recover")
    page.click("#back")
    page.wait_for_selector(".pinned")
    other = new_page()
    other.goto(page.input_value("#join-url"))
    other.goto(page.url.split("?")[0])
    other.wait_for_selector("#live-status[data-state=live]")
    other.click("#recover")
    page.wait_for_selector("#run-news a")
    assert serious(page) == []
    assert serious(other) == []


def twopc_run(page, server, preset):
    page.goto(server + "/labs/twopc/")
    page.click(f"#preset-{preset}")
    page.wait_for_selector("#live-status[data-state=live]")
    return page


def test_twopc_lab(server, new_page):
    page = new_page()
    page.goto(server + "/labs/twopc/")
    page.locator("details.join summary").click()
    assert serious(page) == []


def test_twopc_lab_with_an_error_and_runs(server, new_page):
    page = twopc_run(new_page(), server, "commit")
    page.locator(".crumbs a").click()
    page.wait_for_selector("ul.runs li")
    for name in ("orders", "payments", "inventory"):
        page.get_by_label(name, exact=True).uncheck()
    page.click("#start-run")
    page.wait_for_selector("#start-error")
    assert serious(page) == []


def test_twopc_run_blocked_in_doubt_with_the_steps_as_text(server, new_page):
    page = twopc_run(new_page(), server, "coordinator-crash-after-prepare")
    saga_step(page)
    page.click("#run-all")
    page.wait_for_selector("#recover-coordinator")
    page.locator("details.as-text summary").click()
    page.locator("details.join summary").click()
    assert serious(page) == []


def test_twopc_run_asking_for_a_prediction_with_its_costs_and_both_variants(server, new_page):
    page = twopc_run(new_page(), server, "commit-lost")
    while not page.locator("form.predict").count():
        saga_step(page)
    assert serious(page) == []
    page.check("input[name=predict][value=dropped]")
    page.click("#predict-step")
    page.wait_for_selector("#prediction")
    assert serious(page) == []


def test_twopc_run_rolled_back_with_an_error(server, new_page):
    page = twopc_run(new_page(), server, "vote-no")
    page.click("#run-all")
    page.wait_for_selector("#run-all[disabled]")
    page.check("input[name=kind][value=delay]")
    page.fill("#delay-ms", "0")
    page.click("#inject")
    page.wait_for_selector("#run-error")
    assert serious(page) == []


def test_twopc_run_looking_back_and_told_of_news(server, new_page):
    page = twopc_run(new_page(), server, "participant-crash")
    for _ in range(4):
        saga_step(page)
    page.click("#back")
    page.wait_for_selector(".pinned")
    other = new_page()
    other.goto(page.input_value("#join-url"))
    other.goto(page.url.split("?")[0])
    other.wait_for_selector("#live-status[data-state=live]")
    other.click("#run-all")
    page.wait_for_selector("#run-news a")
    assert serious(page) == []
    assert serious(other) == []
