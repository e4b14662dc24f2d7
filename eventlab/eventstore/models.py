"""Tables of the event store. Only `recorder.py` writes events; triggers make the events table append-only."""

from django.db import models


class Log(models.Model):
    """A lab's log head: the last position appended. Appends lock this row, which keeps positions gap-free."""

    lab = models.CharField(primary_key=True, max_length=64)
    head = models.BigIntegerField(default=0)
    published = models.BigIntegerField(db_default=0, help_text="The last position sent to the SSE feed.")

    def __str__(self) -> str:
        return f"{self.lab} @ {self.head}"


class StoredEvent(models.Model):
    pk = models.CompositePrimaryKey("lab", "position")
    lab = models.CharField(max_length=64)
    position = models.BigIntegerField()
    stream = models.CharField(max_length=200)
    version = models.IntegerField()
    type = models.CharField(max_length=100)
    schema_version = models.SmallIntegerField()
    data = models.TextField(help_text="The payload exactly as stored (JSON), never rewritten.")
    event_id = models.CharField(max_length=36)
    command_id = models.CharField(max_length=100)
    correlation_id = models.CharField(max_length=100)
    causation_id = models.CharField(max_length=100)
    recorded_at = models.DateTimeField()

    class Meta:
        db_table = "eventstore_event"
        constraints = [
            models.UniqueConstraint(fields=["lab", "stream", "version"], name="event_unique_stream_version"),
        ]
        indexes = [
            # Time travel to an instant: the stream's last version recorded at or before it.
            models.Index(fields=["lab", "stream", "recorded_at"], name="event_stream_time"),
            # A type filter and the list of runs: a lab's events of one type, newest first, read only as far as
            # the page shows (position last, so `ORDER BY position DESC LIMIT n` walks the index and stops).
            models.Index(fields=["lab", "type", "position"], name="event_lab_type"),
        ]

    def __str__(self) -> str:
        return f"{self.lab}#{self.position} {self.stream}@{self.version} {self.type}"


class Command(models.Model):
    """One row per applied command id: the idempotency record, and the events it appended."""

    pk = models.CompositePrimaryKey("lab", "command_id")
    lab = models.CharField(max_length=64)
    command_id = models.CharField(max_length=100)
    fingerprint = models.CharField(max_length=64)
    first_position = models.BigIntegerField()
    last_position = models.BigIntegerField()

    class Meta:
        db_table = "eventstore_command"


class Snapshot(models.Model):
    lab = models.CharField(max_length=64)
    stream = models.CharField(max_length=200)
    version = models.IntegerField()
    state = models.TextField()
    taken_at = models.DateTimeField()

    class Meta:
        db_table = "eventstore_snapshot"
        constraints = [models.UniqueConstraint(fields=["lab", "stream", "version"], name="snapshot_unique_version")]


class Checkpoint(models.Model):
    """How far one projection of one lab has read the log, and how the learner wants it to run."""

    class Mode(models.TextChoices):
        INLINE = "inline", "inline (same transaction as the command)"
        ASYNC = "async", "async (a projector catches up after commit)"

    lab = models.CharField(max_length=64)
    projection = models.CharField(max_length=64)
    position = models.BigIntegerField(default=0)
    mode = models.CharField(max_length=10, choices=Mode.choices, default=Mode.INLINE)
    paused = models.BooleanField(default=False)
    delay_ms = models.IntegerField(default=0)
    moved_at = models.DateTimeField(null=True, blank=True, help_text="When the checkpoint last moved.")

    class Meta:
        db_table = "eventstore_checkpoint"
        constraints = [models.UniqueConstraint(fields=["lab", "projection"], name="checkpoint_unique")]


class ReadModelRow(models.Model):
    """One document of one read model (an account's balance, a statement line…), keyed within its projection."""

    pk = models.CompositePrimaryKey("lab", "projection", "key")
    lab = models.CharField(max_length=64)
    projection = models.CharField(max_length=64)
    key = models.CharField(max_length=200)
    doc = models.JSONField()

    class Meta:
        db_table = "eventstore_readmodel"
