"""The two-phase commit lab in a real browser: the presets end as they promise (commit, one No rolling everyone back,
the coordinator crashing after prepare leaving participants blocked in doubt until Recover presumes abort, a
participant crashing after its vote), the protocol variants and options, predict-then-observe before a fault, time
travel and what-if runs, faults injected mid-run, picking the message
delivered next, the run live in a second browser, the keyboard, and bad input."""

import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.e2e

RUN_URL = re.compile(r"/labs/\w+/twopc/(\w+)/")
EVERYONE = ("orders", "payments", "inventory")


def steps(page) -> int:
    return int(page.inner_text("#step-count"))


def run_id(page) -> str:
    return page.get_attribute("#run", "data-run")


def ms(page, selector) -> int:
    return int(page.inner_text(selector).removesuffix(" ms"))


def live(page):
    expect(page.locator("#live-status")).to_have_attribute("data-state", "live")
    return page


def open_preset(page, server, slug):
    """From the 2PC lab (reached the way a learner does, through /labs/twopc/), run a preset; wait until live."""
    page.goto(server + "/labs/twopc/")
    page.click(f"#preset-{slug}")
    page.wait_for_url(re.compile(rf"/twopc/\w+/\?preset={slug}$"))
    return live(page)


def step(page, times=1):
    for _ in range(times):
        before = steps(page)
        page.click("#step")
        expect(page.locator("#step-count")).to_have_text(str(before + 1))


def run_to_the_end(page):
    page.click("#run-all")
    expect(page.locator("#run-all")).to_be_disabled()


def state_of(page, name):
    return page.locator(f"#p-{name} .p-state")


@pytest.fixture
def twopc_page(server, new_page):
    """A learner's browser on the 2PC lab page of its own lab."""
    page = new_page()
    page.goto(server + "/labs/twopc/")
    expect(page.locator("h1")).to_contain_text("Two-phase commit lab")
    return page


# --- The presets ------------------------------------------------------------------------------------------------------


def test_commit_everyone_votes_yes_and_the_other_order_waits_for_the_stock(server, new_page):
    page = open_preset(new_page(), server, "commit")
    expect(page.locator(".preset-intro")).to_contain_text("Commit: everyone votes Yes")
    expect(page.locator("#outcome")).to_have_text("In progress")
    step(page, 2)
    # Inventory has done its work: it locked the stock row before any prepare.
    expect(page.locator("#locks-inventory")).to_contain_text("stock:book")
    step(page, 12)
    # Every participant voted Yes and holds its locks; the other order asked for the book's stock and waits.
    for name in EVERYONE:
        expect(page.locator(f"#p-{name} .badge.in-doubt")).to_have_text("in doubt")
    expect(page.locator("#locks-inventory")).to_contain_text("stock:book")
    expect(page.locator("#waits-inventory")).to_contain_text("The other order waits for stock:book: time blocked")
    step(page, 2)
    expect(page.locator("#sequence g.mark-decision")).to_have_text("decision logged: commit (forced)")
    expect(page.locator("#coordinator-decision")).to_have_text("commit")
    run_to_the_end(page)
    expect(page.locator("#outcome")).to_have_text("Committed")
    expect(page.locator("#outcome-text")).to_have_text(
        "Every participant voted Yes and the coordinator logged commit: every participant committed and released "
        "its locks.")
    expect(page.locator("#run-status")).to_contain_text("Done: nothing left in flight.")
    for name in EVERYONE:
        expect(state_of(page, name)).to_have_text("committed")
        expect(page.locator(f"#locks-{name} tbody")).to_have_text("none")
    expect(page.locator("#sequence g.arrow.commit")).to_have_count(3)
    expect(page.locator("#sequence g.arrow.abort")).to_have_count(0)
    expect(page.locator("#coordinator-log tbody tr td:nth-child(3)")).to_have_text(
        ["DecisionLogged", "TransactionEnded"])
    expect(page.locator("#cost-acks")).to_have_text("3 acknowledgements")
    expect(page.locator("#readers")).to_contain_text("A split: from step")
    assert ms(page, "#n-blocked-ms") > 0
    expect(page.locator("#other-order")).to_contain_text("got stock:book after")
    assert page.dialogs == []


def test_one_no_vote_and_everyone_rolls_back(server, new_page):
    page = open_preset(new_page(), server, "vote-no")
    run_to_the_end(page)
    expect(page.locator("#outcome")).to_have_text("Aborted")
    expect(page.locator("#outcome-text")).to_contain_text("The coordinator logged abort (not forced) (payments voted No)")
    expect(page.locator("#p-payments .p-vote")).to_have_text("No")
    for name in EVERYONE:
        expect(state_of(page, name)).to_have_text("aborted")
    # The No vote and every Rollback: red, dashed and labelled.
    expect(page.locator("#sequence g.arrow.vote-no .msg-label")).to_have_text("VoteNo (votes No)")
    # Presumed abort: no Rollback to the participant that voted No, and no acknowledgement of an abort.
    expect(page.locator("#sequence g.arrow.rollback .msg-label")).to_have_text(["Rollback (abort)"] * 2)
    expect(page.locator("#cost-acks")).to_have_text("0 acknowledgements")
    for arrow in page.locator("#sequence g.arrow.abort line").all():
        assert arrow.get_attribute("marker-end") == "url(#head-red)"
        assert arrow.evaluate("el => getComputedStyle(el).strokeDasharray") not in ("none", "")
    expect(page.locator("#sequence g.mark-decision")).to_have_text("decision logged: abort (not forced; then forgotten)")
    expect(page.locator("#protocol g.vote-line.abort")).to_have_count(1)


def test_the_coordinator_crashing_after_prepare_blocks_everyone_in_doubt_until_recover_presumes_abort(server, new_page):
    page = open_preset(new_page(), server, "coordinator-crash-after-prepare")
    step(page, 16)  # the last Yes arrives, and the coordinator goes down before it logs a decision
    expect(page.locator("#outcome")).to_have_text("Blocked")
    expect(page.locator("#outcome-text")).to_have_text(
        "Participants voted Yes and the coordinator is down: they cannot decide alone and hold their locks until "
        "it recovers. Its log holds no decision: when it recovers it presumes abort.")
    expect(page.locator("#votes-forgotten")).to_be_visible()
    # The other order's time blocked counts up while the participants wait in doubt.
    blocked = ms(page, "#blocked-inventory")
    step(page)
    assert ms(page, "#blocked-inventory") > blocked
    run_to_the_end(page)
    expect(page.locator("#run-status")).to_contain_text("coordinator down")
    expect(page.locator("#idle")).to_contain_text("recover to carry on")
    for name in EVERYONE:
        expect(page.locator(f"#p-{name} .badge.in-doubt")).to_be_visible()
        expect(state_of(page, name)).to_have_text("prepared")
        assert ms(page, f"#locks-{name} tbody td.num") >= 30_000
    expect(page.locator("#protocol text", has_text="IN DOUBT")).to_have_count(3)
    expect(page.locator("#sequence g.arrow.lost")).not_to_have_count(0)
    blocked = ms(page, "#n-blocked-ms")
    assert blocked > 29_000
    page.click("#recover-coordinator")
    expect(page.locator("#recover-coordinator")).to_have_count(0)
    expect(page.locator("#coordinator-decision")).to_contain_text("abort (presumed abort")
    run_to_the_end(page)
    expect(page.locator("#outcome")).to_have_text("Aborted")
    for name in EVERYONE:
        expect(state_of(page, name)).to_have_text("aborted")
        expect(page.locator(f"#p-{name} .badge.in-doubt")).to_have_count(0)
    expect(page.locator("#coordinator-log tbody")).to_contain_text("Nothing logged")  # presumed: nothing written
    assert ms(page, "#n-blocked-ms") >= blocked


def test_a_participant_crashing_after_its_vote_keeps_its_locks_until_it_recovers(server, new_page):
    page = open_preset(new_page(), server, "participant-crash")
    run_to_the_end(page)
    expect(state_of(page, "inventory")).to_have_text("crashed (its log says prepared)")
    expect(page.locator("#p-inventory .badge.crashed")).to_be_visible()
    expect(page.locator("#locks-inventory")).to_contain_text("stock:book")
    expect(page.locator("#outcome-text")).to_contain_text("but inventory is down and still holds its locks")
    page.click("#recover-inventory")
    expect(page.locator("#recover-inventory")).to_have_count(0)
    run_to_the_end(page)
    expect(page.locator("#outcome")).to_have_text("Committed")
    expect(state_of(page, "inventory")).to_have_text("committed")
    expect(page.locator("#locks-inventory tbody")).to_have_text("none")


# --- Time travel ----------------------------------------------------------------------------------------------------


def test_back_and_forward_then_acting_from_the_past_forks_a_what_if_run(server, new_page):
    page = open_preset(new_page(), server, "commit")
    original = run_id(page)
    step(page, 3)
    page.click("#back")
    expect(page.locator("#step-count")).to_have_text("2")
    expect(page.locator(".pinned")).to_contain_text("You are looking back at step 2")
    expect(page.locator("#run-status")).to_contain_text("of 3")
    assert page.url.endswith("?at=2")
    expect(page.locator("#p-inventory .p-state")).to_have_text("working")  # inventory did its work at step 2
    page.click("#back")
    expect(page.locator("#step-count")).to_have_text("1")
    page.click("#forward")
    expect(page.locator("#step-count")).to_have_text("2")
    expect(page.locator(".pinned")).to_be_visible()
    # Acting from step 2 starts a new run from there; the original keeps its three steps.
    page.click("#step")
    expect(page.locator("#run")).not_to_have_attribute("data-run", original)
    forked = run_id(page)
    expect(page.locator("#step-count")).to_have_text("3")
    expect(page.locator(".pinned")).to_have_count(0)
    expect(page.locator(".order-line")).to_contain_text(f"forked from run {original} at step 2")
    page.wait_for_url(re.compile(rf"/twopc/{forked}/$"))
    page.locator(".order-line a", has_text=original).click()
    page.wait_for_url(re.compile(rf"/twopc/{original}/$"))
    expect(page.locator("#step-count")).to_have_text("3")
    expect(page.locator(".order-line")).not_to_contain_text("forked from")


def test_back_to_the_latest_step(server, new_page):
    page = open_preset(new_page(), server, "commit")
    step(page, 2)
    page.click("#back")
    expect(page.locator(".pinned")).to_be_visible()
    page.get_by_role("link", name="Back to the latest step").click()
    expect(page.locator(".pinned")).to_have_count(0)
    expect(page.locator("#step-count")).to_have_text("2")
    page.wait_for_url(RUN_URL)
    assert "at=" not in page.url


def test_a_fault_injected_while_looking_back_makes_a_what_if_run_with_it(server, new_page):
    page = open_preset(new_page(), server, "commit")
    original = run_id(page)
    step(page, 3)
    page.click("#back")
    expect(page.locator(".pinned")).to_be_visible()
    page.check("input[name=kind][value=vote_no]")
    page.select_option("#vote_no-participant", "orders")
    page.click("#inject")
    expect(page.locator("#run")).not_to_have_attribute("data-run", original)
    expect(page.locator(".order-line")).to_contain_text("vote_no orders")
    run_to_the_end(page)
    expect(page.locator("#outcome")).to_have_text("Aborted")
    expect(page.locator("#p-orders .p-vote")).to_have_text("No")


# --- Faults and picks mid-run -----------------------------------------------------------------------------------------


def test_the_coordinator_crash_injected_mid_run_from_the_form(server, new_page):
    page = open_preset(new_page(), server, "commit")
    step(page)
    page.check("input[name=kind][value=coordinator_crash]")
    page.select_option("#coordinator_crash-at", "after_decision")
    page.click("#inject")
    expect(page.locator(".order-line")).to_contain_text("coordinator_crash after_decision")
    expect(page.locator("#step-count")).to_have_text("1")
    run_to_the_end(page)
    expect(page.locator("#outcome")).to_have_text("Blocked")
    expect(page.locator("#outcome-text")).to_contain_text("Its log already holds the decision (commit)")
    page.click("#recover-coordinator")
    run_to_the_end(page)
    expect(page.locator("#outcome")).to_have_text("Committed")


def test_deliver_next_delivers_the_message_picked(server, new_page):
    page = open_preset(new_page(), server, "commit")
    step(page)  # the work for all three is in flight
    rows = page.locator("table.pending tbody tr")
    picked = rows.nth(2)
    expect(picked).to_contain_text("Work")
    message_id = picked.locator("code").inner_text()
    target = picked.locator("td").nth(2).inner_text().split("→")[1].strip()
    picked.get_by_role("button", name=re.compile(rf"Deliver {message_id} \(Work\) next")).click()
    expect(page.locator("#step-count")).to_have_text("2")
    expect(page.locator("ol.step-list li").last).to_contain_text(f"Work from client to {target}")
    expect(state_of(page, target)).to_have_text("working")
    expect(page.locator(f"#pick-{message_id}")).to_have_count(0)


def test_a_timeout_can_be_fired_early_and_the_coordinator_aborts(server, new_page):
    page = open_preset(new_page(), server, "commit")
    step(page, 9)  # the work is done and the coordinator has sent Prepare: its vote timeout is set
    timer = page.locator("table.pending tbody tr", has_text="VoteTimeout")
    page.click(f"#pick-{timer.locator('code').inner_text()}")
    expect(page.locator("#step-count")).to_have_text("10")
    expect(page.locator("#coordinator-decision")).to_have_text("abort")
    expect(page.locator("#sequence g.mark-abort").first).to_contain_text("vote timeout: no vote from")


# --- Live in a second browser ---------------------------------------------------------------------------------------


def second_browser_on(page, new_page):
    """Open the lab's join link in another browser context (another session), then the same run."""
    other = new_page()
    page.locator("details.join summary").click()
    other.goto(page.input_value("#join-url"))
    other.goto(page.url)
    return live(other)


def test_a_step_in_one_browser_redraws_the_run_in_another(server, new_page):
    page = open_preset(new_page(), server, "coordinator-crash-after-prepare")
    step(page)
    other = second_browser_on(page, new_page)
    expect(other.locator("#step-count")).to_have_text("1")
    arrows = other.locator("#sequence g.arrow")
    before = arrows.count()
    other.evaluate("window.notReloaded = true")
    step(page, 2)
    expect(other.locator("#step-count")).to_have_text("3")
    expect(arrows).to_have_count(before + 2)
    run_to_the_end(page)
    expect(other.locator("#outcome")).to_have_text("Blocked")
    expect(other.locator("#recover-coordinator")).to_be_visible()
    page.click("#recover-coordinator")
    expect(other.locator("#recover-coordinator")).to_have_count(0)
    expect(other.locator("#coordinator-decision")).to_contain_text("presumed abort")
    # The same document all along: the panel was swapped in over the websocket, not reloaded.
    assert other.evaluate("window.notReloaded") is True


def test_a_tab_looking_back_keeps_its_view_and_is_told_the_run_moved_on(server, new_page):
    page = open_preset(new_page(), server, "commit")
    step(page, 3)
    other = second_browser_on(page, new_page)
    other.click("#back")
    expect(other.locator("#step-count")).to_have_text("2")
    live(other)
    expect(other.locator("#run-news")).to_have_text("")
    step(page, 2)
    expect(other.locator("#run-news")).to_contain_text("The run moved on: 3 steps past the one you are looking at")
    expect(other.locator("#step-count")).to_have_text("2")
    other.locator("#run-news").get_by_role("link", name="See the latest").click()
    expect(other.locator("#step-count")).to_have_text("5")


# --- The keyboard ---------------------------------------------------------------------------------------------------


def test_enter_on_step_steps_and_keeps_focus(server, new_page):
    page = open_preset(new_page(), server, "commit")
    page.focus("#step")
    for n in range(1, 5):
        page.keyboard.press("Enter")
        expect(page.locator("#step-count")).to_have_text(str(n))
        page.wait_for_timeout(150)  # the websocket's copy of the same panel must not take the focus away
        assert page.evaluate("document.activeElement.id") == "step"


def test_focus_stays_on_step_when_another_browser_steps(server, new_page):
    page = open_preset(new_page(), server, "commit")
    other = second_browser_on(page, new_page)
    other.focus("#step")
    step(page, 2)
    expect(other.locator("#step-count")).to_have_text("2")
    assert other.evaluate("document.activeElement.id") == "step"
    other.keyboard.press("Enter")
    expect(other.locator("#step-count")).to_have_text("3")
    expect(page.locator("#step-count")).to_have_text("3")


# --- The start form and bad input -------------------------------------------------------------------------------------


def test_the_start_form_takes_participants_and_faults(twopc_page):
    page = twopc_page
    page.get_by_label("orders", exact=True).uncheck()
    page.get_by_label("A participant votes No:").check()
    page.select_option("#vote_no-participant", "inventory")
    page.click("#start-run")
    page.wait_for_url(RUN_URL)
    live(page)
    expect(page.locator(".order-line")).to_contain_text("Participants: payments, inventory.")
    expect(page.locator(".order-line .fault-tag")).to_have_text("vote_no inventory")
    expect(page.locator("#p-orders")).to_have_count(0)
    run_to_the_end(page)
    expect(page.locator("#outcome")).to_have_text("Aborted")
    expect(page.locator("#p-inventory .p-vote")).to_have_text("No")


def test_the_lab_page_links_to_the_comparison_and_the_matrix(twopc_page):
    page = twopc_page
    expect(page.get_by_role("link", name="Saga vs 2PC side by side")).to_have_attribute(
        "href", re.compile(r"/labs/\w+/twopc/compare/$"))
    expect(page.get_by_role("link", name="The failure matrix")).to_have_attribute(
        "href", re.compile(r"/labs/\w+/twopc/matrix/$"))


def test_no_participant_is_refused_and_starts_nothing(twopc_page):
    page = twopc_page
    url = page.url
    for name in EVERYONE:
        page.get_by_label(name, exact=True).uncheck()
    page.fill("#customer", "Grace")
    page.click("#start-run")
    expect(page.locator("#start-error")).to_contain_text("The participants are one or more of")
    expect(page.locator("#customer")).to_have_value("Grace")
    page.goto(url)
    expect(page.locator("#start-error")).to_have_count(0)
    expect(page.locator(".panel", has=page.locator("#runs-h"))).to_contain_text("No runs yet.")


def test_a_bad_fault_injected_mid_run_is_refused_in_place(server, new_page):
    page = open_preset(new_page(), server, "commit")
    step(page)
    page.check("input[name=kind][value=delay]")
    page.fill("#delay-ms", "0")
    page.click("#inject")
    expect(page.locator("#run-error")).to_contain_text("ms must be a whole number from 1 to 600,000.")
    expect(page.locator("#step-count")).to_have_text("1")
    expect(page.locator(".order-line")).to_contain_text("No faults injected.")


def test_markup_in_a_customer_name_is_shown_as_text(twopc_page, new_page):
    page = twopc_page
    name = "<img src=x onerror=alert(1)><script>alert(2)</script>"
    page.fill("#customer", name)
    page.click("#start-run")
    page.wait_for_url(RUN_URL)
    live(page)
    expect(page.locator(".order-line")).to_contain_text(f"for {name}:")
    other = second_browser_on(page, new_page)
    step(page, 5)
    expect(other.locator("#step-count")).to_have_text("5")
    expect(other.locator("#locks-payments")).to_contain_text(f"account:{name}")
    assert page.locator("#run img").count() == 0 and other.locator("#run img").count() == 0
    assert page.dialogs == [] and other.dialogs == []


# --- Variants, options and predict-then-observe ---------------------------------------------------------------------


def test_a_prediction_is_asked_before_an_injected_fault_acts_and_the_verdict_shown(server, new_page):
    """Predict, then observe (as in the saga and resilience labs): the step that delivers the Commit the network
    will lose asks first; a right prediction is confirmed."""
    page = open_preset(new_page(), server, "commit-lost")
    while not page.locator("form.predict").count():
        step(page)
    expect(page.locator("form.predict legend")).to_contain_text("delivers Commit to")
    expect(page.locator("button#predict-step")).to_be_visible()
    before = steps(page)
    page.check("input[name=predict][value=dropped]")
    page.click("#predict-step")
    expect(page.locator("#step-count")).to_have_text(str(before + 1))
    expect(page.locator("#prediction")).to_contain_text("You predicted it")
    expect(page.locator("#prediction")).to_contain_text("The network loses the message")
    expect(page.locator("form.predict")).to_have_count(0)


def test_a_wrong_prediction_before_a_no_vote_says_what_happened(server, new_page):
    page = open_preset(new_page(), server, "vote-no")
    while not page.locator("form.predict").count():
        step(page)
    expect(page.locator("form.predict legend")).to_contain_text("delivers Prepare to payments")
    page.check("input[name=predict][value=as_planned]")
    page.click("#predict-step")
    expect(page.locator("#prediction")).to_contain_text("Not quite")
    expect(page.locator("#prediction")).to_contain_text("The participant votes No: the coordinator will abort.")


def test_presumed_nothing_and_presumed_abort_side_by_side_from_the_start_form(twopc_page):
    page = twopc_page
    page.get_by_label("presumed nothing (basic 2PC)").check()
    page.get_by_label("A participant votes No:").check()
    page.click("#start-run")
    page.wait_for_url(RUN_URL)
    live(page)
    expect(page.locator("#variant")).to_have_text("presumed nothing (basic 2PC)")
    run_to_the_end(page)
    expect(page.locator("#outcome")).to_have_text("Aborted")
    expect(page.locator("#cost-acks")).to_have_text("2 acknowledgements")
    expect(page.locator("#v-coordinator-forced td")).to_have_text(["0", "1"])
    expect(page.locator("#v-acks td")).to_have_text(["0", "2"])


def test_one_phase_commit_with_three_participants_is_a_form_error(twopc_page):
    page = twopc_page
    page.check("#one-phase")
    page.click("#start-run")
    expect(page.locator("#start-error")).to_contain_text("One-phase commit needs exactly one participant")
    expect(page.locator("#one-phase")).to_be_checked()


def test_cooperative_termination_unblocks_when_a_peer_knows(server, new_page):
    page = open_preset(new_page(), server, "cooperative-unblocks")
    run_to_the_end(page)
    expect(page.locator("#outcome")).to_have_text("Aborted")
    expect(page.locator("#run-status")).to_contain_text("coordinator down")
    expect(page.locator("#outcome-text")).to_contain_text("asked a peer that knew (cooperative termination)")
    for name in ("orders", "payments"):
        expect(page.locator(f"#locks-{name} tbody")).to_have_text("none")


def test_cooperative_termination_cannot_help_when_all_voted_yes(server, new_page):
    page = open_preset(new_page(), server, "cooperative-blocked")
    run_to_the_end(page)
    expect(page.locator("#outcome")).to_have_text("Blocked")
    expect(page.locator("#outcome-text")).to_contain_text("every one that answered voted Yes and is in doubt too")
