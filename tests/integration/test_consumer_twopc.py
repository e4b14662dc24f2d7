"""What the lab's websocket does on a 2PC run page that is this lab's own (eventlab.twopc.live through LabConsumer),
driven through the real ASGI application. What every simulation lab's run page hears (the panel after another
browser steps, the news while looking back, other runs, forks, other labs, 4404, malformed views) is the run-lab
contract: tests/contract/test_run_lab_pages.py.

Writers act through `eventlab.twopc.services` in a worker thread (as a view would), so the wake-up travels the same
way as in the app: on_commit -> `appended` signal -> channel layer group -> consumer -> read from the store.
"""

import json
import re

import pytest
from channels.db import database_sync_to_async

from eventlab.labs.models import Lab
from eventlab.sagas import services as sagas
from eventlab.twopc import services
from tests.integration.conftest import (
    browser_session,
    connected,
    news,
    panels,
    push,
    received,
    words,
)

pytestmark = pytest.mark.django_db(transaction=True)

ORDER = {"customer": "Ada", "items": [{"sku": "book", "qty": 1, "price": "12.50"}]}
CRASH = {"kind": "coordinator_crash", "at": "before_decision", "restart_after_ms": None}


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


@database_sync_to_async
def saga_run(lab_id: str) -> str:
    """A saga run in the same lab (a stream of another kind)."""
    return sagas.start(Lab.objects.get(pk=lab_id), {"mode": "orchestration", "order": ORDER}).id


def twopc_view(run: str, after: int, at: int | None = None) -> str:
    view = {"page": "twopc", "run": run, "after": after}
    if at is not None:
        view["at"] = at
    return json.dumps(view)


def step_count(message: str) -> int:
    return int(re.search(r'<strong id="step-count">(\d+)</strong>', message).group(1))


def outcome(message: str) -> str:
    return re.search(r'<span class="outcome outcome-(\w+)" id="outcome">', message).group(1)


# --- Following the head -----------------------------------------------------------------------------------------------


async def test_the_panel_follows_every_move_to_the_end():
    lab_id, cookie = await browser_session("twopc")
    run_id, version = await start(lab_id)
    communicator = await connected(lab_id, cookie)
    await communicator.send_to(text_data=twopc_view(run_id, after=version))
    await push(communicator)

    await act(lab_id, run_id, times=2)
    seen = [step_count(p) for p in panels(await received(communicator))]
    done = await act(lab_id, run_id, {"input": "run"})
    last = panels(await received(communicator))

    assert seen and seen[-1] == 2 and seen == sorted(seen)
    assert step_count(last[-1]) == done.steps > 2
    assert outcome(last[-1]) == "committed"
    assert f'data-version="{done.version}"' in last[-1]
    await communicator.disconnect()


async def test_a_crash_and_a_recovery_in_another_browser_reach_the_panel():
    lab_id, cookie = await browser_session("twopc")
    run_id, version = await start(lab_id, faults=[CRASH])
    communicator = await connected(lab_id, cookie)
    await communicator.send_to(text_data=twopc_view(run_id, after=version))
    await push(communicator)

    await act(lab_id, run_id, {"input": "run"})
    [blocked] = panels(await push(communicator))
    await act(lab_id, run_id, {"input": "recover", "node": "coordinator"})
    [recovered] = panels(await push(communicator))

    assert outcome(blocked) == "blocked"
    assert 'id="recover-coordinator"' in blocked and blocked.count("IN DOUBT</text>") == 3
    assert "they cannot decide alone and hold their locks until it recovers." in words(blocked)
    assert 'id="recover-coordinator"' not in recovered
    assert "coordinator recovered: replayed its log" in recovered
    await communicator.disconnect()


async def test_a_tab_that_reconnects_behind_gets_the_panel_at_once_and_one_that_is_current_does_not():
    lab_id, cookie = await browser_session("twopc")
    run_id, version = await start(lab_id)
    run = await act(lab_id, run_id, times=3)
    behind = await connected(lab_id, cookie)
    current = await connected(lab_id, cookie)

    await behind.send_to(text_data=twopc_view(run_id, after=version))
    await current.send_to(text_data=twopc_view(run_id, after=run.version))

    [panel] = panels(await push(behind))
    assert step_count(panel) == 3
    assert panels(await push(current)) == []
    await behind.disconnect()
    await current.disconnect()


async def test_html_in_the_customer_name_is_escaped_in_the_pushed_panel():
    lab_id, cookie = await browser_session("twopc")
    run_id, version = await start(lab_id, customer="<script>alert(1)</script>")
    communicator = await connected(lab_id, cookie)
    await communicator.send_to(text_data=twopc_view(run_id, after=version))
    await push(communicator)

    await act(lab_id, run_id, times=5)  # payments has locked the customer's account: the name is in the pictures

    panel = panels(await received(communicator))[-1]
    assert "<script>alert(1)" not in panel
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in panel
    assert "account:&lt;script&gt;" in panel
    await communicator.disconnect()


# --- Looking back -----------------------------------------------------------------------------------------------------


async def test_one_step_past_is_singular():
    lab_id, cookie = await browser_session("twopc")
    run_id, _ = await start(lab_id)
    run = await act(lab_id, run_id, times=2)
    communicator = await connected(lab_id, cookie)
    await communicator.send_to(text_data=twopc_view(run_id, after=run.version, at=2))
    await push(communicator)

    await act(lab_id, run_id)

    [notice] = news(await push(communicator))
    assert "The run moved on: 1 step past the one you are looking at." in words(notice)
    await communicator.disconnect()


async def test_two_tabs_on_one_run_one_following_and_one_looking_back():
    lab_id, cookie = await browser_session("twopc")
    run_id, _ = await start(lab_id)
    run = await act(lab_id, run_id, times=2)
    following = await connected(lab_id, cookie)
    looking_back = await connected(lab_id, cookie)
    await following.send_to(text_data=twopc_view(run_id, after=run.version))
    await looking_back.send_to(text_data=twopc_view(run_id, after=run.version, at=0))
    await push(following)
    await push(looking_back)

    await act(lab_id, run_id)

    following_got, back_got = await push(following), await push(looking_back)
    assert step_count(panels(following_got)[0]) == 3 and news(following_got) == []
    assert panels(back_got) == [] and "3 steps past" in words(news(back_got)[0])
    await following.disconnect()
    await looking_back.disconnect()


async def test_a_tab_that_stops_looking_back_follows_the_head_again():
    lab_id, cookie = await browser_session("twopc")
    run_id, _ = await start(lab_id)
    run = await act(lab_id, run_id, times=2)
    communicator = await connected(lab_id, cookie)
    await communicator.send_to(text_data=twopc_view(run_id, after=run.version, at=1))
    await push(communicator)

    await communicator.send_to(text_data=twopc_view(run_id, after=run.version))  # "Back to the latest step"
    await push(communicator)
    await act(lab_id, run_id)

    messages = await push(communicator)
    assert news(messages) == [] and step_count(panels(messages)[0]) == 3
    await communicator.disconnect()


# --- Malformed views ----------------------------------------------------------------------------------------------


async def test_a_twopc_view_of_an_unknown_run_a_saga_run_or_no_run_pushes_only_the_head():
    lab_id, cookie = await browser_session("twopc")
    run_id, _ = await start(lab_id)
    saga_id = await saga_run(lab_id)
    communicator = await connected(lab_id, cookie)

    for frame in (twopc_view("0123456789ab", after=0), twopc_view("", after=0), twopc_view("nope", after=0, at=3),
                  twopc_view(saga_id, after=0), json.dumps({"page": "twopc"})):
        await communicator.send_to(text_data=frame)
        messages = await push(communicator)
        assert messages[1:] == [], frame
    await act(lab_id, run_id)
    assert all(m.startswith('<span id="lab-head"') for m in await received(communicator))
    await communicator.disconnect()
