"""Every registered lab is reachable everywhere it should be: its URLs, its API router, its live renderers, the nav, its
presets, its fixtures and its read models. The tests iterate the lab registry, so a lab added later gets them free."""

import re
from pathlib import Path

import pytest
from django.core.management import call_command
from django.http import HttpResponse
from django.test import Client
from django.urls import URLPattern, resolve, reverse

from eventlab.api import api
from eventlab.labs import registry
from eventlab.labs.services import projector
from eventlab.learn.management.commands.loadlabfixtures import fixture_names
from eventlab.learn.services import known_presets
from eventlab.live.consumers import parse_view

PLUGINS = registry.plugins()
KEYS = [p.key for p in PLUGINS]


def test_every_lab_registered_itself_once():
    assert {"bank", "sagas", "twopc", "resilience", "compare"} <= set(KEYS)
    assert len(KEYS) == len(set(KEYS))


def test_the_registry_refuses_a_second_lab_claiming_a_live_page():
    with pytest.raises(ValueError, match="live page"):  # not its own key, and another lab's
        registry.register(registry.LabPlugin(key="intruder", title="Intruder", renderers={"bank": print}))
    assert "intruder" not in [p.key for p in registry.plugins()]


@pytest.mark.parametrize("plugin", PLUGINS, ids=KEYS)
def test_its_urls_resolve_to_themselves(plugin):
    """Each named page reverses and resolves back to its own name: mounted, and not shadowed by another lab's."""
    named = [p for p in plugin.urlpatterns if isinstance(p, URLPattern) and p.name]
    assert named, f"{plugin.key} mounts no named URL"
    for pattern in named:
        kwargs = {name: f"x-{name}" for name in pattern.pattern.converters}
        url = reverse(pattern.name, kwargs=kwargs)
        assert resolve(url).url_name == pattern.name, (plugin.key, url)


@pytest.mark.parametrize("plugin", [p for p in PLUGINS if p.api_router is not None],
                         ids=[p.key for p in PLUGINS if p.api_router is not None])
def test_its_api_router_is_in_the_openapi_schema(plugin):
    paths = api.get_openapi_schema()["paths"]
    for path in plugin.api_router.path_operations:
        assert "/api/labs" + path in paths, (plugin.key, path)


@pytest.mark.parametrize("plugin", PLUGINS, ids=KEYS)
def test_its_live_pages_are_known_to_the_hub_and_the_consumer(plugin):
    for page, renderer in plugin.renderers.items():
        assert registry.renderers()[page] is renderer
        assert isinstance(parse_view(f'{{"page": "{page}"}}'), dict), page


@pytest.mark.parametrize("plugin", registry.nav(), ids=[p.key for p in registry.nav()])
@pytest.mark.django_db
def test_the_nav_links_to_it(plugin):
    page = Client().get(reverse(plugin.nav_url), follow=True).content.decode()  # its own page, nav current
    nav = re.search(r'<nav aria-label="Main">.*?</nav>', page, re.S).group(0)
    link = f'<a href="{reverse(plugin.nav_url)}" aria-current="page">{plugin.nav_label}</a>'
    assert link in nav, nav


@pytest.mark.parametrize("plugin", [p for p in PLUGINS if p.preset_model is not None],
                         ids=[p.key for p in PLUGINS if p.preset_model is not None])
@pytest.mark.django_db
def test_its_presets_are_known_to_the_course_and_loaded_by_setup(plugin):
    call_command("loadlabfixtures", verbosity=0)
    presets = set(plugin.preset_model.objects.values_list("slug", flat=True))
    assert presets, f"make setup loads no preset of {plugin.key}"
    assert presets <= known_presets()[plugin.key]
    if plugin.run_pages is not None:  # "try it" opens its presets through its run pages
        assert plugin.run_pages.presets is plugin.preset_model


@pytest.mark.parametrize("plugin", PLUGINS, ids=KEYS)
def test_its_fixtures_are_in_the_setup_command(plugin):
    assert set(plugin.fixtures) <= set(fixture_names())


@pytest.mark.parametrize("plugin", PLUGINS, ids=KEYS)
def test_its_read_models_are_run_by_the_projector(plugin):
    for projection in plugin.projections:
        assert projector.projections[projection.name] is projection
    assert {p.name for p in plugin.default_projections} <= set(registry.default_projections())


# --- One key per lab, and a course that reads the registry -------------------------------------------------------------


@pytest.mark.parametrize("plugin", PLUGINS, ids=KEYS)
def test_one_key_per_lab_its_live_pages_start_with_its_key(plugin):
    for page in plugin.renderers:
        assert page == plugin.key or page.startswith(f"{plugin.key}:"), (plugin.key, page)
    if plugin.run_pages is not None:  # the lab bar's, the nav's and LabCompleted's key
        assert plugin.run_pages.page == plugin.key


def test_the_registry_refuses_a_live_page_key_that_is_not_the_labs():
    with pytest.raises(ValueError, match="live page keys must be"):
        registry.register(registry.LabPlugin(key="kitchen", title="Kitchen", renderers={"kitch": print}))
    with pytest.raises(ValueError, match="opens a view it has not"):
        registry.register(registry.LabPlugin(key="kitchen", title="Kitchen", try_it=(
            registry.TryIt("cqrs", "Cook", "Pots.", view="stove"),)))
    assert "kitchen" not in [p.key for p in registry.plugins()]


@pytest.mark.parametrize("plugin", [p for p in PLUGINS if p.run_pages is not None or p.views],
                         ids=[p.key for p in PLUGINS if p.run_pages is not None or p.views])
@pytest.mark.django_db
def test_its_views_open_from_the_course_in_the_working_lab(plugin):
    client = Client()
    for view, (url_name, fragment) in plugin.views.items():
        response = client.get(f"/learn/open/{plugin.key}/{view}/")
        lab_id = client.session["lab"]
        assert response.status_code == 302
        assert response["Location"] == reverse(url_name, args=[lab_id]) + (f"#{fragment}" if fragment else "")


def test_the_course_names_no_lab_in_its_code():
    """learn/ reads the labs from the registry: no lab key as a string in its code (its templates and fixtures, the
    course's content, may talk about the labs). A key that is also a topic's slug ("sagas") cannot be told apart."""
    from eventlab.learn import topics

    learn = Path(__file__).resolve().parents[2] / "eventlab" / "learn"
    found = []
    for path in learn.rglob("*.py"):
        if "migrations" in path.parts:
            continue
        for key in [k for k in KEYS if k not in topics.SLUGS]:
            for match in re.finditer(rf"""["']{re.escape(key)}["']""", path.read_text(encoding="utf-8")):
                found.append(f"{path.name}: {match.group(0)}")
    assert found == []


@pytest.fixture
def kitchen_lab():
    """A lab added later: a plug-in with one view and the topic it shows."""
    from django.urls import path

    from eventlab.labs.views import working_lab

    def stove(request, lab_id):
        return HttpResponse("stove")

    plugin = registry.LabPlugin(
        key="kitchen", title="Kitchen lab", course_title="the kitchen lab",
        urlpatterns=[path("labs/<str:lab_id>/kitchen/", stove, name="kitchen-lab")],
        views={"stove": ("bank-lab", "commands-h")},  # a URL that exists: the test's urls are not re-read
        try_it=(registry.TryIt("choosing-patterns", "Open the kitchen", "Pots and pans.", view="stove"),),
    )
    saved = dict(registry._plugins)
    registry._plugins.clear()  # first in registration order: its try-it wins the topic
    registry._plugins["kitchen"] = plugin
    registry._plugins.update(saved)
    assert working_lab  # imported: the lab pages' helper exists
    yield plugin
    registry._plugins.pop("kitchen")


@pytest.mark.django_db
def test_a_new_labs_try_it_target_shows_up_in_the_course(kitchen_lab):
    from eventlab.learn import services

    client = Client()
    target = services.topic_target("choosing-patterns")
    assert (target.lab, target.view, target.lab_title) == ("kitchen", "stove", "the kitchen lab")
    page = client.get("/learn/choosing-patterns/").content.decode()
    assert "Pots and pans." in page and "Open the kitchen" in page and "Opens the kitchen lab" in page
    assert "Lab: the kitchen lab." in client.get("/").content.decode()
    response = client.post("/learn/try", {"topic": "choosing-patterns"})
    assert response.status_code == 302 and response["Location"].endswith("/bank/#commands-h")
    assert client.get("/learn/open/kitchen/stove/").status_code == 302
    assert "kitchen" in services.known_presets() and "stove" in services.known_presets()["kitchen"]
