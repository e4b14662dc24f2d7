"""The main nav's labs, from the lab registry."""

from typing import Any

from django.http import HttpRequest

from . import registry


def labs(request: HttpRequest) -> dict[str, Any]:
    return {"nav_labs": registry.nav()}
