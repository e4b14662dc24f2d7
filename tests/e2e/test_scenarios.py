"""Scenarios in a real browser: an instructor runs a saga with a declined payment, saves it as a scenario, writes
narration and a predict question, plays it back step by step answering the question, and sees what to notice; a
learner sees none of it. axe is clean on the new pages."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from playwright.sync_api import expect

from .conftest import ROOT
from .test_accessibility import serious

pytestmark = pytest.mark.e2e

LOGIN = """
from django.contrib.auth.models import Group, User
from django.contrib.sessions.backends.signed_cookies import SessionStore
user, _ = User.objects.get_or_create(username="e2e-instructor")
user.groups.add(Group.objects.get_or_create(name="instructors")[0])
session = SessionStore()
session["_auth_user_id"] = str(user.pk)
session["_auth_user_backend"] = "django.contrib.auth.backends.ModelBackend"
session["_auth_user_hash"] = user.get_session_auth_hash()
session.save()
print(session.session_key)
"""


@pytest.fixture
def instructor_page(server, new_page, tmp_path_factory):
    """A browser logged in as an instructor (made in the server's database; the login page is the classroom's)."""
    database = tmp_path_factory.getbasetemp() / "e2e0" / "eventlab.sqlite3"
    env = {**os.environ, "SQLITE_PATH": str(database), "DEBUG": "true"}
    env.pop("DATABASE_URL", None)
    done = subprocess.run([sys.executable, str(ROOT / "manage.py"), "shell", "-c", LOGIN], check=True, env=env,
                          cwd=ROOT, capture_output=True, text=True)
    page = new_page()
    page.context.add_cookies([{"name": "sessionid", "value": done.stdout.strip().splitlines()[-1], "url": server}])
    return page


def test_an_instructor_saves_a_saga_run_with_a_fault_and_plays_it_back(server, instructor_page, new_page):
    page = instructor_page
    page.goto(server + "/labs/sagas/")
    page.get_by_label("Payment declined").check()
    page.click("#start-run")
    page.wait_for_url(re.compile(r"/sagas/\w+/$"))
    page.click("#run-all")
    expect(page.locator("#run-all")).to_be_disabled()
    expect(page.locator("#saga-state")).to_contain_text("ompensated")

    page.click("#save-scenario")
    page.wait_for_url(re.compile(r"/scenarios/\d+/edit$"))
    assert serious(page) == []
    steps = page.locator("ol.scenario-steps > li").count()
    assert steps >= 4
    page.get_by_label("Title").fill("A declined card")
    page.get_by_label("Introduction (shown before the first step)").fill("Ada orders a book; her card is **declined**.")
    page.get_by_label("Narration for step 1", exact=True).fill("The orchestrator sends *CreateOrder*.")
    page.get_by_label("Predict question before step 2 (optional)").fill("What will the saga do when payment fails?")
    page.get_by_label("Choices for step 2, one per line").fill("Retry forever\nCompensate: cancel the order")
    page.get_by_label("Number of the correct choice for step 2").fill("2")
    page.get_by_label("Narration for step 2", exact=True).fill("Step 2 <script>window.hacked=1</script>")
    page.get_by_label("What to notice (shown at the end)").fill("A saga **undoes** with compensations.")
    page.click("#save-edit")
    page.wait_for_url(re.compile(r"/scenarios/\d+/$"))
    expect(page.locator("h1")).to_contain_text("A declined card")
    expect(page.locator(".narration strong")).to_have_text("declined")
    assert serious(page) == []

    page.click("#play-start")
    expect(page.locator("#play-next")).to_contain_text("step 1 of")
    page.click("#play-next")
    expect(page.locator("#narration em")).to_have_text("CreateOrder")
    expect(page.locator("#predict-q")).to_contain_text("What will the saga do when payment fails?")
    assert serious(page) == []
    page.get_by_label("Compensate: cancel the order").check()
    page.keyboard.press("Tab")
    page.click("#play-answer")
    expect(page.locator("#play-next")).to_contain_text("step 2 of")
    page.click("#play-next")
    expect(page.locator("#answer-result")).to_contain_text("Right.")
    expect(page.locator("#narration")).to_contain_text("<script>window.hacked=1</script>")  # shown as text
    assert page.evaluate("window.hacked === undefined")
    for number in range(3, steps + 1):
        page.click("#play-next")
        expect(page.locator("#step-h")).to_contain_text(f"Step {number} of {steps}")
    expect(page.locator("#notice strong")).to_have_text("undoes")
    expect(page.locator("#play-summary")).to_contain_text("compensated")
    assert serious(page) == []

    page.goto(server + "/scenarios/")
    expect(page.get_by_role("link", name="A declined card", exact=True)).to_be_visible()
    expect(page.get_by_role("navigation", name="Main").get_by_role("link", name="Scenarios")).to_be_visible()
    with page.expect_download() as download:
        page.get_by_role("link", name="Export JSON of A declined card").click()
    assert b'"scenarios.scenario"' in Path(download.value.path()).read_bytes()
    assert serious(page) == []

    learner = new_page()
    learner.goto(server + "/labs/sagas/")
    expect(learner.get_by_role("navigation", name="Main").get_by_role("link", name="Scenarios")).to_have_count(0)
    assert learner.goto(server + "/scenarios/").status == 404
