"""The course map. It creates nothing: a lab is made when a lab page is first opened."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

TOPICS = [
    ("Event Sourcing", "Commands append immutable events; state is a fold of the log; time travel and audit for free.",
     "bank-home"),
    ("Snapshots and event versioning", "Load fast from a snapshot plus the tail; read old schemas as new (upcasting).",
     "bank-home"),
    ("Optimistic concurrency", "Two writers on one expected version: one wins, the other gets a conflict.", "bank-home"),
    ("CQRS and eventual consistency", "Several read models from one log, updated live; pause one and watch it lag.",
     "bank-home"),
    ("API gateway and service discovery", "One entry point; a registry of healthy instances.", None),
    ("Circuit breaker, bulkhead, retry with backoff", "Contain failures instead of spreading them.", None),
    ("Two-Phase Commit", "Prepare, vote, commit or roll back — and the coordinator crash that blocks everyone.", None),
    ("Sagas: orchestration and choreography", "Local transactions with compensations instead of locks.", None),
    ("Saga vs 2PC", "The same order under the same failure, both ways, side by side.", None),
    ("Tracing", "One trace id across every hop, drawn as a waterfall.", None),
    ("Interview prep", "Quiz prompts on every topic, mixed.", None),
]


def home(request: HttpRequest) -> HttpResponse:
    return render(request, "learn/home.html", {"nav": "course", "topics": TOPICS})
