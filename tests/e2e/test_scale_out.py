"""Scale-out: two daphne processes on one PostgreSQL database and one Redis. A learner on one process and a
classmate on the other see each other's events live, over websockets and over SSE.

Runs when TEST_POSTGRES_URL and TEST_REDIS_URL point at servers (CI starts both); skipped otherwise."""

import json
import os
import urllib.parse
import urllib.request

import psycopg
import pytest
from playwright.sync_api import expect

from .conftest import migrate, start_daphne, stop

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        not (os.environ.get("TEST_POSTGRES_URL") and os.environ.get("TEST_REDIS_URL")),
        reason="needs TEST_POSTGRES_URL and TEST_REDIS_URL",
    ),
]


@pytest.fixture(scope="module")
def two_servers(tmp_path_factory):
    url = urllib.parse.urlparse(os.environ["TEST_POSTGRES_URL"])
    with psycopg.connect(os.environ["TEST_POSTGRES_URL"], autocommit=True) as admin:
        admin.execute("DROP DATABASE IF EXISTS eventlab_scale_out")
        admin.execute("CREATE DATABASE eventlab_scale_out")
    database = url._replace(path="/eventlab_scale_out").geturl()
    env = {**os.environ, "DATABASE_URL": database, "REDIS_URL": os.environ["TEST_REDIS_URL"], "DEBUG": "true"}
    migrate(env)
    folder = tmp_path_factory.mktemp("scale-out")
    first, p1 = start_daphne(env, folder / "a.log")
    second, p2 = start_daphne(env, folder / "b.log")
    yield first, second
    stop(p1)
    stop(p2)


def test_a_deposit_on_one_process_appears_live_on_the_other(two_servers, new_page):
    first, second = two_servers
    ada = new_page()
    ada.goto(first + "/labs/bank/")
    ada.wait_for_selector("#live-status[data-state=live]")
    join = urllib.parse.urlparse(ada.input_value("#join-url")).path
    grace = new_page()
    grace.goto(second + join)  # the same lab, served by the other process
    grace.wait_for_selector("#live-status[data-state=live]")
    head = int(grace.get_attribute("#lab-head", "data-head"))
    ada.select_option("#cmd-command", "Deposit")
    ada.fill("#cmd-account", "acc-2")
    ada.fill("#cmd-amount", "7.77")
    ada.locator("form.command button[type=submit]").click()
    expect(grace.locator(f"#event-{head + 1}")).to_contain_text('"amount": "7.77"')
    expect(grace.locator("#rm-balances-status")).to_contain_text("up to date")


def test_sse_on_one_process_receives_events_appended_on_the_other(two_servers):
    first, second = two_servers
    with urllib.request.urlopen(first + "/api/labs", data=b"") as response:  # noqa: S310 - local server
        lab = json.load(response)
    auth = {"Authorization": f"Bearer {lab['token']}"}
    sse = urllib.request.urlopen(  # noqa: S310
        urllib.request.Request(f"{second}/labs/{lab['id']}/events/sse", headers=auth), timeout=10
    )
    text = sse.read1(8192).decode()  # the stream is open before anything is appended
    command = json.dumps({"command": "OpenAccount", "account_id": "far", "owner": "Far Away"}).encode()
    urllib.request.urlopen(urllib.request.Request(  # noqa: S310
        f"{first}/api/labs/{lab['id']}/bank/commands", data=command,
        headers={**auth, "Content-Type": "application/json"},
    )).close()
    while "Far Away" not in text:
        text += sse.read1(8192).decode()
    sse.close()
    assert f"id: lab-{lab['id']}:1" in text
