"""Preset resilience scenarios: a start (seed, settings, faults) run with one click."""

from django.db import models

from eventlab.labs.models import Preset as LabPreset


class Preset(LabPreset):
    start = models.JSONField(
        help_text='What POST /api/labs/<lab>/resilience takes: {"seed", "settings", "faults"}.'
    )

    class Meta(LabPreset.Meta):
        pass
