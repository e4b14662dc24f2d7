"""Instructors: manage.py createinstructor (with and without a terminal, --token), logging in and out (rate limited),
the "My classes" page, API tokens, and who may make classes."""

import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client

from eventlab.classroom.access import instructor_from_token, is_instructor
from eventlab.classroom.models import Classroom, InstructorToken

from .classroom_helpers import instructor, post

pytestmark = pytest.mark.django_db


def createinstructor(*args: str, tty: bool = False, monkeypatch=None) -> list[str]:
    out = io.StringIO()
    call_command("createinstructor", *args, stdout=out)
    return out.getvalue().strip().splitlines()


def test_createinstructor_without_a_terminal_takes_the_password_from_the_environment(monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO(""))  # not a terminal
    monkeypatch.setenv("INSTRUCTOR_PASSWORD", "correct horse battery staple")
    lines = createinstructor("grace")
    user = get_user_model().objects.get(username="grace")
    assert is_instructor(user) and user.check_password("correct horse battery staple")
    assert lines == ["Created instructor grace."]


def test_createinstructor_without_a_terminal_or_password_sets_none(monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    monkeypatch.delenv("INSTRUCTOR_PASSWORD", raising=False)
    lines = createinstructor("ada")
    user = get_user_model().objects.get(username="ada")
    assert is_instructor(user) and not user.has_usable_password()
    assert "changepassword" in lines[0]


def test_createinstructor_reuses_a_user_and_token_is_the_last_line_and_only_its_hash_is_kept(monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    monkeypatch.delenv("INSTRUCTOR_PASSWORD", raising=False)
    existing = get_user_model().objects.create_user("alan", password="an old password 123")
    lines = createinstructor("alan", "--token")
    token = lines[-1]
    assert lines[0] == "Made instructor alan."
    assert get_user_model().objects.filter(username="alan").count() == 1
    existing.refresh_from_db()
    assert existing.check_password("an old password 123")  # kept: no new password given
    assert instructor_from_token(token) == existing
    assert token not in InstructorToken.objects.get(user=existing).token_hash
    again = createinstructor("alan", "--token")[-1]
    assert again != token and instructor_from_token(token) is None  # a fresh token replaces the last


def test_createinstructor_prompts_at_a_terminal(monkeypatch):
    class Tty(io.StringIO):
        def isatty(self):
            return True

    monkeypatch.setattr("sys.stdin", Tty(""))
    monkeypatch.delenv("INSTRUCTOR_PASSWORD", raising=False)
    answers = iter(["a long enough password 42", "a long enough password 42"])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))
    createinstructor("barbara")
    assert get_user_model().objects.get(username="barbara").check_password("a long enough password 42")


def test_login_and_logout_pages():
    user = get_user_model().objects.create_user("grace", password="a long enough password 42")
    from eventlab.classroom.access import make_instructor

    make_instructor(user)
    client = Client()
    page = client.get("/classes/login")
    assert page.status_code == 200 and b'<label for="id_password">Password</label>' in page.content
    assert client.post("/classes/login", {"username": "grace", "password": "wrong"}).status_code == 200
    response = client.post("/classes/login", {"username": "grace", "password": "a long enough password 42"})
    assert response.status_code == 302 and response["Location"] == "/classes/"
    home = client.get("/classes/")
    assert b"My classes" in home.content and b"Log out" in home.content
    assert client.post("/classes/logout").status_code == 302
    assert b"My classes" not in client.get("/classes/").content


def test_login_attempts_are_rate_limited():
    get_user_model().objects.create_user("grace", password="a long enough password 42")
    client = Client()
    for _ in range(5):
        client.post("/classes/login", {"username": "grace", "password": "wrong"})
    locked = client.post("/classes/login", {"username": "grace", "password": "a long enough password 42"})
    assert locked.status_code == 429
    assert b"Too many failed logins" in locked.content


def test_the_classes_page_asks_a_stranger_for_a_code_and_only_instructors_make_classes():
    page = Client().get("/classes/")
    assert b'<label for="join-code">Class code</label>' in page.content
    anonymous = Client().post("/classes/new", {"name": "Mine"})
    assert anonymous.status_code == 302 and anonymous["Location"].startswith("/classes/login")
    other = Client()
    other.force_login(get_user_model().objects.create_user("eve"))
    assert other.post("/classes/new", {"name": "Mine"}).status_code == 403
    assert post(Client(), "/api/classes", {"name": "Mine"}).status_code == 404
    assert post(Client(), "/api/classes", {"name": "Mine"}, "inst_wrong").status_code == 404
    assert not Classroom.objects.exists()


def test_an_instructor_makes_a_class_and_a_token_on_their_page():
    client, _token = instructor()
    response = client.post("/classes/new", {"name": "Week <b>3</b>"})
    assert response.status_code == 302
    page = client.get(response["Location"]).content.decode()
    classroom = Classroom.objects.get()
    assert "Week &lt;b&gt;3&lt;/b&gt;" in page and "<b>3</b>" not in page
    assert classroom.shown_code in page and "<svg" in page  # the code, large, and its QR code
    assert client.post("/classes/new", {"name": "x" * 101}).status_code == 422
    made = client.post("/classes/token").content.decode()
    token = made.split('id="token-value" type="text" readonly value="')[1].split('"')[0]
    assert instructor_from_token(token).username == "grace"
