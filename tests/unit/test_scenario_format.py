"""The scenario file (eventlab.scenarios.fileformat), pure: what it reads, what it refuses in plain words, versions."""

import json

import pytest

from eventlab.scenarios import fileformat
from eventlab.scenarios.fileformat import FormatError, parse

FIELDS = {"format_version": 1, "title": "Declined", "lab": "sagas", "start": {"seed": 1}, "intro": "Hi",
          "steps": [{"input": {"input": "step"}, "narration": "One", "predict": None},
                    {"input": {"input": "step"}, "narration": "Two",
                     "predict": {"question": "Next?", "choices": ["a", "b"], "correct": 1}}],
          "notice": "Look", "published_to": "", "created_at": "2026-12-05T05:00:00Z"}


def one(**fields) -> str:
    return json.dumps([{"model": "scenarios.scenario", "pk": 4, "fields": {**FIELDS, **fields}}])


def test_it_reads_what_it_writes():
    [scenario] = parse(one())
    assert scenario["pk"] == 4
    assert scenario["fields"] == FIELDS


def test_unknown_fields_are_dropped_and_missing_words_are_empty():
    fields = {k: v for k, v in FIELDS.items() if k not in ("intro", "notice", "created_at")}
    [scenario] = parse(json.dumps([{"model": "scenarios.scenario", "fields": {**fields, "evil": 1}}]))
    assert scenario["pk"] is None and "evil" not in scenario["fields"]
    assert scenario["fields"]["intro"] == scenario["fields"]["notice"] == ""


@pytest.mark.parametrize("raw, words", [
    ("{", "not JSON"),
    (b"\xff\xfe", "not JSON"),
    ("[]", "JSON list"),
    ('{"model": "scenarios.scenario"}', "JSON list"),
    ("[1]", "not a JSON object"),
    ('[{"model": "labs.scenario", "fields": {}}]', "not a scenario"),
    ('[{"model": "scenarios.scenario"}]', 'no "fields"'),
    (json.dumps([{"model": "scenarios.scenario", "pk": "x", "fields": FIELDS}]), "pk"),
])
def test_a_malformed_file_is_refused_in_plain_words(raw, words):
    with pytest.raises(FormatError, match=words):
        parse(raw)


@pytest.mark.parametrize("version", [None, 0, 2, "1", True, 99])
def test_an_unknown_or_missing_version_is_refused(version):
    fields = {k: v for k, v in FIELDS.items() if k != "format_version"}
    if version is not None:
        fields["format_version"] = version
    with pytest.raises(FormatError, match="format_version|format version"):
        parse(json.dumps([{"model": "scenarios.scenario", "fields": fields}]))


def test_upgrade_reads_every_version_it_knows_as_the_current_one():
    for version in fileformat.READS:
        assert fileformat.upgrade({**FIELDS, "format_version": version})["format_version"] == fileformat.FORMAT_VERSION


@pytest.mark.parametrize("fields, words", [
    ({"title": ""}, "title is empty"),
    ({"title": "x" * 101}, "over 100"),
    ({"title": 5}, "must be text"),
    ({"lab": ""}, "which lab"),
    ({"start": []}, "start must be an object"),
    ({"steps": {}}, "steps must be a list"),
    ({"steps": [{"narration": "no input"}]}, '"input" object'),
    ({"steps": [{"input": {}, "narration": "x" * 5001}]}, "over 5,000"),
    ({"steps": [{"input": {}, "predict": {"question": "Q", "choices": ["a"], "correct": 0}}]}, "2 to 6 choices"),
    ({"steps": [{"input": {}, "predict": {"question": "Q", "choices": ["a", "b"], "correct": 2}}]}, "from 0 to 1"),
    ({"steps": [{"input": {}, "predict": {"question": "", "choices": ["a", "b"], "correct": 0}}]}, "question is empty"),
    ({"steps": [{"input": {}, "predict": "yes"}]}, "question, choices"),
    ({"start": {"blob": "x" * 70_000}}, "KiB of JSON"),
    ({"published_to": 7}, "published_to"),
])
def test_each_field_is_checked(fields, words):
    with pytest.raises(FormatError, match=words):
        parse(one(**fields))


def test_a_file_has_limits():
    with pytest.raises(FormatError, match="over"):
        parse(" " * (fileformat.MAX_FILE + 1))
    many = json.loads(one()) * (fileformat.MAX_SCENARIOS + 1)
    with pytest.raises(FormatError, match="at most"):
        parse(json.dumps(many))
