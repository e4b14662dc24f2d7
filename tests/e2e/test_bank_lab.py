"""The bank lab in a real browser: commands, the live log in a second browser, time travel, races, read models."""

import json
import re
import urllib.request

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.e2e


def send(page, command, account, amount="", owner=""):
    page.select_option("#cmd-command", command)
    page.fill("#cmd-account", account)
    if owner:
        page.fill("#cmd-owner", owner)
    if amount:
        page.fill("#cmd-amount", amount)
    page.locator("form.command button[type=submit]").click()


def head(page) -> int:
    return int(page.get_attribute("#lab-head", "data-head"))


def second_browser_on(page, new_page):
    """Open the lab's join link in another browser context (another session), as a classmate would."""
    other = new_page()
    other.goto(page.input_value("#join-url"))
    other.wait_for_selector("#live-status[data-state=live]")
    return other


def test_a_deposit_in_one_browser_appears_live_in_another(lab_page, new_page):
    other = second_browser_on(lab_page, new_page)
    before = head(other)
    # Ada deposits 12.34 in the first browser…
    send(lab_page, "Deposit", "acc-1", amount="12.34")
    expect(lab_page.locator("#command-result")).to_contain_text("Accepted: Deposit")
    # …and the second browser sees the new event row and the new balance without reloading.
    new_row = other.locator(f"#event-{before + 1}")
    expect(new_row).to_contain_text("MoneyDeposited")
    expect(new_row).to_contain_text('"amount": "12.34"')
    expect(other.locator("#lab-head")).to_have_attribute("data-head", str(before + 1))
    balance = lab_page.locator("#balance-acc-1 td.num").first.inner_text()
    expect(other.locator("#balance-acc-1 td.num").first).to_have_text(balance)
    expect(other.locator("#rm-balances-status")).to_contain_text("up to date")


def test_a_rejected_command_explains_why_and_appends_nothing(lab_page):
    before = head(lab_page)
    send(lab_page, "Withdraw", "acc-1", amount="999999.00")
    expect(lab_page.locator("#command-result")).to_contain_text("Insufficient funds")
    expect(lab_page.locator("#command-result")).to_contain_text("Nothing was appended")
    lab_page.wait_for_timeout(300)
    assert head(lab_page) == before


def test_script_in_an_owner_name_is_shown_as_text_never_run(lab_page, new_page):
    other = second_browser_on(lab_page, new_page)
    send(lab_page, "OpenAccount", "acc-xss", owner="<script>alert('owned')</script><img src=x onerror=alert(1)>")
    expect(lab_page.locator("#command-result")).to_contain_text("Accepted")
    expect(other.locator("#balance-acc-xss")).to_contain_text("<script>alert('owned')</script>")
    lab_page.reload()
    expect(lab_page.locator("#balance-acc-xss")).to_contain_text("<img src=x onerror=alert(1)>")
    assert lab_page.dialogs == [] and other.dialogs == []


def test_time_travel_shows_the_old_balance(lab_page):
    send(lab_page, "OpenAccount", "acc-tt", owner="Tess")
    expect(lab_page.locator("#command-result")).to_contain_text("Accepted")
    for amount in ("10.00", "20.00", "30.00"):
        send(lab_page, "Deposit", "acc-tt", amount=amount)
        expect(lab_page.locator("#command-result")).to_contain_text(f"v{2 + ['10.00', '20.00', '30.00'].index(amount)}")
    lab_page.reload()
    lab_page.select_option("#tt-account", "acc-tt")
    expect(lab_page.locator("#tt-version")).to_have_attribute("max", "4")
    expect(lab_page.locator("#tt-balance")).to_contain_text("60.00")
    # Step back one version at a time with the keyboard-reachable links.
    lab_page.get_by_role("link", name="Previous version").click()
    expect(lab_page.locator("#tt-balance")).to_contain_text("30.00")
    lab_page.get_by_role("link", name="Previous version").click()
    expect(lab_page.locator("#tt-balance")).to_contain_text("10.00")
    expect(lab_page.locator("#tt-replay")).to_contain_text("2 events replayed")
    # The slider scrubs straight to a version.
    lab_page.locator("#tt-version").fill("1")
    expect(lab_page.locator("#tt-balance")).to_contain_text("0.00")
    expect(lab_page.locator("#time-travel svg circle.marker")).to_have_count(1)


def test_time_travel_uses_snapshots(lab_page):
    # acc-1 in the demo scenario has more than 10 events: a snapshot was taken at version 10.
    lab_page.select_option("#tt-account", "acc-1")
    expect(lab_page.locator("#tt-snapshots")).to_contain_text("version 10")
    expect(lab_page.locator("#tt-replay")).to_contain_text("snapshot at version 10")


def test_racing_two_deposits_one_wins_the_other_sees_the_conflict(lab_page):
    before = head(lab_page)
    lab_page.fill("#race-account", "acc-2")
    lab_page.get_by_role("button", name="Race").click()
    result = lab_page.locator("#race-result")
    expect(result.locator(".ok")).to_have_count(1)
    expect(result.locator(".bad")).to_have_count(1)
    expect(result.locator(".bad")).to_contain_text("conflict (409)")
    text = result.locator(".bad .versions").inner_text()
    expected, actual = map(int, re.findall(r"\d+", text))
    assert actual == expected + 1
    expect(lab_page.locator("#lab-head")).to_have_attribute("data-head", str(before + 1))
    # Retrying the winner with its command id appends nothing: idempotency.
    lab_page.get_by_role("button", name="Retry the winner with the same command id").click()
    expect(lab_page.locator("#command-result")).to_contain_text("Already applied: nothing appended")
    lab_page.wait_for_timeout(300)
    assert head(lab_page) == before + 1


def test_upcast_events_are_marked(lab_page):
    lab_page.select_option("#f-type", "MoneyDeposited")
    expect(lab_page.locator("#event-panel")).to_have_attribute("data-type", "MoneyDeposited")
    # The demo's first six deposits were stored in schema v1 (no currency) and read as v2.
    expect(lab_page.locator("#event-rows .badge")).to_have_count(6)
    expect(lab_page.locator("#event-rows .badge").first).to_contain_text("v1→v2 upcast")
    expect(lab_page.locator("#event-rows tr", has=lab_page.locator(".badge")).first).to_contain_text('"currency": "USD"')


def test_a_filtered_event_panel_only_receives_matching_live_rows(lab_page, new_page):
    other = second_browser_on(lab_page, new_page)
    other.select_option("#f-stream", "account-acc-2")
    expect(other.locator("#event-panel")).to_have_attribute("data-stream", "account-acc-2")
    rows_before = other.locator("#event-rows tr.event").count()
    send(lab_page, "Deposit", "acc-1", amount="1.00")
    send(lab_page, "Deposit", "acc-2", amount="2.00")
    expect(other.locator("#event-rows tr.event").first).to_contain_text('"amount": "2.00"')
    assert other.locator("#event-rows tr.event").count() == rows_before + 1


def test_pausing_a_read_model_shows_lag_and_resuming_catches_up(lab_page, new_page):
    other = second_browser_on(lab_page, new_page)
    summary = lab_page.locator("article", has=lab_page.locator("#rm-summary-h"))
    summary.get_by_role("button", name="Pause").click()
    expect(lab_page.locator("#rm-summary-status")).to_contain_text("paused")
    send(lab_page, "Deposit", "acc-1", amount="5.00")
    # The other browser sees the stale read model: checkpoint behind the head.
    expect(other.locator("#rm-summary-status")).to_contain_text("lag 1")
    expect(other.locator("#rm-balances-status")).to_contain_text("up to date")
    lab_page.locator("article", has=lab_page.locator("#rm-summary-h")).get_by_role("button", name="Resume").click()
    expect(other.locator("#rm-summary-status")).to_contain_text("up to date")


def test_a_slowed_read_model_catches_up_one_event_at_a_time(lab_page):
    statements = lab_page.locator("article", has=lab_page.locator("#rm-statements-h"))
    statements.get_by_label("Speed of Statements", exact=True).select_option("500")
    statements.get_by_role("button", name="Set speed").click()
    expect(lab_page.locator("#rm-statements-status")).to_contain_text("slowed: 500 ms")
    send(lab_page, "Deposit", "acc-1", amount="1.00")
    send(lab_page, "Deposit", "acc-1", amount="2.00")
    expect(lab_page.locator("#rm-statements-status")).to_contain_text("lag")
    expect(lab_page.locator("#rm-statements-status")).to_contain_text("up to date", timeout=10_000)


def test_adding_a_read_model_fills_it_from_history(lab_page):
    lab_page.select_option("#add-rm", "large_transactions")
    lab_page.get_by_role("button", name="Add and fill from history").click()
    body = lab_page.locator("#rm-large_transactions-body")
    # The demo scenario holds a 1,200.00 deposit and a 1,000.00 withdrawal.
    expect(body).to_contain_text("1200.00")
    expect(body).to_contain_text("-1000.00")
    expect(lab_page.locator("#rm-large_transactions-status")).to_contain_text("up to date")


def test_the_keyboard_alone_can_send_a_command(lab_page):
    before = head(lab_page)
    lab_page.focus("#cmd-command")
    lab_page.keyboard.press("Tab")  # to the account id
    lab_page.keyboard.press("Control+A")
    lab_page.keyboard.type("nobody")  # no such account: a rejection, reached by keyboard only
    lab_page.focus("#cmd-amount")
    lab_page.keyboard.press("Enter")
    expect(lab_page.locator("#command-result")).to_contain_text("There is no account")
    assert head(lab_page) == before


def test_new_lab_keeps_the_old_one(lab_page, server):
    old_url = lab_page.url
    old_head = head(lab_page)
    lab_page.select_option("#new-lab-scenario", "")
    lab_page.get_by_role("button", name="New lab").click()
    lab_page.wait_for_url(re.compile(r"/labs/\w+/bank/$"))
    assert lab_page.url != old_url
    expect(lab_page.locator("#lab-head")).to_have_attribute("data-head", "0")
    lab_page.goto(old_url)
    expect(lab_page.locator("#lab-head")).to_have_attribute("data-head", str(old_head))


def test_the_sse_feed_replays_the_log_from_an_id(server):
    with urllib.request.urlopen(server + "/api/labs", data=b"") as response:  # noqa: S310 - local server
        lab = json.load(response)
    request = urllib.request.Request(  # noqa: S310
        f"{server}/api/labs/{lab['id']}/bank/commands",
        data=json.dumps({"command": "OpenAccount", "account_id": "sse", "owner": "Sam"}).encode(),
        headers={"Authorization": f"Bearer {lab['token']}", "Content-Type": "application/json"},
    )
    urllib.request.urlopen(request).close()  # noqa: S310
    sse = urllib.request.Request(  # noqa: S310
        f"{server}/labs/{lab['id']}/events/sse", headers={"Authorization": f"Bearer {lab['token']}"}
    )
    with urllib.request.urlopen(sse, timeout=5) as stream:  # noqa: S310
        text = ""
        while "AccountOpened" not in text:
            text += stream.read1(4096).decode()
    assert f"id: lab-{lab['id']}:1" in text
