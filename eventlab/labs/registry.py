"""The lab registry: every lab is a plug-in that registers itself here from its `AppConfig.ready()`.

The platform reads it and names no lab: `eventlab/urls.py` mounts each plug-in's URLs, `eventlab/api.py` its API
router, the live hub its renderers, the nav its entry, the course its presets, `manage.py loadlabfixtures` its
fixtures, and the projector its projections. Adding a lab is a package, its `ready()`, its templates, its fixtures.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.apps import apps
from django.core.exceptions import AppRegistryNotReady

Renderer = Callable[[str, int, dict[str, Any], set[str]], tuple[list[str], int, set[str]]]


@dataclass(frozen=True)
class LabPlugin:
    """What a lab brings to the platform. Only `key` and `title` are required."""

    key: str  # the lab's one key: the nav's, the lab bar's, the course's ("bank", "sagas", ...)
    title: str
    nav_label: str = ""  # shown in the main nav when set, linking to the URL named `nav_url`
    nav_url: str = ""
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
    # Saved and played back as a scenario (eventlab.scenarios): a labs.replay.Replayer (record, check, begin, play…)
    replayer: Any = None


_plugins: dict[str, LabPlugin] = {}
_projections: dict[str, Any] = {}  # every lab's projections by name, built on first use


def register(plugin: LabPlugin) -> LabPlugin:
    """Add a lab (from its AppConfig.ready()). Registering the same key again replaces it (ready() may run twice in
    tests); two labs may not claim the same live page key."""
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


def replayers() -> dict[str, Any]:
    """Lab key -> its Replayer, for the labs that can be saved as scenarios."""
    return {p.key: p.replayer for p in plugins() if p.replayer is not None}


def scenario_importer() -> Callable[..., Any]:
    """What appends a Scenario's events: the lab whose history scenarios hold (today the bank)."""
    for plugin in plugins():
        if plugin.import_history is not None:
            return plugin.import_history
    raise LookupError("no lab registered imports scenarios")
