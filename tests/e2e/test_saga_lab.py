"""The saga lab in a real browser: presets run to the end they promise, time travel and what-if runs, injected
failures drawn as compensations, the run live in a second browser, predictions, picking a message, the keyboard."""

import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.e2e

RUN_URL = re.compile(r"/labs/\w+/sagas/(\w+)/")


def steps(page) -> int:
    return int(page.inner_text("#step-count"))


def run_id(page) -> str:
    return page.get_attribute("#run", "data-run")


def live(page):
    expect(page.locator("#live-status")).to_have_attribute("data-state", "live")
    return page


def open_preset(page, server, slug):
    """From the saga lab (reached the way a learner does, through /labs/sagas/), run a preset; wait until live."""
    page.goto(server + "/labs/sagas/")
    page.click(f"#preset-{slug}")
    page.wait_for_url(re.compile(rf"/sagas/\w+/\?preset={slug}$"))
    return live(page)


def step(page, times=1):
    """Press Step (or, when a prediction is asked, "Skip the question and step") and wait for each step to show."""
    for _ in range(times):
        before = steps(page)
        page.click("#step")
        expect(page.locator("#step-count")).to_have_text(str(before + 1))


def run_to_the_end(page):
    page.click("#run-all")
    expect(page.locator("#run-all")).to_be_disabled()


def last_step_text(page) -> str:
    return page.locator("ol.step-list li").last.text_content()


@pytest.fixture
def saga_page(server, new_page):
    """A learner's browser on the saga lab page of its own lab."""
    page = new_page()
    page.goto(server + "/labs/sagas/")
    expect(page.locator("h1")).to_contain_text("Saga lab")
    return page


# --- Every preset ends the way its description promises ------------------------------------------------------------

PRESETS = [  # slug, the final state, how many times Payments charged
    ("happy-path", "Completed", 1),
    ("payment-declined", "Compensated", 0),
    ("shipping-failed", "Compensated", 1),
    ("duplicate-delivery", "Completed", 1),
    ("duplicate-without-idempotency", "Completed", 2),
    ("orchestrator-crash", "Completed", 1),
    ("message-lost-dead-letter", "Compensated", 1),
    ("choreography-shipping-failed", "Compensated", 1),
    ("late-payment-refused", "Compensated", 0),
    ("stuck-after-pivot", "Compensated", 1),
]


@pytest.mark.parametrize(("slug", "final", "charged"), PRESETS, ids=[p[0] for p in PRESETS])
def test_each_preset_ends_as_described(server, new_page, slug, final, charged):
    page = open_preset(new_page(), server, slug)
    expect(page.locator(".preset-intro")).to_be_visible()
    expect(page.locator("#saga-state")).to_have_text("Started")
    step(page, 2)
    run_to_the_end(page)
    if slug == "orchestrator-crash":
        # The orchestrator went down after step 4 and does not restart by itself; the payment's reply was lost.
        expect(page.locator("#step-count")).to_have_text("5")
        assert "PaymentReserved from payments to orchestrator — MessageLost" in last_step_text(page)
        expect(page.locator("#run-status")).to_contain_text("orchestrator down")
        expect(page.locator("#idle")).to_contain_text("recover it")
        saga_log = page.locator("#saga-log")
        expect(saga_log).to_contain_text("The orchestrator is down")
        expect(saga_log.locator("tbody tr").first).not_to_contain_text("on recovery")
        page.click("#recover")
        expect(page.locator("#recover")).to_have_count(0)
        # Recovering replayed the orchestrator's own log: its entries so far are marked.
        expect(saga_log.locator("tbody tr").first).to_contain_text("✓ on recovery")
        run_to_the_end(page)
    if slug == "message-lost-dead-letter":
        expect(page.locator("#saga-state")).to_have_text("Dead-lettered")
        letter = page.locator("#dead-letters li")
        expect(letter).to_have_count(1)
        expect(letter).to_contain_text("no reply to ShipItems after 4 attempts")
        expect(letter).to_contain_text("Status: open")
        expect(letter).to_contain_text("a pivot step")
        letter.get_by_role("button", name="Compensate").click()
        expect(letter).to_contain_text("Status: compensated")
        expect(letter.get_by_role("button")).to_have_count(0)
        run_to_the_end(page)
        # The compensation asked Inventory first: it remembers the cancelled shipment.
        expect(page.locator("#lock-inventory")).to_contain_text("remembers a cancelled shipment")
    if slug == "late-payment-refused":
        # The late ReservePayments were refused: Payments remembers the refund.
        expect(page.locator("#lock-payments")).to_contain_text("remembers a refund")
        expect(page.locator("#sequence")).to_contain_text("refused a late original")
    if slug == "stuck-after-pivot":
        expect(page.locator("#saga-state")).to_have_text("Dead-lettered")
        letter = page.locator("#dead-letters li")
        expect(letter).to_contain_text("stuck at CompleteOrder, a retriable step")
        expect(letter).to_contain_text("a business decision")
        # Compensate after the pivot is refused with the reason; nothing changes.
        before = steps(page)
        letter.get_by_role("button", name="Compensate").click()
        expect(page.locator("#run-error")).to_contain_text("Compensate is refused: ShipItems, the pivot, has happened")
        expect(letter).to_contain_text("Status: open")
        assert steps(page) == before
        letter.get_by_role("button", name="Refund anyway").click()
        expect(letter).to_contain_text("Status: refunded anyway")
        run_to_the_end(page)
        expect(page.locator("#shipped")).to_have_text("1")
        expect(page.locator("#lock-payments")).to_contain_text("remembers a refund")
    expect(page.locator("#saga-state")).to_have_text(final)
    expect(page.locator("#run-status")).to_contain_text("Done: nothing left in flight.")
    expect(page.locator("#charged")).to_have_text(re.compile(rf"^{charged} × "))
    expect(page.locator(f"#state-machine g.box[data-state={final.lower()}]")).to_have_class(re.compile(r"\bcurrent\b"))
    if final == "Compensated":
        expect(page.locator("#sequence g.arrow.compensation").first).to_be_attached()
        expect(page.locator("#svc-orders")).to_contain_text("cancelled")
    else:
        expect(page.locator("#sequence g.arrow.compensation")).to_have_count(0)
        expect(page.locator("#shipped")).to_have_text("1")
    assert page.dialogs == []


# --- Time travel ----------------------------------------------------------------------------------------------------


def test_back_and_forward_then_acting_from_the_past_forks_a_what_if_run(server, new_page):
    page = open_preset(new_page(), server, "happy-path")
    original = run_id(page)
    step(page, 3)
    page.click("#back")
    expect(page.locator("#step-count")).to_have_text("2")
    expect(page.locator(".pinned")).to_contain_text("You are looking back at step 2")
    expect(page.locator("#run-status")).to_contain_text("of 3")
    assert page.url.endswith("?at=2")
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
    page.wait_for_url(re.compile(rf"/sagas/{forked}/$"))
    page.locator(".order-line a", has_text=original).click()
    page.wait_for_url(re.compile(rf"/sagas/{original}/$"))
    expect(page.locator("#step-count")).to_have_text("3")
    expect(page.locator(".order-line")).not_to_contain_text("forked from")


def test_back_to_the_latest_step(server, new_page):
    page = open_preset(new_page(), server, "happy-path")
    step(page, 2)
    page.click("#back")
    expect(page.locator(".pinned")).to_be_visible()
    page.get_by_role("link", name="Back to the latest step").click()
    expect(page.locator(".pinned")).to_have_count(0)
    expect(page.locator("#step-count")).to_have_text("2")
    page.wait_for_url(RUN_URL)
    assert "at=" not in page.url


# --- A failure injected from the start form is compensated, and drawn so ------------------------------------------


def test_shipping_failed_from_the_start_form_draws_the_compensations(saga_page):
    page = saga_page
    page.get_by_label("Shipping failed").check()
    page.click("#start-run")
    page.wait_for_url(RUN_URL)
    live(page)
    expect(page.locator(".order-line")).to_contain_text("shipping_failed")
    run_to_the_end(page)
    expect(page.locator("#saga-state")).to_have_text("Compensated")
    # Undone in reverse order: the refund (and its reply) first, then the cancel (and its reply), all drawn red.
    expect(page.locator("#sequence g.arrow.compensation .msg-label")).to_have_text(
        ["RefundPayment (compensation)", "PaymentRefunded (compensation)",
         "CancelOrder (compensation)", "OrderCancelled (compensation)"])
    for arrow in page.locator("#sequence g.arrow.compensation line").all():
        assert arrow.get_attribute("marker-end") == "url(#head-red)"
    expect(page.locator("#sequence g.arrow.failure")).to_contain_text("ShippingFailed")
    lit = page.locator("#state-machine g.box.current")
    expect(lit).to_have_count(1)
    expect(lit).to_have_attribute("data-state", "compensated")
    for done in ("RefundPayment", "CancelOrder"):
        expect(page.locator(f"#state-machine g.box[data-state={done}]")).to_have_class(re.compile(r"\bdone\b"))
    expect(page.locator("#machine-now")).to_contain_text("Compensated")


# --- Live in a second browser ---------------------------------------------------------------------------------------


def second_browser_on(page, new_page):
    """Open the lab's join link in another browser context (another session), then the same run."""
    other = new_page()
    page.locator("details.join summary").click()
    other.goto(page.input_value("#join-url"))
    other.goto(page.url)
    return live(other)


def test_a_step_in_one_browser_redraws_the_run_in_another(server, new_page):
    page = open_preset(new_page(), server, "shipping-failed")
    step(page)
    other = second_browser_on(page, new_page)
    expect(other.locator("#step-count")).to_have_text("1")
    arrows = other.locator("#sequence g.arrow")
    before = arrows.count()
    other.evaluate("window.notReloaded = true")
    step(page, 2)
    expect(other.locator("#step-count")).to_have_text("3")
    expect(arrows).to_have_count(before + 2)
    expect(other.locator("#step-count")).to_have_text("3")
    run_to_the_end(page)
    expect(other.locator("#saga-state")).to_have_text("Compensated")
    expect(other.locator("#sequence g.arrow.compensation", has_text="RefundPayment (compensation)")).to_have_count(1)
    expect(other.locator("#sequence g.arrow.compensation", has_text="CancelOrder (compensation)")).to_have_count(1)
    # The same document all along: the panel was swapped in over the websocket, not reloaded.
    assert other.evaluate("window.notReloaded") is True


def test_a_tab_looking_back_keeps_its_view_and_is_told_the_run_moved_on(server, new_page):
    page = open_preset(new_page(), server, "happy-path")
    step(page, 3)
    other = second_browser_on(page, new_page)
    other.click("#back")
    expect(other.locator("#step-count")).to_have_text("2")
    live(other)
    expect(other.locator("#run-news")).to_have_text("")
    step(page, 2)
    expect(other.locator("#run-news")).to_contain_text("The run moved on: 3 steps past the one you are looking at")
    expect(other.locator("#step-count")).to_have_text("2")
    expect(other.locator(".pinned")).to_contain_text("looking back at step 2")
    other.locator("#run-news").get_by_role("link", name="See the latest").click()
    expect(other.locator("#step-count")).to_have_text("5")


# --- Predict, then observe ------------------------------------------------------------------------------------------


def step_until_prompt(page):
    for _ in range(6):
        if page.locator("form.predict").count():
            return
        step(page)
    expect(page.locator("form.predict")).to_be_visible()


def test_a_right_prediction_is_confirmed(server, new_page):
    page = open_preset(new_page(), server, "payment-declined")
    step_until_prompt(page)
    expect(page.locator("form.predict legend")).to_contain_text("ReservePayment")
    at = steps(page)
    page.check("input[name=predict][value=declined]")
    page.click("#predict-step")
    expect(page.locator("#step-count")).to_have_text(str(at + 1))
    expect(page.locator("#prediction")).to_contain_text("You predicted it")
    expect(page.locator("#prediction")).to_contain_text("Payments declines the card")
    # The decline is on its way back; once the orchestrator hears it, the saga compensates.
    expect(page.locator("table.pending tbody tr").first).to_contain_text("PaymentFailed")
    step(page)
    expect(page.locator("#saga-state")).to_have_text("Compensating")


def test_a_wrong_prediction_says_not_quite(server, new_page):
    page = open_preset(new_page(), server, "payment-declined")
    step_until_prompt(page)
    page.check("input[name=predict][value=as_planned]")
    page.click("#predict-step")
    expect(page.locator("#prediction")).to_contain_text("Not quite")
    expect(page.locator("#prediction")).to_contain_text("What happened: Payments declines the card")
    # The verdict belongs to that step: the next one clears it.
    step(page)
    expect(page.locator("#prediction")).to_have_count(0)


def test_predicting_needs_a_choice(server, new_page):
    page = open_preset(new_page(), server, "payment-declined")
    step_until_prompt(page)
    at = steps(page)
    page.click("#predict-step")  # nothing picked: the browser asks for a choice, nothing is sent
    page.wait_for_timeout(300)
    assert steps(page) == at
    assert page.locator("input[name=predict]").first.evaluate("el => !el.validity.valid")


# --- Picking which message arrives next -----------------------------------------------------------------------------


def test_deliver_next_delivers_the_message_picked(server, new_page):
    page = open_preset(new_page(), server, "duplicate-delivery")
    step(page, 4)  # the duplicate ReservePayment and the first PaymentReserved are both in flight
    rows = page.locator("table.pending tbody tr")
    expect(rows.first).to_contain_text("ReservePayment")
    picked = rows.nth(1)
    expect(picked).to_contain_text("PaymentReserved")
    message_id = picked.locator("code").inner_text()
    picked.get_by_role("button", name=re.compile(rf"Deliver {message_id} \(PaymentReserved\) next")).click()
    expect(page.locator("#step-count")).to_have_text("5")
    expect(page.locator("ol.step-list li").last).to_contain_text("PaymentReserved from payments to orchestrator")
    expect(page.locator("#sequence g.arrow").last).to_contain_text("PaymentReserved")
    # The message skipped over is still in flight, now first.
    expect(rows.first).to_contain_text("ReservePayment")
    expect(page.locator(f"#pick-{message_id}")).to_have_count(0)


def test_a_timer_can_be_fired_early(server, new_page):
    page = open_preset(new_page(), server, "happy-path")
    step(page)
    timer = page.locator("table.pending tbody tr", has_text="ReplyTimeout")
    timer_id = timer.locator("code").inner_text()
    page.click(f"#pick-{timer_id}")
    expect(page.locator("#step-count")).to_have_text("2")
    assert "ReplyTimeout" in last_step_text(page)


# --- The keyboard ---------------------------------------------------------------------------------------------------


def test_enter_on_step_steps_and_keeps_focus(server, new_page):
    page = open_preset(new_page(), server, "happy-path")
    page.focus("#step")
    for n in range(1, 5):
        page.keyboard.press("Enter")
        expect(page.locator("#step-count")).to_have_text(str(n))
        # Let the websocket's copy of the same panel arrive too: it must not take the focus away.
        page.wait_for_timeout(150)
        assert page.evaluate("document.activeElement.id") == "step"


def test_focus_stays_on_step_when_another_browser_steps(server, new_page):
    page = open_preset(new_page(), server, "happy-path")
    other = second_browser_on(page, new_page)
    other.focus("#step")
    step(page, 2)
    expect(other.locator("#step-count")).to_have_text("2")
    assert other.evaluate("document.activeElement.id") == "step"
    other.keyboard.press("Enter")
    expect(other.locator("#step-count")).to_have_text("3")
    expect(page.locator("#step-count")).to_have_text("3")


# --- Bad input ------------------------------------------------------------------------------------------------------


def test_an_order_without_items_is_refused_and_starts_nothing(saga_page):
    page = saga_page
    url = page.url
    expect(page.locator("ul.runs li")).to_have_count(0)
    for n in (1, 2, 3):
        for field in ("sku", "qty", "price"):
            page.fill(f"#item-{n}-{field}", "")
    page.fill("#customer", "Grace")
    page.click("#start-run")
    expect(page.locator("#start-error")).to_contain_text("No items in order.")
    # The form keeps what was typed; no run was made.
    expect(page.locator("#customer")).to_have_value("Grace")
    page.goto(url)
    expect(page.locator("#start-error")).to_have_count(0)
    expect(page.locator(".panel", has=page.locator("#runs-h"))).to_contain_text("No runs yet.")


def test_a_bad_quantity_is_named(saga_page):
    page = saga_page
    page.fill("#item-1-qty", "lots")
    page.click("#start-run")
    expect(page.locator("#start-error")).to_contain_text("quantity")
    expect(page.locator(".panel", has=page.locator("#runs-h"))).to_contain_text("No runs yet.")


def test_markup_in_a_customer_name_is_shown_as_text(saga_page, new_page):
    page = saga_page
    name = "<img src=x onerror=alert(1)><script>alert(2)</script>"
    page.fill("#customer", name)
    page.click("#start-run")
    page.wait_for_url(RUN_URL)
    live(page)
    expect(page.locator(".order-line")).to_contain_text(f"for {name}:")
    assert page.locator("#run img").count() == 0
    other = second_browser_on(page, new_page)
    step(page)
    expect(other.locator("#step-count")).to_have_text("1")
    expect(other.locator(".order-line")).to_contain_text(name)
    page.reload()
    expect(page.locator(".order-line")).to_contain_text(name)
    assert page.dialogs == [] and other.dialogs == []
