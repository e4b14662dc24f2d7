"""Helpers shared by the classroom's integration tests: named instructors, a class, learners joining."""

from __future__ import annotations

import json
import re

from django.contrib.auth import get_user_model
from django.test import Client

from eventlab.classroom.access import make_instructor, new_instructor_token


def instructor(username: str = "grace") -> tuple[Client, str]:
    """A logged-in instructor's browser and their API token."""
    user = get_user_model().objects.create_user(username)
    make_instructor(user)
    client = Client()
    client.force_login(user)
    return client, new_instructor_token(user)


def auth(token: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def post(client: Client, url: str, body: object, token: str | None = None):
    return client.post(url, data=json.dumps(body), content_type="application/json", **(auth(token) if token else {}))


def new_class(token: str, name: str = "Week 3") -> dict:
    response = post(Client(), "/api/classes", {"name": name}, token)
    assert response.status_code == 201, response.content
    return response.json()


def join_api(code: str, name: str = "Ada") -> dict:
    response = post(Client(), "/api/classes/join", {"code": code, "name": name})
    assert response.status_code == 201, response.content
    return response.json()


def join_browser(code: str, name: str = "Ada") -> tuple[Client, str]:
    """A learner's browser that joined by the join page; and the class id."""
    client = Client()
    response = client.post(f"/classes/join/{code}", {"name": name})
    assert response.status_code == 302, response.content
    return client, re.match(r"/classes/([^/]+)/learn", response["Location"]).group(1)
