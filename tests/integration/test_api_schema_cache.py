"""The OpenAPI schema is built once per process and is the same document django-ninja builds from scratch."""

import json

import pytest
from ninja.openapi.schema import get_schema

from eventlab.api import api

pytestmark = pytest.mark.django_db


def fresh() -> dict:
    return json.loads(json.dumps(get_schema(api=api, path_prefix=api.get_root_path({}))))


def test_the_schema_is_built_once_and_is_the_same_document(client):
    first = client.get("/api/openapi.json")
    second = client.get("/api/openapi.json")

    assert first.status_code == second.status_code == 200
    assert first.json() == second.json() == fresh()
    assert api.get_openapi_schema() is api.get_openapi_schema()
    assert "/api/labs/{lab_id}/events" in first.json()["paths"]


def test_the_docs_page_still_serves(client):
    assert client.get("/api/docs").status_code == 200
