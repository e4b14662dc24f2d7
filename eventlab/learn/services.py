"""The learner's progress, Django side: the session's personal lab, and appending progress events to it.

Each browser session has one personal lab (Lab.Kind.PERSONAL), made the first time there is progress to record and
never replaced by "new lab". Its log holds only the `progress` stream; everything shown about the learner is a fold of
that stream (progress.fold). It is a lab like any other, so the bank lab's event panel can show it.
"""

from __future__ import annotations

from collections.abc import Sequence

from eventlab.eventstore.core import AppendResult, NewEvent, fingerprint
from eventlab.labs.access import SESSION_PERSONAL, add_to_session, session_labs
from eventlab.labs.models import Lab, Scenario
from eventlab.labs.services import create_lab, store, write

from . import progress as progress_events
from .progress import Progress
from .topics import LAB_VIEWS

PERSONAL_TITLE = "My progress"


def personal_lab(session, create: bool = False) -> Lab | None:
    """The session's personal lab; made (once) when `create` is true and there is none yet."""
    lab_id = session.get(SESSION_PERSONAL)
    if lab_id and lab_id in session_labs(session):
        lab = Lab.objects.filter(pk=lab_id, kind=Lab.Kind.PERSONAL).first()
        if lab is not None:
            return lab
    if not create:
        return None
    # No read models: the bank's would only fold these events into empty bank documents.
    lab, _token = create_lab(PERSONAL_TITLE, Lab.Kind.PERSONAL, read_models=False)
    session[SESSION_PERSONAL] = lab.id
    add_to_session(session, lab, current=False)
    return lab


def load(session) -> tuple[Lab | None, Progress]:
    """The personal lab (None if the session has none yet) and the progress folded from its log."""
    lab = personal_lab(session)
    if lab is None:
        return None, Progress()
    return lab, progress_events.fold(store.read_stream(lab.id, progress_events.STREAM))


def record(session, events: Sequence[NewEvent], command_id: str | None = None) -> AppendResult:
    """Append progress events to the session's personal lab (made if needed), in one transaction.

    With a `command_id`, recording the same thing twice (two tabs opening a page at once) appends it once."""
    lab = personal_lab(session, create=True)
    assert lab is not None
    command = {"progress": [{"type": e.type, "data": e.data} for e in events]}
    return write(lab, lambda s: s.append(lab.id, progress_events.STREAM, list(events), expected_version=None,
                                         command_id=command_id, command_fingerprint=fingerprint(command)))


def record_lab_completed(sender, request, page: str, run, outcome: str, **kwargs) -> None:
    """A learner's action brought a lab run to an end: `LabCompleted` in their progress (once per run and outcome: a
    dead-lettered saga retried to completion ends twice)."""
    record(request.session, [progress_events.lab_completed(page, run.id, outcome)],
           command_id=f"lab-completed:{page}:{run.id}:{outcome}")


def known_presets() -> dict[str, set[str]]:
    """Every lab's presets that exist now: what a predict question's `lab` may name."""
    from eventlab.resilience.models import Preset as ResiliencePreset
    from eventlab.sagas.models import Preset as SagaPreset
    from eventlab.twopc.models import Preset as TwoPCPreset

    bank = {view for lab, view in LAB_VIEWS if lab == "bank"} | set(Scenario.objects.values_list("slug", flat=True))
    return {
        "bank": bank,
        "sagas": set(SagaPreset.objects.values_list("slug", flat=True)),
        "twopc": set(TwoPCPreset.objects.values_list("slug", flat=True)),
        "resilience": set(ResiliencePreset.objects.values_list("slug", flat=True)),
    }
