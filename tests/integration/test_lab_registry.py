"""Every registered lab is reachable everywhere it should be: its URLs, its API router, its live renderers, the nav, its
presets, its fixtures and its read models. The tests iterate the lab registry, so a lab added later gets them free."""

import re

import pytest
from django.core.management import call_command
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
    with pytest.raises(ValueError, match="both render live page"):
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
