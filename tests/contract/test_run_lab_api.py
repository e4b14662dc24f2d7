"""One API contract, every simulation lab: what API.md promises the saga, 2PC and resilience labs alike ("Same shape"),
written once and run once per registered lab with run pages (labs.registry), through the JSON API (labs.runapi).

Start (201, from each preset too; an empty body is `{}`), the list of runs, step, a run as it was at a step (and a
422 for a step it never had), fork, faults, run to the end, recover; bad input on every POST a lab's API documents
(its own endpoints too): a body that is not a JSON object (`[null, null]`, `"garbage"`, `null`, `7`...), an unknown
field, malformed JSON (422 naming the problem, nothing appended), a body over 64 KiB (413); an unknown run, another
lab's run, a lab one cannot reach (404, even with a bad value); and OpenAPI components and operation ids that are
each lab's own, documenting the shapes the lab answers with.

A new simulation lab passes by registering, and by adding its entry to LABS: a start body and a fault it accepts.
What is one lab's alone stays in its own tests (tests/integration/test_api_<lab>.py)."""

import json
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client
from ninja import Schema

from eventlab.labs import api as labs_api
from eventlab.labs import registry

pytestmark = pytest.mark.django_db


@dataclass(frozen=True)
class RunLab:
    """What the contract needs to know of a lab: a start it takes, a fault it takes mid-run, how it runs on."""

    start: dict[str, Any]
    fault: dict[str, Any]
    run: dict[str, Any] = field(default_factory=dict)  # the body of one Run (to the end, or for a while)


ORDER = {"customer": "Ada", "items": [{"sku": "book", "qty": 1, "price": "12.50"}]}
LABS = {
    "sagas": RunLab(start={"order": ORDER}, fault={"kind": "payment_declined"}),
    "twopc": RunLab(start={"order": ORDER}, fault={"kind": "vote_no", "participant": "payments"}),
    "resilience": RunLab(start={"settings": {"rate_rps": 1}}, fault={"kind": "failure_rate", "service": "payments",
                                                                     "pct": 50}, run={"ms": 120_000}),
}
RUN_LABS = [plugin.key for plugin in registry.plugins() if plugin.run_pages is not None]
NOT_OBJECTS = ["[null, null]", '"garbage"', "null", "7", "[]", "true"]
PLATFORM = {name for name, value in vars(labs_api).items()  # components every lab may share: labs.api's own
            if isinstance(value, type) and issubclass(value, Schema) and value is not Schema}


def test_every_lab_with_run_pages_has_an_entry_here():
    assert RUN_LABS and set(RUN_LABS) <= set(LABS), "add the new lab's start body and fault to LABS"


@pytest.fixture(params=RUN_LABS)
def key(request) -> str:
    return request.param


class Api:
    """One lab's runs over HTTP, as curl would use them: a token, JSON bodies."""

    def __init__(self, client: Client, lab, key: str):
        self.client, self.lab, self.key, self.spec = client, lab, key, LABS[key]

    def url(self, path: str = "", lab_id: str | None = None) -> str:
        return f"/api/labs/{lab_id or self.lab.id}/{self.key}{path}"

    def post(self, path: str = "", body: Any = None, raw: str | None = None, token: str | None = None,
             lab_id: str | None = None):
        data = raw if raw is not None else ("" if body is None else json.dumps(body))
        return self.client.post(self.url(path, lab_id), data=data, content_type="application/json",
                                HTTP_AUTHORIZATION=f"Bearer {token or self.lab.token}")

    def get(self, path: str = "", token: str | None = None, lab_id: str | None = None):
        return self.client.get(self.url(path, lab_id), HTTP_AUTHORIZATION=f"Bearer {token or self.lab.token}")

    def start(self, body: dict | None = None) -> dict:
        return answer(self.post("", self.spec.start if body is None else body), 201)

    def head(self) -> int:
        return answer(self.client.get(f"/api/labs/{self.lab.id}/events",
                                      HTTP_AUTHORIZATION=f"Bearer {self.lab.token}"))["head"]

    def to_the_end(self, run_id: str) -> dict:
        for _ in range(10):
            run = answer(self.post(f"/{run_id}/run", self.spec.run))
            if run["done"]:
                return run
        raise AssertionError(f"{self.key} run {run_id} is not done after 10 runs")


@pytest.fixture
def api(client, lab, key) -> Api:
    return Api(client, lab, key)


def answer(response, status: int = 200) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    return response.json()


def refused(response, status: int) -> str:
    """The contract's error: the status, and one plain-words `detail`."""
    detail = answer(response, status)["detail"]
    assert isinstance(detail, str) and 5 < len(detail) < 500
    return detail


def schema(client: Client) -> dict:
    return answer(client.get("/api/openapi.json"))


def posts(client: Client, key: str) -> dict[str, dict[str, Any]]:
    """Every POST path the lab's API documents (the lab's own endpoints too), each with a body it takes: its required
    fields, with values any run accepts in form (whether it can act on them is the run's to say)."""
    document, base = schema(client), f"/api/labs/{{lab_id}}/{key}"
    found = {}
    for path, operations in document["paths"].items():
        if (path == base or path.startswith(base + "/")) and "post" in operations:
            body = operations["post"].get("requestBody", {}).get("content", {}).get("application/json", {})
            ref = body.get("schema", {}).get("$ref", "")
            required = document["components"]["schemas"][ref.rsplit("/", 1)[1]].get("required", []) if ref else []
            found[path.removeprefix(base)] = {name: SAMPLES[name] for name in required}
    return found


SAMPLES = {"at_step": 0, "faults": [], "settings": {}}  # a required field's value, in form


def concrete(path: str, run_id: str) -> str:
    return path.replace("{run_id}", run_id).replace("{number}", "1").replace("{service}", "orders") \
        .replace("{dead_letter}", "dl-1")


# --- Start, step, back, fork, run ---------------------------------------------------------------------------------


def test_start_answers_201_with_the_new_run_as_get_answers_it(api):
    started = api.start()

    assert isinstance(started["id"], str) and started["id"]
    assert (started["step"], started["done"], started["forked_from"], started["fork_step"]) == (0, False, None, None)
    assert answer(api.get(f"/{started['id']}")) == started
    assert [r["id"] for r in answer(api.get())["runs"]] == [started["id"]]


def test_an_empty_body_starts_the_same_run_as_an_empty_object(api):
    by_nothing, by_empty_object = api.post("", raw=""), api.post("", {})

    assert by_nothing.status_code == by_empty_object.status_code, (by_nothing.content, by_empty_object.content)
    if by_nothing.status_code == 201:
        assert {**by_nothing.json(), "id": None, "trace_id": None} == {**by_empty_object.json(), "id": None,
                                                                         "trace_id": None}


def test_every_preset_starts_through_the_api(api, key):
    plugin = registry.get(key)
    call_command("loaddata", *plugin.fixtures, verbosity=0)
    presets = list(plugin.preset_model.objects.all())
    assert presets

    for preset in presets:
        run = api.start(preset.start)
        assert run["seed"] == preset.start.get("seed", 1), preset.slug
    assert len(answer(api.get())["runs"]) == len(presets)


def test_a_step_takes_one_step_and_an_empty_object_is_no_body(api):
    run = api.start()

    answer(api.post(f"/{run['id']}/step"))
    answer(api.post(f"/{run['id']}/step", {}))

    assert answer(api.get(f"/{run['id']}"))["step"] == 2


def test_at_step_is_the_run_as_it_was_after_that_step_and_looking_back_changes_nothing(api):
    run = api.start()
    then = [answer(api.get(f"/{run['id']}"))]
    for _ in range(3):
        answer(api.post(f"/{run['id']}/step"))
        then.append(answer(api.get(f"/{run['id']}")))
    answer(api.post(f"/{run['id']}/faults", {"faults": [api.spec.fault]}))
    answer(api.post(f"/{run['id']}/step"))
    now = answer(api.get(f"/{run['id']}"))
    before = api.head()

    for k, was in enumerate(then):  # back at step 3 is before the fault came in
        assert answer(api.get(f"/{run['id']}?at_step={k}")) == was
    assert answer(api.get(f"/{run['id']}?at_step=4")) == now
    assert answer(api.get(f"/{run['id']}")) == now
    assert api.head() == before


@pytest.mark.parametrize("at_step", ["5", "99", "-1", "x", "1.5", "", "+1", "%201", "1e1", "%C2%B2", "1" * 7,
                                     "9" * 5_000, "%D9%A1"],
                         ids=["one-past", "past-the-end", "negative", "word", "fraction", "empty", "plus", "space",
                              "exponent", "superscript-two", "seven-digits", "5000-digits", "arabic-indic-1"])
def test_at_step_out_of_range_or_not_a_number_is_a_422_not_a_500(lab, key, at_step):
    api = Api(Client(raise_request_exception=False), lab, key)
    run = api.start()
    for _ in range(4):
        answer(api.post(f"/{run['id']}/step"))

    assert refused(api.get(f"/{run['id']}?at_step={at_step}"), 422) == \
        "at_step must be a whole number from 0 to 4 (the run's steps)."


def test_fork_answers_201_with_a_what_if_run_sharing_the_first_steps(api):
    run = api.start()
    for _ in range(3):
        answer(api.post(f"/{run['id']}/step"))
    original = answer(api.get(f"/{run['id']}"))

    fork = answer(api.post(f"/{run['id']}/fork", {"at_step": 2}), 201)

    assert fork["id"] != run["id"]
    assert (fork["forked_from"], fork["fork_step"], fork["step"]) == (run["id"], 2, 2)
    assert {**fork, "id": None, "forked_from": None, "fork_step": None, "trace_id": None} == {
        **answer(api.get(f"/{run['id']}?at_step=2")), "id": None, "trace_id": None}
    assert answer(api.get(f"/{run['id']}")) == original
    listed = answer(api.get())["runs"]
    assert [(r["id"], r["forked_from"], r["fork_step"]) for r in listed] == [(fork["id"], run["id"], 2),
                                                                            (run["id"], None, None)]
    assert all(set(r) >= {"id", "seed", "forked_from", "fork_step", "started_at"} and r["started_at"]
               for r in listed)
    before = api.head()
    for at_step in (4, -1, "1", None, True, 1.5, [1]):
        assert "at_step" in refused(api.post(f"/{run['id']}/fork", {"at_step": at_step}), 422)
    assert api.head() == before


def test_faults_injected_mid_run_are_part_of_the_run(api):
    run = api.start()
    answer(api.post(f"/{run['id']}/step"))

    injected = answer(api.post(f"/{run['id']}/faults", {"faults": [api.spec.fault]}))

    assert injected["faults"]
    assert answer(api.get(f"/{run['id']}")) == injected


def test_run_goes_to_the_end_then_step_and_run_are_refused(api):
    run = api.start()

    done = api.to_the_end(run["id"])

    assert done["done"] is True
    assert answer(api.get(f"/{run['id']}")) == done
    before = api.head()
    refused(api.post(f"/{run['id']}/step"), 422)
    refused(api.post(f"/{run['id']}/run", api.spec.run), 422)
    assert api.head() == before


def test_recover_with_nothing_crashed_is_a_422(api, client, key):
    if "/{run_id}/recover" not in posts(client, key):
        pytest.skip("nothing in this lab crashes and recovers")
    run = api.start()
    before = api.head()

    assert "Nothing has crashed" in refused(api.post(f"/{run['id']}/recover"), 422)

    assert api.head() == before


# --- Bad input: one body policy, on every POST -------------------------------------------------------------------


@pytest.mark.parametrize("raw", NOT_OBJECTS)
def test_a_body_that_is_not_a_json_object_is_a_422_that_appends_nothing(api, client, key, raw):
    run = api.start()
    before = api.head()

    for path in posts(client, key):
        detail = refused(api.post(concrete(path, run["id"]), raw=raw), 422)
        assert "JSON object" in detail, path

    assert api.head() == before
    assert len(answer(api.get())["runs"]) == 1  # no run started either


def test_an_unknown_field_is_a_422_naming_it_that_appends_nothing(api, client, key):
    run = api.start()
    before = api.head()

    for path in posts(client, key):
        assert "unknown field 'foo'" in refused(api.post(concrete(path, run["id"]), {"foo": 1}), 422), path
    assert "unknown field 'sed'" in refused(api.post("", {**api.spec.start, "sed": 2}), 422)
    assert "unknown field 'at_steps'" in refused(api.post(f"/{run['id']}/fork", {"at_step": 0, "at_steps": 1}),
                                                 422)

    assert api.head() == before


def test_malformed_json_is_a_422_that_appends_nothing(api, client, key):
    run = api.start()
    before = api.head()

    for path in posts(client, key):
        assert "Malformed JSON" in refused(api.post(concrete(path, run["id"]), raw='{"faults": '), 422), path

    assert api.head() == before


def test_a_body_over_64_kib_is_a_413_that_appends_nothing(api, client, key):
    run = api.start()
    before = api.head()

    for path in posts(client, key):
        response = api.post(concrete(path, run["id"]), {"faults": [], "padding": "x" * 70_000})
        assert "64 KiB" in refused(response, 413), path

    assert api.head() == before


def test_a_bad_value_to_a_lab_one_cannot_reach_is_a_404_never_a_hint_that_it_exists(api, client, key):
    from eventlab.labs.services import create_lab

    run = api.start()
    _, other_token = create_lab()
    bad = {"at_step": "x", "faults": "x", "settings": 5}

    for path, body in posts(client, key).items():
        body = {name: bad[name] for name in body} or None
        for token, lab_id in ((other_token, None), (other_token, "no-such-lab"), (api.lab.token, "no-such-lab")):
            response = api.post(concrete(path, run["id"]), body, token=token, lab_id=lab_id)
            assert answer(response, 404) == {"detail": "Not found."}, path
    assert api.client.post(api.url(f"/{run['id']}/step"), data="{}", content_type="application/json"
                           ).status_code == 404  # no token at all


def test_an_unknown_run_is_a_404(api, client, key):
    api.start()

    refused(api.get("/nope"), 404)
    refused(api.get("/nope?at_step=0"), 404)
    for path, body in posts(client, key).items():
        if "{run_id}" in path:
            refused(api.post(concrete(path, "nope"), body), 404)


def test_another_labs_run_is_a_404_that_gives_nothing_away_and_appends_nothing(api, client, key):
    from eventlab.labs.services import create_lab

    run = api.start()
    other, other_token = create_lab()
    before = api.head()

    for token, lab_id in ((other_token, None), (other_token, other.id)):  # its token on this lab; its own lab
        assert refused(api.get(f"/{run['id']}", token=token, lab_id=lab_id), 404)
        for path, body in posts(client, key).items():
            if "{run_id}" in path:
                refused(api.post(concrete(path, run["id"]), body, token=token, lab_id=lab_id), 404)
    assert answer(api.get(token=other_token, lab_id=other.id)) == {"runs": []}
    for other_key in set(RUN_LABS) - {key}:  # nor is it another simulation lab's run
        refused(client.get(f"/api/labs/{api.lab.id}/{other_key}/{run['id']}",
                           HTTP_AUTHORIZATION=f"Bearer {api.lab.token}"), 404)
    assert api.head() == before


# --- The OpenAPI schema: each lab's components are its own --------------------------------------------------------


def components_used(document: dict, node: Any, found: set[str] | None = None) -> set[str]:
    """The component names `node` refers to, and those they refer to."""
    found = set() if found is None else found
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
            name = ref.rsplit("/", 1)[1]
            if name not in found:
                found.add(name)
                components_used(document, document["components"]["schemas"][name], found)
        for value in node.values():
            components_used(document, value, found)
    elif isinstance(node, list):
        for value in node:
            components_used(document, value, found)
    return found


def test_no_two_labs_share_an_openapi_component(client):
    document = schema(client)
    by_lab = {key: components_used(document, {path: operations for path, operations in document["paths"].items()
                                              if path.startswith(f"/api/labs/{{lab_id}}/{key}")})
              for key in RUN_LABS}

    for key, used in by_lab.items():
        assert used - PLATFORM, key
        for other, theirs in by_lab.items():
            if other != key:
                assert not (used & theirs) - PLATFORM, (key, other, sorted((used & theirs) - PLATFORM))
    operation_ids = [operation["operationId"] for operations in document["paths"].values()
                     for operation in operations.values()]
    assert len(operation_ids) == len(set(operation_ids))


def documented(document: dict, path: str, method: str, status: str) -> set[str]:
    """The properties of the response the schema documents for one endpoint."""
    body = document["paths"][path][method]["responses"][status]["content"]["application/json"]["schema"]
    return set(document["components"]["schemas"][body["$ref"].rsplit("/", 1)[1]]["properties"])


def test_the_schema_documents_each_labs_own_shapes(api, client, key):
    document = schema(client)
    base = f"/api/labs/{{lab_id}}/{key}"
    run = api.start()
    stepped = answer(api.post(f"/{run['id']}/step"))
    fork = answer(api.post(f"/{run['id']}/fork", {"at_step": 0}), 201)

    assert documented(document, base, "post", "201") == set(run)
    assert documented(document, f"{base}/{{run_id}}", "get", "200") == set(answer(api.get(f"/{run['id']}")))
    assert documented(document, f"{base}/{{run_id}}/step", "post", "200") == set(stepped)
    assert documented(document, f"{base}/{{run_id}}/fork", "post", "201") == set(fork)
    assert documented(document, base, "get", "200") == {"runs"}
    at_step = [p for p in document["paths"][f"{base}/{{run_id}}"]["get"]["parameters"] if p["name"] == "at_step"]
    assert at_step and at_step[0]["in"] == "query"
    for action in ("step", "run", "faults", "fork"):
        operation = document["paths"][f"{base}/{{run_id}}/{action}"]["post"]
        assert {"201" if action == "fork" else "200", "404", "422"} <= set(operation["responses"]), action
        assert operation["summary"]
