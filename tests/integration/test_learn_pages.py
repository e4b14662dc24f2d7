"""The course pages, without a browser: the map, every topic page, "try it", quizzes of every kind, interview prep and
progress (events in the session's personal lab, and nowhere else); the quiz fixture checked question by question; and a
crawler over the whole site from `/` (no 4xx/5xx, no broken #anchors)."""

import json
import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urldefrag, urljoin, urlsplit

import pytest
from django.conf import settings
from django.core.management import call_command
from django.test import Client

from eventlab.eventstore.models import StoredEvent
from eventlab.labs import registry
from eventlab.labs.access import SESSION_CURRENT, SESSION_PERSONAL
from eventlab.labs.models import Lab
from eventlab.labs.services import create_lab, store
from eventlab.learn import progress, quiz, services, topics
from eventlab.learn.models import Question

pytestmark = pytest.mark.django_db

HX = {"HX-Request": "true"}
FIXTURES = Path(settings.BASE_DIR) / "fixtures"
QUIZ_FIXTURE = FIXTURES / "quiz_questions.json"
CHOICES = [{"key": k, "text": f"Choice {k.upper()}"} for k in "abcd"]


def text(response) -> str:
    return re.sub(r"\s+", " ", response.content.decode())


@pytest.fixture
def presets():
    call_command("loaddata", "demo_bank", "saga_presets", "twopc_presets", "resilience_presets", verbosity=0)


@pytest.fixture
def questions(db):
    """A question of every kind on the saga topic, and one on every other topic (for interview sets)."""
    made = [
        Question.objects.create(slug="t-single", topic="sagas", position=1, kind="single", prompt="Pick B.",
                                choices=CHOICES, answer=["b"], explanation="B is the one.", anchor="how"),
        Question.objects.create(slug="t-multiple", topic="sagas", position=2, kind="multiple", prompt="A and C.",
                                choices=CHOICES, answer=["a", "c"], explanation="A and C both.", anchor="drawbacks"),
        Question.objects.create(slug="t-order", topic="sagas", position=3, kind="order", prompt="Order them.",
                                choices=CHOICES, answer=["c", "a", "d", "b"], explanation="C, A, D, B.",
                                anchor="diagram"),
        Question.objects.create(slug="t-predict", topic="sagas", position=4, kind="predict", prompt="What happens?",
                                choices=CHOICES, answer=["d"], explanation="D happens.", anchor="try-it",
                                lab={"lab": "sagas", "preset": "payment-declined"}),
    ]
    for slug in topics.SLUGS:
        if slug != "sagas":
            made.append(Question.objects.create(slug=f"t-{slug}", topic=slug, position=1, kind="single",
                                                prompt=f"About {slug}?", choices=CHOICES, answer=["a"],
                                                explanation="A, always.", anchor="what"))
    return {q.slug: q for q in made}


def personal(client: Client) -> Lab | None:
    lab_id = client.session.get(SESSION_PERSONAL)
    return Lab.objects.filter(pk=lab_id).first() if lab_id else None


def progress_events(client: Client) -> list:
    lab = personal(client)
    return store.read_stream(lab.id, progress.STREAM) if lab else []


def event_types(client: Client) -> list[str]:
    return [e.type for e in progress_events(client)]


# --- Every page renders ----------------------------------------------------------------------------------------------


def test_the_course_map_shows_every_topic_in_order_and_creates_no_lab(client, questions):
    before = Lab.objects.count()

    page = client.get("/")

    assert page.status_code == 200
    html = text(page)
    positions = [html.index(f'href="/learn/{slug}/"') for slug in topics.SLUGS]
    assert positions == sorted(positions)
    assert html.index('href="/learn/choosing-patterns/"') < html.index('href="/learn/interview/"')
    assert 'href="/learn/progress/"' in html and 'href="/labs/bank/"' in html
    assert Lab.objects.count() == before
    assert "labs" not in client.session and SESSION_PERSONAL not in client.session


@pytest.mark.parametrize("slug", topics.SLUGS)
def test_every_topic_page_renders_its_sections_in_order(client, questions, slug):
    page = client.get(f"/learn/{slug}/")

    assert page.status_code == 200
    html = page.content.decode()
    found = [html.index(f'<section id="{section}"') for section in topics.SECTION_IDS]
    assert found == sorted(found)
    assert topics.get(slug).title in html
    assert 'action="/learn/try"' in html and f'name="topic" value="{slug}"' in html


@pytest.mark.parametrize(("slug", "title"), [("event-sourcing", "Commands, write model, event store"),
                                              ("cqrs", "Commands, write model, event store"),
                                              ("sagas", "The order saga: an orchestrator"),
                                              ("saga-vs-2pc", "The order saga: an orchestrator")])
def test_the_course_pictures_are_on_their_pages_with_a_title_and_a_description(client, slug, title):
    html = client.get(f"/learn/{slug}/").content.decode()
    svg = re.search(r'<svg class="diagram[^"]*"[^>]*role="img"[^>]*>.*?</svg>', html, re.S)
    assert svg and title in svg.group(0)
    assert re.search(r"<title id=\"\w+-title\">", svg.group(0)) and "<desc id=" in svg.group(0)
    assert svg.group(0).count('class="stage lit') + svg.group(0).count('class="compensation lit') == 1


def test_the_lit_stage_follows_the_learner_or_the_stage_asked_for(client, questions):
    fresh = client.get("/learn/event-sourcing/").content.decode()  # reading it is the first milestone
    assert re.search(r'class="stage lit[^"]*"[^>]*>\s*<rect[^>]*/>\s*<text[^>]*>Write model', fresh)
    assert "You are at: Write model." in text(client.get("/learn/cqrs/"))

    asked = client.get("/learn/cqrs/?stage=projections").content.decode()
    assert re.search(r'class="stage lit[^"]*"[^>]*>\s*<rect[^>]*/>\s*<text[^>]*>Projections', asked)
    assert 'aria-current="step">Projections' in asked and "Showing: Projections." in text(client.get(
        "/learn/cqrs/?stage=projections"))
    # An unknown stage is ignored: the learner's own is lit.
    assert "You are at: Write model." in text(client.get("/learn/cqrs/?stage=<script>"))

    sagas = client.get("/learn/sagas/?stage=compensation").content.decode()
    assert 'class="compensation lit' in sagas


def test_the_comparison_tables_link_every_row_to_the_lab(client, presets):
    sagas = client.get("/learn/sagas/").content.decode()
    table = re.search(r'<table class="versus-table learn-table" id="orchestration-vs-choreography">.*?</table>',
                      sagas, re.S).group(0)
    rows = re.findall(r"<tr><th scope=\"row\">.*?</tr>", table, re.S)
    assert len(rows) >= 5
    for row in rows:
        assert 'action="/learn/try"' in row or 'href="/learn/open/' in row, row

    versus = client.get("/learn/saga-vs-2pc/").content.decode()
    table = re.search(r'<table class="versus-table learn-table" id="saga-vs-2pc-table">.*?</table>', versus,
                      re.S).group(0)
    rows = re.findall(r"<tr><th scope=\"row\">.*?</tr>", table, re.S)
    assert len(rows) >= 5
    for row in rows:
        assert 'action="/learn/try"' in row or 'href="/learn/open/' in row, row
    assert 'href="/learn/open/compare/compare/"' in table and 'href="/learn/open/compare/matrix/"' in table
    # Every preset a row starts exists.
    for lab, preset in re.findall(r'name="lab" value="(\w+)"><input type="hidden" name="preset" value="([\w-]+)"',
                                  sagas + versus):
        assert preset in known_presets()[lab], (lab, preset)


def test_the_table_links_open_the_lab_views_in_the_working_lab(client, presets):
    compare = client.get("/learn/open/compare/compare/")
    lab_id = client.session[SESSION_CURRENT]
    assert compare.status_code == 302 and compare["Location"] == f"/labs/{lab_id}/twopc/compare/"
    assert client.get("/learn/open/compare/matrix/")["Location"] == f"/labs/{lab_id}/twopc/matrix/"
    assert client.get("/learn/open/bank/nope/").status_code == 404
    assert client.get("/learn/open/kitchen/lab/").status_code == 404


def test_an_unknown_topic_is_a_404(client):
    assert client.get("/learn/kitchen-sink/").status_code == 404


def test_a_topic_page_shows_a_few_questions_and_all_on_request(client, questions):
    for n in range(5, 9):
        Question.objects.create(slug=f"t-more-{n}", topic="sagas", position=n, kind="single", prompt=f"More {n}",
                                choices=CHOICES, answer=["a"], explanation="A.", anchor="what")

    few = client.get("/learn/sagas/").content.decode()
    every = client.get("/learn/sagas/?quiz=all").content.decode()

    assert few.count('<article class="question') == 4
    assert all(f'id="q-t-{kind}"' in few for kind in ("single", "multiple", "order", "predict"))
    assert 'href="?quiz=all#quiz"' in few
    assert every.count('<article class="question') == 8


def test_the_progress_and_interview_pages_render_before_anything_happened(client):
    assert "Nothing recorded yet" in text(client.get("/learn/progress/"))
    assert client.get("/learn/interview/").status_code == 200
    assert Lab.objects.count() == 0


# --- Reading a page is an event in the personal lab --------------------------------------------------------------------


def test_opening_a_topic_records_it_read_once_in_the_sessions_personal_lab(client):
    client.get("/learn/sagas/")
    client.get("/learn/sagas/")
    client.get("/learn/cqrs/")

    lab = personal(client)
    assert lab.kind == Lab.Kind.PERSONAL
    assert [(e.type, e.data) for e in progress_events(client)] == [
        ("PageRead", {"topic": "sagas"}), ("PageRead", {"topic": "cqrs"})]
    assert Lab.objects.count() == 1  # no working lab was made for reading
    assert SESSION_CURRENT not in client.session
    assert "✓ read" in text(client.get("/"))


def test_new_lab_never_replaces_the_personal_lab(client):
    client.get("/learn/sagas/")
    mine = personal(client)

    client.post("/labs/new", {"page": "bank"})
    client.get("/learn/cqrs/")

    assert personal(client) == mine
    assert event_types(client) == ["PageRead", "PageRead"]
    assert client.session[SESSION_CURRENT] != mine.id


def test_two_sessions_have_their_own_progress(client):
    client.get("/learn/sagas/")
    other = Client()
    other.get("/learn/cqrs/")

    assert personal(client) != personal(other)
    assert [e.data["topic"] for e in progress_events(other)] == ["cqrs"]
    assert client.get(f"/labs/{personal(other).id}/bank/").status_code == 404


# --- Try it --------------------------------------------------------------------------------------------------------------


EXPECTED_TRY = {
    "event-sourcing": r"/labs/(\w+)/bank/#commands-h",
    "snapshots-and-versioning": r"/labs/(\w+)/bank/#time-travel-section",
    "cqrs": r"/labs/(\w+)/bank/#readmodels-section",
    "api-gateway-and-discovery": r"/labs/(\w+)/resilience/\w+/(\?.*)?",
    "circuit-breaker-bulkhead-retry": r"/labs/(\w+)/resilience/\w+/(\?.*)?",
    "two-phase-commit": r"/labs/(\w+)/twopc/\w+/\?preset=coordinator-crash-after-prepare",
    "sagas": r"/labs/(\w+)/sagas/\w+/\?preset=payment-declined",
    "saga-vs-2pc": r"/labs/(\w+)/twopc/compare/",
    "tracing": r"/labs/(\w+)/sagas/\w+/\?preset=message-lost-dead-letter",
    "choosing-patterns": r"/labs/(\w+)/twopc/matrix/",
}


@pytest.mark.parametrize("slug", topics.SLUGS)
def test_try_it_opens_the_right_lab_already_set_up(client, presets, slug):
    target = services.topic_target(slug)

    response = client.post("/learn/try", {"topic": slug})

    assert response.status_code == 302, response.content[:500]
    match = re.fullmatch(EXPECTED_TRY[slug], response["Location"])
    assert match, response["Location"]
    working = Lab.objects.get(pk=match.group(1))
    assert working.kind == Lab.Kind.WORKING and client.session[SESSION_CURRENT] == working.id
    assert client.get(response["Location"]).status_code == 200
    tried = progress_events(client)[-1]
    assert (tried.type, tried.data["lab"], tried.data["topic"]) == ("LabTried", target.lab, slug)
    assert tried.data["preset"] == target.preset and tried.data["view"] == target.view


def test_try_it_starts_the_preset_in_the_working_lab_and_nothing_in_the_personal_lab(client, presets):
    client.get("/labs/bank/")
    working = Lab.objects.get(pk=client.session[SESSION_CURRENT])
    head = store.head(working.id)

    client.post("/learn/try", {"topic": "sagas"})

    started = store.read_log(working.id, after=head)
    assert started and started[0].type == "SagaRunStarted"
    assert '"payment_declined"' in json.dumps(started[0].data)
    assert all(e.stream == progress.STREAM for e in store.read_log(personal(client).id))


def test_taking_a_lab_run_to_its_end_is_recorded_once_as_lab_completed(client, presets):
    client.get("/labs/twopc/")
    working = Lab.objects.get(pk=client.session[SESSION_CURRENT])
    run_url = client.post(f"/labs/{working.id}/twopc/preset", {"preset": "vote-no"})["Location"].split("?")[0]

    client.post(run_url + "act", {"action": "step"})
    assert "LabCompleted" not in event_types(client)  # one step is not the end
    client.post(run_url + "act", {"action": "run"})
    client.post(run_url + "act", {"action": "run"})  # refused: nothing in flight; records nothing more

    [done] = [e for e in progress_events(client) if e.type == "LabCompleted"]
    assert done.data == {"lab": "twopc", "run": run_url.rstrip("/").split("/")[-1], "outcome": "aborted"}
    assert all(e.stream == progress.STREAM for e in store.read_log(personal(client).id))
    assert "a run in the 2PC lab ended <strong>aborted</strong>" in text(client.get("/learn/progress/"))


def test_a_predict_questions_scenario_opens_in_the_lab(client, presets, questions):
    response = client.post("/learn/try", {"question": "t-predict"})

    assert re.fullmatch(r"/labs/\w+/sagas/\w+/\?preset=payment-declined", response["Location"])
    assert progress_events(client)[-1].data == {"lab": "sagas", "preset": "payment-declined", "view": "",
                                                "topic": "sagas", "question": "t-predict"}


@pytest.mark.parametrize(("form", "status"), [
    ({"topic": "kitchen"}, 404), ({}, 404), ({"question": "t-single"}, 404), ({"question": "nope"}, 404),
    ({"lab": "kitchen", "preset": "x"}, 422), ({"lab": "bank", "preset": "x"}, 422),
    ({"lab": "sagas", "preset": "no-such-preset"}, 404),
])
def test_try_it_with_nothing_to_open_says_so_and_records_nothing(client, presets, questions, form, status):
    response = client.post("/learn/try", form)

    assert response.status_code == status
    assert "LabTried" not in event_types(client)


def test_try_it_is_a_post(client):
    assert client.get("/learn/try").status_code == 405


# --- Quizzes -------------------------------------------------------------------------------------------------------------


ANSWERS = [
    ("t-single", {"answer": "b"}, True), ("t-single", {"answer": "c"}, False),
    ("t-multiple", {"answer": ["a", "c"]}, True), ("t-multiple", {"answer": ["a"]}, False),
    ("t-order", {"pos-1": "c", "pos-2": "a", "pos-3": "d", "pos-4": "b"}, True),
    ("t-order", {"pos-1": "a", "pos-2": "c", "pos-3": "d", "pos-4": "b"}, False),
    ("t-predict", {"answer": "d"}, True), ("t-predict", {"answer": "a"}, False),
]


@pytest.mark.parametrize(("slug", "form", "correct"), ANSWERS)
def test_an_answer_in_place_gives_the_verdict_why_and_where_to_read_more(client, questions, slug, form, correct):
    question = questions[slug]

    response = client.post(f"/learn/quiz/{slug}/answer", form, headers=HX)

    assert response.status_code == 200
    html = text(response)
    assert html.startswith(f'<article class="question answered {"is-right" if correct else "is-wrong"}"')
    assert ("<h3>Right</h3>" if correct else "<h3>Not quite</h3>") in html
    assert f"<strong>Why:</strong> {question.explanation}" in html
    assert f'href="/learn/sagas/#{question.anchor}"' in html
    answered = progress_events(client)[-1]
    assert answered.type == "QuizAnswered"
    assert (answered.data["question"], answered.data["topic"], answered.data["correct"]) == (slug, "sagas", correct)


def test_which_parts_were_wrong_are_marked_in_words(client, questions):
    multiple = text(client.post("/learn/quiz/t-multiple/answer", {"answer": ["a", "b"]}, headers=HX))
    assert "✗ your pick: not right" in multiple and "✗ missed: this one is right too" in multiple
    order = text(client.post("/learn/quiz/t-order/answer", {"pos-1": "a", "pos-2": "c", "pos-3": "d", "pos-4": "b"},
                             headers=HX))
    assert order.count("✗ wrong step here") == 2
    assert "The right order:" in order and "<li>Choice C</li><li>Choice A</li><li>Choice D</li>" in order


def test_an_answer_without_javascript_comes_back_to_the_topic_page_with_the_verdict(client, questions):
    response = client.post("/learn/quiz/t-single/answer", {"answer": "c"})

    assert response.status_code == 302
    assert response["Location"] == "/learn/sagas/?answered=t-single#q-t-single"
    page = text(client.get(response["Location"]))
    assert '<article class="question answered is-wrong" id="q-t-single"' in page
    assert "The right answer is: <strong>Choice B</strong>." in page
    assert 'value="c" checked' in page  # the learner's own answer stays chosen


BAD_ANSWERS = [
    ("t-single", {}, 422, "Pick one answer."),
    ("t-single", {"answer": ["a", "b"]}, 422, "Pick only one answer."),
    ("t-single", {"answer": "z"}, 422, "is not a choice of this question."),
    ("t-multiple", {}, 422, "Pick at least one answer."),
    ("t-multiple", {"answer": ["a", "a"]}, 422, "A choice was given twice."),
    ("t-order", {"pos-1": "c", "pos-2": "a", "pos-3": "d"}, 422, "Give every position a step"),
    ("t-order", {"pos-1": "c", "pos-2": "c", "pos-3": "d", "pos-4": "b"}, 422, "exactly one position"),
    ("t-predict", {"answer": "x" * 5000}, 422, "is not a choice of this question."),
    ("no-such-question", {"answer": "a"}, 404, "There is no question by that name."),
]


@pytest.mark.parametrize(("slug", "form", "status", "message"), BAD_ANSWERS)
@pytest.mark.parametrize("htmx", [False, True])
def test_a_bad_answer_is_a_clear_4xx_and_records_nothing(client, questions, slug, form, status, message, htmx):
    client.get("/learn/cqrs/")  # the personal lab exists, with one event
    before = StoredEvent.objects.count()

    response = client.post(f"/learn/quiz/{slug}/answer", form, headers=HX if htmx else {})

    assert response.status_code == status
    assert message in text(response)
    assert "Nothing was recorded" in text(response)
    assert StoredEvent.objects.count() == before


def test_a_bad_answer_before_anything_else_makes_no_lab(client, questions):
    assert client.post("/learn/quiz/t-single/answer", {}).status_code == 422
    assert client.post("/learn/quiz/nope/answer", {}).status_code == 404
    assert Lab.objects.count() == 0


def test_answering_is_a_post(client, questions):
    assert client.get("/learn/quiz/t-single/answer").status_code == 405


def test_questions_are_shown_escaped(client, questions):
    Question.objects.filter(pk="t-single").update(prompt="<script>alert(1)</script> Pick B.")
    html = client.get("/learn/sagas/").content.decode()
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html


# --- Progress events land in the personal lab's log, and nowhere else ---------------------------------------------------


def test_progress_events_land_in_the_personal_lab_and_nowhere_else(client, presets, questions):
    client.get("/labs/bank/")
    working = Lab.objects.get(pk=client.session[SESSION_CURRENT])
    other, _token = create_lab()  # somebody else's
    heads = {lab.id: store.head(lab.id) for lab in Lab.objects.all()}

    client.get("/learn/event-sourcing/")
    client.post("/learn/quiz/t-single/answer", {"answer": "b"})
    client.post("/learn/try", {"topic": "event-sourcing"})
    client.post("/learn/interview/start")

    mine = personal(client)
    assert [e.type for e in store.read_log(mine.id)] == ["PageRead", "QuizAnswered", "LabTried", "InterviewStarted"]
    assert {e.stream for e in store.read_log(mine.id)} == {progress.STREAM}
    assert store.head(working.id) == heads[working.id]  # the bank lab opened: nothing appended to it
    assert StoredEvent.objects.filter(stream=progress.STREAM).exclude(lab=mine.id).count() == 0
    assert store.head(other.id) == heads.get(other.id, 0)


def test_the_progress_page_is_a_projection_of_those_events(client, questions):
    client.get("/learn/sagas/")
    client.post("/learn/quiz/t-single/answer", {"answer": "c"})
    client.post("/learn/quiz/t-single/answer", {"answer": "b"})
    client.post("/learn/quiz/t-multiple/answer", {"answer": ["a", "c"]})

    html = text(client.get("/learn/progress/"))

    assert "See these 4 events in the event store panel" in html
    sagas_row = re.search(r'<th scope="row"><a href="/learn/sagas/">.*?</tr>', html).group(0)
    assert re.findall(r'<td class="num">(\d+)</td>', sagas_row) == ["2", "2", "3"]
    assert "3 answers, 2 right: 67% right so far." in html
    assert html.count("✓ right") == 2 and html.count("✗ wrong") == 1


def test_the_progress_link_opens_the_personal_lab_in_the_bank_event_panel(client, questions):
    client.get("/labs/bank/")
    working = client.session[SESSION_CURRENT]
    client.get("/learn/sagas/")
    client.post("/learn/quiz/t-single/answer", {"answer": "b"})

    link = re.search(r'id="progress-events" href="([^"]+)"', client.get("/learn/progress/").content.decode())
    url = link.group(1).replace("&amp;", "&")
    assert url == f"/labs/{personal(client).id}/bank/?stream=progress#log-h"
    page = client.get(url)

    assert page.status_code == 200
    html = text(page)
    assert re.findall(r'<td class="type t-(\w+)">', html) == ["QuizAnswered", "PageRead"]
    assert '<option value="progress" selected>progress</option>' in html
    # Looking at the personal lab does not make it the working lab.
    assert client.session[SESSION_CURRENT] == working
    assert client.get("/labs/bank/")["Location"] == f"/labs/{working}/bank/"
    # And the bank page also takes it as ?lab=
    assert client.get(f"/labs/bank/?lab={personal(client).id}")["Location"] == f"/labs/{personal(client).id}/bank/"


# --- Interview prep ------------------------------------------------------------------------------------------------------


def start_interview(client: Client) -> tuple[str, str]:
    response = client.post("/learn/interview/start")
    assert response.status_code == 302
    url = response["Location"]
    return url, re.fullmatch(r"/learn/interview/(\w+)/", url).group(1)


def test_an_interview_set_from_start_to_score_with_weak_topics(client, questions):
    url, interview_id = start_interview(client)
    page = client.get(url)
    html = page.content.decode()
    asked = re.findall(r'<article class="question" id="q-([\w-]+)"', html)
    assert len(asked) == 10 and len({questions[s].topic for s in asked}) == 10
    assert 'role="timer"' in html and "Elapsed when this page loaded:" in html

    # Answer all right except two topics; leave one of those blank (skipped).
    form, wrong = {}, []
    for slug in asked:
        q = questions[slug]
        if q.topic in ("tracing", "cqrs"):
            wrong.append(q.topic)
            if q.topic == "cqrs":
                form[f"{slug}-answer"] = "d"
            continue
        if q.kind == "order":
            form.update({f"{slug}-pos-{i}": k for i, k in enumerate(q.answer, start=1)})
        else:
            form[f"{slug}-answer"] = q.answer
    done = client.post(url, form)

    assert done.status_code == 302 and done["Location"] == url + "#score"
    result = text(client.get(url))
    assert "Score: 8 of 10" in result
    weak = re.search(r'<ul class="weak-topics".*?</ul>', result).group(0)
    assert re.findall(r'href="/learn/([\w-]+)/"', weak) == sorted(wrong, key=topics.SLUGS.index)
    assert "<h3>Skipped</h3>" in result and result.count("<h3>Right</h3>") == 8
    finished = progress_events(client)[-1]
    assert finished.type == "InterviewFinished"
    assert (finished.data["score"], finished.data["total"], finished.data["interview"]) == (8, 10, interview_id)
    assert sorted(finished.data["weak"]) == sorted(wrong)
    assert event_types(client).count("QuizAnswered") == 10
    assert "last score: 8 of 10" in text(client.get("/"))


def test_an_interview_set_is_scored_once(client, questions):
    url, _ = start_interview(client)
    client.post(url, {})
    before = StoredEvent.objects.count()

    again = client.post(url, {})

    assert again.status_code == 409 and "already finished" in text(again).lower()
    assert StoredEvent.objects.count() == before


def test_a_malformed_interview_answer_records_nothing(client, questions):
    url, _ = start_interview(client)
    asked = re.findall(r'<article class="question" id="q-([\w-]+)"', client.get(url).content.decode())
    one_choice = next(slug for slug in asked if slug != "t-order")  # (an order question's fields are positions)
    before = StoredEvent.objects.count()

    response = client.post(url, {f"{one_choice}-answer": "zzz"})

    assert response.status_code == 422
    assert "is not a choice of this question. Nothing was recorded." in text(response)
    assert StoredEvent.objects.count() == before


def test_an_interview_set_belongs_to_its_session(client, questions):
    url, _ = start_interview(client)
    assert Client().get(url).status_code == 404
    assert client.get("/learn/interview/nope/").status_code == 404


def test_without_questions_an_interview_cannot_start(client):
    response = client.post("/learn/interview/start")
    assert response.status_code == 409 and "no quiz questions" in text(response)
    assert Lab.objects.count() == 0


# --- The quiz fixture, question by question ---------------------------------------------------------------------------


def known_presets() -> dict[str, set[str]]:
    """Every lab's presets, read from the labs' fixtures (the bank's are its scenarios and its views)."""
    def slugs(name: str) -> set[str]:
        return {row["pk"] for row in json.loads((FIXTURES / f"{name}.json").read_text())}

    known = {"bank": slugs("demo_bank"), "sagas": slugs("saga_presets"), "twopc": slugs("twopc_presets"),
             "resilience": slugs("resilience_presets"), "compare": set()}
    return {key: presets | set(registry.get(key).views) for key, presets in known.items()}


@pytest.fixture
def fixture_rows():
    assert QUIZ_FIXTURE.exists(), f"{QUIZ_FIXTURE} is missing"
    return json.loads(QUIZ_FIXTURE.read_text())


def test_every_question_in_the_fixture_is_valid(fixture_rows):
    presets = known_presets()
    found = {}
    for row in fixture_rows:
        assert row["model"] == "learn.question", row.get("pk")
        problems = quiz.problems({**row["fields"], "slug": row["pk"]}, presets)
        if problems:
            found[row["pk"]] = problems
    assert found == {}


def test_every_explanation_in_the_fixture_names_its_source(fixture_rows):
    missing = [row["pk"] for row in fixture_rows if len(row["fields"].get("source", "").strip()) < 10]
    assert missing == []


# What the references say, against what earlier versions of some questions taught (the fixture must not say these).
WRONG_TEACHINGS = [
    (r"2PC gives atomicity and isolation", "2PC is atomic commitment, not isolation"),
    (r"strengths are isolation", "2PC is atomic commitment, not isolation"),
    (r"dead instance refuses the connection at once", "a crashed host or a partition makes a call hang"),
    (r"logs TransactionBegun", "presumed abort writes no record before the prepare phase"),
]


def test_the_fixture_no_longer_teaches_what_the_references_contradict(fixture_rows):
    text_of = {row["pk"]: json.dumps(row["fields"]) for row in fixture_rows}
    found = [(slug, why) for slug, text in text_of.items() for pattern, why in WRONG_TEACHINGS
             if re.search(pattern, text)]
    assert found == []


def test_the_fixture_covers_every_topic_and_every_kind(fixture_rows):
    slugs = [row["pk"] for row in fixture_rows]
    assert len(slugs) == len(set(slugs)) >= 80
    fields = [row["fields"] for row in fixture_rows]
    assert {f["topic"] for f in fields} == set(topics.SLUGS)
    assert {f["kind"] for f in fields} == set(quiz.KINDS)
    positions = [(f["topic"], f["position"]) for f in fields]
    assert len(positions) == len(set(positions)), "two questions of a topic share a position"


def test_the_fixture_loads_and_every_question_is_answerable_on_its_page(client, presets, fixture_rows):
    call_command("loaddata", "quiz_questions", verbosity=0)
    assert Question.objects.count() == len(fixture_rows)
    for question in Question.objects.all():
        question.full_clean()  # the admin's own check
        page = client.get(f"/learn/{question.topic}/?quiz=all")
        assert f'id="q-{question.slug}"' in page.content.decode()
        form = ({f"pos-{i}": k for i, k in enumerate(question.answer, start=1)} if question.kind == "order"
                else {"answer": question.answer})
        answered = client.post(f"/learn/quiz/{question.slug}/answer", form, headers=HX)
        assert answered.status_code == 200 and "<h3>Right</h3>" in answered.content.decode(), question.slug
        assert f'id="q-{question.slug}-source"' in answered.content.decode(), question.slug  # the source, shown
    call_command("loaddata", "quiz_questions", verbosity=0)  # twice is harmless
    assert Question.objects.count() == len(fixture_rows)


def test_the_topic_templates_fill_the_contracts_blocks(client):
    written = sorted((Path(settings.BASE_DIR) / "templates/learn/topics").glob("*.html"))
    assert [path.stem for path in written] == sorted(topics.SLUGS), "every topic has its text, and only topics"
    for path in written:
        assert path.stem in topics.SLUGS, f"{path.name} is not a topic"
        source = path.read_text()
        assert source.lstrip().startswith('{% extends "learn/topic.html" %}'), path.name
        blocks = re.findall(r"{% block (\w+) %}", source)
        assert set(blocks) <= {"what", "why", "analogy", "precise", "diagram", "practices", "drawbacks",
                               "interview"}, path.name
        assert not re.search(r"<h[12][ >]", source), f"{path.name}: headings are h3 and below"


# --- The admin -----------------------------------------------------------------------------------------------------------


def test_questions_can_be_edited_in_the_admin(admin_client, questions, presets):
    assert admin_client.get("/admin/learn/question/").status_code == 200
    assert admin_client.get("/admin/learn/question/t-order/change/").status_code == 200
    form = {"slug": "t-single", "topic": "sagas", "position": 1, "kind": "single", "prompt": "Pick B.",
            "choices": json.dumps(CHOICES), "answer": json.dumps(["b", "c"]), "explanation": "B.", "anchor": "how",
            "lab": "{}"}
    refused = admin_client.post("/admin/learn/question/t-single/change/", form)
    assert refused.status_code == 200 and "exactly one right key" in refused.content.decode()
    assert Question.objects.get(pk="t-single").answer == ["b"]


# --- A crawler over the whole site ------------------------------------------------------------------------------------


class Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.hrefs: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if attrs.get("id"):
            self.ids.add(attrs["id"])
        if tag == "a" and attrs.get("name"):
            self.ids.add(attrs["name"])
        if tag == "a" and attrs.get("href"):
            self.hrefs.append(attrs["href"])


SKIP = (re.compile(r"^/static/"), re.compile(r"/events/sse$"), re.compile(r"^/ws/"), re.compile(r"^/admin/logout"))
MAX_PAGES = 3000


def crawl(client: Client, start: str = "/") -> tuple[dict[str, int], list[tuple[str, str]], dict, list[str]]:
    """Every same-site page reachable by links from `start`: statuses, links to anchors, ids of each page."""
    statuses: dict[str, int] = {}
    ids: dict[str, set[str]] = {}
    final: dict[str, str] = {}  # a redirecting URL -> where it ended
    anchors: list[tuple[str, str]] = []  # (source, target#fragment)
    queue = [start]
    while queue:
        url = queue.pop(0)
        if url in statuses:
            continue
        assert len(statuses) < MAX_PAGES, "the crawl does not end"
        response = client.get(url)
        statuses[url] = response.status_code
        if response.status_code in (301, 302, 303, 307, 308):
            target = urljoin(url, response["Location"])
            if urlsplit(target).netloc in ("", "testserver"):
                target_url, fragment = urldefrag(urlsplit(target)._replace(scheme="", netloc="").geturl())
                final[url] = target_url
                queue.append(target_url)
                if fragment:
                    anchors.append((url, f"{target_url}#{fragment}"))
            continue
        if response.status_code != 200 or "html" not in response.get("Content-Type", ""):
            continue
        parser = Links()
        parser.feed(response.content.decode())
        ids[url] = parser.ids
        for href in parser.hrefs:
            if href.startswith(("mailto:", "javascript:")):
                continue
            absolute = urljoin(url, href)
            parts = urlsplit(absolute)
            if parts.scheme not in ("", "http") or parts.netloc not in ("", "testserver"):
                continue
            target, fragment = urldefrag(parts._replace(scheme="", netloc="").geturl())
            target = target or url
            if fragment:
                anchors.append((url, f"{target}#{fragment}"))
            if not any(p.search(urlsplit(target).path) for p in SKIP):
                queue.append(target)

    def landing(url: str) -> str:
        seen = set()
        while url in final and url not in seen:
            seen.add(url)
            url = final[url]
        return url

    broken = [(source, link) for source, link in anchors
              if (page := landing(link.split("#")[0])) in ids and link.split("#", 1)[1] not in ids[page]]
    return statuses, broken, ids


def test_a_crawl_of_the_whole_site_finds_no_error_and_no_broken_anchor(client, presets, questions):
    call_command("loaddata", "quiz_questions", verbosity=0)
    # Some history to crawl through: a bank lab with commands, a saga run, a 2PC run, answers, an interview.
    client.post("/learn/try", {"topic": "sagas"})
    client.post("/learn/try", {"topic": "two-phase-commit"})
    client.post("/learn/quiz/t-single/answer", {"answer": "a"})
    url, _ = start_interview(client)
    client.post(url, {})

    statuses, broken, ids = crawl(client)

    errors = {url: status for url, status in statuses.items() if status >= 400}
    assert errors == {}
    assert broken == []
    learn_pages = [u for u in statuses if u.startswith("/learn/")]
    assert {f"/learn/{slug}/" for slug in topics.SLUGS} <= set(learn_pages)
    assert {"/learn/progress/", "/learn/interview/"} <= set(learn_pages)
    assert any(re.fullmatch(r"/labs/\w+/bank/", u) for u in statuses)
    assert any(re.fullmatch(r"/labs/\w+/sagas/\w+/", u) for u in statuses)


# --- The Event Sourcing page's code view ---------------------------------------------------------------------------


def lit_lines(html: str, function: str) -> list[int]:
    """The file line numbers lit in one function's code block (Pygments wraps a lit line in span.hll)."""
    block = html.split(f'id="code-{function}"', 1)[1].split("</pre>", 1)[0]
    return [int(n) for n in re.findall(r'<span class="hll"><span class="linenos">\s*(\d+)</span>', block)]


def source_line(number: int) -> str:
    from eventlab.learn import codeview

    return codeview.load().line(number).strip()


def visible(response) -> str:
    """The page's text without tags, unescaped, spaces collapsed."""
    import html as html_module

    return re.sub(r"\s+", " ", html_module.unescape(re.sub(r"<[^>]+>", " ", response.content.decode())))


def bank_command(client: Client, lab_id: str, **form) -> None:
    client.post(f"/labs/{lab_id}/bank/commands", form, headers=HX)


def test_the_code_view_shows_the_banks_own_decide_and_evolve_beside_the_guides_scala(client):
    from eventlab.bank import domain

    html = client.get("/learn/event-sourcing/").content.decode()
    assert 'id="code-view"' in html and "eventlab/bank/domain.py" in html
    # The functions come from the module's source, highlighted by Pygments on the server (CSS classes, no CDN).
    import inspect

    for function in (domain.decide, domain.evolve):
        first = inspect.getsourcelines(function)[1]
        assert f'<span class="linenos">{first}</span><span class="k">def</span>' in html
    assert '<span class="nf">decide</span>' in html and '<span class="nf">evolve</span>' in html
    assert "PersistentActor" in html and "receiveRecover" in html and '/static/eventlab/code.css' in html
    # No lab and no command yet: it says so and lights nothing.
    assert "Nothing is lit yet" in text(client.get("/learn/event-sourcing/"))
    assert 'class="hll"' not in html


def test_the_code_view_lights_the_branch_that_handled_the_last_bank_command(client):
    lab_id = client.get("/labs/bank/")["Location"].split("/")[2]
    assert "this browser has sent no command" in text(client.get("/learn/event-sourcing/"))

    bank_command(client, lab_id, command="OpenAccount", account_id="cv-1", owner="Ada <b>")
    bank_command(client, lab_id, command="Deposit", account_id="cv-1", amount="50.00")
    page = client.get("/learn/event-sourcing/")
    html, words = page.content.decode(), visible(page)
    lit = lit_lines(html, "decide")
    assert [source_line(n) for n in lit] == ["case Deposit(account_id, amount):",
                                             "return [MoneyDeposited(account_id, str(amount), CURRENCY)]"]
    assert [source_line(n) for n in lit_lines(html, "evolve")][0] == "case MoneyDeposited(_, amount, _):"
    assert "Deposit 50.00 on account cv-1 was accepted by the branch case Deposit(account_id, amount): of decide" in words
    assert "evolve folded the event it appended in case MoneyDeposited(_, amount, _):" in words

    bank_command(client, lab_id, command="Withdraw", account_id="cv-1", amount="500.00")
    page = client.get("/learn/event-sourcing/")
    html, words = page.content.decode(), visible(page)
    assert [source_line(n) for n in lit_lines(html, "decide")][:2] == ["case Withdraw(account_id, amount):",
                                                                      "if amount > state.balance:"]
    assert lit_lines(html, "evolve") == []  # refused: nothing appended, nothing folded
    assert "was refused by the check if amount > state.balance: in decide" in words
    assert "Insufficient funds" in words

    # A withdrawal of everything is accepted, although the same command on the state after it would be refused:
    # lit is what decide did when the command ran (located then, never run again).
    bank_command(client, lab_id, command="Withdraw", account_id="cv-1", amount="50.00")
    html = client.get("/learn/event-sourcing/").content.decode()
    assert [source_line(n) for n in lit_lines(html, "decide")][-1].startswith("return [MoneyWithdrawn(")

    bank_command(client, lab_id, command="Deposit", account_id="nobody", amount="5.00")
    html = client.get("/learn/event-sourcing/").content.decode()
    assert [source_line(n) for n in lit_lines(html, "decide")][0] == 'if state.status == "new":'

    bank_command(client, lab_id, command="Deposit", account_id="cv-1", amount="-5")  # refused before decide
    words = visible(client.get("/learn/event-sourcing/"))
    assert "Nothing is lit." in words and "before decide ran" in words


def test_the_code_view_runs_no_decide_and_guesses_nothing_per_page_view(client, monkeypatch):
    """The branch is located when the command runs (from its events, or the refusal the bank keeps with its
    traceback) and kept in the session: showing the page runs neither decide nor a load of the account."""
    from eventlab.bank import domain

    lab_id = client.get("/labs/bank/")["Location"].split("/")[2]
    bank_command(client, lab_id, command="OpenAccount", account_id="cv-4", owner="Ada")
    bank_command(client, lab_id, command="Withdraw", account_id="cv-4", amount="7.00")
    assert client.session["bank_last_command"][lab_id]["decide"] == "decide:Withdraw:refused:1"

    def no_decide(*args, **kwargs):
        raise AssertionError("decide ran for a page view")

    monkeypatch.setattr(domain, "decide", no_decide)
    html = client.get("/learn/event-sourcing/").content.decode()
    assert [source_line(n) for n in lit_lines(html, "decide")][:2] == ["case Withdraw(account_id, amount):",
                                                                      "if amount > state.balance:"]


def test_a_conflict_or_a_reused_command_id_lights_nothing_and_says_why(client):
    lab_id = client.get("/labs/bank/")["Location"].split("/")[2]
    bank_command(client, lab_id, command="OpenAccount", account_id="cv-3", owner="Ada")
    bank_command(client, lab_id, command="Deposit", account_id="cv-3", amount="5.00", expected_version="0")
    page = client.get("/learn/event-sourcing/")
    assert "met a version conflict" in visible(page) and lit_lines(page.content.decode(), "decide") == []
    bank_command(client, lab_id, command="Deposit", account_id="cv-3", amount="5.00", command_id="same-id")
    assert lit_lines(client.get("/learn/event-sourcing/").content.decode(), "decide")
    bank_command(client, lab_id, command="Deposit", account_id="cv-3", amount="6.00", command_id="same-id")
    page = client.get("/learn/event-sourcing/")
    assert "refused before decide ran" in visible(page) and lit_lines(page.content.decode(), "decide") == []
    # The same command id with the same command again: the first result, and the branch that decided it.
    bank_command(client, lab_id, command="Deposit", account_id="cv-3", amount="5.00", command_id="same-id")
    page = client.get("/learn/event-sourcing/")
    assert "a repeat of a command id already applied" in visible(page)
    assert lit_lines(page.content.decode(), "decide")


def test_learner_text_in_the_code_view_is_escaped(client):
    lab_id = client.get("/labs/bank/")["Location"].split("/")[2]
    bank_command(client, lab_id, command="OpenAccount", account_id="cv-2", owner="<script>alert(1)</script>")
    bank_command(client, lab_id, command="Withdraw", account_id="cv-2", amount="1.00")
    html = client.get("/learn/event-sourcing/").content.decode()
    assert "<script>alert(1)" not in html
    assert lit_lines(html, "decide")


def test_the_code_view_stylesheet_is_the_one_codeview_makes_and_meets_contrast():
    from eventlab.learn import codeview

    path = Path(settings.BASE_DIR) / "static" / "eventlab" / "code.css"
    assert path.read_text() == codeview.css()
    for colour in re.findall(r"\.code \.\w+ \{ color: (#[0-9a-f]{6})", codeview.css()):
        assert codeview.contrast(colour, codeview.BACKGROUND) >= 4.5
        assert codeview.contrast(colour, codeview.LIT_BACKGROUND) >= 4.5
