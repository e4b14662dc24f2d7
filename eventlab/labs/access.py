"""Who may reach a lab: the browser sessions that created or joined it, and holders of its API token.

Anything else — no token, a wrong token, another session's lab, a lab that does not exist — is a plain 404,
never a hint that the lab exists.
"""

from __future__ import annotations

from django.contrib.sessions.backends.base import SessionBase
from django.http import Http404, HttpRequest

from .models import Lab

SESSION_LABS = "labs"
SESSION_CURRENT = "lab"
SESSION_PERSONAL = "personal_lab"
MAX_LABS_PER_SESSION = 50


def session_labs(session: SessionBase) -> list[str]:
    return list(session.get(SESSION_LABS, []))


def current_lab(session: SessionBase) -> Lab | None:
    """The session's working lab, if it has one yet (add_to_session makes only working labs current)."""
    lab_id = session.get(SESSION_CURRENT)
    if lab_id and lab_id in session_labs(session):
        return Lab.objects.filter(pk=lab_id).first()
    return None


def add_to_session(session: SessionBase, lab: Lab, current: bool = True) -> None:
    labs = [lab_id for lab_id in session_labs(session) if lab_id != lab.id]
    labs.append(lab.id)
    # Keep the cookie small: forget the oldest labs first (the labs themselves are never deleted).
    personal = session.get(SESSION_PERSONAL)
    while len(labs) > MAX_LABS_PER_SESSION:
        oldest = next(lab_id for lab_id in labs if lab_id != personal)
        labs.remove(oldest)
    session[SESSION_LABS] = labs
    if current and lab.kind == Lab.Kind.WORKING:
        session[SESSION_CURRENT] = lab.id


def session_may_use(session: SessionBase, lab_id: str) -> bool:
    return lab_id in session_labs(session)


def bearer_token(request: HttpRequest) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def lab_for(request: HttpRequest, lab_id: str) -> Lab:
    """The lab, if this request may use it; otherwise 404."""
    token = bearer_token(request)
    if token is None and not session_may_use(request.session, lab_id):
        raise Http404("No such lab.")
    lab = Lab.objects.filter(pk=lab_id).first()
    if lab is None or (token is not None and not lab.token_matches(token)):
        raise Http404("No such lab.")
    return lab
