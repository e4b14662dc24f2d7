"""The class's websocket (/ws/classes/<class>/): the instructor's socket gets each vote's counts; learners' sockets get
the poll when it opens, changes round or is revealed (never the counts before, never the roster); strangers and other
instructors are closed with 4404; a learner asking for the instructor's page still gets the learner's."""

import json

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from eventlab.asgi import application
from eventlab.classroom import services
from eventlab.classroom.live import INSTRUCTOR
from eventlab.classroom.models import Classroom
from eventlab.labs.services import store

from .classroom_helpers import instructor, join_api, join_browser, new_class

pytestmark = pytest.mark.django_db(transaction=True)

ORIGIN = (b"origin", b"http://testserver")


@database_sync_to_async
def setup_room() -> dict:
    teacher, token = instructor()
    made = new_class(token)
    learner, _ = join_browser(made["code"], "Ada")
    bob = join_api(made["code"], "Bob")
    other, _ = instructor("alan")
    return {"id": made["id"], "teacher": teacher.cookies["sessionid"].value,
            "learner": learner.cookies["sessionid"].value, "bob": bob["learner_id"],
            "other": other.cookies["sessionid"].value}


async def connected(class_id: str, cookie: str | None, page: str, run: str = "") -> WebsocketCommunicator:
    headers = [ORIGIN] + ([(b"cookie", f"sessionid={cookie}".encode())] if cookie else [])
    communicator = WebsocketCommunicator(application, f"/ws/classes/{class_id}/", headers=headers)
    accepted, _ = await communicator.connect(timeout=5)
    assert accepted
    head = await database_sync_to_async(store.head)(class_id)
    await communicator.send_to(text_data=json.dumps({"page": page, "after": head, "run": run}))
    return communicator


@database_sync_to_async
def act(class_id: str, name: str, *args):
    return getattr(services, name)(Classroom.objects.get(pk=class_id), *args)


async def test_a_vote_reaches_the_instructors_socket_as_counts_and_learners_see_poll_changes_only():
    room = await setup_room()
    teacher = await connected(room["id"], room["teacher"], INSTRUCTOR)
    learner = await connected(room["id"], room["learner"], INSTRUCTOR)  # asks for the instructor's view...
    assert await teacher.receive_nothing(timeout=0.3) and await learner.receive_nothing(timeout=0.3)

    poll = await act(room["id"], "open_poll", "Which?", ["yes", "no"], 1)
    opened = await learner.receive_from(timeout=5)
    assert 'id="learner-poll"' in opened and "Which?" in opened  # ...and gets the learner's
    assert "Bob" not in opened and 'id="counts"' not in opened
    pushed = await teacher.receive_from(timeout=5)
    assert 'id="counts"' in pushed and 'hx-swap-oob="true"' in pushed
    await teacher.receive_from(timeout=5)  # the roster, on the class page

    await act(room["id"], "vote", poll.poll_id, room["bob"], 1)
    counts = await teacher.receive_from(timeout=5)
    assert 'id="voters-1">Round 1: <strong>1</strong> voted' in counts
    assert '<td class="num count" id="count-1-1"><span class="n">1</span>' in counts
    assert await learner.receive_nothing(timeout=0.5)  # a vote changes nothing a learner's page shows

    await act(room["id"], "next_round", poll.poll_id)
    assert "Round 2" in await learner.receive_from(timeout=5)
    await act(room["id"], "reveal", poll.poll_id)
    revealed = await learner.receive_from(timeout=5)
    assert "The answer is <strong>B</strong>" in revealed and 'id="count-1-1"' in revealed
    await teacher.disconnect()
    await learner.disconnect()


async def test_the_poll_screen_gets_that_polls_counts_only():
    room = await setup_room()
    poll = await act(room["id"], "open_poll", "Which?", ["yes", "no"])
    screen = await connected(room["id"], room["teacher"], INSTRUCTOR, run=poll.poll_id)
    await act(room["id"], "vote", poll.poll_id, room["bob"], 0)
    message = await screen.receive_from(timeout=5)
    assert 'id="count-1-0"><span class="n">1</span>' in message
    assert await screen.receive_nothing(timeout=0.3)  # no roster on the poll screen
    await screen.disconnect()


@pytest.mark.parametrize("who", ["nobody", "other instructor", "no such class"])
async def test_strangers_are_accepted_then_closed_with_4404(who):
    room = await setup_room()
    class_id = "0" * 24 if who == "no such class" else room["id"]
    cookie = {"nobody": None, "other instructor": room["other"], "no such class": room["teacher"]}[who]
    headers = [ORIGIN] + ([(b"cookie", f"sessionid={cookie}".encode())] if cookie else [])
    communicator = WebsocketCommunicator(application, f"/ws/classes/{class_id}/", headers=headers)
    accepted, _ = await communicator.connect(timeout=5)
    assert accepted
    assert await communicator.receive_output(timeout=5) == {"type": "websocket.close", "code": 4404}


async def test_the_lab_socket_refuses_a_class_lab():
    room = await setup_room()
    communicator = WebsocketCommunicator(application, f"/ws/labs/{room['id']}/", headers=[
        ORIGIN, (b"cookie", f"sessionid={room['learner']}".encode())])
    await communicator.connect(timeout=5)
    assert await communicator.receive_output(timeout=5) == {"type": "websocket.close", "code": 4404}

