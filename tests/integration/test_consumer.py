"""The lab's websocket (eventlab.live.consumers.LabConsumer), driven through the real ASGI application: origin check,
session authentication, the view message, pushes after commits, filters, isolation between labs, malformed frames
and reconnecting without skipping or repeating an event.

Commands run through `eventlab.bank.services.execute` in a worker thread (as a view would), so the wake-up travels
the same way as in the app: on_commit -> `appended` signal -> channel layer group -> consumer -> read from the store.
"""

import asyncio
import json
import re

import pytest
from channels.db import database_sync_to_async
from django.test import Client

from eventlab.labs.models import Lab
from tests.integration.conftest import (
    browser_session,
    connected,
    deposit,
    head,
    next_push,
    opened,
    pushed_head,
    pushes_until_quiet,
    rows,
    run,
    socket,
    view,
)

pytestmark = pytest.mark.django_db(transaction=True)

# --- Who may connect ------------------------------------------------------------------------------------------------


async def test_a_socket_for_a_lab_the_session_does_not_own_is_accepted_then_closed_with_4404():
    lab_id, _owner = await browser_session()
    _other_lab, stranger = await browser_session()
    communicator = socket(lab_id, stranger)

    accepted, _ = await communicator.connect(timeout=5)

    assert accepted  # accepted first, so browsers do not retry forever...
    closing = await communicator.receive_output(timeout=5)
    assert closing == {"type": "websocket.close", "code": 4404}  # ...then closed with the lab's 404


@pytest.mark.parametrize("case", ["no session", "no such lab", "garbage cookie"])
async def test_sockets_without_access_are_closed_with_4404(case):
    lab_id, cookie = await browser_session()
    if case == "no session":
        communicator = socket(lab_id, None)
    elif case == "no such lab":
        communicator = socket("0" * 24, cookie)
    else:
        communicator = socket(lab_id, "not-a-signed-session")

    accepted, _ = await communicator.connect(timeout=5)

    assert accepted
    assert await communicator.receive_output(timeout=5) == {"type": "websocket.close", "code": 4404}


async def test_a_closed_socket_pushes_nothing_even_when_its_lab_changes():
    lab_id, _owner = await browser_session()
    _other, stranger = await browser_session()
    communicator = socket(lab_id, stranger)
    await communicator.connect(timeout=5)
    await communicator.receive_output(timeout=5)

    await run(lab_id, opened("acc-1"))

    assert await communicator.receive_nothing(timeout=0.5)


@pytest.mark.parametrize("origin", [None, (b"origin", b"http://evil.example")], ids=["no-origin", "foreign-origin"])
async def test_a_socket_from_a_missing_or_foreign_origin_is_refused(origin):
    lab_id, cookie = await browser_session()
    communicator = socket(lab_id, cookie, origin=origin)

    accepted, _ = await communicator.connect(timeout=5)

    assert not accepted


async def test_a_joined_lab_is_reachable_from_the_joining_sessions_socket():
    lab_id, _owner = await browser_session()

    @database_sync_to_async
    def join() -> str:
        client = Client()
        client.get(Lab.objects.get(pk=lab_id).join_url)
        return client.cookies["sessionid"].value

    communicator = await connected(lab_id, await join())
    await communicator.send_to(text_data=view())

    _, parts = await next_push(communicator)

    assert pushed_head(parts) == 0
    await communicator.disconnect()


# --- The view message and pushes ------------------------------------------------------------------------------------


async def test_the_view_message_pushes_rows_for_events_after_its_position():
    lab_id, cookie = await browser_session()
    await run(lab_id, opened("acc-1"), deposit("acc-1"), deposit("acc-1"), deposit("acc-1"), deposit("acc-1"))
    communicator = await connected(lab_id, cookie)
    assert await communicator.receive_nothing(timeout=0.3)  # nothing until the tab says where it is

    await communicator.send_to(text_data=view(after=2))

    positions, parts = await next_push(communicator)
    assert positions == [5, 4, 3]  # newest first, as the panel shows them
    assert pushed_head(parts) == 5
    assert 'hx-swap-oob="true"' in parts
    assert 'id="rm-balances-status"' in parts
    assert await communicator.receive_nothing(timeout=0.3)
    await communicator.disconnect()


async def test_a_view_at_the_head_pushes_no_rows_but_the_head():
    lab_id, cookie = await browser_session()
    await run(lab_id, opened("acc-1"))
    communicator = await connected(lab_id, cookie)

    await communicator.send_to(text_data=view(after=1))

    positions, parts = await next_push(communicator)
    assert positions == []
    assert pushed_head(parts) == 1
    await communicator.disconnect()


async def test_a_command_makes_the_socket_push_the_new_row():
    lab_id, cookie = await browser_session()
    await run(lab_id, opened("acc-1"))
    communicator = await connected(lab_id, cookie)
    await communicator.send_to(text_data=view(after=1, account="acc-1"))
    await next_push(communicator)

    await run(lab_id, deposit("acc-1", "12.34"))

    positions, parts = await next_push(communicator)
    assert positions == [2]
    assert pushed_head(parts) == 2
    assert "12.34" in parts  # the balances read model, re-rendered
    assert await communicator.receive_nothing(timeout=0.3)
    await communicator.disconnect()


async def test_the_pushed_row_shows_the_event():
    lab_id, cookie = await browser_session()
    communicator = await connected(lab_id, cookie)
    await communicator.send_to(text_data=view())
    await next_push(communicator)

    await run(lab_id, opened("acc-1", "<script>alert(1)</script>"))

    message = await communicator.receive_from(timeout=5)
    assert rows(message) == [1]
    assert "AccountOpened" in message and "account-acc-1" in message
    assert "<script>alert(1)" not in message
    assert "&lt;script&gt;alert(1)" in message
    parts = await communicator.receive_from(timeout=5)
    assert "<script>alert(1)" not in parts
    await communicator.disconnect()


async def test_several_commands_push_every_row_exactly_once():
    lab_id, cookie = await browser_session()
    communicator = await connected(lab_id, cookie)
    await communicator.send_to(text_data=view())
    await next_push(communicator)

    appended = await run(lab_id, opened("acc-1"), *[deposit("acc-1") for _ in range(6)])

    seen = await pushes_until_quiet(communicator)
    assert sorted(seen) == appended == list(range(1, 8))  # no event skipped, none repeated
    await communicator.disconnect()


async def test_a_tab_that_is_not_live_gets_no_rows_but_fresh_read_models():
    lab_id, cookie = await browser_session()
    await run(lab_id, opened("acc-1"))
    communicator = await connected(lab_id, cookie)
    await communicator.send_to(text_data=view(after=0, live=False))
    positions, _ = await next_push(communicator)
    assert positions == []

    await run(lab_id, deposit("acc-1", "9.99"))

    positions, parts = await next_push(communicator)
    assert positions == []
    assert "9.99" in parts
    await communicator.disconnect()


# --- Filters and isolation ------------------------------------------------------------------------------------------


async def test_a_stream_filtered_view_only_receives_matching_rows():
    lab_id, cookie = await browser_session()
    await run(lab_id, opened("acc-1"), opened("acc-2"), deposit("acc-1"), deposit("acc-2"))
    communicator = await connected(lab_id, cookie)

    await communicator.send_to(text_data=view(after=0, stream="account-acc-2"))
    positions, _ = await next_push(communicator)
    assert positions == [4, 2]

    await run(lab_id, deposit("acc-1"))
    positions, parts = await next_push(communicator)
    assert positions == []
    assert pushed_head(parts) == 5

    await run(lab_id, deposit("acc-2"))
    positions, _ = await next_push(communicator)
    assert positions == [6]
    await communicator.disconnect()


async def test_a_type_filtered_view_only_receives_matching_rows():
    lab_id, cookie = await browser_session()
    communicator = await connected(lab_id, cookie)
    await communicator.send_to(text_data=view(type="MoneyDeposited"))
    await next_push(communicator)

    await run(lab_id, opened("acc-1"), deposit("acc-1"), {"command": "Withdraw", "account_id": "acc-1",
                                                           "amount": "1.00"}, deposit("acc-1"))

    assert sorted(await pushes_until_quiet(communicator)) == [2, 4]
    await communicator.disconnect()


async def test_changing_the_view_changes_what_the_socket_pushes():
    lab_id, cookie = await browser_session()
    await run(lab_id, opened("acc-1"), opened("acc-2"))
    communicator = await connected(lab_id, cookie)
    await communicator.send_to(text_data=view(after=2, stream="account-acc-1"))
    await next_push(communicator)

    await communicator.send_to(text_data=view(after=2, stream="account-acc-2"))
    await next_push(communicator)
    await run(lab_id, deposit("acc-1"), deposit("acc-2"))

    assert sorted(await pushes_until_quiet(communicator)) == [4]
    await communicator.disconnect()


async def test_a_labs_events_never_reach_another_labs_socket():
    lab_a, cookie_a = await browser_session()
    lab_b, cookie_b = await browser_session()
    socket_a = await connected(lab_a, cookie_a)
    socket_b = await connected(lab_b, cookie_b)
    for communicator in (socket_a, socket_b):
        await communicator.send_to(text_data=view())
        await next_push(communicator)

    await run(lab_a, opened("acc-1"), deposit("acc-1"))

    assert sorted(await pushes_until_quiet(socket_a)) == [1, 2]
    assert await socket_b.receive_nothing(timeout=1.0)
    # And lab B's socket still works for lab B.
    await run(lab_b, opened("b-1"))
    positions, parts = await next_push(socket_b)
    assert positions == [1]
    assert pushed_head(parts) == 1
    await socket_a.disconnect()
    await socket_b.disconnect()


async def test_two_sockets_on_one_lab_both_receive_and_keep_their_own_filters():
    lab_id, cookie = await browser_session()
    await run(lab_id, opened("acc-1"), opened("acc-2"))
    everything = await connected(lab_id, cookie)
    only_acc_2 = await connected(lab_id, cookie)
    await everything.send_to(text_data=view(after=2))
    await only_acc_2.send_to(text_data=view(after=2, stream="account-acc-2"))
    await next_push(everything)
    await next_push(only_acc_2)

    await run(lab_id, deposit("acc-1"), deposit("acc-2"))

    assert sorted(await pushes_until_quiet(everything)) == [3, 4]
    assert sorted(await pushes_until_quiet(only_acc_2)) == [4]
    await everything.disconnect()
    await only_acc_2.disconnect()


# --- Malformed frames -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "frame",
    [
        pytest.param("not json", id="not-json"),
        pytest.param("[1, 2, 3]", id="json-array"),
        pytest.param('"bank"', id="json-string"),
        pytest.param(json.dumps({"page": "bank", "after": -1}), id="negative-after"),
        pytest.param(json.dumps({"page": "bank", "after": "3"}), id="after-string"),
        pytest.param(json.dumps({"page": "bank", "after": True}), id="after-bool"),
        pytest.param(json.dumps({"page": "bank", "after": 1.5}), id="after-fraction"),
        pytest.param(json.dumps({"page": "bank", "stream": ["x"]}), id="stream-list"),
        pytest.param(json.dumps({"page": "bank", "type": "t" * 300}), id="type-too-long"),
        pytest.param(json.dumps({"page": "saga"}), id="unknown-page"),
        pytest.param(json.dumps({"page": "bank", "stream": "x" * 5000}), id="huge-frame"),
        pytest.param("{" * 100_000, id="deeply-nested-huge"),
    ],
)
async def test_a_malformed_frame_gets_an_error_fragment_and_the_socket_keeps_working(frame):
    lab_id, cookie = await browser_session()
    await run(lab_id, opened("acc-1"), deposit("acc-1"))
    communicator = await connected(lab_id, cookie)

    await communicator.send_to(text_data=frame)

    error = await communicator.receive_from(timeout=5)
    assert error.startswith('<p id="live-error" hx-swap-oob="true" role="alert">')
    assert len(re.sub(r"<[^>]+>", "", error)) > 10  # a plain-words reason
    assert await communicator.receive_nothing(timeout=0.3)
    # Still serving: a good view after the bad frame works.
    await communicator.send_to(text_data=view(after=1))
    positions, parts = await next_push(communicator)
    assert positions == [2]
    assert pushed_head(parts) == 2
    await communicator.disconnect()


async def test_a_binary_frame_gets_an_error_fragment():
    lab_id, cookie = await browser_session()
    communicator = await connected(lab_id, cookie)

    await communicator.send_to(bytes_data=b'{"page": "bank"}')

    assert 'id="live-error"' in await communicator.receive_from(timeout=5)
    await communicator.send_to(text_data=view())
    await next_push(communicator)
    await communicator.disconnect()


async def test_a_bad_frame_after_a_good_view_keeps_the_view_and_the_position():
    lab_id, cookie = await browser_session()
    await run(lab_id, opened("acc-1"))
    communicator = await connected(lab_id, cookie)
    await communicator.send_to(text_data=view(after=0))
    assert (await next_push(communicator))[0] == [1]

    await communicator.send_to(text_data="{oops")
    assert 'id="live-error"' in await communicator.receive_from(timeout=5)
    await run(lab_id, deposit("acc-1"))

    positions, _ = await next_push(communicator)
    assert positions == [2]  # not 1 again: the socket kept its place
    await communicator.disconnect()


async def test_an_error_message_never_echoes_the_frame_unescaped():
    lab_id, cookie = await browser_session()
    communicator = await connected(lab_id, cookie)

    await communicator.send_to(text_data=json.dumps({"page": "<script>alert(1)</script>"}))

    error = await communicator.receive_from(timeout=5)
    assert "<script>" not in error
    await communicator.disconnect()


# --- Reconnecting -----------------------------------------------------------------------------------------------------


async def test_reconnecting_with_the_last_seen_position_gets_exactly_the_missed_events():
    lab_id, cookie = await browser_session()
    await run(lab_id, opened("acc-1"), deposit("acc-1"), deposit("acc-1"))
    first = await connected(lab_id, cookie)
    await first.send_to(text_data=view(after=0))
    seen, parts = await next_push(first)
    assert sorted(seen) == [1, 2, 3]
    last_seen = pushed_head(parts)
    await first.disconnect()

    missed = await run(lab_id, deposit("acc-1"), deposit("acc-1"))  # while the tab was offline
    second = await connected(lab_id, cookie)
    await second.send_to(text_data=view(after=last_seen))

    caught_up, parts = await next_push(second)
    assert sorted(caught_up) == missed == [4, 5]
    assert pushed_head(parts) == 5
    # And from there on, live again: only the new event.
    await run(lab_id, deposit("acc-1"))
    assert sorted(await pushes_until_quiet(second)) == [6]
    await second.disconnect()


async def test_a_reconnect_during_a_burst_neither_skips_nor_repeats():
    lab_id, cookie = await browser_session()
    await run(lab_id, opened("acc-1"))
    seen: list[int] = []
    last = 0
    for _round in range(3):
        communicator = await connected(lab_id, cookie)
        await communicator.send_to(text_data=view(after=last))
        got, parts = await next_push(communicator)
        seen += got
        await run(lab_id, deposit("acc-1"), deposit("acc-1"))
        seen += await pushes_until_quiet(communicator)
        last = max(seen)
        await communicator.disconnect()

    assert sorted(seen) == list(range(1, await head(lab_id) + 1))
    assert len(seen) == len(set(seen))


# --- Read models over the socket --------------------------------------------------------------------------------------


async def test_a_read_model_added_in_another_tab_arrives_as_a_whole_panel():
    from eventlab.labs import readmodels

    lab_id, cookie = await browser_session()
    await run(lab_id, opened("acc-1"), deposit("acc-1", "5000.00"))
    communicator = await connected(lab_id, cookie)
    await communicator.send_to(text_data=view(after=2))
    await next_push(communicator)

    await database_sync_to_async(lambda: readmodels.act(Lab.objects.get(pk=lab_id), "large_transactions",
                                                        "enable"))()

    _, parts = await next_push(communicator)
    assert '<div id="readmodels" data-account="" hx-swap-oob="true">' in parts
    assert 'id="rm-large_transactions-h"' in parts
    assert "5000.00" in parts
    await communicator.disconnect()


async def test_a_slowed_read_model_is_driven_one_event_at_a_time_until_it_catches_up():
    from eventlab.eventstore.models import Checkpoint
    from eventlab.labs import readmodels

    lab_id, cookie = await browser_session()
    await run(lab_id, opened("acc-1"))
    await database_sync_to_async(lambda: readmodels.act(Lab.objects.get(pk=lab_id), "summary", "configure",
                                                        delay_ms=50))()
    communicator = await connected(lab_id, cookie)
    await communicator.send_to(text_data=view(after=1))
    await next_push(communicator)

    await run(lab_id, deposit("acc-1"), deposit("acc-1"), deposit("acc-1"))

    @database_sync_to_async
    def checkpoint() -> int:
        return Checkpoint.objects.get(lab=lab_id, projection="summary").position

    # The balances (inline) are up to date at once; the slowed summary lags, then catches up by itself.
    statuses = []
    for _ in range(100):
        position = await checkpoint()
        statuses.append(position)
        if position == 4:
            break
        await asyncio.sleep(0.05)
    assert statuses[-1] == 4
    assert statuses[0] < 4
    await pushes_until_quiet(communicator)
    await communicator.disconnect()
