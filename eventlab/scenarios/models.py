"""A scenario an instructor built in the app: a lab's recorded inputs with narration, predict questions and what to
notice. Stored as one row; exported as that row in the format loaddata reads (scenarios.fileformat)."""

from django.conf import settings
from django.db import models
from django.utils import timezone

from .fileformat import FORMAT_VERSION


class Scenario(models.Model):
    format_version = models.PositiveSmallIntegerField(default=FORMAT_VERSION)
    title = models.CharField(max_length=100)
    lab = models.CharField(max_length=32, help_text="The key of the lab it plays in (sagas, twopc, bank…).")
    start = models.JSONField(default=dict, blank=True, help_text="The run's start ({} for the bank lab).")
    intro = models.TextField(blank=True, help_text="Markdown, shown before the first step.")
    steps = models.JSONField(default=list, help_text='[{"input": {...}, "narration": "...", "predict": null}]')
    notice = models.TextField(blank=True, help_text="What to notice (Markdown), shown at the end.")
    # Hook for the classroom app: the class this scenario is published to (its id), to become a relation there.
    published_to = models.CharField(max_length=64, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.title

    @property
    def inputs(self) -> list:
        return [step["input"] for step in self.steps]


class Answer(models.Model):
    """A viewer's answer to a scenario's predict question, given before the step was played."""

    scenario = models.ForeignKey(Scenario, on_delete=models.CASCADE, related_name="answers")
    step = models.PositiveIntegerField()
    choice = models.PositiveSmallIntegerField()
    correct = models.BooleanField()
    session_key = models.CharField(max_length=64, blank=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    answered_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["answered_at"]
