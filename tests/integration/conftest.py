"""The integration suites' one conftest: what the lab page tests, the consumer tests and the run-lab contract suite
(tests/contract/test_run_lab_pages.py) share.

- Pages: a browser session opening a lab, the run a redirect leads to, a page's words, plain-words 422s.
- Reading a page the way a person (or a screen reader) does: `parse(html)` gives elements found by role and
  accessible name, by label, by text or by id, rather than by matching literal HTML.
- Forms without JavaScript: every form and link of a page, and posting a form as a browser without JavaScript would.
- Websockets: a browser session's cookie, a socket connected with it (and the Origin header the app checks), and
  reading what the lab's consumer pushes (the lab head first, then the run's panel or its news).
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.core.management import call_command
from django.test import Client

from eventlab.bank import services as bank
from eventlab.labs import registry
from eventlab.labs.models import Lab

HTMX = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "run"}  # an htmx request for the run panel
XSS = "<script>alert('x')</script>\"><img src=x onerror=alert(1)>"
ORIGIN = (b"origin", b"http://testserver")


# --- Pages ----------------------------------------------------------------------------------------------------------


def open_lab(client: Client, key: str) -> Lab:
    """`client` opens lab `key`'s home (e.g. "sagas"): the session's working lab it is sent to."""
    response = client.get(f"/labs/{key}/")
    assert response.status_code == 302, response
    match = re.fullmatch(rf"/labs/([0-9a-f]+)/{key}/", response["Location"])
    assert match, response["Location"]
    return Lab.objects.get(pk=match.group(1))


def run_id_of(response, lab: Lab, key: str) -> str:
    """The run a plain (redirecting) answer leads to, in lab `key`'s pages."""
    assert response.status_code == 302, response.content.decode()[:3000]
    match = re.fullmatch(rf"/labs/{lab.id}/{key}/([0-9a-f]+)/(\?.*)?", response["Location"])
    assert match, response["Location"]
    return match.group(1)


def content(response: Any) -> str:
    return response if isinstance(response, str) else response.content.decode()


def text(response: Any) -> str:
    """The page's HTML, unescaped, whitespace collapsed."""
    return re.sub(r"\s+", " ", html.unescape(content(response)))


def words(response: Any) -> str:
    """What a reader sees: the text without tags."""
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", "", content(response)))).strip()


def assert_422(response, message: str) -> None:
    assert response.status_code == 422, content(response)[:3000]
    assert message in text(response), text(response)[:3000]


def assert_run_partial(response) -> str:
    """An htmx answer for the run panel: the panel and, out of band, the sentence the live region announces; nothing
    else (no page around it, no lab bar, no start form)."""
    page = content(response)
    found = parse(page)
    assert [e.get("id") for e in found.children if isinstance(e, Element)] == ["run", "run-announce"], page[:500]
    assert found.by_id("run-announce")["hx-swap-oob"] == "innerHTML" and found.by_id("run-announce").text
    assert found.by_class("lab-bar") == [] and found.by_id("start-form") is None
    return page


def load_presets(key: str) -> None:
    """Load lab `key`'s fixtures (its presets), as `make setup` does."""
    for name in registry.get(key).fixtures:
        call_command("loaddata", name, verbosity=0)


@pytest.fixture
def presets(request, db):
    """The presets of the lab the test module is about (its `LAB`, e.g. "sagas"), loaded from its fixtures."""
    key = getattr(request.module, "LAB", None)
    assert key, f"{request.module.__name__} uses the presets fixture but names no LAB"
    load_presets(key)
    return registry.get(key).preset_model.objects.all()


# --- Reading a page by role, label and text -------------------------------------------------------------------------

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
INPUT_ROLES = {"submit": "button", "button": "button", "reset": "button", "image": "button", "checkbox": "checkbox",
               "radio": "radio", "number": "spinbutton", "range": "slider", "search": "searchbox"}
TAG_ROLES = {"button": "button", "form": "form", "select": "combobox", "textarea": "textbox", "ol": "list",
             "ul": "list", "li": "listitem", "table": "table", "nav": "navigation", "main": "main",
             "h1": "heading", "h2": "heading", "h3": "heading", "h4": "heading", "h5": "heading", "h6": "heading"}


def squash(raw: str) -> str:
    return re.sub(r"\s+", " ", raw).strip()


@dataclass(eq=False)
class Element:
    """An element of a parsed page: its tag, attributes, children (elements and text) and parent."""

    tag: str
    attrs: dict[str, str]
    parent: Element | None = None
    children: list[Element | str] = field(default_factory=list)
    root: Element | None = None

    def __repr__(self) -> str:
        shown = " ".join(f'{k}="{v}"' for k, v in self.attrs.items())
        return f"<{self.tag}{' ' if shown else ''}{shown}>{self.text[:80]!r}"

    def get(self, name: str, default: str | None = None) -> str | None:
        return self.attrs.get(name, default)

    def __getitem__(self, name: str) -> str:
        return self.attrs[name]

    def __contains__(self, name: str) -> bool:
        return name in self.attrs

    def iter(self) -> Iterator[Element]:
        """Every element below this one, in document order."""
        for child in self.children:
            if isinstance(child, Element):
                yield child
                yield from child.iter()

    @property
    def text(self) -> str:
        """The words inside, as a reader sees them."""
        parts: list[str] = []

        def collect(element: Element) -> None:
            for child in element.children:
                if isinstance(child, str):
                    parts.append(child)
                elif child.tag not in ("script", "style", "template"):
                    collect(child)

        collect(self)
        return squash("".join(parts))

    @property
    def role(self) -> str | None:
        if "role" in self.attrs:
            return self.attrs["role"]
        if self.tag == "input":
            return INPUT_ROLES.get(self.attrs.get("type", "text"), "textbox")
        if self.tag == "a":
            return "link" if "href" in self.attrs else None
        if self.tag == "section" and ("aria-label" in self.attrs or "aria-labelledby" in self.attrs):
            return "region"
        return TAG_ROLES.get(self.tag)

    @property
    def name(self) -> str:
        """The accessible name: aria-labelledby, aria-label, the control's <label>, or its own words."""
        top = self.root or self
        if self.attrs.get("aria-labelledby"):
            named = (top.by_id(i) for i in self.attrs["aria-labelledby"].split())
            return squash(" ".join(e.text for e in named if e is not None))
        if self.attrs.get("aria-label"):
            return squash(self.attrs["aria-label"])
        if self.tag in ("input", "select", "textarea"):
            if self.tag == "input" and self.attrs.get("type") in ("submit", "button", "reset"):
                return squash(self.attrs.get("value", ""))
            label = self.label
            return label.text if label is not None else ""
        if self.tag == "fieldset":
            legend = next((e for e in self.iter() if e.tag == "legend"), None)
            return legend.text if legend is not None else ""
        return self.text

    @property
    def label(self) -> Element | None:
        """A form control's <label>: the one naming its id, or the one around it."""
        top = self.root or self
        if self.attrs.get("id"):
            for element in top.iter():
                if element.tag == "label" and element.attrs.get("for") == self.attrs["id"]:
                    return element
        return self.closest("label")

    def closest(self, tag: str) -> Element | None:
        node = self.parent
        while node is not None and node.tag != tag:
            node = node.parent
        return node

    @property
    def form(self) -> Element | None:
        return self.closest("form")

    # --- finding ------------------------------------------------------------------------------------------------

    def find_all(self, match: Callable[[Element], bool]) -> list[Element]:
        return [e for e in self.iter() if match(e)]

    def by_id(self, element_id: str) -> Element | None:
        return next((e for e in self.iter() if e.attrs.get("id") == element_id), None)

    def by_role(self, role: str, name: str | re.Pattern[str] | None = None) -> list[Element]:
        """Elements of an ARIA role (explicit or implicit), with that accessible name (exactly, or matching a
        pattern) if given."""
        return [e for e in self.iter() if e.role == role and names(e, name)]

    def by_class(self, name: str) -> list[Element]:
        """Elements with CSS class `name` (for what has no role: a status tag, a fault's badge)."""
        return [e for e in self.iter() if name in e.attrs.get("class", "").split()]

    def by_label(self, label: str | re.Pattern[str]) -> list[Element]:
        """The form controls a <label> (or aria-label) names."""
        return [e for e in self.iter() if e.tag in ("input", "select", "textarea") and names(e, label)]

    def by_text(self, words: str | re.Pattern[str]) -> list[Element]:
        """The innermost elements whose words contain `words` (or match the pattern)."""
        found = [e for e in self.iter() if says(e.text, words)]
        return [e for e in found if not any(says(c.text, words) for c in e.iter())]

    def one(self, role: str, name: str | re.Pattern[str] | None = None) -> Element:
        """The one element of that role and name (fails, listing what there is, if none or several)."""
        found = self.by_role(role, name)
        assert len(found) == 1, (f"{len(found)} {role}(s) named {name!r}; the {role}s here: "
                                 f"{[e.name for e in self.by_role(role)]}")
        return found[0]

    def has(self, role: str, name: str | re.Pattern[str] | None = None) -> bool:
        return bool(self.by_role(role, name))

    def says(self, words: str | re.Pattern[str]) -> bool:
        return says(self.text, words)


def names(element: Element, name: str | re.Pattern[str] | None) -> bool:
    if name is None:
        return True
    if isinstance(name, re.Pattern):
        return bool(name.search(element.name))
    return element.name == squash(name)


def says(words: str, wanted: str | re.Pattern[str]) -> bool:
    return bool(wanted.search(words)) if isinstance(wanted, re.Pattern) else squash(wanted) in words


class _TreeBuilder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Element("#document", {})
        self.node = self.root

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, {k: v if v is not None else "" for k, v in attrs}, self.node, root=self.root)
        self.node.children.append(element)
        if tag not in VOID:
            self.node = element

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.node.children.append(Element(tag, {k: v or "" for k, v in attrs}, self.node, root=self.root))

    def handle_endtag(self, tag: str) -> None:
        node: Element | None = self.node
        while node is not None and node.tag != tag:
            node = node.parent
        if node is not None and node.parent is not None:  # a stray end tag closes nothing
            self.node = node.parent

    def handle_data(self, data: str) -> None:
        self.node.children.append(data)


def parse(page: Any) -> Element:
    """A page (a response or its HTML) as a tree to query by role, label and text."""
    builder = _TreeBuilder()
    builder.feed(content(page))
    builder.close()
    return builder.root


def form_fields(form: Element) -> dict[str, Any]:
    """What a browser without JavaScript posts for `form`: its named fields as the page filled them (checked boxes
    and radios only, a select's selected option); several values of one name as a list."""
    fields: dict[str, list[str]] = {}
    for e in form.iter():
        name = e.attrs.get("name")
        if not name or "disabled" in e.attrs or e.tag not in ("input", "select", "textarea"):
            continue
        kind = e.attrs.get("type", "text")
        if e.tag == "input" and kind in ("submit", "button", "reset", "image"):
            continue
        if e.tag == "input" and kind in ("checkbox", "radio") and "checked" not in e.attrs:
            continue
        if e.tag == "select":
            options = [o for o in e.iter() if o.tag == "option"]
            chosen = [o for o in options if "selected" in o.attrs] or options[:1]
            values = [o.attrs.get("value", o.text) for o in chosen]
        elif e.tag == "textarea":
            values = [e.text]
        else:
            values = [e.attrs.get("value", "on" if kind in ("checkbox", "radio") else "")]
        fields.setdefault(name, []).extend(values)
    return {k: v[0] if len(v) == 1 else v for k, v in fields.items()}


def submit(client: Client, form: Element, **override: Any):
    """Post `form` as a browser without JavaScript would (its action, its fields as filled), `override` on top."""
    assert form.get("method", "get").lower() == "post", form
    return client.post(form["action"], {**form_fields(form), **override})


# --- Forms and links, as a page works without JavaScript ------------------------------------------------------------


@dataclass
class Controls:
    """Every form of a page (its attributes; `fields`: what a browser without JavaScript posts for it; `names`: every
    field it has; `buttons`: how many; `element`: the form itself), every link, and every element with hx-get or
    hx-post."""

    forms: list[dict[str, Any]]
    links: list[dict[str, str]]
    hx: list[tuple[str, dict[str, str]]]


def controls(page: Any) -> Controls:
    tree = page if isinstance(page, Element) else parse(page)
    forms = [{**form.attrs, "fields": form_fields(form), "element": form,
              "names": {e["name"] for e in form.iter() if e.tag in ("input", "select", "textarea") and e.get("name")},
              "buttons": sum(1 for e in form.iter() if e.tag == "button")}
             for form in tree.iter() if form.tag == "form"]
    links = [a.attrs for a in tree.iter() if a.tag == "a"]
    hx = [(e.tag, e.attrs) for e in tree.iter() if "hx-get" in e.attrs or "hx-post" in e.attrs]
    return Controls(forms, links, hx)


def assert_works_without_javascript(page: Any) -> Controls:
    """Every form posts or gets somewhere with a button, every link has an href, every hx-* has a plain fallback."""
    found = controls(page)
    assert found.forms
    for f in found.forms:
        assert f.get("method") in ("get", "post"), f
        assert f.get("action"), f
        assert f["buttons"] >= 1, f
        if "hx-post" in f:
            assert f["hx-post"] == f["action"], f
            assert f["method"] == "post"
    for link in found.links:
        assert link.get("href"), link
        if "hx-get" in link:
            assert link["hx-get"].endswith(link["href"]) or link["href"].startswith("/"), link
    for tag, attrs in found.hx:
        assert (tag == "form" and attrs.get("action")) or (tag == "a" and attrs.get("href")), (tag, attrs)
    return found


def post_plainly(client: Client, f: dict, **override):
    """What a browser without JavaScript sends for a form (as `controls` read it): its fields as the page filled them,
    and what was changed."""
    return client.post(f["action"], {**f["fields"], **override})


# --- Websockets -----------------------------------------------------------------------------------------------------


@database_sync_to_async
def browser_session(lab: str = "bank") -> tuple[str, str]:
    """A browser that opened /labs/<lab>/ (e.g. "sagas"): its working lab's id and its session cookie (the signed
    session itself)."""
    client = Client()
    response = client.get(f"/labs/{lab}/")
    assert response.status_code == 302
    assert response["Location"].endswith(f"/{lab}/")
    return response["Location"].split("/")[2], client.cookies["sessionid"].value


@database_sync_to_async
def head(lab_id: str) -> int:
    from eventlab.labs.services import store

    return store.head(lab_id)


def socket(lab_id: str, cookie: str | None, origin: tuple[bytes, bytes] | None = ORIGIN) -> WebsocketCommunicator:
    """A socket on the lab's live feed (not connected yet), with the session cookie and Origin header given."""
    from eventlab.asgi import application

    headers = [origin] if origin else []
    if cookie:
        headers.append((b"cookie", f"sessionid={cookie}".encode()))
    return WebsocketCommunicator(application, f"/ws/labs/{lab_id}/", headers=headers)


async def connected(lab_id: str, cookie: str) -> WebsocketCommunicator:
    """A socket on the lab's live feed, from the browser whose session cookie is `cookie` (accepted)."""
    communicator = socket(lab_id, cookie)
    accepted, _ = await communicator.connect(timeout=5)
    assert accepted
    return communicator


async def received(communicator: WebsocketCommunicator, quiet: float = 0.5) -> list[str]:
    """Every message until the socket has been quiet for `quiet` seconds."""
    messages = []
    while not await communicator.receive_nothing(timeout=quiet):
        messages.append(await communicator.receive_from(timeout=5))
    return messages


async def push(communicator: WebsocketCommunicator) -> list[str]:
    """One push: the lab head (always first), then whatever the run's view got."""
    first = await communicator.receive_from(timeout=5)
    assert first.startswith('<span id="lab-head" class="head"'), first
    assert 'hx-swap-oob="true"' in first
    return [first, *await received(communicator, quiet=0.3)]


def pushed_head(message: str) -> int:
    found = parse(message).by_id("lab-head")
    assert found is not None, message
    return int(found["data-head"])


def panels(messages: list[str]) -> list[str]:
    """The run panels (#run) among pushed messages."""
    return [m for m in messages if parse(m).by_id("run") is not None and '<div id="run" ' in m]


def news(messages: list[str]) -> list[str]:
    """The "run moved on" notice, sent on its own (the panel carries an empty #run-news of its own)."""
    return [m for m in messages if m.startswith('<p id="run-news"')]


# --- The bank lab over the socket (tests/integration/test_consumer.py, test_consumer_hub.py) -------------------


@database_sync_to_async
def run(lab_id: str, *commands: dict) -> list[int]:
    """Execute bank commands one by one (each its own transaction); the positions they appended."""
    lab = Lab.objects.get(pk=lab_id)
    appended = []
    for body in commands:
        appended += [e.position for e in bank.execute(lab, body).events]
    return appended


def opened(account_id: str, owner: str = "Ada") -> dict:
    return {"command": "OpenAccount", "account_id": account_id, "owner": owner}


def deposit(account_id: str, amount: str = "1.00") -> dict:
    return {"command": "Deposit", "account_id": account_id, "amount": amount}


def view(after: int = 0, stream: str = "", type: str = "", live: bool = True, account: str = "") -> str:
    return json.dumps({"page": "bank", "after": after, "stream": stream, "type": type, "live": live,
                       "account": account})


def rows(message: str) -> list[int]:
    return [int(p) for p in re.findall(r'<tr id="event-(\d+)"', message)]


async def next_push(communicator: WebsocketCommunicator, timeout: float = 5) -> tuple[list[int], str]:
    """One push: the row messages (if any) and the read-model/head message that always ends it."""
    positions, parts = [], ""
    while True:
        message = await communicator.receive_from(timeout=timeout)
        if message.lstrip().startswith("<tbody"):
            assert 'hx-swap-oob="afterbegin:#event-rows"' in message
            positions += rows(message)
            continue
        assert not rows(message), "table rows travel in messages of their own"
        parts = message
        assert 'id="lab-head"' in parts
        return positions, parts


async def pushes_until_quiet(communicator: WebsocketCommunicator, quiet: float = 0.5) -> list[int]:
    """Every row pushed until the socket has been quiet for `quiet` seconds."""
    positions: list[int] = []
    while not await communicator.receive_nothing(timeout=quiet):
        got, _ = await next_push(communicator)
        positions += got
    return positions
