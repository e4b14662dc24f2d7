"""Fixtures for the event store contract suite."""

import uuid

import pytest


@pytest.fixture
def log_id() -> str:
    """A fresh, random lab id: no two tests ever share a log, whatever the backend keeps between tests."""
    return f"contract-{uuid.uuid4().hex}"


@pytest.fixture
def other_log_id() -> str:
    return f"contract-{uuid.uuid4().hex}"
