"""The lab registry: every lab is a plug-in that registers itself here from its `AppConfig.ready()`.

The platform reads it and names no lab: `eventlab/urls.py` mounts each plug-in's URLs, `eventlab/api.py` its API
router, the live hub its renderers, the nav and the lab bar its entry and pages, the course its presets, views and
"try it" targets, `manage.py loadlabfixtures` its fixtures, and the projector its projections. Adding a lab is a
package, its `ready()`, its templates, its fixtures.

One key per lab, everywhere: the plug-in's `key` is the nav's, the lab bar's (`lab_page`), the course's (a "try it"
target's and a predict question's `lab`, a `LabTried`'s and a `LabCompleted`'s `lab` in the learner's progress, the
`/learn/open/<key>/<view>/` links) and the live feed's. A lab's live page keys (the `page` a websocket names, the
templates' `data-page`) are `<key>` for its one live view, or `<key>:<view>` when it has several; `register` refuses
any other. URL names and URL paths predate this rule and are left as they are (the paths are a contract).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from django.apps import apps
from django.core.exceptions import AppRegistryNotReady

Renderer = Callable[[str, int, dict[str, Any], set[str]], tuple[list[str], int, set[str]]]


@dataclass(frozen=True)
class TryIt:
    """A topic of the course this lab shows: where the topic page's "try it" sends the learner. Either a preset run
    (started in the working lab through the lab's run pages) or one of the lab's `views`."""

    topic: str  # the course topic's slug (eventlab.learn.topics)
    label: str  # the button's words
    says: str  # what the learner will see when the lab opens
    preset: str = ""
    view: str = ""

    def __post_init__(self) -> None:
        if bool(self.preset) == bool(self.view):
            raise ValueError(f"the try-it of {self.topic} is a preset or a view, not both")


@dataclass(frozen=True)
class CodeView:
    """A lab's aggregate as the course's code view shows it (eventlab.learn.codeview), beside the learner's last
    command from the lab's form (the lab sends `labs.signals.command_handled` for it, its outcome keeping the refusal
    with its traceback)."""

    domain: ModuleType  # pure: its `decide(state, command)` and `evolve` are shown; `decide` raises `Rejected`


@dataclass(frozen=True)
class LabPlugin:
    """What a lab brings to the platform. Only `key` and `title` are required."""

    key: str  # the lab's one key: the nav's, the lab bar's, the course's ("bank", "sagas", ...)
    title: str
    nav_label: str = ""  # shown in the main nav when set, linking to the URL named `nav_url`
    nav_url: str = ""
    lab_url: str = ""  # the URL name of its page in one lab (takes lab_id): "new lab" and the lab bar go there
    course_title: str = ""  # how the course names it in a sentence ("the bank lab"); `title` when empty
    # Views of the lab a learner can be sent to directly (no run to start): name -> (URL name taking lab_id,
    # #fragment). "try it", predict questions and the course's `/learn/open/<key>/<view>/` links use them.
    views: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    try_it: Sequence[TryIt] = ()  # the course topics it shows, one target each
    urlpatterns: Sequence[Any] = ()  # path()s, mounted at the site's root by eventlab/urls.py
    api_router: Any = None  # a ninja Router, mounted by eventlab/api.py under /api/labs
    api_errors: Sequence[type[Exception]] = ()  # domain refusals the API answers with 422 and their words
    renderers: Mapping[str, Renderer] = field(default_factory=dict)  # live page key -> its update renderer
    preset_model: Any = None  # a model with a `slug`: what "try it" and predict questions may start
    run_pages: Any = None  # a simulation lab's pages (labs.runpages.RunPages): "try it" opens a preset through them
    fixtures: Sequence[str] = ()  # loaddata names `make setup` loads (manage.py loadlabfixtures)
    projections: Sequence[Any] = ()  # read models (eventstore.readmodels.Projection) the projector runs
    default_projections: Sequence[Any] = ()  # those switched on in a new lab
    # (store, log, events, snapshot_every) -> recorded events: appends a Scenario's events (labs.models.Scenario)
    import_history: Callable[..., Any] | None = None
    code_view: CodeView | None = None  # the aggregate the course's code view shows (one lab registers it)
    # Saved and played back as a scenario (eventlab.scenarios): a labs.replay.Replayer (record, check, begin, play…)
    replayer: Any = None


_plugins: dict[str, LabPlugin] = {}
_projections: dict[str, Any] = {}  # every lab's projections by name, built on first use


def register(plugin: LabPlugin) -> LabPlugin:
    """Add a lab (from its AppConfig.ready()). Registering the same key again replaces it (ready() may run twice in
    tests); two labs may not claim the same live page key."""
    wrong = [page for page in plugin.renderers if page != plugin.key and not page.startswith(f"{plugin.key}:")]
    if wrong:
        raise ValueError(f"{plugin.key}'s live page keys must be {plugin.key!r} or '{plugin.key}:<view>', not {wrong}")
    for try_it in plugin.try_it:
        if try_it.view and try_it.view not in plugin.views:
            raise ValueError(f"{plugin.key}'s try-it of {try_it.topic} opens a view it has not: {try_it.view!r}")
        if try_it.preset and plugin.run_pages is None:
            raise ValueError(f"{plugin.key}'s try-it of {try_it.topic} starts a preset, but it has no run pages")
    for other in _plugins.values():
        clash = other.key != plugin.key and set(other.renderers) & set(plugin.renderers)
        if clash:
            raise ValueError(f"{plugin.key} and {other.key} both render live page {sorted(clash)}")
    _plugins[plugin.key] = plugin
    _projections.clear()
    return plugin


def plugins() -> list[LabPlugin]:
    """Every registered lab, in registration order (INSTALLED_APPS order). Refused before every app's ready() ran:
    a reader then would miss the labs not registered yet (Django imports the URLconf lazily, after setup)."""
    if not apps.ready:
        raise AppRegistryNotReady("the lab registry is read before every lab's AppConfig.ready() ran")
    return list(_plugins.values())


def get(key: str) -> LabPlugin:
    if not apps.ready:
        raise AppRegistryNotReady("the lab registry is read before every lab's AppConfig.ready() ran")
    try:
        return _plugins[key]
    except KeyError:
        raise LookupError(f"no lab registered as {key!r}") from None


def find(key: str) -> LabPlugin | None:
    """The lab registered as `key`, or None."""
    try:
        return get(key)
    except LookupError:
        return None


def try_it(topic: str) -> tuple[LabPlugin, TryIt] | None:
    """The lab that shows a course topic, and its target (the first lab registering one, in INSTALLED_APPS order)."""
    for plugin in plugins():
        for target in plugin.try_it:
            if target.topic == topic:
                return plugin, target
    return None


def renderers() -> dict[str, Renderer]:
    """Live page key -> renderer, over every lab."""
    return {page: renderer for p in plugins() for page, renderer in p.renderers.items()}


def nav() -> list[LabPlugin]:
    """The labs the main nav links to."""
    return [p for p in plugins() if p.nav_label]


def projections() -> dict[str, Any]:
    """Every lab's read models by name (what the projector runs). Two labs may not register the same name."""
    if not _projections:
        for plugin in plugins():
            for projection in plugin.projections:
                if _projections.setdefault(projection.name, projection) is not projection:
                    raise ValueError(f"two labs register a projection named {projection.name!r}")
    return _projections


def default_projections() -> list[str]:
    """The names of the read models a new lab starts with."""
    return [projection.name for plugin in plugins() for projection in plugin.default_projections]


def code_view() -> CodeView:
    """The aggregate the course's code view shows: the (first) lab registering one (today the bank)."""
    for plugin in plugins():
        if plugin.code_view is not None:
            return plugin.code_view
    raise LookupError("no lab registered a code view")


def replayers() -> dict[str, Any]:
    """Lab key -> its Replayer, for the labs that can be saved as scenarios."""
    return {p.key: p.replayer for p in plugins() if p.replayer is not None}


def scenario_importer() -> Callable[..., Any]:
    """What appends a Scenario's events: the lab whose history scenarios hold (today the bank)."""
    for plugin in plugins():
        if plugin.import_history is not None:
            return plugin.import_history
    raise LookupError("no lab registered imports scenarios")
