"""Preset two-phase commit scenarios: a start (seed, participants, order, faults) run with one click."""

from django.db import models

from eventlab.labs.models import Preset as LabPreset


class Preset(LabPreset):
    start = models.JSONField(
        help_text='What POST /api/labs/<lab>/twopc takes: {"seed", "participants", "order", "faults"}.'
    )

    class Meta(LabPreset.Meta):
        pass
