"""Preset saga scenarios: a start (mode, seed, order, faults) an instructor or a learner runs with one click."""

from django.db import models

from eventlab.labs.models import Preset as LabPreset


class Preset(LabPreset):
    start = models.JSONField(
        help_text='What POST /api/labs/<lab>/sagas takes: {"mode", "seed", "order": {"customer", "items"}, "faults"}.'
    )

    class Meta(LabPreset.Meta):
        pass
