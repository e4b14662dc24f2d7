"""The bank's rules, in pure Python: which commands an account accepts, which it refuses, and why (in plain words)."""

from decimal import Decimal

import pytest

from eventlab.bank import domain
from eventlab.bank.domain import (
    Account,
    AccountClosed,
    AccountOpened,
    CloseAccount,
    Deposit,
    MoneyDeposited,
    MoneyWithdrawn,
    OpenAccount,
    Rejected,
    Withdraw,
    decide,
    fold,
    parse_account_id,
    parse_amount,
    parse_command,
    parse_owner,
)


def opened(balance: str = "0.00", account_id: str = "acc-1") -> Account:
    """An open account holding `balance`, as if it had been opened and then received one deposit."""
    events = [AccountOpened(account_id, "Ann")]
    if Decimal(balance):
        events.append(MoneyDeposited(account_id, balance, "USD"))
    return fold(events)


def closed(account_id: str = "acc-1") -> Account:
    return fold([AccountOpened(account_id, "Ann"), AccountClosed(account_id)])


def refusal(call, *args) -> str:
    """Run `call` expecting the domain to refuse; return its message, checked to be plain words."""
    with pytest.raises(Rejected) as refused:
        call(*args)
    message = str(refused.value)
    assert message.endswith(".")
    # No Python leaking into what a learner reads.
    for noise in ("Decimal(", "Traceback", "<", "InvalidOperation", "TypeError"):
        assert noise not in message, message
    return message


# --- Opening ---------------------------------------------------------------------------------------------------


def test_it_opens_a_new_account():
    # A brand-new stream has no account yet; opening it is accepted.
    events = decide(Account(), OpenAccount("acc-1", "Ann"))
    assert events == [AccountOpened("acc-1", "Ann")]
    # Folding the event gives an open, empty account at version 1.
    assert fold(events) == Account("acc-1", "Ann", Decimal("0.00"), "open", 1)


def test_it_refuses_to_open_an_account_id_twice():
    message = refusal(decide, opened(), OpenAccount("acc-1", "Bob"))
    assert "acc-1 already exists" in message


def test_it_refuses_to_reopen_a_closed_account():
    message = refusal(decide, closed(), OpenAccount("acc-1", "Bob"))
    assert "already exists" in message


# --- Deposits and withdrawals ------------------------------------------------------------------------------------


def test_it_accepts_a_deposit_into_an_open_account():
    events = decide(opened(), Deposit("acc-1", Decimal("12.50")))
    assert events == [MoneyDeposited("acc-1", "12.50", "USD")]
    # The balance moves by exactly the amount.
    assert fold(events, opened()).balance == Decimal("12.50")


def test_it_accepts_a_withdrawal_covered_by_the_balance():
    state = opened("100.00")
    events = decide(state, Withdraw("acc-1", Decimal("40.25")))
    assert events == [MoneyWithdrawn("acc-1", "40.25", "USD")]
    assert fold(events, state).balance == Decimal("59.75")


def test_it_accepts_withdrawing_the_whole_balance():
    state = opened("10.00")
    assert fold(decide(state, Withdraw("acc-1", Decimal("10.00"))), state).balance == 0


def test_it_refuses_a_withdrawal_beyond_the_balance():
    message = refusal(decide, opened("10.00"), Withdraw("acc-1", Decimal("10.01")))
    # The learner reads what the account holds and what was asked for.
    assert "Insufficient funds" in message
    assert "10.00" in message and "10.01" in message


def test_it_refuses_a_withdrawal_from_an_empty_account():
    assert "Insufficient funds" in refusal(decide, opened(), Withdraw("acc-1", Decimal("0.01")))


def test_it_refuses_a_deposit_that_would_pass_the_banks_limit():
    # 100,000,000.00 is the most any account may hold: reaching it exactly is fine, passing it is not.
    state = opened("99999999.00")
    assert decide(state, Deposit("acc-1", Decimal("1.00")))
    message = refusal(decide, state, Deposit("acc-1", Decimal("1.01")))
    assert "100,000,000.00" in message


# --- Closing -----------------------------------------------------------------------------------------------------


def test_it_closes_an_empty_account():
    events = decide(opened(), CloseAccount("acc-1"))
    assert events == [AccountClosed("acc-1")]
    assert fold(events, opened()).status == "closed"


def test_it_refuses_to_close_an_account_that_still_holds_money():
    message = refusal(decide, opened("0.01"), CloseAccount("acc-1"))
    assert "still holds 0.01" in message and "withdraw it all" in message


@pytest.mark.parametrize(
    "command",
    [Deposit("acc-1", Decimal("1.00")), Withdraw("acc-1", Decimal("1.00")), CloseAccount("acc-1")],
    ids=["deposit", "withdraw", "close"],
)
def test_a_closed_account_accepts_no_more_commands(command):
    assert "acc-1 is closed" in refusal(decide, closed(), command)


@pytest.mark.parametrize(
    "command",
    [Deposit("ghost", Decimal("1.00")), Withdraw("ghost", Decimal("1.00")), CloseAccount("ghost")],
    ids=["deposit", "withdraw", "close"],
)
def test_an_unknown_account_must_be_opened_first(command):
    message = refusal(decide, Account(), command)
    assert "no account ghost" in message and "open it first" in message


def test_an_account_is_the_fold_of_its_events():
    state = fold(
        [
            AccountOpened("acc-1", "Ann"),
            MoneyDeposited("acc-1", "100.00", "USD"),
            MoneyWithdrawn("acc-1", "30.50", "USD"),
            MoneyDeposited("acc-1", "0.50", "USD"),
        ]
    )
    assert state == Account("acc-1", "Ann", Decimal("70.00"), "open", 4)
    # A state survives its snapshot form unchanged.
    assert Account.from_dict(state.as_dict()) == state


# --- Amounts -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "amount"),
    [
        ("12.50", "12.50"),
        ("12.5", "12.50"),
        ("7", "7.00"),
        ("0.01", "0.01"),
        (" 3.20 ", "3.20"),
        ("1000000.00", "1000000.00"),
        ("1000000", "1000000.00"),
        # JSON numbers are accepted as well as strings.
        (7, "7.00"),
        (12.5, "12.50"),
        (0.1, "0.10"),
        (1000000, "1000000.00"),
    ],
)
def test_it_accepts_amounts_with_at_most_two_places(given, amount):
    parsed = parse_amount(given)
    assert parsed == Decimal(amount)
    # Amounts are always held in cents.
    assert str(parsed) == amount


@pytest.mark.parametrize("given", ["0", "0.00", "-5", "-0.01", 0, -3, -0.5])
def test_it_refuses_amounts_that_are_not_positive(given):
    assert "positive" in refusal(parse_amount, given)


@pytest.mark.parametrize("given", ["12.345", "0.001", "1.999", 0.001, 0.1 + 0.2])
def test_it_refuses_amounts_with_more_than_two_decimal_places(given):
    assert "at most 2 decimal places" in refusal(parse_amount, given)


@pytest.mark.parametrize("given", ["1000000.01", "1000001", 1000000.01, 10**7, "1e7", "9" * 21])
def test_it_refuses_amounts_over_one_million(given):
    assert "at most 1,000,000.00" in refusal(parse_amount, given)


@pytest.mark.parametrize("given", ["NaN", "nan", "sNaN", "Infinity", "-Infinity", "inf", float("nan"), float("inf")])
def test_it_refuses_amounts_that_are_not_finite(given):
    # NaN and infinities are numbers to Python, not to a bank.
    with pytest.raises(Rejected):
        parse_amount(given)


@pytest.mark.parametrize("given", ["abc", "", "   ", "12,50", "1.2.3", "$5", "5 USD"])
def test_it_refuses_text_that_is_not_an_amount(given):
    assert "not an amount" in refusal(parse_amount, given)


@pytest.mark.parametrize("given", [True, False, None, [], ["5"], {"amount": "5"}, b"5", Decimal("5")])
def test_it_refuses_amounts_that_are_neither_strings_nor_json_numbers(given):
    # A boolean is an int to Python; to the bank it is not an amount.
    assert "An amount is a number" in refusal(parse_amount, given)


# --- Owners and account ids ------------------------------------------------------------------------------------------


def test_it_accepts_an_owner_of_up_to_100_characters():
    assert parse_owner("A" * 100) == "A" * 100
    # Surrounding spaces are not part of the name.
    assert parse_owner("  Ann Lee  ") == "Ann Lee"


def test_it_refuses_an_owner_over_100_characters():
    message = refusal(parse_owner, "A" * 101)
    assert "at most 100 characters" in message and "101" in message


@pytest.mark.parametrize("given", ["", "   ", None, 42, ["Ann"]])
def test_it_requires_an_owner(given):
    assert "owner name is required" in refusal(parse_owner, given)


@pytest.mark.parametrize("given", ["a", "acc-1", "ACC_2", "x.y-z_0", "9lives", "A" * 40, "  acc-1  "])
def test_it_accepts_account_ids(given):
    assert parse_account_id(given) == given.strip()


@pytest.mark.parametrize(
    "given", ["-acc", "_acc", ".acc", "acc 1", "acc/1", "acc:1", "A" * 41, "konto-\u00e4", "acc\n1", "acc\x00"]
)
def test_it_refuses_malformed_account_ids(given):
    assert "1 to 40 letters, digits" in refusal(parse_account_id, given)


@pytest.mark.parametrize("given", ["", "   ", None, 7, ["acc-1"]])
def test_it_requires_an_account_id(given):
    assert "account id is required" in refusal(parse_account_id, given)


# --- Whole commands as the forms, the API and fixtures send them ---------------------------------------------------


def test_it_parses_each_command():
    assert parse_command({"command": "OpenAccount", "account_id": "acc-1", "owner": "Ann"}) == OpenAccount(
        "acc-1", "Ann"
    )
    assert parse_command({"command": "Deposit", "account_id": "acc-1", "amount": "5"}) == Deposit(
        "acc-1", Decimal("5.00")
    )
    assert parse_command({"command": "Withdraw", "account_id": "acc-1", "amount": 2.5}) == Withdraw(
        "acc-1", Decimal("2.50")
    )
    assert parse_command({"command": "CloseAccount", "account_id": "acc-1"}) == CloseAccount("acc-1")


def test_the_same_amount_written_differently_is_the_same_command():
    # The idempotency fingerprint is taken from the parsed command, so 10, "10" and "10.00" must agree.
    forms = [10, "10", "10.00", 10.0, " 10.0 "]
    canonical = {
        str(domain.command_as_dict(parse_command({"command": "Deposit", "account_id": "a", "amount": f})))
        for f in forms
    }
    assert len(canonical) == 1


@pytest.mark.parametrize(
    "payload",
    [
        {"command": "OpenAccount", "account_id": "acc-1"},
        {"command": "OpenAccount", "account_id": "acc-1", "owner": "A" * 101},
        {"command": "Deposit", "account_id": "acc-1"},
        {"command": "Deposit", "account_id": "acc-1", "amount": True},
        {"command": "Withdraw", "account_id": "acc-1", "amount": "NaN"},
        {"command": "Withdraw", "account_id": "bad id", "amount": "1.00"},
        {"command": "CloseAccount"},
    ],
)
def test_it_refuses_commands_with_bad_fields(payload):
    refusal(parse_command, payload)


@pytest.mark.parametrize("name", ["Transfer", "deposit", " ", 3, "x" * 500])
def test_it_refuses_an_unknown_command_and_names_the_known_ones(name):
    message = refusal(parse_command, {"command": name, "account_id": "acc-1", "amount": "1.00"})
    assert message.startswith("Unknown command")
    assert "OpenAccount, Deposit, Withdraw, CloseAccount" in message
    # However long the request, the message stays short.
    assert len(message) < 200


@pytest.mark.parametrize("payload", [{"account_id": "acc-1"}, {"command": None}, {"command": ""}])
def test_a_missing_command_name_is_reported_in_plain_words(payload):
    # A request without "command" should not show the learner Python's None, but what to send.
    message = refusal(parse_command, payload)
    assert "None" not in message
    assert "OpenAccount, Deposit, Withdraw, CloseAccount" in message


@pytest.mark.parametrize("name", [["Deposit"], {"name": "Deposit"}])
def test_a_command_name_that_is_not_text_is_refused_not_crashed_on(name):
    # A fixture or a direct caller may send any JSON value; the domain must answer with Rejected, not TypeError.
    with pytest.raises(Rejected):
        parse_command({"command": name, "account_id": "acc-1", "amount": "1.00"})
