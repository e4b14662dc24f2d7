"""Refuse request bodies over the limit with 413 before anything reads them."""

import json
from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse


def too_large(request: HttpRequest) -> HttpResponse:
    limit = settings.MAX_BODY_BYTES // 1024
    message = f"The request body is larger than {limit} KiB."
    if request.path.startswith("/api/"):
        return HttpResponse(json.dumps({"detail": message}), status=413, content_type="application/json")
    return HttpResponse(message, status=413, content_type="text/plain")


class BodySizeLimitMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            declared = 0
        if declared > settings.MAX_BODY_BYTES:
            return too_large(request)
        try:
            if len(request.body) > settings.MAX_BODY_BYTES:
                return too_large(request)
        except RequestDataTooBig:
            return too_large(request)
        return self.get_response(request)
