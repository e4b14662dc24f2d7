"""The resilience lab's Django-side entry points: each runs a pure handler inside the lab's write transaction."""

from __future__ import annotations

from eventlab.labs.runs import RunService

from .runs import LOG, parse_start

SERVICE = RunService(LOG, parse_start)
start, act, fork, load = SERVICE.start, SERVICE.act, SERVICE.fork, SERVICE.load
