"""A lab is one learner's (or one class's) isolated event log, with the keys to reach it."""

import hashlib
import secrets

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models


def new_lab_id() -> str:
    return secrets.token_hex(12)


def new_join_code() -> str:
    return secrets.token_urlsafe(12)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Lab(models.Model):
    class Kind(models.TextChoices):
        WORKING = "working", "working lab"
        PERSONAL = "personal", "personal progress"

    id = models.CharField(primary_key=True, max_length=64, default=new_lab_id, editable=False)
    title = models.CharField(max_length=100, default="Bank lab")
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.WORKING)
    token_hash = models.CharField(max_length=64, editable=False)
    join_code = models.CharField(max_length=32, unique=True, default=new_join_code, editable=False)
    snapshot_every = models.PositiveIntegerField(
        default=10,
        validators=[MinValueValidator(1), MaxValueValidator(10_000)],
        help_text="Take a snapshot of an account every this many events.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.title} ({self.id})"

    def token_matches(self, token: str) -> bool:
        return secrets.compare_digest(self.token_hash, hash_token(token))

    @property
    def join_url(self) -> str:
        return f"/labs/join/{self.join_code}"


class Scenario(models.Model):
    """A prepared log an instructor can start a lab from (loaded with `manage.py loaddata`).

    Loading a scenario writes no event rows: starting it appends its events through the store into a new lab, so
    positions, versions and triggers stay right, and loading the fixture twice is harmless."""

    slug = models.SlugField(primary_key=True, max_length=64)
    title = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    events = models.JSONField(
        help_text='A list of {"stream", "type", "schema_version", "data"} in the order they happened.'
    )

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.title


class Preset(models.Model):
    """A simulation lab's preset scenario: a start (what the lab's start endpoint takes) run with one click. Each
    lab has its own table of them (abstract here). Loading a fixture writes no events: starting a preset appends a
    new run to the lab's log like any other start."""

    slug = models.SlugField(primary_key=True, max_length=64)
    title = models.CharField(max_length=100)
    description = models.TextField(blank=True, help_text="What the learner should watch for.")
    position = models.PositiveSmallIntegerField(default=0, help_text="Order on the page.")

    class Meta:
        abstract = True
        ordering = ["position", "slug"]

    def __str__(self) -> str:
        return self.title
