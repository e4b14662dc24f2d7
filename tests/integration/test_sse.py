"""The raw log as Server-Sent Events: the storage backed by the event store, ids `lab-<id>:<position>`, the access
check around django-eventstream's view, the first chunk a `curl -N` would read, and the broadcast on commit."""

import json
import threading
import time
from unittest import mock

import pytest
from asgiref.sync import async_to_sync
from django.conf import settings
from django.test import Client
from django_eventstream.storage import EventDoesNotExist

from eventlab.bank import services
from eventlab.eventstore.core import NewEvent
from eventlab.labs.models import Lab
from eventlab.labs.services import store
from eventlab.live import broadcast, sse
from eventlab.live.sse import EventStoreStorage, LabChannelManager, channel_for

pytestmark = pytest.mark.django_db


def open_bank(client: Client) -> Lab:
    return Lab.objects.get(pk=client.get("/labs/bank/")["Location"].split("/")[2])


def fill(lab: Lab, deposits: int = 3) -> None:
    services.execute(lab, {"command": "OpenAccount", "account_id": "acc-1", "owner": "Ada"})
    for _ in range(deposits):
        services.execute(lab, {"command": "Deposit", "account_id": "acc-1", "amount": "1.00"})


# --- The storage: history comes from the event store -------------------------------------------------------------


def test_the_channel_of_a_lab_is_lab_dash_id(lab):
    assert channel_for(lab.id) == f"lab-{lab.id}"


def test_get_events_reads_the_log_after_a_position(lab):
    fill(lab, 3)
    storage = EventStoreStorage()

    events = storage.get_events(channel_for(lab.id), 1)

    assert [e.id for e in events] == [2, 3, 4]
    assert all(e.channel == channel_for(lab.id) and e.type == "message" for e in events)
    data = [json.loads(e.data) for e in events]
    assert data == [e.as_dict() for e in store.read_log(lab.id, after=1)]
    assert data[0]["position"] == 2 and data[0]["type"] == "MoneyDeposited"


def test_get_events_honours_the_limit_and_the_head(lab):
    fill(lab, 5)
    storage = EventStoreStorage()

    assert [e.id for e in storage.get_events(channel_for(lab.id), 0, limit=2)] == [1, 2]
    assert [e.id for e in storage.get_events(channel_for(lab.id), 4, limit=100)] == [5, 6]
    assert storage.get_events(channel_for(lab.id), 6) == []


def test_get_current_id_is_the_head(lab):
    storage = EventStoreStorage()
    assert storage.get_current_id(channel_for(lab.id)) == 0

    fill(lab, 2)

    assert storage.get_current_id(channel_for(lab.id)) == 3


def test_a_position_past_the_head_does_not_exist(lab):
    fill(lab, 1)
    storage = EventStoreStorage()

    with pytest.raises(EventDoesNotExist) as raised:
        storage.get_events(channel_for(lab.id), 3)

    assert raised.value.current_id == 2


def test_get_events_never_crosses_into_another_lab(lab):
    from eventlab.labs.services import create_lab

    other, _ = create_lab()
    fill(lab, 2)
    fill(other, 1)

    served = [json.loads(e.data) for e in EventStoreStorage().get_events(channel_for(other.id), 0)]

    assert [(e["position"], e["type"]) for e in served] == [(1, "AccountOpened"), (2, "MoneyDeposited")]
    assert EventStoreStorage().get_current_id(channel_for(other.id)) == 2


def test_append_event_gives_an_already_stored_event_its_position_and_stores_nothing(lab):
    fill(lab, 1)
    event = store.read_log(lab.id)[-1]
    before = store.head(lab.id)

    sse_event = EventStoreStorage().append_event(channel_for(lab.id), "message", json.dumps(event.as_dict()))

    assert sse_event.id == event.position == 2
    assert store.head(lab.id) == before


def test_the_channel_manager_only_serves_lab_channels():
    manager = LabChannelManager()

    assert manager.can_read_channel(None, "lab-abc")
    assert not manager.can_read_channel(None, "admin")


# --- The view: the lab's own access check, then a text/event-stream ---------------------------------------------


# Under REDIS_URL, django-eventstream starts its Redis listener as a task on the request's event loop, which
# async_to_sync here ends after each call (a server keeps its loop): streaming over Redis is tested against real
# servers instead, in tests/e2e/test_scale_out.py.
streams_in_process = pytest.mark.skipif(
    bool(getattr(settings, "EVENTSTREAM_REDIS", None)), reason="streaming over Redis: see tests/e2e/test_scale_out.py"
)


async def read_first_chunks(response, want: int = 1) -> str:
    chunks = []
    iterator = response.streaming_content
    try:
        async for chunk in iterator:
            chunks.append(chunk.decode() if isinstance(chunk, bytes) else chunk)
            if len(chunks) >= want:
                break
    finally:
        await iterator.aclose()
    return "".join(chunks)


def sse_ids(body: str) -> list[str]:
    return [line.removeprefix("id: ") for line in body.splitlines() if line.startswith("id: ")]


def sse_data(body: str) -> list[dict]:
    return [json.loads(line.removeprefix("data: ")) for line in body.splitlines()
            if line.startswith("data: ") and line != "data: "]


def test_another_sessions_lab_is_a_404(client):
    lab = open_bank(client)
    stranger = Client()

    assert stranger.get(f"/labs/{lab.id}/events/sse").status_code == 404
    assert stranger.get(f"/labs/{'0' * 24}/events/sse").status_code == 404


@streams_in_process
def test_a_token_opens_the_feed_and_a_wrong_one_does_not(lab):
    stranger = Client()

    assert stranger.get(f"/labs/{lab.id}/events/sse", HTTP_AUTHORIZATION="Bearer wrong").status_code == 404
    response = stranger.get(f"/labs/{lab.id}/events/sse", HTTP_AUTHORIZATION=f"Bearer {lab.token}")
    assert response.status_code == 200
    async_to_sync(read_first_chunks)(response)


@streams_in_process
def test_the_owner_gets_a_streaming_event_stream(client):
    lab = open_bank(client)
    fill(lab, 2)

    response = client.get(f"/labs/{lab.id}/events/sse")

    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"].startswith("text/event-stream")
    body = async_to_sync(read_first_chunks)(response)
    assert "event: stream-open" in body
    # No Last-Event-ID: the whole log from position 0, ids `lab-<id>:<position>`.
    assert sse_ids(body) == [f"lab-{lab.id}:{p}" for p in (1, 2, 3)]
    assert [e["position"] for e in sse_data(body)] == [1, 2, 3]
    assert sse_data(body)[0]["type"] == "AccountOpened"


@streams_in_process
def test_last_event_id_resumes_after_that_position(client):
    lab = open_bank(client)
    fill(lab, 4)

    response = client.get(f"/labs/{lab.id}/events/sse", HTTP_LAST_EVENT_ID=f"lab-{lab.id}:3")

    body = async_to_sync(read_first_chunks)(response)
    assert [e["position"] for e in sse_data(body)] == [4, 5]
    assert sse_ids(body) == [f"lab-{lab.id}:4", f"lab-{lab.id}:5"]


@streams_in_process
def test_after_starts_a_catch_up_subscription_from_a_position(client):
    lab = open_bank(client)
    fill(lab, 4)

    body = async_to_sync(read_first_chunks)(client.get(f"/labs/{lab.id}/events/sse?after=2"))

    assert [e["position"] for e in sse_data(body)] == [3, 4, 5]


@streams_in_process
@pytest.mark.parametrize("after", ["-1", "abc", "9" * 40])
def test_a_bad_after_starts_from_the_beginning(client, after):
    lab = open_bank(client)
    fill(lab, 1)

    response = client.get(f"/labs/{lab.id}/events/sse?after={after}")

    assert response.status_code == 200
    assert [e["position"] for e in sse_data(async_to_sync(read_first_chunks)(response))] == [1, 2]


@streams_in_process
def test_a_last_event_id_past_the_head_resets_the_stream(client):
    lab = open_bank(client)
    fill(lab, 1)

    body = async_to_sync(read_first_chunks)(client.get(f"/labs/{lab.id}/events/sse",
                                                       HTTP_LAST_EVENT_ID=f"lab-{lab.id}:99"))

    assert "event: stream-reset" in body
    assert sse_data(body) == [{"channels": [f"lab-{lab.id}"]}]


@streams_in_process
def test_the_feed_serves_old_events_upcast(client):
    lab = open_bank(client)
    store.append(lab.id, "account-acc-1", [
        NewEvent("AccountOpened", {"account_id": "acc-1", "owner": "Ada"}, 1),
        NewEvent("MoneyDeposited", {"account_id": "acc-1", "amount": "5.00"}, 1),  # stored as v1: no currency
    ], 0)

    body = async_to_sync(read_first_chunks)(client.get(f"/labs/{lab.id}/events/sse"))

    deposit = sse_data(body)[1]
    assert (deposit["schema_version"], deposit["stored_schema_version"]) == (2, 1)
    assert deposit["data"]["currency"] == "USD"


# --- The broadcast after commit ----------------------------------------------------------------------------------------


def test_on_appended_publishes_a_wake_to_the_labs_group(lab):
    from channels.layers import get_channel_layer

    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(broadcast.group_for(lab.id), channel)
    try:
        broadcast.on_appended(sender=Lab, lab=lab.id, head=7, events=())

        message = async_to_sync(layer.receive)(channel)
    finally:
        async_to_sync(layer.group_discard)(broadcast.group_for(lab.id), channel)

    wake_id = message.pop("id")  # tells the copies of one wake-up apart from the next (eventlab.live.hub)
    assert message == {"type": "lab.wake", "lab": lab.id, "head": 7}
    assert isinstance(wake_id, str) and wake_id != broadcast.wake_message(lab.id, 7)["id"]
    assert broadcast.group_for(lab.id) == f"lab.{lab.id}"


def test_concurrent_commits_reach_the_sse_feed_once_each_in_position_order(lab):
    sent = []
    with (
        mock.patch.object(broadcast, "send_event", side_effect=lambda *a, **k: sent.append(json.loads(a[2]))),
        mock.patch.object(broadcast, "get_channel_layer", return_value=None),
    ):
        fill(lab, 2)  # appended without publishing (no commit hooks run here)
        broadcast.on_appended(sender=Lab, lab=lab.id, head=store.head(lab.id))
        # A second wake-up for the same commits (another transaction's, or another process's) sends nothing again.
        broadcast.on_appended(sender=Lab, lab=lab.id, head=store.head(lab.id))
    assert [e["position"] for e in sent] == [1, 2, 3]


def test_a_commit_sends_only_a_wake_to_the_group_and_each_event_to_the_sse_channel(
    lab, django_capture_on_commit_callbacks
):
    sent = []
    with (
        mock.patch.object(broadcast, "send_event", side_effect=lambda *a, **k: sent.append((a, k))),
        mock.patch.object(broadcast, "get_channel_layer") as layer,
    ):
        layer.return_value.group_send = mock.AsyncMock()
        with django_capture_on_commit_callbacks(execute=True):
            services.execute(lab, {"command": "OpenAccount", "account_id": "acc-1", "owner": "Ada"})

    layer.return_value.group_send.assert_awaited_once_with(
        f"lab.{lab.id}", {"type": "lab.wake", "lab": lab.id, "head": 1, "id": mock.ANY}
    )
    assert len(sent) == 1
    (channel, event_type, data), kwargs = sent[0]
    assert (channel, event_type) == (f"lab-{lab.id}", "message")
    assert json.loads(data)["position"] == 1
    assert kwargs == {"json_encode": False}


def test_nothing_is_broadcast_before_commit_or_for_a_rejected_command(lab, django_capture_on_commit_callbacks):
    from eventlab.eventstore.signals import appended

    receiver = mock.Mock()
    appended.connect(receiver, weak=False, dispatch_uid="test-broadcast")
    try:
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            services.execute(lab, {"command": "OpenAccount", "account_id": "acc-1", "owner": "Ada"})
        assert receiver.call_count == 0  # not yet: the transaction has not committed
        for callback in callbacks:
            callback()
        assert receiver.call_count == 1
        assert receiver.call_args.kwargs["lab"] == lab.id
        assert receiver.call_args.kwargs["head"] == 1
        assert "events" not in receiver.call_args.kwargs  # a wake-up only: receivers read the store

        with django_capture_on_commit_callbacks(execute=True), pytest.raises(Exception, match="already exists"):
            services.execute(lab, {"command": "OpenAccount", "account_id": "acc-1", "owner": "Ada"})

        assert receiver.call_count == 1
    finally:
        appended.disconnect(dispatch_uid="test-broadcast")


# --- A large backlog is published in the background ------------------------------------------------------------------


def test_a_big_backlog_is_not_published_inside_the_request_that_wakes_it(lab):
    sent, later = [], []
    with (
        mock.patch.object(broadcast, "send_event", side_effect=lambda *a, **k: sent.append(json.loads(a[2]))),
        mock.patch.object(broadcast, "get_channel_layer", return_value=None),
        mock.patch.object(broadcast, "BATCH", 3),
        mock.patch.object(broadcast, "BATCHES_PER_WAKE", 2),
        mock.patch.object(broadcast, "publish_later", side_effect=lambda *a: later.append(a)),
    ):
        fill(lab, 19)  # 20 events appended without publishing (an imported history, say)
        broadcast.on_appended(sender=Lab, lab=lab.id, head=store.head(lab.id))

        assert [e["position"] for e in sent] == [1, 2, 3, 4, 5, 6]  # two batches in the request, no more
        assert [a[0] for a in later] == [lab.id]  # the rest handed to the background

        sse.drain(*later[0])  # what the background thread runs (here in this thread, inside the test's transaction)

        assert [e["position"] for e in sent] == list(range(1, 21))  # every position once, in order
        broadcast.on_appended(sender=Lab, lab=lab.id, head=store.head(lab.id))
    assert [e["position"] for e in sent] == list(range(1, 21))
    assert len(later) == 1


def test_the_background_publisher_drains_until_nothing_is_left_then_stops():
    calls, done = [], threading.Event()

    def publish(lab_id: str) -> bool:
        calls.append(lab_id)
        if len(calls) == 4:
            done.set()
        return len(calls) < 4

    sse.publish_later("lab-x", publish)

    assert done.wait(5)
    for _ in range(100):  # the thread lets go of the lab just after its last call
        if "lab-x" not in sse._draining:
            break
        time.sleep(0.01)
    assert calls == ["lab-x"] * 4 and "lab-x" not in sse._draining


def test_a_wake_up_while_draining_makes_the_publisher_go_round_once_more():
    calls, first_call, release, done = [], threading.Event(), threading.Event(), threading.Event()

    def publish(lab_id: str) -> bool:
        calls.append(lab_id)
        if len(calls) == 1:
            first_call.set()
            release.wait(5)
        else:
            done.set()
        return False

    sse.publish_later("lab-y", publish)
    assert first_call.wait(5)
    sse.publish_later("lab-y", publish)  # a second wake-up: no second thread, but another round
    release.set()

    assert done.wait(5)
    assert calls == ["lab-y", "lab-y"]
