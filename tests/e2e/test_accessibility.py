"""axe-core in Chromium: no serious or critical violation on any page."""

import pytest
from axe_playwright_python.sync_playwright import Axe

pytestmark = pytest.mark.e2e


def serious(page):
    results = Axe().run(page)
    return [
        f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:3]}"
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]


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
