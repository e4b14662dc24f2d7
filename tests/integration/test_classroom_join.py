"""Learners join a class by its code (typed any way), with a display name, no account; the rejoin link; the
instructor renames and removes learners and closes the class; and nobody else sees a class's roster."""

import re

import pytest
from django.test import Client

from eventlab.classroom import codes, services
from eventlab.classroom.models import Classroom
from eventlab.labs.services import store

from .classroom_helpers import auth, instructor, join_api, join_browser, new_class, post

pytestmark = pytest.mark.django_db


@pytest.fixture
def made():
    client, token = instructor()
    created = new_class(token)
    return {"client": client, "token": token, **created}


def roster(token: str, class_id: str) -> list[dict]:
    response = Client().get(f"/api/classes/{class_id}", **auth(token))
    assert response.status_code == 200, response.content
    return response.json()["learners"]


def test_a_join_code_is_40_bits_of_crockford_base32_read_any_way():
    code = codes.new_code()
    assert len(code) == 8 and set(code) <= set(codes.ALPHABET) and len(codes.ALPHABET) ** 8 == 2**40
    assert not set("ILOU") & set(codes.ALPHABET)
    shown = codes.shown(code)
    for typed in (code, code.lower(), shown, shown.lower(), f" {shown} "):
        assert codes.normalise(typed) == code
    assert codes.normalise("ABCD-EFGI") == "ABCDEFG1"  # I reads as 1
    for wrong in ("", "ABC", "ABCDEFGHJ", "ABCD-EFG!", "ABCDEFGU"):
        assert codes.normalise(wrong) is None


@pytest.mark.parametrize("how", ["as-is", "lower", "dashed", "dashed-lower"])
def test_join_by_code_on_the_code_page_any_case_with_or_without_the_dash(made, how):
    code = made["code"]
    typed = {"as-is": code, "lower": code.lower(), "dashed": f"{code[:4]}-{code[4:]}",
             "dashed-lower": f"{code[:4]}-{code[4:]}".lower()}[how]
    client = Client()
    response = client.get("/classes/join", {"code": typed})
    assert response.status_code == 302 and response["Location"] == f"/classes/join/{code}"
    page = client.get(f"/classes/join/{typed}")
    assert page.status_code == 200 and b'<label for="learner-name">Your name</label>' in page.content
    joined = client.post(f"/classes/join/{typed}", {"name": "Ada"})
    assert joined.status_code == 302
    learner_page = client.get(joined["Location"])
    assert b'id="my-name">Ada<' in learner_page.content
    assert [x["name"] for x in roster(made["token"], made["id"])] == ["Ada"]


def test_a_wrong_or_closed_code_is_404(made):
    assert Client().get("/classes/join", {"code": "ZZZZ-ZZZZ"}).status_code == 404
    assert Client().get("/classes/join/ZZZZZZZZ").status_code == 404
    assert post(Client(), "/api/classes/join", {"code": "ZZZZZZZZ", "name": "Ada"}).status_code == 404
    assert post(Client(), "/api/classes/join", {"code": 12, "name": "Ada"}).status_code == 404
    services.close(Classroom.objects.get(pk=made["id"]))
    assert Client().get(f"/classes/join/{made['code']}").status_code == 404
    assert Client().post(f"/classes/join/{made['code']}", {"name": "Ada"}).status_code == 404
    closed = post(Client(), "/api/classes/join", {"code": made["code"], "name": "Ada"})
    assert closed.status_code == 404 and closed.json() == {"detail": "No open class has that code."}


@pytest.mark.parametrize("name", ["", "   ", "x" * 101])
def test_an_empty_or_too_long_name_is_422_and_nothing_is_recorded(made, name):
    head = store.head(made["id"])
    page = Client().post(f"/classes/join/{made['code']}", {"name": name})
    assert page.status_code == 422 and b'role="alert"' in page.content
    response = post(Client(), "/api/classes/join", {"code": made["code"], "name": name})
    assert response.status_code == 422 and isinstance(response.json()["detail"], str)
    assert post(Client(), "/api/classes/join", {"code": made["code"]}).status_code == 422
    assert store.head(made["id"]) == head


def test_a_script_in_a_name_is_text_everywhere(made):
    name = "<script>alert(1)</script>"
    client, class_id = join_browser(made["code"], name)
    for page in (client.get(f"/classes/{class_id}/learn"), made["client"].get(f"/classes/{class_id}/")):
        html = page.content.decode()
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and name not in html
    assert roster(made["token"], class_id)[0]["name"] == name  # stored as typed; escaped when shown


def test_the_rejoin_link_moves_the_membership_to_another_device(made):
    client, class_id = join_browser(made["code"], "Ada")
    page = client.get(f"/classes/{class_id}/learn").content.decode()
    link = re.search(r'id="rejoin-link" type="text" readonly value="http://testserver([^"]+)"', page).group(1)
    phone = Client()
    assert phone.get(f"/classes/{class_id}/learn").status_code == 404
    assert phone.get(link).status_code == 302
    assert b'id="my-name">Ada<' in phone.get(f"/classes/{class_id}/learn").content
    assert Client().get(link[:-3] + "xyz").status_code == 404  # a tampered link


def test_the_instructor_renames_and_removes_a_learner(made):
    client, class_id = join_browser(made["code"], "Ada")
    learner_id = roster(made["token"], class_id)[0]["learner_id"]
    teacher = made["client"]
    assert teacher.post(f"/classes/{class_id}/learners/{learner_id}/rename", {"name": "x" * 101}).status_code == 422
    assert teacher.post(f"/classes/{class_id}/learners/{learner_id}/rename", {"name": "Ada L."}).status_code == 302
    assert roster(made["token"], class_id)[0]["name"] == "Ada L."
    renamed = post(Client(), f"/api/classes/{class_id}/learners/{learner_id}/rename", {"name": "Ada"}, made["token"])
    assert renamed.status_code == 200 and renamed.json()["name"] == "Ada"
    assert teacher.post(f"/classes/{class_id}/learners/{learner_id}/remove").status_code == 302
    assert roster(made["token"], class_id) == []
    assert b'id="removed"' in client.get(f"/classes/{class_id}/learn").content
    assert teacher.post(f"/classes/{class_id}/learners/{learner_id}/remove").status_code == 404


def test_the_instructor_closes_the_class(made):
    teacher = made["client"]
    assert teacher.post(f"/classes/{made['id']}/close").status_code == 302
    assert b'id="class-closed"' in teacher.get(f"/classes/{made['id']}/").content
    assert Client().get(f"/api/classes/{made['id']}", **auth(made["token"])).json()["closed"] is True


def test_only_the_class_instructors_see_its_page_and_roster(made):
    learner, class_id = join_browser(made["code"], "Ada")
    other, other_token = instructor("alan")
    learner_token = join_api(made["code"], "Bob")["token"]
    for client in (learner, other, Client()):
        assert client.get(f"/classes/{class_id}/").status_code in (302, 403, 404)
        assert client.get(f"/api/classes/{class_id}").status_code == 404
    assert other.get(f"/classes/{class_id}/").status_code == 404
    for token in (other_token, learner_token, "nonsense"):
        response = Client().get(f"/api/classes/{class_id}", **auth(token))
        assert response.status_code == 404 and response.json() == {"detail": "Not found."} or \
            response.json() == {"detail": "No such class."}
    assert Client().get("/api/classes/doesnotexist", **auth(made["token"])).status_code == 404
    # another instructor cannot act on it either
    assert other.post(f"/classes/{class_id}/close").status_code == 404
    assert post(Client(), f"/api/classes/{class_id}/close", {}, other_token).status_code == 404
