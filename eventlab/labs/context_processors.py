"""The main nav's labs, from the lab registry."""

from django.http import HttpRequest

from . import registry


def labs(request: HttpRequest) -> dict:
    return {"nav_labs": registry.nav()}
