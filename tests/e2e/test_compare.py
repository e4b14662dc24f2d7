"""Saga vs 2PC in a real browser: start a comparison, step both runs and watch the numbers; a second browser on the
lab sees the pair move live; recover a crashed controller in both; run the failure matrix and replay a row; the
keyboard; axe finds nothing serious on any of these pages."""

import re

import pytest
from playwright.sync_api import expect

from .conftest import serious

pytestmark = pytest.mark.e2e

PAIR_URL = re.compile(r"/labs/\w+/twopc/compare/(\w+)/(\w+)/$")



def live(page):
    expect(page.locator("#live-status")).to_have_attribute("data-state", "live")
    return page


def compare_form(page, server):
    """The comparison form of this browser's working lab (reached through the saga lab, as a learner would)."""
    page.goto(server + "/labs/sagas/")
    lab_id = re.search(r"/labs/(\w+)/sagas/", page.url).group(1)
    page.goto(f"{server}/labs/{lab_id}/twopc/compare/")
    expect(page.locator("h1")).to_contain_text("Saga vs 2PC")
    return page


def start_pair(page, server, scenario="none"):
    compare_form(page, server)
    page.check(f"#scenario-{scenario}")
    page.click("#start-compare")
    page.wait_for_url(PAIR_URL)
    return live(page)


def steps(page, side) -> int:
    return int(page.inner_text(f"#{side}-steps"))


def cell(page, row, column) -> str:
    return page.locator(f"#n-{row} td").nth(column - 1).inner_text()


def step_both(page):
    before = steps(page, "saga"), steps(page, "twopc")
    page.click("#step-both")
    expect(page.locator("#saga-steps")).not_to_have_text(str(before[0]))
    expect(page.locator("#twopc-steps")).not_to_have_text(str(before[1]))


# --- Side by side -----------------------------------------------------------------------------------------------------


def test_start_a_comparison_step_both_and_see_the_numbers(server, new_page):
    page = start_pair(new_page(), server)
    expect(page.locator("#saga-outcome")).to_have_text("in progress")
    expect(page.locator("#twopc-outcome")).to_have_text("in progress")
    for expected in (1, 2, 3, 4, 5):
        step_both(page)
        expect(page.locator("#saga-steps")).to_have_text(str(expected))
        expect(page.locator("#twopc-steps")).to_have_text(str(expected))
    # Five steps in: 2PC holds locks (and counts how long); the saga holds none and shows its half-done states.
    expect(page.locator("#n-locks td").nth(1)).to_contain_text("and counting")
    assert cell(page, "locks", 1).startswith("0 rows, 0 ms")
    assert "order pending" in cell(page, "readers", 1)
    expect(page.locator("#run-announce")).to_have_text(re.compile(r"Saga: step 5, .* Two-phase commit: step 5, "))
    # Focus stays on the button pressed, for the keyboard.
    expect(page.locator("#step-both")).to_be_focused()

    page.click("#run-both")
    expect(page.locator("#saga-outcome")).to_have_text("completed")
    expect(page.locator("#twopc-outcome")).to_have_text("committed")
    expect(page.locator("#step-both")).to_be_disabled()
    assert cell(page, "messages", 1) == "8" and cell(page, "messages", 2) == "12"
    assert cell(page, "blocked", 1) == "0 ms"
    assert int(cell(page, "blocked", 2).removesuffix(" ms")) > 0
    # Atomic commitment, not one instant: uncommitted rows stayed locked, yet phase 2 showed a split.
    assert cell(page, "readers", 2).startswith("Uncommitted changes stayed behind locks")
    assert "Yet in phase 2 a reader of two databases could see" in cell(page, "readers", 2)
    expect(page.locator("#twopc-split")).to_contain_text("a reader of both could see the order half committed")
    course = page.locator("#course-table tbody tr")
    expect(course).to_have_count(4)
    expect(course.nth(0)).to_contain_text("held up to")
    assert page.dialogs == []


def test_a_second_browser_sees_the_pair_move_live(server, new_page):
    page = start_pair(new_page(), server, "shipping_failed")
    other = new_page()
    other.goto(page.input_value("#join-url"))  # joins the lab
    other.goto(page.url)
    live(other)

    step_both(page)
    expect(other.locator("#saga-steps")).to_have_text("1")
    expect(other.locator("#twopc-steps")).to_have_text("1")

    other.click("#run-both")  # and the other way round
    expect(page.locator("#saga-outcome")).to_have_text("compensated")
    expect(page.locator("#twopc-outcome")).to_have_text("rolled back")
    expect(page.locator("#n-readers td").first).to_contain_text("The payment was taken, then refunded")


def test_the_controller_crash_blocks_2pc_until_both_are_recovered(server, new_page):
    page = start_pair(new_page(), server, "controller_crash")
    page.click("#run-both")
    expect(page.locator("#twopc-outcome")).to_have_text("blocked until recovery")
    expect(page.locator("#saga-outcome")).to_have_text("waiting for recovery")
    expect(page.locator("#twopc-participants")).to_contain_text("in doubt")
    page.click("#recover-both")
    expect(page.locator("#recover-both")).to_have_count(0)
    page.click("#run-both")
    expect(page.locator("#saga-outcome")).to_have_text("completed")
    expect(page.locator("#twopc-outcome")).to_have_text("rolled back")
    expect(page.locator("#n-outcome")).to_contain_text("recovered by hand")


def test_bad_input_is_explained_and_starts_nothing(server, new_page):
    page = compare_form(new_page(), server)
    page.fill("#item-1-qty", "0")
    page.click("#start-compare")
    expect(page.locator("#start-error")).to_contain_text("Item 1's quantity must be a whole number from 1 to 1,000.")
    expect(page.locator("#item-1-qty")).to_be_visible()


def test_the_pair_works_from_the_keyboard(server, new_page):
    page = start_pair(new_page(), server)
    page.locator("#step-both").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#saga-steps")).to_have_text("1")
    page.keyboard.press("Tab")
    expect(page.locator("#run-both")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#twopc-outcome")).to_have_text("committed")


# --- The failure matrix -----------------------------------------------------------------------------------------------


def open_matrix(page, server):
    compare_form(page, server)
    page.click("#matrix-link")
    expect(page.locator("h1")).to_contain_text("The failure matrix")
    page.click("#run-matrix")
    expect(page.locator("#twopc-matrix")).to_be_visible()
    return page


def test_run_the_matrix_and_replay_a_row(server, new_page):
    page = open_matrix(new_page(), server)
    expect(page).to_have_url(re.compile(r"/twopc/matrix/\?run=1&seed=1$"))
    blocked = page.locator("#row-twopc-coordinator-crash-before-decision")
    expect(blocked).to_contain_text("blocked until recovery")
    expect(blocked).to_contain_text("by hand")
    expect(page.locator("#saga-matrix")).to_contain_text("dead-lettered")
    expect(page.locator("#matrix-summary")).to_contain_text("Blocked until recovery only when: coordinator_crash.")

    # Replay the blocked row: a 2PC run with that fault, in this lab.
    page.click("#replay-twopc-coordinator-crash-before-decision")
    page.wait_for_url(re.compile(r"/labs/\w+/twopc/\w+/$"))
    lab_run = re.search(r"/labs/(\w+)/twopc/(\w+)/$", page.url).groups()
    run = page.request.get(f"{server}/api/labs/{lab_run[0]}/twopc/{lab_run[1]}")  # the session may read it
    assert run.ok, run.text()
    assert run.json()["faults"] == [{"kind": "coordinator_crash", "at": "before_decision", "restart_after_ms": None}]
    assert run.json()["step"] == 0

    # Replay a saga row from the matrix too: its run page.
    page.go_back()
    page.click("#replay-saga-orchestrator-crash-4-manual")
    page.wait_for_url(re.compile(r"/labs/\w+/sagas/\w+/$"))
    expect(page.locator(".order-line")).to_contain_text("orchestrator_crash after step 4")


def test_a_bad_seed_is_explained(server, new_page):
    page = new_page()
    compare_form(page, server)
    page.click("#matrix-link")
    page.fill("#matrix-seed", "soon")
    page.click("#run-matrix")
    expect(page.locator("#matrix-error")).to_contain_text("The seed must be a whole number")


# --- Accessibility ----------------------------------------------------------------------------------------------------


def test_axe_on_the_form_and_its_error(server, new_page):
    page = compare_form(new_page(), server)
    assert serious(page) == []
    page.fill("#seed", "x")
    page.click("#start-compare")
    expect(page.locator("#start-error")).to_be_visible()
    assert serious(page) == []


def test_axe_on_the_pair_midway_blocked_and_done(server, new_page):
    page = start_pair(new_page(), server, "controller_crash")
    for _ in range(3):
        step_both(page)
    assert serious(page) == []
    page.click("#run-both")
    expect(page.locator("#recover-both")).to_be_visible()
    for summary in page.locator("details summary").all():
        summary.click()
    assert serious(page) == []


def test_axe_on_the_matrix(server, new_page):
    page = new_page()
    compare_form(page, server)
    page.click("#matrix-link")
    assert serious(page) == []
    page.click("#run-matrix")
    expect(page.locator("#saga-matrix")).to_be_visible()
    assert serious(page) == []
