"""Preset resilience scenarios: a start (seed, settings, faults) run with one click.

Loading the fixture writes no events: starting a preset appends a new run to the lab's log like any other start."""

from django.db import models


class Preset(models.Model):
    slug = models.SlugField(primary_key=True, max_length=64)
    title = models.CharField(max_length=100)
    description = models.TextField(blank=True, help_text="What the learner should watch for.")
    position = models.PositiveSmallIntegerField(default=0, help_text="Order on the page.")
    start = models.JSONField(
        help_text='What POST /api/labs/<lab>/resilience takes: {"seed", "settings", "faults"}.'
    )

    class Meta:
        ordering = ["position", "slug"]

    def __str__(self) -> str:
        return self.title
