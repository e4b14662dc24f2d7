"""PLACEHOLDER until the resilience pages are built (being written now)."""
from django.http import Http404


def _todo(request, *args, **kwargs):
    raise Http404("Not built yet.")


resilience_home = lab_page = start = start_preset = run_page = act = _todo
