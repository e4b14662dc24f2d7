"""A class's keys: its lab (the log is the truth about learners, polls and votes), its join code and its instructors;
and the instructors' API tokens (only their hashes)."""

from django.conf import settings
from django.db import models

from eventlab.labs.models import Lab


class Classroom(models.Model):
    """A class is a lab: its id is the lab's, its stream `class` holds everything that happens in it."""

    lab = models.OneToOneField(Lab, primary_key=True, on_delete=models.PROTECT, related_name="classroom")
    name = models.CharField(max_length=100)
    code = models.CharField(max_length=8, unique=True, help_text="Crockford base32, shown as ABCD-EFGH.")
    instructors = models.ManyToManyField(settings.AUTH_USER_MODEL, related_name="classes")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.shown_code})"

    @property
    def id(self) -> str:
        return self.lab_id

    @property
    def shown_code(self) -> str:
        return f"{self.code[:4]}-{self.code[4:]}"

    @property
    def join_url(self) -> str:
        return f"/classes/join/{self.code}"


class InstructorToken(models.Model):
    """An instructor's API token: one per instructor, a fresh one replaces the last. Only its hash is kept."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, primary_key=True, on_delete=models.CASCADE,
                                related_name="instructor_token")
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"token of {self.user}"
