"""Old events read in the current schema, while the stored bytes stay exactly as they were written."""

import json
from decimal import Decimal

from eventlab.bank.domain import MoneyDeposited, fold, from_recorded
from eventlab.bank.handlers import load_account
from eventlab.eventstore.core import InMemoryEventStore, NewEvent, current_schema_version, dumps

LOG = "lab-1"
V1_DEPOSIT = {"account_id": "acc-1", "amount": "25.00"}  # recorded before the bank named a currency


def store_with_a_v1_deposit() -> InMemoryEventStore:
    store = InMemoryEventStore()
    store.create_log(LOG)
    # An account opened, then a deposit written in schema version 1 (as an old scenario fixture carries it).
    store.append(LOG, "account-acc-1", [NewEvent("AccountOpened", {"account_id": "acc-1", "owner": "Ann"})], 0)
    store.append(LOG, "account-acc-1", [NewEvent("MoneyDeposited", V1_DEPOSIT, schema_version=1)], 1)
    return store


def test_the_current_deposit_schema_is_version_2():
    assert current_schema_version("MoneyDeposited") == 2 == MoneyDeposited.schema_version
    # Events that never changed are still at version 1.
    assert current_schema_version("AccountOpened") == 1


def test_a_v1_deposit_reads_as_v2_in_usd():
    deposit = store_with_a_v1_deposit().read_log(LOG)[1]
    # What the application sees: the current schema, with the currency the upcaster filled in.
    assert deposit.schema_version == 2
    assert deposit.data == {"account_id": "acc-1", "amount": "25.00", "currency": "USD"}
    assert deposit.as_dict()["schema_version"] == 2
    assert deposit.as_dict()["data"]["currency"] == "USD"
    # It is a valid event of today's domain.
    assert from_recorded(deposit) == MoneyDeposited("acc-1", "25.00", "USD")


def test_the_stored_v1_bytes_never_change():
    store = store_with_a_v1_deposit()
    deposit = store.read_stream(LOG, "account-acc-1")[1]
    # What is stored: version 1, without a currency, byte for byte as written.
    assert deposit.stored_schema_version == 1
    assert deposit.stored_data == dumps(V1_DEPOSIT)
    assert "currency" not in json.loads(deposit.stored_data)
    # Export writes the event as stored.
    stored = deposit.as_stored_dict()
    assert stored["schema_version"] == 1
    assert stored["data"] == V1_DEPOSIT
    # Reading again (after the upcast happened once) still finds the v1 bytes.
    assert store.read_log(LOG)[1].stored_data == dumps(V1_DEPOSIT)


def test_a_v2_deposit_is_stored_and_read_as_v2():
    store = InMemoryEventStore()
    store.create_log(LOG)
    v2 = {"account_id": "acc-1", "amount": "1.00", "currency": "USD"}
    event = store.append(LOG, "account-acc-1", [NewEvent("MoneyDeposited", v2, schema_version=2)], 0).events[0]
    assert (event.schema_version, event.stored_schema_version, event.data) == (2, 2, v2)
    assert event.as_stored_dict()["data"] == v2


def test_an_account_with_old_and_new_deposits_folds_to_the_right_balance():
    store = store_with_a_v1_deposit()
    store.append(
        LOG, "account-acc-1",
        [NewEvent("MoneyDeposited", {"account_id": "acc-1", "amount": "5.00", "currency": "USD"}, 2)], 2,
    )
    # Replaying a stream that mixes schema versions works because every event is read in the current one.
    account = fold([from_recorded(e) for e in store.read_stream(LOG, "account-acc-1")])
    assert account.balance == Decimal("30.00")
    assert load_account(store, LOG, "acc-1").account == account


def test_upcasting_does_not_touch_the_payload_the_caller_handed_in():
    store = InMemoryEventStore()
    store.create_log(LOG)
    payload = dict(V1_DEPOSIT)
    store.append(LOG, "account-acc-1", [NewEvent("MoneyDeposited", payload, 1)], None)
    assert payload == V1_DEPOSIT
