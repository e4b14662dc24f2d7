"""The composition root for labs: the store, the projector, and the transaction every write goes through."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

from django.db import transaction

from eventlab.eventstore.core import AppendResult
from eventlab.eventstore.projector import Projector
from eventlab.eventstore.recorder import DjangoEventStore
from eventlab.eventstore.signals import appended

from . import registry
from .models import Lab, Scenario, hash_token


class LabProjector(Projector):
    """The projector over every lab's read models, as the lab registry has them: each lab registers its projections in
    its AppConfig.ready(), after this module is imported, so they are looked up when used."""

    def __init__(self, store: DjangoEventStore | None = None):
        super().__init__((), store)

    @property
    def projections(self) -> dict[str, Any]:
        return registry.projections()

    @projections.setter
    def projections(self, value: dict[str, Any]) -> None:
        """Projector.__init__ sets its own: the registry is the only source here, so it is ignored."""


store = DjangoEventStore()
projector = LabProjector(store)


def create_lab(title: str = "Bank lab", kind: str = Lab.Kind.WORKING,
               read_models: bool = True) -> tuple[Lab, str]:
    """A new, empty lab, with the default read models switched on unless `read_models` is false. Returns the lab
    and its secret API token."""
    token = secrets.token_urlsafe(24)
    with transaction.atomic():
        lab = Lab.objects.create(title=title, kind=kind, token_hash=hash_token(token))
        store.create_log(lab.id)
        for name in registry.default_projections() if read_models else ():
            projector.enable(lab.id, name)
    return lab, token


def start_scenario(scenario: Scenario, title: str | None = None) -> tuple[Lab, str]:
    """A new lab whose log starts with the scenario's events, appended through the store one by one."""
    with transaction.atomic():  # a scenario that does not import leaves no half-made lab behind
        lab, token = create_lab(title=title or scenario.title)
        import_history = registry.scenario_importer()
        write(lab, lambda s: AppendResult(import_history(s, lab.id, scenario.events, lab.snapshot_every)))
    return lab, token


def write(lab: Lab, append: Callable[[DjangoEventStore], AppendResult]) -> AppendResult:
    """Run `append` in one transaction with the inline projections; wake the live feed once it has committed."""
    with transaction.atomic():
        store.lock(lab.id)  # decide on state no other writer of this lab can change before we append
        result = append(store)
        if result.events and not result.duplicate:
            projector.run_inline(lab.id, result.events)
            # Robust: the events are stored; a failing broadcast must not turn the reply into an error.
            transaction.on_commit(lambda: after_commit(lab.id), robust=True)
    return result


def after_commit(lab_id: str) -> None:
    projector.run_async(lab_id)
    wake(lab_id)


def wake(lab_id: str) -> None:
    """Tell live clients the log (or a read model) moved. Only a wake-up: they read what is new themselves."""
    appended.send(sender=Lab, lab=lab_id, head=store.head(lab_id))
