"""Peer Instruction polls, over the API (API.md "Classroom") and the pages: open (typed or from the quiz), votes,
changing a vote, round two, close (409 for a late vote), reveal with both rounds; and who may see the counts."""

import pytest
from django.core.management import call_command
from django.test import Client

from eventlab.classroom.domain import STREAM
from eventlab.labs.services import store

from .classroom_helpers import auth, instructor, join_api, join_browser, new_class, post

pytestmark = pytest.mark.django_db


@pytest.fixture
def room():
    teacher, token = instructor()
    made = new_class(token)
    learners = [join_api(made["code"], name) for name in ("Ada", "Bob", "Cy")]
    return {"teacher": teacher, "token": token, "id": made["id"], "code": made["code"], "learners": learners}


def open_poll(room, body=None):
    body = body or {"question": "What does a crashed coordinator leave?", "choices": ["Nothing", "Blocked"],
                    "correct": 1}
    response = post(Client(), f"/api/classes/{room['id']}/polls", body, room["token"])
    assert response.status_code == 201, response.content
    return response.json()


def vote(room, poll_id, learner, choice):
    return post(Client(), f"/api/classes/{room['id']}/polls/{poll_id}/votes", {"choice": choice}, learner["token"])


def read(room, poll_id, token=None):
    return Client().get(f"/api/classes/{room['id']}/polls/{poll_id}", **auth(token or room["token"]))


def test_votes_change_round_two_close_and_reveal_per_the_contract(room):
    poll = open_poll(room)
    assert set(poll) == {"id", "round", "state"} and (poll["round"], poll["state"]) == (1, "open")
    ada, bob, cy = room["learners"]
    assert vote(room, poll["id"], ada, 0).json() == {"round": 1, "choice": 0}
    assert vote(room, poll["id"], bob, 0).status_code == 200
    assert vote(room, poll["id"], ada, 1).json() == {"round": 1, "choice": 1}  # changed: replaces the first
    body = read(room, poll["id"]).json()
    assert body["counts"] == {"1": [1, 1]} and body["voters"] == {"1": 2}
    assert {"id", "question", "choices", "state", "round", "counts", "voters"} <= set(body)
    round_two = post(Client(), f"/api/classes/{room['id']}/polls/{poll['id']}/round", {}, room["token"])
    assert round_two.json() == {"round": 2, "state": "open"}
    for learner in (ada, bob, cy):
        assert vote(room, poll["id"], learner, 1).json() == {"round": 2, "choice": 1}
    assert read(room, poll["id"]).json()["counts"] == {"1": [1, 1], "2": [0, 3]}
    closed = post(Client(), f"/api/classes/{room['id']}/polls/{poll['id']}/close", {}, room["token"])
    assert closed.json() == {"state": "closed"}
    late = vote(room, poll["id"], ada, 0)
    assert late.status_code == 409 and late.json() == {"detail": "This poll is closed: it takes no more votes."}
    revealed = post(Client(), f"/api/classes/{room['id']}/polls/{poll['id']}/reveal", {}, room["token"])
    assert revealed.json() == {"state": "revealed", "correct": 1}
    final = read(room, poll["id"]).json()
    assert final["state"] == "revealed" and final["voters"] == {"1": 2, "2": 3}
    types = [e.type for e in store.read_stream(room["id"], STREAM)]
    assert types.count("VoteCast") == 6 and types[-2:] == ["PollClosed", "PollRevealed"]


def test_the_same_vote_twice_appends_nothing(room):
    poll = open_poll(room)
    ada = room["learners"][0]
    vote(room, poll["id"], ada, 0)
    head = store.head(room["id"])
    assert vote(room, poll["id"], ada, 0).status_code == 200
    assert store.head(room["id"]) == head


@pytest.mark.parametrize("body", [
    {"question": "", "choices": ["a", "b"]},
    {"question": "Q?", "choices": ["a"]},
    {"question": "Q?", "choices": ["a", "b", "c", "d", "e", "f", "g"]},
    {"question": "Q?", "choices": "ab"},
    {"question": "Q?", "choices": ["a", "b"], "correct": 2},
    {"quiz_question": "no-such-question"},
    [1, 2],
])
def test_a_bad_poll_is_422_and_appends_nothing(room, body):
    head = store.head(room["id"])
    response = post(Client(), f"/api/classes/{room['id']}/polls", body, room["token"])
    assert response.status_code == 422 and isinstance(response.json()["detail"], str)
    assert store.head(room["id"]) == head


def test_a_poll_from_a_quiz_question(room):
    call_command("loaddata", "quiz_questions", verbosity=0)
    from eventlab.learn.models import Question

    question = Question.objects.filter(kind="single").first()
    poll = open_poll(room, {"quiz_question": question.slug})
    body = read(room, poll["id"]).json()
    assert body["question"] == question.prompt and body["choices"] == [c["text"] for c in question.choices]
    assert body["choices"][body["correct"]] == question.choice_text[question.answer[0]]


@pytest.mark.parametrize("choice", [2, -1, "0", None, True])
def test_a_vote_for_no_choice_is_422(room, choice):
    poll = open_poll(room)
    assert vote(room, poll["id"], room["learners"][0], choice).status_code == 422


def test_a_removed_learner_or_a_stranger_cannot_vote_and_learners_cannot_see_counts(room):
    poll = open_poll(room)
    ada, bob, _ = room["learners"]
    post(Client(), f"/api/classes/{room['id']}/learners/{ada['learner_id']}/remove", {}, room["token"])
    assert vote(room, poll["id"], ada, 0).status_code == 404
    assert post(Client(), f"/api/classes/{room['id']}/polls/{poll['id']}/votes", {"choice": 0}).status_code == 404
    other = new_class(instructor("alan")[1])
    other_learner = join_api(other["code"], "Eve")
    assert vote(room, poll["id"], other_learner, 0).status_code == 404  # a token for another class
    assert read(room, poll["id"], bob["token"]).status_code == 404
    assert read(room, poll["id"], instructor("barbara")[1]).status_code == 404
    assert read(room, "nope").status_code == 404
    for action in ("round", "close", "reveal"):
        assert post(Client(), f"/api/classes/{room['id']}/polls/{poll['id']}/{action}", {}, bob["token"]).status_code == 404
    assert post(Client(), f"/api/classes/{room['id']}/polls", {"question": "Q", "choices": ["a", "b"]},
                bob["token"]).status_code == 404


def test_a_third_round_is_refused_with_409(room):
    poll = open_poll(room)
    url = f"/api/classes/{room['id']}/polls/{poll['id']}/round"
    assert post(Client(), url, {}, room["token"]).status_code == 200
    third = post(Client(), url, {}, room["token"])
    assert third.status_code == 409 and "at most 2 rounds" in third.json()["detail"]


def test_the_pages_open_a_poll_vote_round_two_and_reveal(room):
    teacher = room["teacher"]
    learner, class_id = join_browser(room["code"], "Dee")
    assert b"Waiting for a question" in learner.get(f"/classes/{class_id}/learn").content
    bad = teacher.post(f"/classes/{class_id}/polls/new", {"question": "Q?", "choice0": "only one"})
    assert bad.status_code == 422 and b"2 to 6 choices" in bad.content
    assert b'name="choice0" maxlength="200" value="only one"' in bad.content  # what was typed is kept
    opened = teacher.post(f"/classes/{class_id}/polls/new",
                          {"question": "Which <em>wins</em>?", "choice0": "A one", "choice1": "", "choice2": "C one",
                           "correct": "2"})
    assert opened.status_code == 302
    poll_url = opened["Location"]
    poll_id = poll_url.rstrip("/").split("/")[-1]
    page = learner.get(f"/classes/{class_id}/learn").content.decode()
    assert "Which &lt;em&gt;wins&lt;/em&gt;?" in page and "C one" in page
    vote_url = f"/classes/{class_id}/polls/{poll_id}/vote"
    assert learner.post(vote_url, {"choice": "1"}).status_code == 302
    mine = learner.post(vote_url, {"choice": "0"}, HTTP_HX_REQUEST="true").content.decode()
    assert 'id="my-vote"' in mine and "<strong>A</strong>" in mine
    screen = teacher.get(poll_url).content.decode()
    assert 'id="voters-1">Round 1: <strong>1</strong> voted' in screen
    assert teacher.post(f"{poll_url}round").status_code == 302
    assert b"Round 2" in learner.get(f"/classes/{class_id}/learn").content
    learner.post(vote_url, {"choice": "1"})
    assert teacher.post(f"{poll_url}reveal").status_code == 302
    screen = teacher.get(poll_url).content.decode()
    assert 'id="count-1-0"' in screen and 'id="count-2-1"' in screen and "✓ correct" in screen
    learner_page = learner.get(f"/classes/{class_id}/learn").content.decode()
    assert "The answer is <strong>B</strong>" in learner_page and 'id="count-2-1"' in learner_page
    late = learner.post(vote_url, {"choice": "0"})
    assert late.status_code == 409 and b"This poll is closed" in late.content
