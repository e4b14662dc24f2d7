"""The scenario file: versioned JSON in the format `manage.py loaddata` accepts (like fixtures/*.json). Pure Python.

    [{"model": "scenarios.scenario", "pk": 3, "fields": {
        "format_version": 1, "title": "...", "lab": "sagas", "start": {...}, "intro": "Markdown",
        "steps": [{"input": {...}, "narration": "Markdown", "predict": null | {"question": "...",
                   "choices": ["...", ...], "correct": 0}}, ...],
        "notice": "Markdown", "published_to": "", "created_at": "..."}}]

`parse` reads a file and checks every field (limits included); it says what is wrong in plain words (FormatError)
and never trusts a field it has not checked. Whether the lab takes the inputs is the lab's to say (labs.replay).
"""

from __future__ import annotations

import json
from typing import Any

FORMAT_VERSION = 1  # what this EventLab writes
READS = (1,)  # the versions it reads (an older one would be upgraded in `upgrade`)
MODEL = "scenarios.scenario"
MAX_SCENARIOS = 20  # per file
MAX_FILE = 1024 * 1024  # bytes
MAX_TITLE = 100
MAX_TEXT = 5000  # a narration, the intro, "what to notice"
MAX_QUESTION = 500
MAX_CHOICE = 200
MAX_CHOICES = 6
MAX_STEPS = 500
MAX_JSON = 64 * 1024  # a start or one input, as JSON


class FormatError(ValueError):
    """A scenario file this EventLab cannot read, in plain words."""


def dumps(objects: list[dict[str, Any]]) -> str:
    return json.dumps(objects, indent=2, ensure_ascii=False)


def parse(raw: bytes | str) -> list[dict[str, Any]]:
    """The scenarios in a file, each `{"pk", "fields"}` with checked, current-version fields."""
    if len(raw) > MAX_FILE:
        raise FormatError(f"The file is over {MAX_FILE // 1024} KiB.")
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise FormatError("The file is not JSON.") from None
    if not isinstance(data, list) or not data:
        raise FormatError('A scenario file is a JSON list of {"model": "scenarios.scenario", "fields": {...}} '
                          "objects (the format manage.py loaddata reads).")
    if len(data) > MAX_SCENARIOS:
        raise FormatError(f"A file holds at most {MAX_SCENARIOS} scenarios.")
    return [parse_object(item, number) for number, item in enumerate(data, 1)]


def parse_object(item: Any, number: int) -> dict[str, Any]:
    where = f"Object {number}"
    if not isinstance(item, dict):
        raise FormatError(f"{where} is not a JSON object.")
    if item.get("model") != MODEL:
        raise FormatError(f"{where} is not a scenario (its \"model\" must be {MODEL!r}).")
    fields = item.get("fields")
    if not isinstance(fields, dict):
        raise FormatError(f"{where} has no \"fields\" object.")
    pk = item.get("pk")
    if pk is not None and (isinstance(pk, bool) or not isinstance(pk, int) or pk < 1):
        raise FormatError(f"{where}'s \"pk\" must be a positive whole number (or absent).")
    return {"pk": pk, "fields": check_fields(upgrade(fields, where), where)}


def upgrade(fields: dict[str, Any], where: str = "The scenario") -> dict[str, Any]:
    """Fields of any version this EventLab reads, as the current version."""
    version = fields.get("format_version")
    if version is None:
        raise FormatError(f"{where} has no \"format_version\": this EventLab reads version "
                          f"{', '.join(map(str, READS))}.")
    if isinstance(version, bool) or version not in READS:
        raise FormatError(f"{where} has format version {str(version)[:20]!r}, which this EventLab does not know: "
                          f"it reads version {', '.join(map(str, READS))}.")
    return dict(fields)  # version 1 is the current one: nothing to change yet


def text(value: Any, name: str, limit: int, required: bool = False) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise FormatError(f"{name} must be text.")
    checked: str = value.strip() if required else value
    if required and not checked:
        raise FormatError(f"{name} is empty.")
    if len(checked) > limit:
        raise FormatError(f"{name} is over {limit:,} characters.")
    return checked


def check_predict(value: Any, name: str) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise FormatError(f"{name} must be an object with a question, choices and the correct one (or null).")
    question = text(value.get("question"), f"{name}'s question", MAX_QUESTION, required=True)
    choices = value.get("choices")
    if not isinstance(choices, list) or not 2 <= len(choices) <= MAX_CHOICES:
        raise FormatError(f"{name} needs 2 to {MAX_CHOICES} choices.")
    choices = [text(c, f"{name}'s choice {n}", MAX_CHOICE, required=True) for n, c in enumerate(choices, 1)]
    correct = value.get("correct")
    if isinstance(correct, bool) or not isinstance(correct, int) or not 0 <= correct < len(choices):
        raise FormatError(f"{name}'s correct choice must be a number from 0 to {len(choices) - 1}.")
    return {"question": question, "choices": choices, "correct": correct}


def small_json(value: Any, name: str) -> Any:
    if len(json.dumps(value)) > MAX_JSON:
        raise FormatError(f"{name} is over {MAX_JSON // 1024} KiB of JSON.")
    return value


def check_fields(fields: dict[str, Any], where: str = "The scenario") -> dict[str, Any]:
    """Checked fields (the current version), unknown ones dropped."""
    lab = fields.get("lab")
    if not isinstance(lab, str) or not lab or len(lab) > 32:
        raise FormatError(f"{where} does not say which lab it is for (\"lab\").")
    start = fields.get("start", {})
    if start is None:
        start = {}
    if not isinstance(start, dict):
        raise FormatError(f"{where}'s start must be an object.")
    steps = fields.get("steps")
    if not isinstance(steps, list) or len(steps) > MAX_STEPS:
        raise FormatError(f"{where}'s steps must be a list of at most {MAX_STEPS}.")
    checked = []
    for n, step in enumerate(steps, 1):
        name = f"{where}, step {n}"
        if not isinstance(step, dict) or not isinstance(step.get("input"), dict):
            raise FormatError(f"{name} must be an object with an \"input\" object.")
        checked.append({"input": small_json(step["input"], f"{name}'s input"),
                        "narration": text(step.get("narration"), f"{name}'s narration", MAX_TEXT),
                        "predict": check_predict(step.get("predict"), name)})
    published = fields.get("published_to") or ""
    if not isinstance(published, str) or len(published) > 64:
        raise FormatError(f"{where}'s published_to must be a class id (text) or empty.")
    out = {
        "format_version": FORMAT_VERSION,
        "title": text(fields.get("title"), f"{where}'s title", MAX_TITLE, required=True),
        "lab": lab,
        "start": small_json(start, f"{where}'s start"),
        "intro": text(fields.get("intro"), f"{where}'s intro", MAX_TEXT),
        "steps": checked,
        "notice": text(fields.get("notice"), f"{where}'s \"what to notice\"", MAX_TEXT),
        "published_to": published,
    }
    if isinstance(fields.get("created_at"), str) and len(fields["created_at"]) <= 40:
        out["created_at"] = fields["created_at"]
    return out
