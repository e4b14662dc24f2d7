"""The course in real Chromium: a topic page → try it → the lab opens with the preset; a quiz of every kind answered
from the keyboard; interview prep to a score with weak topics; progress shown in the bank lab's event panel; no
JavaScript needed; reduced motion; and axe on every learn page."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import serious

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
REAL = ROOT / "fixtures" / "quiz_questions.json"
TEST_DATA = Path(__file__).with_name("learn_questions.json")



@pytest.fixture(scope="module")
def questions(server, tmp_path_factory):
    """The questions the server has: the real fixture once it is written and loaded, else this file's test data
    (loaded here into the server's database)."""
    page_has_questions = False
    try:
        import urllib.request

        with urllib.request.urlopen(server + "/learn/sagas/?quiz=all", timeout=10) as answer:  # noqa: S310
            page_has_questions = 'class="question' in answer.read().decode()
    except OSError:
        pass
    if page_has_questions and REAL.exists():
        rows = json.loads(REAL.read_text())
    else:
        database = tmp_path_factory.getbasetemp() / "e2e0" / "eventlab.sqlite3"
        env = {**os.environ, "SQLITE_PATH": str(database), "DEBUG": "true"}
        env.pop("DATABASE_URL", None)
        subprocess.run([sys.executable, str(ROOT / "manage.py"), "loaddata", str(TEST_DATA), "--verbosity", "0"],
                       check=True, env=env, cwd=ROOT)
        rows = json.loads(TEST_DATA.read_text())
    return [{"slug": row["pk"], **row["fields"]} for row in rows]


def first_of(questions, kind):
    return min((q for q in questions if q["kind"] == kind), key=lambda q: (q["topic"], q["position"], q["slug"]))


def focused(page) -> str:
    return page.evaluate("document.activeElement ? (document.activeElement.id || document.activeElement.tagName) : ''")


def tab_to_submit(page, question_id):
    """Tab forward until the question's submit button has the focus, then press Enter."""
    for _ in range(30):
        is_submit = page.evaluate(
            "(q) => { const a = document.activeElement; return !!a && a.type === 'submit' && !!a.closest('#' + q); }",
            question_id)
        if is_submit:
            page.keyboard.press("Enter")
            return
        page.keyboard.press("Tab")
    raise AssertionError("the submit button is not reachable with Tab")


def answer_from_the_keyboard(page, q, right=True):
    """Choose the answer with arrow keys, Space and selects, then Tab to the button and press Enter."""
    keys = [c["key"] for c in q["choices"]]
    prefix = f"#{q['slug']}"
    if q["kind"] in ("single", "predict"):
        wanted = q["answer"][0] if right else next(k for k in keys if k not in q["answer"])
        page.focus(f"{prefix}-{keys[0]}")  # tabbing into the radio group lands on the first radio
        page.keyboard.press("Space")
        for _ in range(keys.index(wanted)):
            page.keyboard.press("ArrowDown")  # moves to the next radio and checks it
        assert page.is_checked(f"{prefix}-{wanted}")
    elif q["kind"] == "multiple":
        wanted = set(q["answer"]) if right else {next(k for k in keys if k not in q["answer"])}
        page.focus(f"{prefix}-{keys[0]}")
        for n, key in enumerate(keys):
            if (key in wanted) != page.is_checked(f"{prefix}-{key}"):  # the last answer stays checked
                page.keyboard.press("Space")
            if n < len(keys) - 1:
                page.keyboard.press("Tab")
        assert {k for k in keys if page.is_checked(f"{prefix}-{k}")} == wanted
    else:
        wanted = list(q["answer"]) if right else list(reversed(q["answer"]))
        for position, key in enumerate(wanted, start=1):
            select = f"{prefix}-pos-{position}"
            page.focus(select)
            page.keyboard.press("Home")  # "— choose a step —" (the last answer stays chosen)
            for _ in range(keys.index(key) + 1):
                page.keyboard.press("ArrowDown")
            assert page.input_value(select) == key
    page.eval_on_selector(f"#q-{q['slug']}", "e => e.dataset.stale = 'yes'")
    tab_to_submit(page, f"q-{q['slug']}")
    page.wait_for_selector(f"#q-{q['slug']}:not([data-stale]) #q-{q['slug']}-verdict")  # swapped in place


# --- Topic page → try it → the lab -------------------------------------------------------------------------------------


def test_a_topic_page_then_try_it_opens_the_saga_lab_with_payment_declined(server, new_page):
    page = new_page()
    page.goto(server + "/")
    page.get_by_role("link", name="Sagas: orchestration and choreography").click()
    page.wait_for_url(re.compile(r"/learn/sagas/$"))
    assert page.locator("svg.diagram.saga").is_visible()
    page.focus("#try-it-button")
    page.keyboard.press("Enter")

    page.wait_for_url(re.compile(r"/labs/\w+/sagas/\w+/\?preset=payment-declined$"))
    page.wait_for_selector("#live-status[data-state=live]")
    assert "payment_declined" in page.content() or "Payment declined" in page.content()

    page.goto(server + "/learn/progress/")
    assert "preset payment-declined" in page.inner_text("#main")


def test_try_it_on_two_phase_commit_starts_the_coordinator_crash(server, new_page):
    page = new_page()
    page.goto(server + "/learn/two-phase-commit/")
    page.click("#try-it-button")
    page.wait_for_url(re.compile(r"/labs/\w+/twopc/\w+/\?preset=coordinator-crash-after-prepare$"))


def test_try_it_on_snapshots_opens_the_bank_lab_on_time_travel(server, new_page):
    page = new_page()
    page.goto(server + "/learn/snapshots-and-versioning/")
    page.click("#try-it-button")
    page.wait_for_url(re.compile(r"/labs/\w+/bank/#time-travel-section$"))
    assert page.locator("#time-travel").is_visible()


# --- Quizzes from the keyboard ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["single", "multiple", "order", "predict"])
def test_a_question_of_each_kind_answered_from_the_keyboard(server, new_page, questions, kind):
    q = first_of(questions, kind)
    page = new_page()
    page.goto(f"{server}/learn/{q['topic']}/?quiz=all#q-{q['slug']}")

    answer_from_the_keyboard(page, q, right=True)

    verdict = page.locator(f"#q-{q['slug']}-verdict")
    assert verdict.locator("h3").inner_text() == "Right"
    assert "Why:" in verdict.inner_text() and q["explanation"][:40] in verdict.inner_text()
    assert verdict.get_by_role("link").get_attribute("href") == f"/learn/{q['topic']}/#{q['anchor']}"
    assert focused(page) == f"q-{q['slug']}-verdict"  # the verdict takes the focus, so it is read out

    # Wrong this time: the parts that were wrong are named in words.
    answer_from_the_keyboard(page, q, right=False)
    verdict = page.locator(f"#q-{q['slug']}-verdict")
    assert verdict.locator("h3").inner_text() == "Not quite"
    assert page.locator(f"#q-{q['slug']} .mark.wrong").count() >= 1


def test_the_verdict_link_goes_to_the_section_that_explains_it(server, new_page, questions):
    q = first_of(questions, "single")
    page = new_page()
    page.goto(f"{server}/learn/{q['topic']}/?quiz=all#q-{q['slug']}")
    answer_from_the_keyboard(page, q)
    page.locator(f"#q-{q['slug']}-verdict a").click()
    page.wait_for_url(re.compile(f"/learn/{q['topic']}/#{q['anchor']}$"))
    assert page.locator(f"section#{q['anchor']}").is_visible()


def test_a_bad_answer_is_explained_in_place(server, new_page, questions):
    q = first_of(questions, "multiple")
    page = new_page()
    page.goto(f"{server}/learn/{q['topic']}/?quiz=all#q-{q['slug']}")
    page.click(f"#q-{q['slug']} button[type=submit]")  # nothing chosen
    page.wait_for_selector(f"#q-{q['slug']}-error")
    assert "Pick at least one answer. Nothing was recorded." in page.inner_text(f"#q-{q['slug']}-error")


def test_a_predict_question_opens_its_scenario(server, new_page, questions):
    q = first_of(questions, "predict")
    page = new_page()
    page.goto(f"{server}/learn/{q['topic']}/?quiz=all#q-{q['slug']}")
    page.locator(f"#q-{q['slug']} form.scenario button").click()
    page.wait_for_url(re.compile(r"/labs/\w+/"))
    if q["lab"]["lab"] != "bank":
        assert f"preset={q['lab']['preset']}" in page.url


def test_without_javascript_an_answer_comes_back_with_its_verdict(server, browser, questions):
    q = first_of(questions, "single")
    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto(f"{server}/learn/{q['topic']}/?quiz=all")
        page.check(f"#{q['slug']}-{q['answer'][0]}")
        page.click(f"#q-{q['slug']} button[type=submit]")
        page.wait_for_url(re.compile(f"answered={q['slug']}#q-{q['slug']}$"))
        assert page.locator(f"#q-{q['slug']}-verdict h3").inner_text() == "Right"
    finally:
        context.close()


# --- Interview prep ----------------------------------------------------------------------------------------------------


def test_interview_prep_to_a_score_with_weak_topics(server, new_page, questions):
    by_slug = {q["slug"]: q for q in questions}
    page = new_page()
    page.goto(server + "/learn/interview/")
    page.focus("#start-interview")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/learn/interview/\w+/$"))

    timer = page.locator("#interview-timer")
    first = timer.inner_text()
    page.wait_for_function(f"document.getElementById('interview-timer').textContent !== {json.dumps(first)}")
    assert re.match(r"Elapsed \d+:\d\d", timer.inner_text())

    asked = page.eval_on_selector_all("#interview-form article.question", "els => els.map(e => e.id.slice(2))")
    assert len(asked) == min(10, len(questions))
    # Right on the first half, blank on the rest (skipped counts as wrong).
    for slug in asked[: len(asked) // 2]:
        q = by_slug[slug]
        if q["kind"] == "order":
            for position, key in enumerate(q["answer"], start=1):
                page.select_option(f"#{slug}-{slug}-pos-{position}", key)
        else:
            for key in q["answer"]:
                page.check(f"#{slug}-{slug}-{key}")
    page.focus("#finish-interview")
    page.keyboard.press("Enter")
    page.wait_for_selector("#score")

    assert page.inner_text("#score-h") == f"Score: {len(asked) // 2} of {len(asked)}"
    weak = page.locator("ul.weak-topics a")
    expected = {by_slug[s]["topic"] for s in asked[len(asked) // 2:]}
    assert weak.count() == len(expected)
    weak.first.click()
    page.wait_for_url(re.compile(r"/learn/[\w-]+/$"))
    assert page.url.rstrip("/").rsplit("/", 1)[1] in expected


# --- Progress in the bank lab's event panel ----------------------------------------------------------------------------


def test_progress_opens_in_the_bank_event_panel(server, new_page, questions):
    page = new_page()
    page.goto(server + "/learn/cqrs/")
    page.goto(server + "/learn/progress/")
    page.click("#progress-events")
    page.wait_for_url(re.compile(r"/labs/\w+/bank/\?stream=progress#log-h$"))
    page.wait_for_selector("#live-status[data-state=live]")
    assert page.locator("#event-rows td.type").all_inner_texts() == ["PageRead"]
    assert page.input_value("#f-stream") == "progress"


# --- Reduced motion ----------------------------------------------------------------------------------------------------


def test_reduced_motion_stops_the_pictures_transitions(server, browser):
    context = browser.new_context(reduced_motion="reduce")
    try:
        page = context.new_page()
        page.goto(server + "/learn/event-sourcing/")
        duration = page.eval_on_selector("svg.diagram .stage rect", "e => getComputedStyle(e).transitionDuration")
        assert duration in ("0s", "0s, 0s")
    finally:
        context.close()


# --- axe ---------------------------------------------------------------------------------------------------------------


def test_axe_course_map(server, new_page):
    page = new_page()
    page.goto(server + "/learn/sagas/")  # some progress shows on the map
    page.goto(server + "/")
    assert serious(page) == []


@pytest.mark.parametrize("slug", ["event-sourcing", "sagas", "saga-vs-2pc", "circuit-breaker-bulkhead-retry"])
def test_axe_topic_page(server, new_page, questions, slug):
    page = new_page()
    page.goto(f"{server}/learn/{slug}/?quiz=all")
    assert serious(page) == []


def test_axe_quiz_verdicts(server, new_page, questions):
    page = new_page()
    q = first_of(questions, "order")
    page.goto(f"{server}/learn/{q['topic']}/?quiz=all")
    answer_from_the_keyboard(page, q, right=False)
    m = first_of(questions, "multiple")
    page.goto(f"{server}/learn/{m['topic']}/?quiz=all")
    answer_from_the_keyboard(page, m, right=False)
    assert serious(page) == []


def test_axe_interview_mode(server, new_page, questions):
    page = new_page()
    page.goto(server + "/learn/interview/")
    assert serious(page) == []
    page.click("#start-interview")
    page.wait_for_selector("#interview-form")
    assert serious(page) == []
    page.click("#finish-interview")
    page.wait_for_selector("#score")
    assert serious(page) == []


def test_axe_progress_page(server, new_page, questions):
    page = new_page()
    q = first_of(questions, "single")
    page.goto(f"{server}/learn/{q['topic']}/?quiz=all")
    answer_from_the_keyboard(page, q)
    page.click("#try-it-button")
    page.wait_for_url(re.compile(r"/labs/"))
    page.goto(server + "/learn/progress/")
    assert serious(page) == []


# --- The Event Sourcing page's code view -------------------------------------------------------------------------------


def send_bank_command(page, command, account, amount=""):
    page.select_option("#cmd-command", command)
    page.fill("#cmd-account", account)
    if amount:
        page.fill("#cmd-amount", amount)
    page.locator("form.command button[type=submit]").click()


def lit_code(page, function):
    """The source lines lit in one function's code block, without their line numbers."""
    return [line.strip() for line in page.locator(f"#code-{function} .hll").evaluate_all(
        "spans => spans.map(s => Array.from(s.childNodes).filter(n => !(n.classList && n.classList.contains('linenos')))"
        ".map(n => n.textContent).join(''))")]


def test_the_code_view_lights_the_branch_of_decide_that_handled_the_last_bank_command(server, new_page):
    from playwright.sync_api import expect

    page = new_page()
    page.goto(server + "/learn/event-sourcing/")
    expect(page.locator("#code-last")).to_contain_text("Nothing is lit yet")
    assert page.locator("#code-view .hll").count() == 0
    # The bank's own Python and the guide's Scala, highlighted on the server.
    expect(page.locator("#code-decide .nf").first).to_have_text("decide")
    expect(page.locator("#code-scala")).to_contain_text("receiveCommand")

    page.goto(server + "/labs/bank/")
    page.wait_for_selector("#live-status[data-state=live]")
    send_bank_command(page, "Deposit", "acc-1", amount="25.00")
    expect(page.locator("#command-result")).to_contain_text("Accepted: Deposit")
    page.goto(server + "/learn/event-sourcing/#code-view")
    expect(page.locator("#code-last")).to_contain_text("Deposit 25.00 on account acc-1 was accepted")
    assert lit_code(page, "decide") == ["case Deposit(account_id, amount):",
                                        "return [MoneyDeposited(account_id, str(amount), CURRENCY)]"]
    assert lit_code(page, "evolve")[0] == "case MoneyDeposited(_, amount, _):"
    assert page.locator("#code-decide .hll").first.is_visible()

    page.goto(server + "/labs/bank/")
    page.wait_for_selector("#live-status[data-state=live]")
    send_bank_command(page, "Withdraw", "acc-1", amount="999999.00")
    expect(page.locator("#command-result")).to_contain_text("Insufficient funds")
    page.goto(server + "/learn/event-sourcing/#code-view")
    expect(page.locator("#code-last")).to_contain_text("was refused by the check if amount > state.balance:")
    expect(page.locator("#code-last")).to_contain_text("Nothing was appended")
    assert lit_code(page, "decide")[:2] == ["case Withdraw(account_id, amount):", "if amount > state.balance:"]
    assert page.locator("#code-evolve .hll").count() == 0
    assert serious(page) == []
