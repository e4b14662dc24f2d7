"""One contract, every simulation lab: the saga, 2PC and resilience labs' pages and live feed behave the same.

`RunLabPagesContract` and `RunLabLiveContract` hold the tests, written once; they run once per lab the registry holds
with run pages (`LabPlugin.run_pages`), so a newly registered simulation lab is tested without an edit here — and
fails loudly until it has an `Adapter` below saying what is its own: a start form that starts, one it refuses, and a
fault its predict prompt asks about. (The JSON API side of the contract: tests/contract/test_run_lab_api.py.)

The tests act as a learner does: through the pages' own forms and links, found by role, label and text; they read
the store only to check that a refusal appended nothing and that a fork left its original alone.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from eventlab.asgi import application
from eventlab.labs import registry
from eventlab.labs.models import Lab
from eventlab.labs.services import store
from tests.integration.conftest import (
    HTMX,
    ORIGIN,
    Element,
    browser_session,
    connected,
    form_fields,
    load_presets,
    news,
    open_lab,
    panels,
    parse,
    push,
    pushed_head,
    received,
    run_id_of,
    submit,
)


@dataclass(frozen=True)
class Adapter:
    """What differs between the labs, for the shared tests."""

    start: dict[str, Any] = field(default_factory=dict)  # set on top of the start form as the page fills it in
    bad_start: dict[str, Any] = field(default_factory=dict)  # ... a start the lab refuses,
    bad_start_says: str = ""  # ... and the words it refuses it with
    fault: dict[str, Any] = field(default_factory=dict)  # ... a start with a fault the predict prompt asks about
    steps_to_prompt: int = 10  # at most this many steps until it does


ADAPTERS = {
    "sagas": Adapter(
        bad_start={"item-1-qty": "0"}, bad_start_says="Item 1's quantity must be a whole number from 1 to 1,000.",
        fault={"fault": "payment_declined"},
    ),
    "twopc": Adapter(
        bad_start={"participant": []},
        bad_start_says="The participants are one or more of orders, payments, inventory, each once.",
        fault={"fault": "drop", "drop-message": "Commit"}, steps_to_prompt=30,
    ),
    "resilience": Adapter(
        bad_start={"rate_rps": "-5"}, bad_start_says="rate_rps (requests per second) must be a number from 0 to 100.",
        fault={"fault1_kind": "kill", "fault1_service": "payments", "fault1_instance": "1", "fault1_at_ms": "2000"},
    ),
}


def run_lab_keys() -> list[str]:
    """Every registered lab with run pages."""
    return [plugin.key for plugin in registry.plugins() if plugin.run_pages is not None]


def test_the_registry_has_simulation_labs_and_each_has_an_adapter():
    keys = run_lab_keys()
    assert {"sagas", "twopc", "resilience"} <= set(keys)
    assert not set(keys) - set(ADAPTERS), f"no Adapter in {__name__} for {sorted(set(keys) - set(ADAPTERS))}"
    assert not set(ADAPTERS) - set(keys), f"Adapters for labs not registered: {sorted(set(ADAPTERS) - set(keys))}"


@pytest.fixture(params=run_lab_keys())
def key(request) -> str:
    return request.param


@pytest.fixture
def adapter(key) -> Adapter:
    if key not in ADAPTERS:
        pytest.fail(f"lab {key!r} registers run pages but the run-lab contract has no Adapter for it")
    return ADAPTERS[key]


# --- A learner's moves, through the pages -------------------------------------------------------------------------


class Learner:
    """A browser on one simulation lab's pages."""

    def __init__(self, client: Client, key: str, adapter: Adapter, lab: Lab | None = None) -> None:
        """`client` on lab `key`'s pages, in `lab` (by default: the session's working lab, opened now)."""
        self.client, self.key, self.adapter = client, key, adapter
        self.lab = lab or open_lab(client, key)

    def lab_page(self) -> Element:
        response = self.client.get(f"/labs/{self.lab.id}/{self.key}/")
        assert response.status_code == 200
        return parse(response)

    def start_form(self) -> Element:
        found = self.lab_page().by_id("start-form")
        assert found is not None and found.role == "form", "the lab page has no start form"
        return found

    def start(self, **fields: Any) -> str:
        """Start a run from the lab page's start form, as filled in, with the adapter's and `fields` on top."""
        return run_id_of(submit(self.client, self.start_form(), **{**self.adapter.start, **fields}), self.lab,
                         self.key)

    def run_url(self, run_id: str) -> str:
        return f"/labs/{self.lab.id}/{self.key}/{run_id}/"

    def run_page(self, run_id: str, query: str = "") -> Element:
        response = self.client.get(self.run_url(run_id) + query)
        assert response.status_code == 200, response
        return parse(response)

    def button(self, page: Element, button_id: str) -> Element:
        """The form of the run page's button `button_id` (e.g. "step")."""
        button = page.by_id(button_id)
        assert button is not None and button.role == "button", f"no button #{button_id}"
        assert button.form is not None
        return button.form

    def step(self, run_id: str, query: str = "") -> str:
        """Press Step on the run page (at `query`, e.g. "?at=1"): the run the answer leads to."""
        page = self.run_page(run_id, query)
        return run_id_of(submit(self.client, self.button(page, "step")), self.lab, self.key)

    def steps(self, run_id: str) -> int:
        return int(self.run_page(run_id).by_id("step-count").text)

    def stream(self, run_id: str) -> list[dict]:
        log = registry.get(self.key).run_pages.services.log
        return [e.as_dict() for e in store.read_stream(self.lab.id, log.stream_name(run_id))]


@pytest.fixture
def learner(client, key, adapter) -> Learner:
    return Learner(client, key, adapter)


def step_count(page: Element) -> int:
    found = page.by_id("step-count")
    assert found is not None, "no step count"
    return int(found.text)


# --- The pages ------------------------------------------------------------------------------------------------------


@pytest.mark.django_db
class RunLabPagesContract:
    """What every simulation lab's pages do."""

    def test_the_labs_home_opens_the_sessions_working_lab_and_keeps_it(self, client, key):
        first = open_lab(client, key)
        assert open_lab(client, key) == first

    def test_starting_from_the_start_form_goes_to_the_new_run_at_step_0(self, learner):
        before = store.head(learner.lab.id)

        run_id = learner.start()

        assert store.head(learner.lab.id) > before
        page = learner.run_page(run_id)
        assert step_count(page) == 0
        assert page.by_id("back") is None  # nothing to go back to
        assert page.one("button", re.compile(r"^Step\b"))  # "Step", or "Step 1 s"
        assert run_id in learner.lab_page().text  # the lab page lists it

    def test_a_preset_starts_a_run_and_the_run_page_says_what_it_shows(self, learner, key):
        load_presets(key)
        page = learner.lab_page()
        presets = registry.get(key).preset_model.objects.all()
        assert presets, "the lab's fixtures hold no presets"
        preset = presets[0]
        button = page.one("button", f"Run “{preset.title}”")  # one button per preset, named by its title

        response = submit(learner.client, button.form)

        run_id = run_id_of(response, learner.lab, key)
        assert response["Location"] == f"{learner.run_url(run_id)}?preset={preset.slug}"
        run_page = parse(learner.client.get(response["Location"]))
        assert run_page.one("heading", preset.title)
        assert run_page.says(preset.description)
        assert not learner.run_page(run_id).has("heading", preset.title)  # without ?preset=, no preset box

    @pytest.mark.parametrize("slug", ["", "no-such-preset", "x" * 300])
    def test_an_unknown_preset_is_a_404_that_appends_nothing(self, learner, key, slug):
        load_presets(key)
        preset_form = learner.lab_page().by_role("button", re.compile("^Run “"))[0].form

        response = submit(learner.client, preset_form, preset=slug)

        assert response.status_code == 404
        assert store.head(learner.lab.id) == 0

    def test_step_moves_the_run_one_step_and_comes_back_to_it(self, learner):
        run_id = learner.start()

        assert learner.step(run_id) == run_id

        page = learner.run_page(run_id)
        assert step_count(page) == 1
        back = page.by_id("back")
        assert back is not None and back.role == "link" and back["href"] == "?at=0"

    def test_back_shows_the_run_at_an_earlier_step_and_forward_and_latest_lead_on(self, learner):
        run_id = learner.start()
        for _ in range(3):
            learner.step(run_id)

        page = learner.run_page(run_id, "?at=1")

        assert step_count(page) == 1
        assert page.by_id("run-status").says(" of 3")
        assert page.says(re.compile(r"You are looking back at (step|second) 1\."))
        assert page.by_id("back")["href"] == "?at=0" and page.by_id("forward")["href"] == "?at=2"
        assert page.one("link", re.compile(r"^Back to the latest"))["href"] == learner.run_url(run_id)
        assert learner.run_page(run_id, "?at=0").by_id("back") is None  # nothing before step 0
        # An at that is not an earlier step shows the latest.
        for at in ("", "abc", "-1", "1.5", "3", "9999999"):
            latest = learner.run_page(run_id, f"?at={at}")
            assert step_count(latest) == 3 and not latest.says("You are looking back"), at

    def test_stepping_from_behind_the_head_forks_a_what_if_run_and_leaves_the_original(self, learner):
        run_id = learner.start()
        for _ in range(3):
            learner.step(run_id)
        original = learner.stream(run_id)

        fork_id = learner.step(run_id, "?at=1")

        assert fork_id != run_id
        assert learner.stream(run_id) == original
        fork = learner.run_page(fork_id)
        assert step_count(fork) == 2
        assert fork.says(re.compile(rf"A what-if run forked from run {run_id} at (step|second) 1\."))
        assert fork.one("link", f"run {run_id}")["href"] == learner.run_url(run_id)
        # Stepping at the head forks nothing.
        assert learner.step(run_id, "?at=3") == run_id
        assert learner.steps(run_id) == 4

    def test_a_start_the_lab_refuses_is_a_422_in_plain_words_that_appends_nothing(self, learner, adapter):
        form = learner.start_form()

        response = submit(learner.client, form, **{**adapter.start, **adapter.bad_start})

        assert response.status_code == 422
        page = parse(response)
        alert = page.by_id("start-error")
        assert alert is not None and alert.role == "alert", "the refusal is not an alert"
        assert alert.says("Not started") and alert.says(adapter.bad_start_says), alert.text
        assert page.by_id("start-form") is not None  # the whole lab page again, its form to correct
        assert store.head(learner.lab.id) == 0

    def test_an_unknown_action_is_a_422_in_plain_words_that_appends_nothing(self, learner):
        run_id = learner.start()
        before = store.head(learner.lab.id)
        step = learner.button(learner.run_page(run_id), "step")

        for headers in ({}, HTMX):
            response = learner.client.post(step["action"], {"action": "<b>explode</b>"}, **headers)
            assert response.status_code == 422
            alert = parse(response).by_id("run-error")
            assert alert is not None and alert.role == "alert"
            assert alert.says("Unknown action '<b>explode</b>'.")
        assert store.head(learner.lab.id) == before

    def test_an_htmx_step_answers_the_run_panel_only(self, learner):
        run_id = learner.start()
        step = learner.button(learner.run_page(run_id), "step")

        response = learner.client.post(step["action"], form_fields(step), **HTMX)

        assert response.status_code == 200
        panel = parse(response)
        assert [e.get("id") for e in panel.children if isinstance(e, Element)] == ["run", "run-announce"]
        assert step_count(panel) == 1
        assert panel.by_id("run-announce").text  # the sentence the live region reads out
        assert "<html" not in response.content.decode()

    def test_another_sessions_lab_another_labs_run_and_an_unknown_run_are_404s_that_append_nothing(self, learner, key):
        load_presets(key)
        run_id = learner.start()
        lab_page, run_page = learner.lab_page(), learner.run_page(run_id)
        acts = [b.form for b in run_page.by_role("button") if b.form is not None and b.form["action"].endswith("/act")]
        assert acts
        before = store.head(learner.lab.id)
        # Another browser, with a lab of its own: nothing of this lab is there for it.
        stranger = Client()
        open_lab(stranger, key)
        assert stranger.get(f"/labs/{learner.lab.id}/{key}/").status_code == 404
        assert stranger.get(learner.run_url(run_id)).status_code == 404
        assert stranger.get(f"{learner.run_url(run_id)}?at=0", **HTMX).status_code == 404
        assert submit(stranger, lab_page.by_id("start-form")).status_code == 404
        assert submit(stranger, lab_page.by_role("button", re.compile("^Run “"))[0].form).status_code == 404
        for form in acts:
            assert submit(stranger, form).status_code == 404, form_fields(form)
        # This browser: its run in its other lab, and runs that do not exist.
        other_lab = learner.client.post("/labs/new", {"scenario": "", "page": key})["Location"].split("/")[2]
        elsewhere = [f"/labs/{other_lab}/{key}/{run_id}/", *(learner.run_url(bad) for bad in ("0123456789ab", "nope",
                                                                                               "x" * 300))]
        for url in elsewhere:
            assert learner.client.get(url).status_code == 404, url
            assert learner.client.get(url, **HTMX).status_code == 404, url
            for fields in [*(form_fields(form) for form in acts), {"action": "explode"}, {"action": "step", "at": "0"}]:
                assert learner.client.post(f"{url}act", fields).status_code == 404, (url, fields)
        assert store.head(learner.lab.id) == before and store.head(other_lab) == 0
        assert learner.steps(run_id) == 0

    def test_the_predict_prompt_asks_before_a_fault_acts_and_the_prediction_is_recorded(self, learner, adapter):
        run_id = learner.start(**adapter.fault)
        for _ in range(adapter.steps_to_prompt):
            page = learner.run_page(run_id)
            if page.by_id("predict") is not None:
                break
            learner.step(run_id)
        else:
            pytest.fail(f"no predict prompt within {adapter.steps_to_prompt} steps of {adapter.fault}")
        prompt = page.by_id("predict")
        assert prompt.role == "form"
        question = prompt.find_all(lambda e: e.tag == "fieldset")[0]
        assert question.name.startswith("Predict, then observe:") and question.name.endswith("What will happen?")
        choices = prompt.by_role("radio")
        assert len(choices) >= 2
        assert page.one("button", "Skip the question and step")  # the plain Step is offered as a skip
        guess = choices[0]
        steps = step_count(page)

        response = submit(learner.client, prompt, predict=guess["value"])

        assert run_id_of(response, learner.lab, learner.key) == run_id
        after = learner.run_page(run_id)
        assert step_count(after) == steps + 1
        verdict = after.by_id("prediction")
        assert verdict is not None
        assert verdict.one("heading", re.compile("^(You predicted it|Not quite)$"))
        assert verdict.says(f"You said: {guess.label.text}")
        assert verdict.says("What happened:")
        run = registry.get(learner.key).run_pages.services.load(learner.lab, run_id)
        assert run.predictions[-1]["predicted"] == guess["value"]


class TestRunLabPages(RunLabPagesContract):
    """Every registered simulation lab (the `key` fixture), through the same tests."""


# --- Live: the lab's websocket on a run page --------------------------------------------------------------------------


@database_sync_to_async
def started(key: str, adapter: Adapter) -> tuple[Learner, str, str, dict[str, Any]]:
    """A browser that opened lab `key` and started a run: the learner, the run, its session cookie and the view the
    run page's socket sends (the page's live key, the run and the version the page shows)."""
    learner = Learner(Client(), key, adapter)
    run_id = learner.start()
    page = learner.run_page(run_id)
    view = {"page": page.by_id("live")["data-page"], "run": run_id, "after": int(page.by_id("run")["data-version"])}
    return learner, run_id, learner.client.cookies["sessionid"].value, view


@database_sync_to_async
def joined(learner: Learner) -> Learner:
    """Another browser that opened the lab's join link."""
    other = Client()
    assert other.get(learner.lab.join_url).status_code == 302
    return Learner(other, learner.key, learner.adapter, learner.lab)


@database_sync_to_async
def step(learner: Learner, run_id: str, query: str = "") -> str:
    return learner.step(run_id, query)


@pytest.mark.django_db(transaction=True)
class RunLabLiveContract:
    """What every simulation lab's run page hears over the lab's websocket."""

    async def test_a_run_page_following_the_run_gets_the_panel_when_another_browser_steps_it(self, key, adapter):
        learner, run_id, cookie, view = await started(key, adapter)
        socket = await connected(learner.lab.id, cookie)
        await socket.send_to(text_data=json.dumps(view))
        assert (await push(socket))[1:] == []  # up to date: only the lab head
        other = await joined(learner)

        assert await step(other, run_id) == run_id

        messages = await push(socket)
        assert pushed_head(messages[0]) == await database_sync_to_async(store.head)(learner.lab.id)
        [panel] = panels(messages)
        run = parse(panel).by_id("run")
        assert run["data-run"] == run_id and run["hx-swap-oob"] == "true" and run["data-at"] == ""
        assert step_count(run) == 1
        assert parse(panel).by_id("run-announce").text
        assert news(messages) == []
        await socket.disconnect()

    async def test_a_run_page_looking_back_hears_that_the_run_moved_on_not_the_panel(self, key, adapter):
        learner, run_id, cookie, view = await started(key, adapter)
        await step(learner, run_id)
        socket = await connected(learner.lab.id, cookie)
        await socket.send_to(text_data=json.dumps({**view, "after": view["after"] + 1, "at": 0}))
        await received(socket)

        await step(await joined(learner), run_id)

        messages = await push(socket)
        assert panels(messages) == []
        [notice] = news(messages)
        found = parse(notice).by_id("run-news")
        assert found.role == "status"
        assert re.search(r"The run moved on: 2 (steps|seconds) past the one you are looking at\.", found.text)
        assert found.one("link", "See the latest")["href"] == learner.run_url(run_id)
        await socket.disconnect()

    async def test_another_run_or_a_fork_moving_sends_only_the_lab_head(self, key, adapter):
        learner, run_id, cookie, view = await started(key, adapter)
        await step(learner, run_id)
        await step(learner, run_id)
        socket = await connected(learner.lab.id, cookie)
        await socket.send_to(text_data=json.dumps({**view, "after": view["after"] + 2}))
        await received(socket)

        fork_id = await step(learner, run_id, "?at=1")
        await database_sync_to_async(learner.start)()  # another run in the lab

        assert fork_id != run_id
        messages = await received(socket)
        assert messages, "the lab head still moves"
        assert all(m.startswith('<span id="lab-head"') for m in messages), messages
        await socket.disconnect()

    async def test_a_socket_on_a_lab_the_session_may_not_use_is_closed_with_4404(self, key, adapter):
        learner, _, _, _ = await started(key, adapter)
        _, stranger_cookie = await browser_session(key)  # another browser, with a lab of its own

        socket = WebsocketCommunicator(application, f"/ws/labs/{learner.lab.id}/",
                                       headers=[ORIGIN, (b"cookie", f"sessionid={stranger_cookie}".encode())])
        connected_, _ = await socket.connect(timeout=5)
        assert connected_  # accepted, then closed: browsers would reconnect forever otherwise
        assert (await socket.receive_output(timeout=5)) == {"type": "websocket.close", "code": 4404}

    @pytest.mark.parametrize(("frame", "reason"), [
        pytest.param({"at": -1}, "'at' must be a whole number, 0 or more.", id="at-negative"),
        pytest.param({"at": "2"}, "'at' must be a whole number, 0 or more.", id="at-string"),
        pytest.param({"run": 42}, "'run' must be a short string.", id="run-number"),
        pytest.param({"after": -3}, "'after' must be a whole number, 0 or more.", id="after-negative"),
        pytest.param({"page": "<b>nope</b>"}, "Unknown page '<b>nope</b>'.", id="unknown-page"),
    ])
    async def test_a_malformed_view_gets_a_live_error_and_the_socket_keeps_working(self, key, adapter, frame, reason):
        learner, run_id, cookie, view = await started(key, adapter)
        socket = await connected(learner.lab.id, cookie)

        await socket.send_to(text_data=json.dumps({**view, **frame}))

        error = await socket.receive_from(timeout=5)
        found = parse(error).by_id("live-error")
        assert found is not None and found.role == "alert" and found["hx-swap-oob"] == "true"
        assert found.text == reason and "<b>" not in error
        assert await socket.receive_nothing(timeout=0.3)
        # The bad view changed nothing: a good one after it follows the run.
        await socket.send_to(text_data=json.dumps(view))
        await push(socket)
        await step(learner, run_id)
        assert step_count(parse(panels(await push(socket))[0])) == 1
        await socket.disconnect()

    async def test_a_view_of_an_unknown_run_or_another_labs_run_pushes_only_the_head(self, key, adapter):
        learner, run_id, cookie, view = await started(key, adapter)
        elsewhere, _, elsewhere_cookie, _ = await started(key, adapter)
        socket = await connected(elsewhere.lab.id, elsewhere_cookie)

        for frame in ({**view, "run": "0123456789ab"}, {**view, "run": ""}, {**view, "after": 0}):
            await socket.send_to(text_data=json.dumps(frame))  # `view` is a run of another lab
            assert (await push(socket))[1:] == [], frame
        await step(learner, run_id)
        assert await socket.receive_nothing(timeout=0.5)  # another lab's step: not even its head
        await socket.disconnect()


class TestRunLabLive(RunLabLiveContract):
    """Every registered simulation lab (the `key` fixture), through the same tests."""
