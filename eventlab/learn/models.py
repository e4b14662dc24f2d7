"""Quiz questions, loaded from `fixtures/quiz_questions.json` (`manage.py loaddata quiz_questions`) and edited in the
admin. A learner's answers are not stored here: they are events in the learner's personal lab (see progress.py)."""

from django.core.exceptions import ValidationError
from django.db import models

from . import quiz
from .topics import SECTIONS, TOPICS


class Question(models.Model):
    class Kind(models.TextChoices):
        SINGLE = "single", "single choice"
        MULTIPLE = "multiple", "multiple choice"
        ORDER = "order", "put in order"
        PREDICT = "predict", "predict the outcome"

    slug = models.SlugField(primary_key=True, max_length=64, help_text='For example "es-01".')
    topic = models.CharField(max_length=64, choices=[(t.slug, t.title) for t in TOPICS])
    position = models.PositiveSmallIntegerField(default=0, help_text="Order among the topic's questions.")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    prompt = models.TextField()
    choices = models.JSONField(help_text='A list of {"key": "a", "text": "..."}.')
    answer = models.JSONField(
        help_text="The right choice keys: one for single and predict, the set for multiple, every key in the right "
                  "order for order."
    )
    explanation = models.TextField(help_text="Shown after answering: why the answer is right.")
    source = models.CharField(max_length=400, blank=True, default="",
                              help_text="Where the explanation comes from (a book and chapter, an article, a "
                                        "library's documentation, or the lab it describes); shown under it.")
    anchor = models.CharField(max_length=32, choices=list(SECTIONS), default="what",
                              help_text="The section of the topic page that explains it.")
    lab = models.JSONField(default=dict, blank=True,
                           help_text='Predict questions: {"lab": "<a lab\'s key>", "preset": "<one of its presets '
                                     'or views>"}; otherwise {}.')

    class Meta:
        ordering = ["topic", "position", "slug"]

    def __str__(self) -> str:
        return f"{self.slug}: {self.prompt[:60]}"

    def clean(self) -> None:
        from .services import known_presets

        found = quiz.problems(self, known_presets())
        if found:
            raise ValidationError("; ".join(found).capitalize() + ".")

    @property
    def choice_text(self) -> dict[str, str]:
        return {c["key"]: c["text"] for c in self.choices}
