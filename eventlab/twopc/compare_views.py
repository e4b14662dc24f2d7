"""PLACEHOLDER until the compare and matrix pages are built (being written now)."""
from django.http import Http404


def _todo(request, *args, **kwargs):
    raise Http404("Not built yet.")


compare_page = start = pair_page = act = matrix_page = replay = _todo
