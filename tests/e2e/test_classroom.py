"""The classroom in real Chromium: an instructor logs in and makes a class; two learners join by its code in their own
browsers; the instructor opens a typed poll; the learners vote and the counts arrive live on the instructor's screen;
round two; the reveal shows both rounds on the learners' pages. axe finds nothing serious on any classroom page."""

import os
import subprocess
import sys

import pytest

from .conftest import ROOT, migrate, serious, start_daphne, stop

pytestmark = pytest.mark.e2e

PASSWORD = "a long enough password 42"


@pytest.fixture(scope="module")
def class_server(tmp_path_factory):
    """A server of its own with an instructor made by `manage.py createinstructor` (no terminal: the password comes
    from INSTRUCTOR_PASSWORD), as an administrator would."""
    folder = tmp_path_factory.mktemp("e2e-classroom")
    env = {**os.environ, "SQLITE_PATH": str(folder / "eventlab.sqlite3"), "DEBUG": "true"}
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    migrate(env)
    made = subprocess.run([sys.executable, str(ROOT / "manage.py"), "createinstructor", "grace"], check=True,
                          env={**env, "INSTRUCTOR_PASSWORD": PASSWORD}, cwd=ROOT, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True)
    assert "instructor grace" in made.stdout
    url, process = start_daphne(env, folder / "daphne.log")
    yield url
    stop(process)



def live(page):
    page.wait_for_selector("#live-status[data-state=live]")


def test_a_poll_in_a_class_with_two_learners(class_server, new_page):
    server = class_server
    teacher = new_page()
    teacher.goto(server + "/classes/login")
    assert serious(teacher) == []
    teacher.get_by_label("Username").fill("grace")
    teacher.get_by_label("Password").fill(PASSWORD)
    teacher.get_by_role("button", name="Log in").click()
    teacher.wait_for_selector("h1:has-text('My classes')")
    assert serious(teacher) == []
    teacher.get_by_label("Class name").fill("Distributed systems, week 3")
    teacher.get_by_role("button", name="Create the class").click()
    code = teacher.inner_text("#join-code")
    assert len(code) == 9 and code[4] == "-"
    assert teacher.locator(".qr svg").count() == 1
    live(teacher)
    assert serious(teacher) == []

    learners = []
    for name, typed in (("Ada", code.lower()), ("Bob", code.replace("-", ""))):
        learner = new_page()
        learner.goto(server + "/classes/join")
        if not learners:
            assert serious(learner) == []
        learner.get_by_label("Class code").fill(typed)
        learner.get_by_role("button", name="Next").click()
        learner.get_by_label("Your name").fill(name)
        if not learners:
            assert serious(learner) == []
        learner.get_by_role("button", name="Join the class").click()
        learner.wait_for_selector(f"#my-name:has-text('{name}')")
        live(learner)
        learners.append(learner)
    assert serious(learners[0]) == []
    teacher.wait_for_selector("#roster-count:has-text('2 joined')")  # the roster is live too
    # Its forms came in a push (one render for every instructor screen, no CSRF token in it): htmx posts them with
    # the page's own token.
    teacher.get_by_label("New name for Bob").fill("Bob <b>B.</b>")
    teacher.get_by_label("New name for Bob").press("Enter")
    teacher.wait_for_selector("#roster .learner-name:has-text('Bob <b>B.</b>')")

    teacher.get_by_label("Question", exact=True).fill("The coordinator crashes after prepare. The participants…")
    teacher.get_by_label("Choice A", exact=True).fill("abort by themselves")
    teacher.get_by_label("Choice B", exact=True).fill("stay blocked, in doubt")
    teacher.get_by_label("Correct answer (optional)").select_option("1")
    teacher.get_by_role("button", name="Open the poll").click()
    teacher.wait_for_selector("#poll-question")
    live(teacher)
    assert serious(teacher) == []

    for learner in learners:  # the poll arrives on their pages without a reload
        learner.wait_for_selector("#learner-question:has-text('The coordinator crashes')")
    assert serious(learners[0]) == []
    learners[0].get_by_role("button", name="A abort by themselves").click()
    learners[0].wait_for_selector("#my-vote:has-text('A')")
    learners[1].get_by_role("button", name="A abort by themselves").click()
    teacher.wait_for_selector("#voters-1:has-text('2 voted')")
    learners[1].get_by_role("button", name="B stay blocked, in doubt").click()  # changes her mind
    teacher.get_by_label("Show the counts to the room").check()
    teacher.wait_for_function("document.querySelector('#count-1-1 .n').textContent === '1'")
    assert teacher.inner_text("#count-1-0 .n") == "1"

    teacher.get_by_role("button", name="Discuss with your neighbour → round two").click()
    for learner in learners:
        learner.wait_for_selector("#learner-poll-h:has-text('Round 2')")
        learner.get_by_role("button", name="B stay blocked, in doubt").click()
        learner.wait_for_selector("#my-vote:has-text('B')")
    teacher.get_by_label("Show the counts to the room").check()
    teacher.wait_for_function("document.querySelector('#count-2-1 .n').textContent === '2'")

    teacher.get_by_role("button", name="Reveal the answer").click()
    teacher.wait_for_selector("#revealed")
    for learner in learners:
        learner.wait_for_selector("#learner-answer:has-text('B')")
        assert learner.inner_text("#count-1-0 .n") == "1" and learner.inner_text("#count-2-1 .n") == "2"
    assert serious(learners[1]) == []
    assert serious(teacher) == []
