"""Whether the nav shows the scenarios link (instructors only)."""

from typing import Any

from django.http import HttpRequest

from .access import is_instructor


def instructor(request: HttpRequest) -> dict[str, Any]:
    return {"is_instructor": is_instructor(getattr(request, "user", None))}
