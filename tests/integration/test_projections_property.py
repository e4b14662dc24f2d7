"""Property: whatever a learner does, every read model ends equal to a fresh fold of the log, and snapshots never lie.

Hypothesis draws a random session on a fresh lab: bank commands (some invalid, which the bank refuses) mixed with
read-model actions (pause, resume, rebuild, add one, switch to async). At the end every read model, once caught up,
must equal `readmodels.rebuild` of the whole log, and every account loaded from snapshot + tail must equal a full
replay of its stream, at every version.
"""

from decimal import Decimal

import pytest
from django.test import TestCase
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eventlab.bank import services
from eventlab.bank.domain import Rejected, fold, from_recorded, stream_name
from eventlab.bank.handlers import load_account
from eventlab.bank.projections import ALL
from eventlab.eventstore import readmodels
from eventlab.eventstore.models import Checkpoint
from eventlab.labs import readmodels as lab_readmodels
from eventlab.labs.services import create_lab, projector, store

ACCOUNTS = ["a", "b", "c"]

account_ids = st.sampled_from(ACCOUNTS)
valid_amounts = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("3000"), places=2).map(str)
invalid_amounts = st.sampled_from(["0", "-5", "1.005", "abc", "1000000.01", "NaN", True, None])
amounts = st.one_of(valid_amounts, valid_amounts, valid_amounts, st.integers(1, 500), invalid_amounts)

bank_commands = st.one_of(
    st.builds(lambda a, o: {"command": "OpenAccount", "account_id": a, "owner": o}, account_ids,
              st.sampled_from(["Ann", "Bob", "", "Zoë"])),
    st.builds(lambda a, m: {"command": "Deposit", "account_id": a, "amount": m}, account_ids, amounts),
    st.builds(lambda a, m: {"command": "Deposit", "account_id": a, "amount": m}, account_ids, amounts),
    st.builds(lambda a, m: {"command": "Deposit", "account_id": a, "amount": m}, account_ids, amounts),
    st.builds(lambda a, m: {"command": "Withdraw", "account_id": a, "amount": m}, account_ids, amounts),
    st.builds(lambda a, m: {"command": "Withdraw", "account_id": a, "amount": m}, account_ids, amounts),
    st.builds(lambda a: {"command": "CloseAccount", "account_id": a}, account_ids),
    st.just({"command": "Deposit", "account_id": "no such id!", "amount": "1.00"}),
)

# (kind, payload or read model name, whether after-commit callbacks run)
steps = st.one_of(
    st.tuples(st.just("command"), bank_commands, st.booleans()),
    st.tuples(st.just("command"), bank_commands, st.booleans()),
    st.tuples(st.sampled_from(["pause", "resume", "rebuild", "enable", "async", "inline"]),
              st.sampled_from(list(ALL)), st.booleans()),
)


def act_on_read_model(lab, action: str, name: str) -> None:
    """What the learner clicks on the read-models panel."""
    enabled = Checkpoint.objects.filter(lab=lab.id, projection=name).exists()
    if action != "enable" and not enabled:
        with pytest.raises(lab_readmodels.UnknownReadModel):
            lab_readmodels.act(lab, name, action)
        return
    if action == "async":
        lab_readmodels.act(lab, name, "configure", mode="async", delay_ms=0)
    elif action == "inline":
        lab_readmodels.act(lab, name, "configure", mode="inline")
    else:
        lab_readmodels.act(lab, name, action)


@pytest.mark.django_db
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    opened=st.lists(account_ids, unique=True),
    session=st.lists(steps, min_size=30, max_size=80),
    snapshot_every=st.integers(1, 5),
)
def test_read_models_and_snapshots_always_agree_with_the_log(opened, session, snapshot_every):
    # A fresh lab per example, with snapshots taken often enough to matter.
    lab, _ = create_lab()
    lab.snapshot_every = snapshot_every
    lab.save()

    # Usually some accounts are open before the session starts, so more of its commands are accepted.
    opening = [("command", {"command": "OpenAccount", "account_id": a, "owner": "Ann"}, True) for a in opened]
    accepted = 0
    for kind, what, after_commit in opening + session:
        if kind == "command":
            # After-commit work (async projections) runs for some commands and is lost for others.
            with TestCase.captureOnCommitCallbacks(execute=after_commit):
                try:
                    services.execute(lab, what)
                    accepted += 1
                except Rejected:
                    pass  # refused commands append nothing
        else:
            act_on_read_model(lab, kind, what)
    # Refused commands left no trace: one event per accepted command.
    assert store.head(lab.id) == accepted

    # Every read model, enabled and caught up, equals a fresh fold of the whole log.
    log = store.read_log(lab.id)
    for name, projection in ALL.items():
        projector.enable(lab.id, name)
        projector.catch_up(lab.id, name, force=True)
        assert Checkpoint.objects.get(lab=lab.id, projection=name).position == store.head(lab.id)
        assert projector.docs(lab.id, name) == readmodels.rebuild(projection, log), name

    for account_id in ACCOUNTS:
        stream = store.read_stream(lab.id, stream_name(account_id))
        # Snapshot + tail equals a full replay at every version of the account.
        for version in range(1, len(stream) + 1):
            loaded = load_account(store, lab.id, account_id, version=version)
            assert loaded.account == fold([from_recorded(e) for e in stream[:version]])
            assert loaded.replayed_events <= snapshot_every
        # The bank never lets an account go below zero.
        current = load_account(store, lab.id, account_id).account
        assert current.balance >= 0
        # And the teller's list agrees with the account itself.
        row = projector.docs(lab.id, "balances").get(account_id)
        if current.version:
            assert (Decimal(row["balance"]), row["status"], row["version"]) == (
                current.balance, current.status, current.version,
            )
        else:
            assert row is None
