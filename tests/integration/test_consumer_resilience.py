"""The lab's websocket on a resilience run page (eventlab.resilience.live.render_update through LabConsumer), driven
through the real ASGI application: a tab following the run's head gets the whole #run panel (out of band) when
another writer moves the run; a tab looking back keeps its view and only hears that the run moved on; other runs,
other labs and malformed view messages never move the panel.

Writers act through `eventlab.resilience.services` in a worker thread (as a view would), so the wake-up travels the
same way as in the app: on_commit -> `appended` signal -> channel layer group -> consumer -> read from the store.
"""

import json
import re

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from eventlab.asgi import application
from eventlab.labs.models import Lab
from eventlab.resilience import services
from tests.integration.run_sockets import (
    ORIGIN,
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

BREAKER = {"window": "count", "window_size": 10, "minimum_calls": 5, "failure_rate_threshold": 50,
           "wait_open_ms": 5000, "half_open_calls": 3}


# --- Helpers ------------------------------------------------------------------------------------------------------


@database_sync_to_async
def start(lab_id: str, settings: dict | None = None, faults=()) -> tuple[str, int]:
    """A new run in the lab: its id and its stream's version."""
    run = services.start(Lab.objects.get(pk=lab_id), {"seed": 1, "settings": settings or {}, "faults": list(faults)})
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


def view(run: str, after: int, at: int | None = None, **extra) -> str:
    shown = {"page": "resilience", "run": run, "after": after, **extra}
    if at is not None:
        shown["at"] = at
    return json.dumps(shown)


def seconds(message: str) -> int:
    return int(re.search(r'<strong id="step-count">(\d+)</strong>', message).group(1))


# --- Following the head -----------------------------------------------------------------------------------------------


async def test_a_tab_following_the_head_gets_the_run_panel_when_another_writer_steps_the_run():
    lab_id, cookie = await browser_session("resilience")
    run_id, version = await start(lab_id)
    communicator = await connected(lab_id, cookie)
    await communicator.send_to(text_data=view(run_id, after=version))
    first = await push(communicator)
    assert first[1:] == []  # up to date: only the head
    assert pushed_head(first[0]) == await head(lab_id)

    run = await act(lab_id, run_id)

    messages = await push(communicator)
    assert pushed_head(messages[0]) == await head(lab_id)
    [panel] = panels(messages)
    assert panel.lstrip().startswith(f'<div id="run" data-page="resilience" data-run="{run_id}" data-at="" '
                                     f'data-version="{run.version}" hx-swap-oob="true">')
    assert seconds(panel) == run.steps == 1
    assert re.search(r'<p id="run-announce" hx-swap-oob="innerHTML">Second 1: \d+ requests, \d+ ok', panel)
    assert "<html" not in panel and 'class="lab-bar"' not in panel
    assert news(messages) == []
    await communicator.disconnect()


async def test_the_panel_follows_a_breaker_opening_and_a_kill():
    lab_id, cookie = await browser_session("resilience")
    run_id, version = await start(lab_id, {"breaker": BREAKER},
                                  [{"kind": "failure_rate", "service": "payments", "pct": 100, "at_ms": 2000}])
    communicator = await connected(lab_id, cookie)
    await communicator.send_to(text_data=view(run_id, after=version))
    await push(communicator)

    await act(lab_id, run_id, {"input": "run", "ms": 10_000})
    [panel] = panels(await received(communicator))
    assert seconds(panel) == 10
    assert re.search(r'id="breaker-payments" data-state="(OPEN|HALF_OPEN)"', panel)
    await act(lab_id, run_id, {"input": "kill", "service": "orders", "instance": 2})
    [panel] = panels(await received(communicator))
    assert re.search(r'<g class="inst inst-down-listed" id="inst-orders-2" data-status="down-listed">', panel)
    assert "orders-2 was killed" in words(panel)
    await communicator.disconnect()


async def test_a_tab_that_reconnects_behind_gets_the_panel_at_once_and_one_that_is_current_does_not():
    lab_id, cookie = await browser_session("resilience")
    run_id, version = await start(lab_id)
    run = await act(lab_id, run_id, times=3)
    behind = await connected(lab_id, cookie)
    current = await connected(lab_id, cookie)

    await behind.send_to(text_data=view(run_id, after=version))
    await current.send_to(text_data=view(run_id, after=run.version))

    [panel] = panels(await push(behind))
    assert seconds(panel) == 3
    assert panels(await push(current)) == []
    await behind.disconnect()
    await current.disconnect()


async def test_another_run_moving_in_the_same_lab_sends_only_the_lab_head():
    lab_id, cookie = await browser_session("resilience")
    watched, version = await start(lab_id)
    other, _ = await start(lab_id, {"rate_rps": 5})
    communicator = await connected(lab_id, cookie)
    await communicator.send_to(text_data=view(watched, after=version))
    await push(communicator)

    await act(lab_id, other, {"input": "run", "ms": 10_000})

    messages = await received(communicator)
    assert messages, "the lab head still moves"
    assert all(m.startswith('<span id="lab-head"') for m in messages), messages
    assert pushed_head(messages[-1]) == await head(lab_id)
    await act(lab_id, watched)
    [panel] = panels(await push(communicator))
    assert f'data-run="{watched}"' in panel and seconds(panel) == 1
    await communicator.disconnect()


async def test_a_what_if_fork_of_the_run_does_not_move_the_original_runs_panel():
    lab_id, cookie = await browser_session("resilience")
    run_id, _ = await start(lab_id)
    run = await act(lab_id, run_id, times=3)
    communicator = await connected(lab_id, cookie)
    await communicator.send_to(text_data=view(run_id, after=run.version))
    await push(communicator)

    forked = await fork(lab_id, run_id, 1)

    assert forked.id != run_id
    messages = await received(communicator)
    assert messages and panels(messages) == [] and news(messages) == []
    await communicator.disconnect()


async def test_a_lab_never_hears_of_another_labs_run_even_by_its_id():
    lab_a, cookie_a = await browser_session("resilience")
    lab_b, cookie_b = await browser_session("resilience")
    run_id, version = await start(lab_a)
    await act(lab_a, run_id)
    socket_b = await connected(lab_b, cookie_b)

    await socket_b.send_to(text_data=view(run_id, after=0))  # lab B has no such run

    assert panels(await push(socket_b)) == []
    await act(lab_a, run_id)
    assert await socket_b.receive_nothing(timeout=0.5)
    await socket_b.disconnect()
    socket_a = await connected(lab_a, cookie_a)
    await socket_a.send_to(text_data=view(run_id, after=version))
    assert seconds(panels(await push(socket_a))[0]) == 2
    await socket_a.disconnect()


async def test_a_socket_for_a_lab_the_session_may_not_use_is_closed_with_4404():
    lab_a, _cookie_a = await browser_session("resilience")
    _lab_b, cookie_b = await browser_session("resilience")
    communicator = WebsocketCommunicator(application, f"/ws/labs/{lab_a}/",
                                         headers=[ORIGIN, (b"cookie", f"sessionid={cookie_b}".encode())])
    accepted, _ = await communicator.connect(timeout=5)
    assert accepted
    assert (await communicator.receive_output(timeout=5))["code"] == 4404


# --- Looking back -----------------------------------------------------------------------------------------------------


async def test_a_tab_looking_back_gets_the_news_notice_not_the_panel():
    lab_id, cookie = await browser_session("resilience")
    run_id, _ = await start(lab_id)
    run = await act(lab_id, run_id, times=3)
    communicator = await connected(lab_id, cookie)
    await communicator.send_to(text_data=view(run_id, after=run.version, at=1))
    assert panels(await push(communicator)) == []

    await act(lab_id, run_id, {"input": "run", "ms": 10_000})

    messages = await push(communicator)
    assert panels(messages) == []
    [notice] = news(messages)
    assert notice.startswith('<p id="run-news" role="status" aria-live="polite" hx-swap-oob="true">')
    assert "The run moved on: 12 seconds past the one you are looking at. See the latest" in words(notice)
    assert f'href="/labs/{lab_id}/resilience/{run_id}/"' in notice
    await act(lab_id, run_id)
    [notice] = news(await push(communicator))
    assert "The run moved on: 13 seconds past" in words(notice)
    await communicator.disconnect()


async def test_one_second_past_is_singular():
    lab_id, cookie = await browser_session("resilience")
    run_id, _ = await start(lab_id)
    run = await act(lab_id, run_id, times=2)
    communicator = await connected(lab_id, cookie)
    await communicator.send_to(text_data=view(run_id, after=run.version, at=2))
    await push(communicator)

    await act(lab_id, run_id)

    [notice] = news(await push(communicator))
    assert "The run moved on: 1 second past the one you are looking at." in words(notice)
    await communicator.disconnect()


async def test_two_tabs_on_one_run_one_following_and_one_looking_back():
    lab_id, cookie = await browser_session("resilience")
    run_id, _ = await start(lab_id)
    run = await act(lab_id, run_id, times=2)
    following = await connected(lab_id, cookie)
    looking_back = await connected(lab_id, cookie)
    await following.send_to(text_data=view(run_id, after=run.version))
    await looking_back.send_to(text_data=view(run_id, after=run.version, at=0))
    await push(following)
    await push(looking_back)

    await act(lab_id, run_id, {"input": "settings", "settings": {"rate_rps": 50}})
    await act(lab_id, run_id)

    following_got = await received(following)
    back_got = await received(looking_back)
    assert seconds(panels(following_got)[-1]) == 3 and news(following_got) == []
    assert 'name="rate_rps" inputmode="decimal" size="5" value="50"' in panels(following_got)[-1]
    assert panels(back_got) == [] and "3 seconds past" in words(news(back_got)[-1])
    await following.disconnect()
    await looking_back.disconnect()


# --- Malformed views ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        pytest.param({"page": "resilience", "run": "RUN", "after": 0, "at": -1},
                     "'at' must be a whole number, 0 or more.", id="at-negative"),
        pytest.param({"page": "resilience", "run": "RUN", "after": 0, "at": "2"},
                     "'at' must be a whole number, 0 or more.", id="at-string"),
        pytest.param({"page": "resilience", "run": 42, "after": 0}, "'run' must be a short string.", id="run-number"),
        pytest.param({"page": "resilience", "run": "r" * 201, "after": 0}, "'run' must be a short string.",
                     id="run-too-long"),
        pytest.param({"page": "resilience", "run": "RUN", "after": -3}, "'after' must be a whole number, 0 or more.",
                     id="after-negative"),
        pytest.param({"page": "<b>resilience</b>", "after": 0}, "Unknown page '<b>resilience</b>'.",
                     id="unknown-page-html"),
    ],
)
async def test_a_malformed_view_gets_a_live_error_and_the_socket_keeps_working(frame, reason):
    lab_id, cookie = await browser_session("resilience")
    run_id, version = await start(lab_id)
    await act(lab_id, run_id)
    communicator = await connected(lab_id, cookie)

    await communicator.send_to(text_data=json.dumps({k: (run_id if v == "RUN" else v) for k, v in frame.items()}))

    error = await communicator.receive_from(timeout=5)
    assert error.startswith('<p id="live-error" hx-swap-oob="true" role="alert">')
    assert words(error) == reason
    assert "<b>" not in error
    assert await communicator.receive_nothing(timeout=0.3)
    await communicator.send_to(text_data=view(run_id, after=version))
    assert seconds(panels(await push(communicator))[0]) == 1
    await communicator.disconnect()


async def test_a_view_of_an_unknown_run_or_no_run_pushes_only_the_head():
    lab_id, cookie = await browser_session("resilience")
    run_id, _ = await start(lab_id)
    communicator = await connected(lab_id, cookie)

    for frame in (view("0123456789ab", after=0), view("", after=0), view("nope", after=0, at=3)):
        await communicator.send_to(text_data=frame)
        messages = await push(communicator)
        assert messages[1:] == [], frame
    await act(lab_id, run_id)
    assert all(m.startswith('<span id="lab-head"') for m in await received(communicator))
    await communicator.disconnect()
