"""The lab's websocket on a saga run page (eventlab.sagas.live.render_update through LabConsumer), driven through the
real ASGI application: a tab following the run's head gets the whole #run panel (out of band) when another writer
moves the run; a tab looking back keeps its view and only hears that the run moved on; other runs, other labs and
malformed view messages never move the panel.

Writers act through `eventlab.sagas.services` in a worker thread (as a view would), so the wake-up travels the same
way as in the app: on_commit -> `appended` signal -> channel layer group -> consumer -> read from the store.
"""

import json
import re

import pytest
from channels.db import database_sync_to_async

from eventlab.labs.models import Lab
from eventlab.sagas import services
from tests.integration.run_sockets import (
    browser_session,
    connected,
    head,
    news,
    panels,
    push,
    pushed_head,
    received,
    words,
)

pytestmark = pytest.mark.django_db(transaction=True)

ORDER = {"customer": "Ada", "items": [{"sku": "book", "qty": 1, "price": "12.50"}]}


# --- Helpers ------------------------------------------------------------------------------------------------------


@database_sync_to_async
def start(lab_id: str, faults=(), customer: str = "Ada") -> tuple[str, int]:
    """A new run in the lab: its id and its stream's version."""
    run = services.start(Lab.objects.get(pk=lab_id), {"order": {**ORDER, "customer": customer},
                                                       "faults": list(faults)})
    return run.id, run.version


@database_sync_to_async
def act(lab_id: str, run_id: str, given: dict | None = None, times: int = 1):
    """Another writer acts on the run (each input its own transaction); the run after the last."""
    lab = Lab.objects.get(pk=lab_id)
    for _ in range(times):
        run = services.act(lab, run_id, given or {"input": "step"})
    return run


@database_sync_to_async
def fork(lab_id: str, run_id: str, at_step: int):
    return services.act(Lab.objects.get(pk=lab_id), run_id, {"input": "step"}, fork_at=at_step)


def saga_view(run: str, after: int, at: int | None = None, **extra) -> str:
    view = {"page": "sagas", "run": run, "after": after, **extra}
    if at is not None:
        view["at"] = at
    return json.dumps(view)


def step_count(message: str) -> int:
    return int(re.search(r'<strong id="step-count">(\d+)</strong>', message).group(1))


# --- Following the head -----------------------------------------------------------------------------------------------


async def test_a_tab_following_the_head_gets_the_run_panel_when_another_writer_steps_the_run():
    lab_id, cookie = await browser_session("sagas")
    run_id, version = await start(lab_id)
    communicator = await connected(lab_id, cookie)
    await communicator.send_to(text_data=saga_view(run_id, after=version))
    first = await push(communicator)
    assert first[1:] == []  # up to date: only the head
    assert pushed_head(first[0]) == await head(lab_id)

    run = await act(lab_id, run_id)

    messages = await push(communicator)
    assert pushed_head(messages[0]) == await head(lab_id)
    [panel] = panels(messages)
    assert panel.lstrip().startswith(f'<div id="run" data-run="{run_id}" data-at="" data-version="{run.version}" '
                                     'hx-swap-oob="true">')
    assert step_count(panel) == run.steps == 1
    assert '<p id="run-announce" hx-swap-oob="innerHTML">Step 1: PlaceOrder from client to orchestrator' in panel
    assert "<html" not in panel and 'class="lab-bar"' not in panel
    assert news(messages) == []
    await communicator.disconnect()


async def test_the_panel_follows_every_move_to_the_end():
    lab_id, cookie = await browser_session("sagas")
    run_id, version = await start(lab_id)
    communicator = await connected(lab_id, cookie)
    await communicator.send_to(text_data=saga_view(run_id, after=version))
    await push(communicator)

    await act(lab_id, run_id, times=2)
    seen = [step_count(p) for p in panels(await received(communicator))]
    done = await act(lab_id, run_id, {"input": "run"})
    last = panels(await received(communicator))

    assert seen and seen[-1] == 2 and seen == sorted(seen)
    assert step_count(last[-1]) == done.steps > 2
    assert '<span class="saga-state state-completed" id="saga-state">Completed</span>' in last[-1]
    assert f'data-version="{done.version}"' in last[-1]
    await communicator.disconnect()


async def test_a_tab_that_reconnects_behind_gets_the_panel_at_once_and_one_that_is_current_does_not():
    lab_id, cookie = await browser_session("sagas")
    run_id, version = await start(lab_id)
    run = await act(lab_id, run_id, times=3)
    behind = await connected(lab_id, cookie)
    current = await connected(lab_id, cookie)

    await behind.send_to(text_data=saga_view(run_id, after=version))
    await current.send_to(text_data=saga_view(run_id, after=run.version))

    [panel] = panels(await push(behind))
    assert step_count(panel) == 3
    assert panels(await push(current)) == []
    await behind.disconnect()
    await current.disconnect()


async def test_another_run_moving_in_the_same_lab_sends_only_the_lab_head():
    lab_id, cookie = await browser_session("sagas")
    watched, version = await start(lab_id)
    other, _ = await start(lab_id, faults=[{"kind": "payment_declined"}])
    communicator = await connected(lab_id, cookie)
    await communicator.send_to(text_data=saga_view(watched, after=version))
    await push(communicator)

    await act(lab_id, other, {"input": "run"})

    messages = await received(communicator)
    assert messages, "the lab head still moves"
    assert all(m.startswith('<span id="lab-head"') for m in messages), messages
    assert pushed_head(messages[-1]) == await head(lab_id)
    assert not any(watched in m or other in m for m in messages)
    # And the watched run still gets its panel when it moves.
    await act(lab_id, watched)
    [panel] = panels(await push(communicator))
    assert f'data-run="{watched}"' in panel and step_count(panel) == 1
    await communicator.disconnect()


async def test_a_what_if_fork_of_the_run_does_not_move_the_original_runs_panel():
    lab_id, cookie = await browser_session("sagas")
    run_id, _ = await start(lab_id)
    run = await act(lab_id, run_id, times=3)
    communicator = await connected(lab_id, cookie)
    await communicator.send_to(text_data=saga_view(run_id, after=run.version))
    await push(communicator)

    forked = await fork(lab_id, run_id, 1)

    assert forked.id != run_id
    messages = await received(communicator)
    assert messages and panels(messages) == [] and news(messages) == []
    await communicator.disconnect()


async def test_a_lab_never_hears_of_another_labs_run_even_by_its_id():
    lab_a, cookie_a = await browser_session("sagas")
    lab_b, cookie_b = await browser_session("sagas")
    run_id, version = await start(lab_a)
    await act(lab_a, run_id)
    socket_b = await connected(lab_b, cookie_b)

    await socket_b.send_to(text_data=saga_view(run_id, after=0))  # lab B has no such run

    assert panels(await push(socket_b)) == []
    await act(lab_a, run_id)
    assert await socket_b.receive_nothing(timeout=0.5)
    await socket_b.disconnect()
    # Lab A's own socket does get it.
    socket_a = await connected(lab_a, cookie_a)
    await socket_a.send_to(text_data=saga_view(run_id, after=version))
    assert step_count(panels(await push(socket_a))[0]) == 2
    await socket_a.disconnect()


async def test_html_in_the_customer_name_is_escaped_in_the_pushed_panel():
    lab_id, cookie = await browser_session("sagas")
    run_id, version = await start(lab_id, customer="<script>alert(1)</script>")
    communicator = await connected(lab_id, cookie)
    await communicator.send_to(text_data=saga_view(run_id, after=version))
    await push(communicator)

    await act(lab_id, run_id)

    [panel] = panels(await push(communicator))
    assert "<script>alert(1)" not in panel
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in panel
    await communicator.disconnect()


# --- Looking back -----------------------------------------------------------------------------------------------------


async def test_a_tab_looking_back_gets_the_news_notice_not_the_panel():
    lab_id, cookie = await browser_session("sagas")
    run_id, _ = await start(lab_id)
    run = await act(lab_id, run_id, times=3)
    communicator = await connected(lab_id, cookie)
    await communicator.send_to(text_data=saga_view(run_id, after=run.version, at=1))
    assert panels(await push(communicator)) == []

    await act(lab_id, run_id)

    messages = await push(communicator)
    assert panels(messages) == []
    [notice] = news(messages)
    assert notice.startswith('<p id="run-news" role="status" aria-live="polite" hx-swap-oob="true">')
    assert "The run moved on: 3 steps past the one you are looking at. See the latest" in words(notice)
    assert f'href="/labs/{lab_id}/sagas/{run_id}/"' in notice
    # And again, counted from the step the tab looks at.
    await act(lab_id, run_id)
    [notice] = news(await push(communicator))
    assert "The run moved on: 4 steps past" in words(notice)
    await communicator.disconnect()


async def test_one_step_past_is_singular():
    lab_id, cookie = await browser_session("sagas")
    run_id, _ = await start(lab_id)
    run = await act(lab_id, run_id, times=2)
    communicator = await connected(lab_id, cookie)
    await communicator.send_to(text_data=saga_view(run_id, after=run.version, at=2))
    await push(communicator)

    await act(lab_id, run_id)

    [notice] = news(await push(communicator))
    assert "The run moved on: 1 step past the one you are looking at." in words(notice)
    await communicator.disconnect()


async def test_two_tabs_on_one_run_one_following_and_one_looking_back():
    lab_id, cookie = await browser_session("sagas")
    run_id, _ = await start(lab_id)
    run = await act(lab_id, run_id, times=2)
    following = await connected(lab_id, cookie)
    looking_back = await connected(lab_id, cookie)
    await following.send_to(text_data=saga_view(run_id, after=run.version))
    await looking_back.send_to(text_data=saga_view(run_id, after=run.version, at=0))
    await push(following)
    await push(looking_back)

    await act(lab_id, run_id)

    following_got, back_got = await push(following), await push(looking_back)
    assert step_count(panels(following_got)[0]) == 3 and news(following_got) == []
    assert panels(back_got) == [] and "3 steps past" in words(news(back_got)[0])
    await following.disconnect()
    await looking_back.disconnect()


async def test_a_tab_that_stops_looking_back_follows_the_head_again():
    lab_id, cookie = await browser_session("sagas")
    run_id, _ = await start(lab_id)
    run = await act(lab_id, run_id, times=2)
    communicator = await connected(lab_id, cookie)
    await communicator.send_to(text_data=saga_view(run_id, after=run.version, at=1))
    await push(communicator)

    await communicator.send_to(text_data=saga_view(run_id, after=run.version))  # "Back to the latest step"
    await push(communicator)
    await act(lab_id, run_id)

    messages = await push(communicator)
    assert news(messages) == [] and step_count(panels(messages)[0]) == 3
    await communicator.disconnect()


# --- Malformed views ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("view", "reason"),
    [
        pytest.param({"page": "sagas", "run": "RUN", "after": 0, "at": -1}, "'at' must be a whole number, 0 or more.",
                     id="at-negative"),
        pytest.param({"page": "sagas", "run": "RUN", "after": 0, "at": "2"}, "'at' must be a whole number, 0 or more.",
                     id="at-string"),
        pytest.param({"page": "sagas", "run": "RUN", "after": 0, "at": True}, "'at' must be a whole number, 0 or more.",
                     id="at-bool"),
        pytest.param({"page": "sagas", "run": "RUN", "after": 0, "at": 1.5}, "'at' must be a whole number, 0 or more.",
                     id="at-fraction"),
        pytest.param({"page": "sagas", "run": 42, "after": 0}, "'run' must be a short string.", id="run-number"),
        pytest.param({"page": "sagas", "run": ["x"], "after": 0}, "'run' must be a short string.", id="run-list"),
        pytest.param({"page": "sagas", "run": {"id": "x"}, "after": 0}, "'run' must be a short string.",
                     id="run-object"),
        pytest.param({"page": "sagas", "run": "r" * 201, "after": 0}, "'run' must be a short string.",
                     id="run-too-long"),
        pytest.param({"page": "sagas", "run": "RUN", "after": -3}, "'after' must be a whole number, 0 or more.",
                     id="after-negative"),
        pytest.param({"page": "saga", "run": "RUN", "after": 0}, "Unknown page 'saga'.", id="unknown-page"),
        pytest.param({"page": "<b>saga</b>", "after": 0}, "Unknown page '<b>saga</b>'.", id="unknown-page-html"),
    ],
)
async def test_a_malformed_saga_view_gets_a_live_error_and_the_socket_keeps_working(view, reason):
    lab_id, cookie = await browser_session("sagas")
    run_id, version = await start(lab_id)
    await act(lab_id, run_id)
    communicator = await connected(lab_id, cookie)
    frame = {k: (run_id if v == "RUN" else v) for k, v in view.items()}

    await communicator.send_to(text_data=json.dumps(frame))

    error = await communicator.receive_from(timeout=5)
    assert error.startswith('<p id="live-error" hx-swap-oob="true" role="alert">')
    assert words(error) == reason
    assert "<b>" not in error
    assert await communicator.receive_nothing(timeout=0.3)
    # The bad view changed nothing: a good one after it works.
    await communicator.send_to(text_data=saga_view(run_id, after=version))
    assert step_count(panels(await push(communicator))[0]) == 1
    await communicator.disconnect()


async def test_a_bad_view_after_a_good_one_keeps_following_the_run():
    lab_id, cookie = await browser_session("sagas")
    run_id, version = await start(lab_id)
    communicator = await connected(lab_id, cookie)
    await communicator.send_to(text_data=saga_view(run_id, after=version))
    await push(communicator)

    await communicator.send_to(text_data=saga_view(run_id, after=version, at=-1))
    assert 'id="live-error"' in await communicator.receive_from(timeout=5)
    await act(lab_id, run_id)

    [panel] = panels(await push(communicator))
    assert step_count(panel) == 1
    await communicator.disconnect()


async def test_a_saga_view_of_an_unknown_run_or_no_run_pushes_only_the_head():
    lab_id, cookie = await browser_session("sagas")
    run_id, _ = await start(lab_id)
    communicator = await connected(lab_id, cookie)

    for frame in (saga_view("0123456789ab", after=0), saga_view("", after=0), saga_view("nope", after=0, at=3),
                  json.dumps({"page": "sagas"})):
        await communicator.send_to(text_data=frame)
        messages = await push(communicator)
        assert messages[1:] == [], frame
    await act(lab_id, run_id)
    assert all(m.startswith('<span id="lab-head"') for m in await received(communicator))
    await communicator.disconnect()
