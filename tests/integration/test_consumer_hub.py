"""Live updates render once per view (eventlab.live.hub): sockets on one view of a lab get the same bytes from one
render; other views, and sockets elsewhere in the log, get their own; and sharing never makes a socket skip or repeat
an event, whatever order the wake-ups come in. Renders are counted by wrapping the bank page's renderer; nothing here
depends on timing.
"""

import json

import pytest
from channels.layers import get_channel_layer

from eventlab.live import broadcast, hub
from tests.integration.conftest import (
    browser_session,
    connected,
    deposit,
    head,
    opened,
    pushes_until_quiet,
    rows,
    run,
    view,
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def renders(monkeypatch):
    """Every call of the bank page's renderer (as the lab registry hands it to the hub): (after, stream filter)."""
    from eventlab.labs import registry

    calls = []
    renderers = registry.get("bank").renderers
    original = renderers["bank"]

    def counting(lab_id, after, view, known):
        calls.append((after, view["stream"]))
        return original(lab_id, after, view, known)

    monkeypatch.setitem(renderers, "bank", counting)
    return calls


async def whole_push(communicator) -> list[str]:
    """The frames of one push, as sent: row messages, then the read models and head."""
    frames = []
    while True:
        frame = await communicator.receive_from(timeout=5)
        frames.append(frame)
        if 'id="lab-head"' in frame and not frame.lstrip().startswith("<tbody"):
            return frames


async def sockets_on(lab_id: str, cookie: str, count: int, frame: str) -> list:
    sockets = []
    for _ in range(count):
        communicator = await connected(lab_id, cookie)
        await communicator.send_to(text_data=frame)
        await whole_push(communicator)
        sockets.append(communicator)
    return sockets


async def test_sockets_on_one_view_get_the_same_bytes_from_one_render(renders):
    lab_id, cookie = await browser_session()
    await run(lab_id, opened("acc-1"))
    sockets = await sockets_on(lab_id, cookie, 5, view(after=1, account="acc-1"))
    renders.clear()

    await run(lab_id, deposit("acc-1", "7.25"))

    pushes = [await whole_push(s) for s in sockets]
    assert renders == [(1, "")]  # one render for five sockets
    assert all(p == pushes[0] for p in pushes)  # the same bytes to each
    assert rows(pushes[0][0]) == [2] and "7.25" in pushes[0][-1]
    for s in sockets:
        assert await s.receive_nothing(timeout=0.2)
        await s.disconnect()


async def test_each_view_gets_its_own_render(renders):
    lab_id, cookie = await browser_session()
    await run(lab_id, opened("acc-1"), opened("acc-2"))
    everything = await sockets_on(lab_id, cookie, 2, view(after=2))
    only_acc_2 = await sockets_on(lab_id, cookie, 2, view(after=2, stream="account-acc-2"))
    renders.clear()

    await run(lab_id, deposit("acc-2"))

    all_pushes = [await whole_push(s) for s in everything]
    filtered = [await whole_push(s) for s in only_acc_2]
    assert sorted(renders) == [(2, ""), (2, "account-acc-2")]
    assert all_pushes[0] == all_pushes[1] and filtered[0] == filtered[1]
    assert rows(all_pushes[0][0]) == [3] and rows(filtered[0][0]) == [3]
    for s in everything + only_acc_2:
        await s.disconnect()


async def test_a_socket_behind_gets_exactly_what_it_missed_then_shares_again(renders):
    lab_id, cookie = await browser_session()
    await run(lab_id, opened("acc-1"))
    sockets = await sockets_on(lab_id, cookie, 2, view(after=1))
    for s in sockets:
        await s.disconnect()
    missed = await run(lab_id, deposit("acc-1"), deposit("acc-1"))  # while the tabs were away
    sockets = await sockets_on(lab_id, cookie, 0, "")
    back = await connected(lab_id, cookie)
    await back.send_to(text_data=view(after=1))
    caught_up = await whole_push(back)
    current = await sockets_on(lab_id, cookie, 2, view(after=3))
    renders.clear()

    assert sorted(p for frame in caught_up for p in rows(frame)) == missed == [2, 3]
    await run(lab_id, deposit("acc-1"))

    pushes = [await whole_push(s) for s in [back, *current]]
    assert renders == [(3, "")]  # back at the head, it shares the render again
    assert all(p == pushes[0] for p in pushes)
    for s in [back, *current, *sockets]:
        await s.disconnect()


async def test_the_hub_renders_once_per_position_and_each_gets_its_own_events(renders):
    lab_id, _cookie = await browser_session()
    await run(lab_id, opened("acc-1"), deposit("acc-1"), deposit("acc-1"))
    lab_hub = hub.join(lab_id)
    try:
        bank = json.loads(view())
        bank.update(run="", at=0, pinned=False)
        known = frozenset({"balances", "statements", "summary"})
        since = lab_hub.now()

        at_head, _ = await lab_hub.update(bank, 1, known, since)
        again, _ = await lab_hub.update(bank, 1, known, since)
        behind, _ = await lab_hub.update(bank, 0, known, since)

        assert renders == [(1, ""), (0, "")]  # once per position
        assert again is at_head
        assert rows(at_head.messages[0]) == [3, 2] and at_head.after == 3
        assert rows(behind.messages[0]) == [3, 2, 1] and behind.after == 3
        later, _ = await lab_hub.update(bank, 1, known, lab_hub.now())  # asked after it began: a fresh render
        assert later is not at_head and len(renders) == 3
    finally:
        hub.leave(lab_hub)


async def test_a_wake_up_delivered_twice_pushes_once():
    lab_id, cookie = await browser_session()
    await run(lab_id, opened("acc-1"))
    sockets = await sockets_on(lab_id, cookie, 2, view(after=1))
    wake = broadcast.wake_message(lab_id, 1)

    for _ in range(2):
        await get_channel_layer().group_send(broadcast.group_for(lab_id), wake)

    for s in sockets:
        await whole_push(s)
        assert await s.receive_nothing(timeout=0.3)
        await s.disconnect()


async def test_nothing_is_skipped_or_repeated_across_interleaved_and_stray_wake_ups():
    lab_id, cookie = await browser_session()
    await run(lab_id, opened("acc-1"), opened("acc-2"))
    everything = await sockets_on(lab_id, cookie, 3, view(after=2))
    only_acc_1 = await sockets_on(lab_id, cookie, 2, view(after=2, stream="account-acc-1"))
    layer, group = get_channel_layer(), broadcast.group_for(lab_id)
    old = broadcast.wake_message(lab_id, 1)

    appended = []
    for n in range(6):
        appended += await run(lab_id, deposit("acc-1" if n % 2 else "acc-2"))
        await layer.group_send(group, old)  # an old wake-up again, late
        await layer.group_send(group, {"type": "lab.wake", "lab": lab_id, "head": 0})  # one without an id

    last = await head(lab_id)
    assert appended == list(range(3, last + 1))
    for s in everything:
        seen = await pushes_until_quiet(s)
        assert sorted(seen) == appended and len(seen) == len(set(seen))
    acc_1 = [p for n, p in enumerate(appended) if n % 2]
    for s in only_acc_1:
        seen = await pushes_until_quiet(s)
        assert sorted(seen) == acc_1 and len(seen) == len(set(seen))
    for s in everything + only_acc_1:
        await s.disconnect()


async def test_the_last_socket_out_closes_the_labs_hub():
    lab_id, cookie = await browser_session()
    first, second = await sockets_on(lab_id, cookie, 2, view())  # a push: each has joined the hub
    lab_hub = hub.join(lab_id)
    assert lab_hub.sockets == 3
    hub.leave(lab_hub)

    await first.disconnect()
    await second.disconnect()

    assert lab_hub.sockets == 0
    fresh = hub.join(lab_id)
    assert fresh is not lab_hub
    hub.leave(fresh)
