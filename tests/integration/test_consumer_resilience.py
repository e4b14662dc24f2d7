"""What the lab's websocket does on a resilience run page that is this lab's own (eventlab.resilience.live through LabConsumer),
driven through the real ASGI application. What every simulation lab's run page hears (the panel after another
browser steps, the news while looking back, other runs, forks, other labs, 4404, malformed views) is the run-lab
contract: tests/contract/test_run_lab_pages.py.

Writers act through `eventlab.resilience.services` in a worker thread (as a view would), so the wake-up travels the
same way as in the app: on_commit -> `appended` signal -> channel layer group -> consumer -> read from the store.
"""

import json
import re

import pytest
from channels.db import database_sync_to_async

from eventlab.labs.models import Lab
from eventlab.resilience import services
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


# --- Looking back -----------------------------------------------------------------------------------------------------


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

