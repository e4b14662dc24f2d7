"""Scenarios (eventlab.scenarios), without a browser: an instructor saves a saga run (with a fault) and a bank lab as
scenarios, writes narration and a predict question, plays them back into fresh runs that end exactly as the recorded
ones did, exports and imports them (API and form, loaddata too); a bad file is a 422 that imports nothing; nobody but
an instructor reaches any of it; narration is sanitised."""

import json
import re

import pytest
from django.contrib.auth.models import Group, User
from django.core.management import call_command
from django.test import Client

from eventlab.labs import registry
from eventlab.labs.models import Lab
from eventlab.sagas import services as sagas
from eventlab.scenarios.models import Answer, Scenario

pytestmark = pytest.mark.django_db

SAGA_START = {"mode": "orchestration", "seed": 3, "order": {"customer": "Ada", "items": [
    {"sku": "book", "qty": 1, "price": "12.50"}]}, "faults": [{"kind": "payment_declined"}]}


# --- Helpers ----------------------------------------------------------------------------------------------------------


@pytest.fixture
def teacher() -> Client:
    user = User.objects.create_user("teacher", password="pw-teacher-1")
    user.groups.add(Group.objects.get_or_create(name="instructors")[0])
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def learner() -> Client:
    client = Client()
    client.force_login(User.objects.create_user("learner", password="pw-learner-1"))
    return client


def working_lab(client: Client, page: str = "sagas") -> Lab:
    response = client.get(f"/labs/{page}/")
    match = re.fullmatch(rf"/labs/([0-9a-f]+)/{page}/", response["Location"])
    assert match, response["Location"]
    return Lab.objects.get(pk=match.group(1))


def saga_run(client: Client) -> tuple[Lab, str]:
    """A saga run with a fault, stepped to its end (with an extra fault injected on the way)."""
    lab = working_lab(client)
    run = sagas.start(lab, SAGA_START)
    sagas.act(lab, run.id, {"input": "step"})
    sagas.act(lab, run.id, {"input": "faults", "faults": [{"kind": "delay", "message": "PaymentFailed", "ms": 300}]})
    sagas.act(lab, run.id, {"input": "run"})
    return lab, run.id


def save(client: Client, lab_key: str, lab: Lab, ref: str = "") -> Scenario:
    response = client.post("/scenarios/save", {"lab_key": lab_key, "lab_id": lab.id, "ref": ref})
    assert response.status_code == 302, response.content
    scenario_id = int(re.fullmatch(r"/scenarios/(\d+)/edit", response["Location"]).group(1))
    return Scenario.objects.get(pk=scenario_id)


def play_all(client: Client, scenario: Scenario, answer: int = 0) -> None:
    assert client.post(f"/scenarios/{scenario.pk}/play", {"action": "start"}).status_code == 302
    for step in scenario.steps:
        if step["predict"]:
            assert client.post(f"/scenarios/{scenario.pk}/play", {"action": "answer", "choice": answer}).status_code == 302
        response = client.post(f"/scenarios/{scenario.pk}/play", {"action": "next"})
        assert response.status_code == 302, response.content


def played(client: Client, scenario: Scenario) -> tuple[Lab, str]:
    play = client.session["scenario_plays"][str(scenario.pk)]
    return Lab.objects.get(pk=play["lab_id"]), play["ref"]


def edit_form(scenario: Scenario, **fields) -> dict:
    data = {"title": "Declined card", "intro": "A card is declined.", "notice": "Compensation, not rollback."}
    for n in range(len(scenario.steps)):
        data[f"narration-{n}"] = f"Step {n + 1} happens."
    data.update(fields)
    return data


# --- Save, edit, play -------------------------------------------------------------------------------------------------


def test_it_saves_a_saga_run_with_narration_and_plays_it_back_to_the_same_end(teacher):
    lab, run_id = saga_run(teacher)
    recorded = sagas.load(lab, run_id)
    assert teacher.get(f"/labs/{lab.id}/sagas/{run_id}/").content.count(b"Save as scenario") == 1
    scenario = save(teacher, "sagas", lab, run_id)
    assert scenario.lab == "sagas" and scenario.start["faults"] == [{"kind": "payment_declined"}]
    assert len(scenario.steps) == len(recorded.inputs) and scenario.steps[1]["input"]["input"] == "faults"

    response = teacher.post(f"/scenarios/{scenario.pk}/edit", edit_form(
        scenario, **{"question-1": "What happens next?", "choices-1": "It completes\nIt compensates", "correct-1": "2"}))
    assert response.status_code == 302
    scenario.refresh_from_db()
    assert scenario.title == "Declined card"
    assert scenario.steps[1]["predict"] == {"question": "What happens next?", "choices": ["It completes", "It compensates"],
                                            "correct": 1}

    teacher.post(f"/scenarios/{scenario.pk}/play", {"action": "start"})
    teacher.post(f"/scenarios/{scenario.pk}/play", {"action": "next"})
    page = teacher.get(f"/scenarios/{scenario.pk}/").content.decode()
    assert "Step 1 happens." in page and "What happens next?" in page
    refused = teacher.post(f"/scenarios/{scenario.pk}/play", {"action": "next"})
    assert refused.status_code == 422 and "Answer the question first" in refused.content.decode()
    assert teacher.post(f"/scenarios/{scenario.pk}/play", {"action": "answer", "choice": "1"}).status_code == 302
    assert Answer.objects.get(scenario=scenario).correct is True
    assert teacher.post(f"/scenarios/{scenario.pk}/play", {"action": "next"}).status_code == 302
    assert "Right." in teacher.get(f"/scenarios/{scenario.pk}/").content.decode()
    for _ in scenario.steps[2:]:
        assert teacher.post(f"/scenarios/{scenario.pk}/play", {"action": "next"}).status_code == 302
    page = teacher.get(f"/scenarios/{scenario.pk}/").content.decode()
    assert "Compensation, not rollback." in page

    new_lab, new_run = played(teacher, scenario)
    assert new_lab == lab and new_run != run_id
    replayer = registry.replayers()["sagas"]
    assert replayer.outcome(new_lab, new_run) == replayer.outcome(lab, run_id)
    assert sagas.load(new_lab, new_run).state == recorded.state == "compensated"


def test_it_saves_the_bank_lab_as_its_commands_and_plays_them_into_a_fresh_lab(teacher):
    lab = working_lab(teacher, "bank")
    from eventlab.bank import services as bank

    bank.execute(lab, {"command": "OpenAccount", "account_id": "acc-9", "owner": "Grace"})
    bank.execute(lab, {"command": "Deposit", "account_id": "acc-9", "amount": "70.00"})
    bank.execute(lab, {"command": "Withdraw", "account_id": "acc-9", "amount": "20.50"})
    assert b"Save as scenario" in teacher.get(f"/labs/{lab.id}/bank/").content
    scenario = save(teacher, "bank", lab)
    assert scenario.steps[-1]["input"] == {"command": "Withdraw", "account_id": "acc-9", "amount": "20.50"}
    play_all(teacher, scenario)
    new_lab, _ref = played(teacher, scenario)
    assert new_lab != lab
    replayer = registry.replayers()["bank"]
    assert replayer.outcome(new_lab, "") == replayer.outcome(lab, "")
    assert replayer.outcome(new_lab, "")["accounts"]["account-acc-9"]["balance"] == "49.50"


def test_the_editor_refuses_a_bad_question_and_saves_nothing(teacher):
    lab, run_id = saga_run(teacher)
    scenario = save(teacher, "sagas", lab, run_id)
    response = teacher.post(f"/scenarios/{scenario.pk}/edit", edit_form(
        scenario, **{"question-0": "Which?", "choices-0": "only one", "correct-0": "1"}))
    assert response.status_code == 422 and "2 to 6 choices" in response.content.decode()
    scenario.refresh_from_db()
    assert scenario.steps[0]["predict"] is None and scenario.title != "Declined card"


def test_narration_markdown_is_sanitised(teacher):
    lab, run_id = saga_run(teacher)
    scenario = save(teacher, "sagas", lab, run_id)
    teacher.post(f"/scenarios/{scenario.pk}/edit", edit_form(scenario, **{
        "intro": "**Watch** <script>alert(1)</script> [bad](javascript:alert(2)) [good](https://example.com)",
        "notice": "<img src=x onerror=alert(3)> [x](JAVASCRIPT:alert(4))"}))
    page = teacher.get(f"/scenarios/{scenario.pk}/").content.decode()
    assert "<strong>Watch</strong>" in page and 'href="https://example.com"' in page
    assert "<script>alert" not in page and "&lt;script&gt;" in page
    assert 'href="javascript' not in page.lower() and "[bad](javascript:alert(2))" in page  # left as text, no link
    play_all(teacher, scenario)
    page = teacher.get(f"/scenarios/{scenario.pk}/").content.decode()
    assert "<img" not in page and "&lt;img src=x onerror=alert(3)&gt;" in page
    assert 'href="javascript' not in page.lower()


# --- Export, import ---------------------------------------------------------------------------------------------------


def test_export_then_import_round_trip_is_equal(teacher):
    lab, run_id = saga_run(teacher)
    scenario = save(teacher, "sagas", lab, run_id)
    teacher.post(f"/scenarios/{scenario.pk}/edit", edit_form(
        scenario, **{"question-0": "Q?", "choices-0": "a\nb\nc", "correct-0": "3"}))
    scenario.refresh_from_db()
    exported = teacher.get(f"/api/scenarios/{scenario.pk}/export")
    assert exported.status_code == 200 and "attachment" in exported["Content-Disposition"]
    data = json.loads(exported.content)
    assert data[0]["model"] == "scenarios.scenario" and data[0]["fields"]["format_version"] == 1

    response = teacher.post("/api/scenarios/import", exported.content, content_type="application/json")
    assert response.status_code == 201, response.content
    copy = Scenario.objects.get(pk=response.json()["id"])
    assert copy.pk != scenario.pk
    fields = ("title", "lab", "start", "intro", "steps", "notice", "format_version")
    assert {f: getattr(copy, f) for f in fields} == {f: getattr(scenario, f) for f in fields}

    # The import form does the same.
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = SimpleUploadedFile("s.json", exported.content, content_type="application/json")
    response = teacher.post("/scenarios/import", {"file": upload})
    assert response.status_code == 302 and Scenario.objects.count() == 3


def test_loaddata_loads_an_export(teacher, tmp_path):
    lab, run_id = saga_run(teacher)
    scenario = save(teacher, "sagas", lab, run_id)
    path = tmp_path / "scenario.json"
    path.write_bytes(teacher.get(f"/api/scenarios/{scenario.pk}/export").content)
    before = {"title": scenario.title, "steps": scenario.steps, "start": scenario.start}
    Scenario.objects.all().delete()
    call_command("loaddata", str(path), verbosity=0)
    loaded = Scenario.objects.get(pk=scenario.pk)
    assert {"title": loaded.title, "steps": loaded.steps, "start": loaded.start} == before
    play_all(teacher, loaded)
    new_lab, new_run = played(teacher, loaded)
    assert sagas.load(new_lab, new_run).state == "compensated"


def exported_fields(teacher) -> list:
    lab, run_id = saga_run(teacher)
    scenario = save(teacher, "sagas", lab, run_id)
    data = json.loads(teacher.get(f"/api/scenarios/{scenario.pk}/export").content)
    scenario.delete()
    return data


@pytest.mark.parametrize("change, words", [
    (lambda d: "{not json", "not JSON"),
    (lambda d: {"model": "scenarios.scenario"}, "JSON list"),
    (lambda d: [{**d[0], "model": "auth.user"}], "not a scenario"),
    (lambda d: [{**d[0], "fields": {**d[0]["fields"], "format_version": 99}}], "format version"),
    (lambda d: [{**d[0], "fields": {k: v for k, v in d[0]["fields"].items() if k != "format_version"}}],
     "no \"format_version\""),
    (lambda d: [{**d[0], "fields": {**d[0]["fields"], "lab": "chess"}}], "Unknown lab"),
    (lambda d: [{**d[0], "fields": {**d[0]["fields"], "title": "x" * 101}}], "over 100"),
    (lambda d: [{**d[0], "fields": {**d[0]["fields"], "steps": [{"input": {"input": "recover"}}]}}], "refuses"),
    (lambda d: [{**d[0], "fields": {**d[0]["fields"], "start": {"mode": "telepathy"}}}], "refuses"),
    (lambda d: [d[0], {**d[0], "fields": {**d[0]["fields"], "lab": "chess"}}], "Unknown lab"),
])
def test_a_bad_file_is_a_422_and_imports_nothing(teacher, change, words):
    data = change(exported_fields(teacher))
    body = data if isinstance(data, str) else json.dumps(data)
    response = teacher.post("/api/scenarios/import", body, content_type="application/json")
    assert response.status_code == 422, response.content
    assert words in response.json()["detail"]
    assert Scenario.objects.count() == 0

    from django.core.files.uploadedfile import SimpleUploadedFile

    response = teacher.post("/scenarios/import", {"file": SimpleUploadedFile("bad.json", body.encode())})
    assert response.status_code == 422 and "Nothing imported" in response.content.decode()
    assert Scenario.objects.count() == 0


# --- Access -------------------------------------------------------------------------------------------------------------


def test_only_instructors_reach_scenarios(teacher, learner):
    lab, run_id = saga_run(teacher)
    scenario = save(teacher, "sagas", lab, run_id)
    export = teacher.get(f"/api/scenarios/{scenario.pk}/export").content
    learner_lab, learner_run = saga_run(learner)
    anonymous = Client()
    for client in (learner, anonymous):
        assert b"Save as scenario" not in client.get(f"/labs/{learner_lab.id}/sagas/{learner_run}/").content
        assert b"/scenarios/" not in client.get("/").content
        for url in ("/scenarios/", f"/scenarios/{scenario.pk}/", f"/scenarios/{scenario.pk}/edit",
                    f"/api/scenarios/{scenario.pk}/export"):
            assert client.get(url).status_code == 404, url
        assert client.post("/scenarios/save", {"lab_key": "sagas", "lab_id": learner_lab.id,
                                               "ref": learner_run}).status_code == 404
        assert client.post(f"/scenarios/{scenario.pk}/play", {"action": "start"}).status_code == 404
        response = client.post("/api/scenarios/import", export, content_type="application/json")
        assert response.status_code == 404 and response.json() == {"detail": "Not found."}
    assert Scenario.objects.count() == 1
    assert b"/scenarios/" in teacher.get("/").content
    # An instructor cannot save another session's lab either.
    assert teacher.post("/scenarios/save", {"lab_key": "sagas", "lab_id": learner_lab.id,
                                            "ref": learner_run}).status_code == 404


def test_the_import_api_needs_csrf_with_a_session(teacher):
    checked = Client(enforce_csrf_checks=True)
    checked.force_login(User.objects.get(username="teacher"))
    response = checked.post("/api/scenarios/import", "[]", content_type="application/json")
    assert response.status_code == 403


# --- Every simulation lab -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["sagas", "twopc", "resilience"])
def test_every_simulation_lab_saves_and_plays_back_a_preset_run_to_the_same_end(teacher, key):
    plugin = registry.get(key)
    call_command("loaddata", *plugin.fixtures, verbosity=0)
    lab = working_lab(teacher, key)
    services = plugin.run_pages.services
    for preset in plugin.preset_model.objects.all()[:3]:
        run = services.start(lab, preset.start)
        if run.run_is_an_input:
            services.act(lab, run.id, {"input": "run", "ms": 2000})
        elif run.sim.pending():
            services.act(lab, run.id, {"input": "run"})
        scenario = save(teacher, key, lab, run.id)
        play_all(teacher, scenario)
        new_lab, new_run = played(teacher, scenario)
        replayer = registry.replayers()[key]
        assert replayer.outcome(new_lab, new_run) == replayer.outcome(lab, run.id), preset.slug


def test_the_saga_vs_2pc_view_saves_either_run(teacher):
    from eventlab.compare.views import start_pair

    lab = working_lab(teacher)
    saga, twopc = start_pair(lab, SAGA_START, {"seed": 3, "faults": [{"kind": "vote_no", "participant": "payments"}]})
    page = teacher.get(f"/labs/{lab.id}/twopc/compare/{saga.id}/{twopc.id}/").content.decode()
    assert "Save the saga run as a scenario" in page and "Save the 2PC run as a scenario" in page
    assert save(teacher, "sagas", lab, saga.id).start["faults"] == [{"kind": "payment_declined"}]
    assert save(teacher, "twopc", lab, twopc.id).lab == "twopc"


def test_a_scenario_for_a_lab_this_eventlab_lacks_says_so_when_played(teacher):
    scenario = Scenario.objects.create(title="Chess", lab="chess", steps=[])
    response = teacher.post(f"/scenarios/{scenario.pk}/play", {"action": "start"})
    assert response.status_code == 422 and "Unknown lab" in response.content.decode()


def test_an_instructor_token_imports_without_a_session(teacher):
    """The classroom's instructor token (manage.py createinstructor --token) works on the scenarios API too."""
    from eventlab.classroom.access import new_instructor_token

    lab, run_id = saga_run(teacher)
    exported = teacher.get(f"/api/scenarios/{save(teacher, 'sagas', lab, run_id).pk}/export").content
    token = new_instructor_token(User.objects.get(username="teacher"))

    response = Client().post("/api/scenarios/import", exported, content_type="application/json",
                             headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 201, response.content
    wrong = Client().post("/api/scenarios/import", exported, content_type="application/json",
                          headers={"Authorization": "Bearer inst_nope"})
    assert wrong.status_code == 404
