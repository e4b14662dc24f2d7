"""What a learner can do to a lab's read models: see checkpoint and lag, pause, resume, slow down, rebuild, add one."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from eventlab.eventstore.models import Checkpoint

from .models import Lab
from .services import projector, store, wake

MAX_DELAY_MS = 5000


class UnknownReadModel(LookupError):
    def __str__(self) -> str:
        return f"There is no read model called {self.args[0]!r}."


def status(lab: Lab) -> dict[str, Any]:
    head = store.head(lab.id)
    checkpoints = {c.projection: c for c in Checkpoint.objects.filter(lab=lab.id)}
    models = []
    for name, projection in projector.projections.items():
        checkpoint = checkpoints.get(name)
        models.append(
            {
                "name": name,
                "title": projection.title,
                "description": projection.description,
                "enabled": checkpoint is not None,
                "checkpoint": checkpoint.position if checkpoint else 0,
                "lag": head - checkpoint.position if checkpoint else head,
                "mode": checkpoint.mode if checkpoint else None,
                "paused": checkpoint.paused if checkpoint else False,
                "delay_ms": checkpoint.delay_ms if checkpoint else 0,
            }
        )
    return {"head": head, "read_models": models}


def act(lab: Lab, name: str, action: str, mode: str | None = None, delay_ms: int | None = None) -> None:
    """Apply one learner action. Catching up happens now unless the read model is paused or slowed down
    (a slowed one is driven by the live feed, one event at a time, so the learner can watch it)."""
    if name not in projector.projections:
        raise UnknownReadModel(name)
    if action == "enable":
        projector.enable(lab.id, name)
    elif not Checkpoint.objects.filter(lab=lab.id, projection=name).exists():
        raise UnknownReadModel(name)
    changes: dict[str, Any] = {}
    if action == "pause":
        changes["paused"] = True
    elif action == "resume":
        changes["paused"] = False
    if mode is not None:
        changes["mode"] = mode
    if delay_ms is not None:
        changes["delay_ms"] = max(0, min(MAX_DELAY_MS, delay_ms))
        if changes["delay_ms"]:
            changes["mode"] = Checkpoint.Mode.ASYNC  # a slowed-down projector cannot run inside the command
        elif mode is None:
            changes["mode"] = Checkpoint.Mode.INLINE  # back to instant: back inside the command's transaction
    with transaction.atomic():
        if changes:
            Checkpoint.objects.filter(lab=lab.id, projection=name).update(**changes)
        if action == "rebuild":
            projector.rebuild(lab.id, name)
    checkpoint = Checkpoint.objects.get(lab=lab.id, projection=name)
    if not checkpoint.paused and checkpoint.delay_ms == 0:
        projector.catch_up(lab.id, name)
    wake(lab.id)
