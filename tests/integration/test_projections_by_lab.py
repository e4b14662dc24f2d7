"""A write runs only the read models of the lab that owns its events (eventstore.readmodels.Projection.event_types).

A working lab has the bank's read models on (every lab page shares it), so a saga Step appends to a log whose bank
read models are inline: they must do no work for it — no apply, no read-model row read or written — while their
checkpoints still move past the saga's events (no lag shown for events they never fold)."""

import re

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from eventlab.bank import services as bank_services
from eventlab.eventstore.models import Checkpoint
from eventlab.labs import registry
from eventlab.labs.models import Lab
from eventlab.labs.services import projector, store

pytestmark = pytest.mark.django_db

BANK_PROJECTIONS = registry.get("bank").projections


def working_lab_with_a_saga_run(client: Client) -> tuple[Lab, str]:
    location = client.get("/labs/sagas/")["Location"]
    lab = Lab.objects.get(pk=re.fullmatch(r"/labs/([0-9a-f]+)/sagas/", location).group(1))
    started = client.post(f"/labs/{lab.id}/sagas/start", {
        "mode": "orchestration", "seed": "1", "customer": "Ada", "item-1-sku": "book", "item-1-qty": "1",
        "item-1-price": "12.50", "item-2-sku": "", "item-2-qty": "", "item-2-price": ""})
    run_id = re.fullmatch(rf"/labs/{lab.id}/sagas/([0-9a-f]+)/(\?.*)?", started["Location"]).group(1)
    return lab, run_id


def test_the_bank_read_models_fold_only_bank_events():
    assert BANK_PROJECTIONS
    for projection in BANK_PROJECTIONS:
        assert projection.event_types, projection.name
        assert projection.event_types <= {"AccountOpened", "MoneyDeposited", "MoneyWithdrawn", "AccountClosed"}


def test_a_saga_step_runs_no_bank_projection(monkeypatch):
    client = Client()
    lab, run_id = working_lab_with_a_saga_run(client)
    bank_services.execute(lab, {"command": "OpenAccount", "account_id": "acc-1", "owner": "Ann"})
    enabled = {c.projection for c in Checkpoint.objects.filter(lab=lab.id)}
    assert {p.name for p in registry.get("bank").default_projections} <= enabled  # the bank's read models are on
    applied: list[str] = []
    for projection in BANK_PROJECTIONS:
        monkeypatch.setattr(projection, "apply", lambda rows, event, name=projection.name: applied.append(name))
    head = store.head(lab.id)

    with CaptureQueriesContext(connection) as queries:
        response = client.post(f"/labs/{lab.id}/sagas/{run_id}/act", {"action": "step"})
    assert response.status_code == 302, response.content

    assert store.head(lab.id) > head  # the step appended
    assert applied == []
    sql = [q["sql"] for q in queries.captured_queries]
    assert not [q for q in sql if "eventstore_readmodel" in q]
    # Reading which read models are on, and one statement moving all of theirs past the step: no catching up.
    assert len([q for q in sql if "eventstore_checkpoint" in q]) == 2, [q for q in sql if "checkpoint" in q]
    for checkpoint in Checkpoint.objects.filter(lab=lab.id):  # moved past the saga's events: no lag to show
        assert checkpoint.position == store.head(lab.id), checkpoint.projection


def test_a_bank_command_after_saga_steps_still_folds_into_the_bank_read_models():
    client = Client()
    lab, run_id = working_lab_with_a_saga_run(client)
    bank_services.execute(lab, {"command": "OpenAccount", "account_id": "acc-1", "owner": "Ann"})
    client.post(f"/labs/{lab.id}/sagas/{run_id}/act", {"action": "step"})
    bank_services.execute(lab, {"command": "Deposit", "account_id": "acc-1", "amount": "40.00"})
    assert projector.docs(lab.id, "balances")["acc-1"]["balance"] == "40.00"
    assert projector.docs(lab.id, "summary")["bank"]["deposits"] == 1
