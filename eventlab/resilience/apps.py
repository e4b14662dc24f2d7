from django.apps import AppConfig


class ResilienceConfig(AppConfig):
    name = "eventlab.resilience"
    label = "resilience"
    verbose_name = "Resilience lab"

    def ready(self) -> None:
        from eventlab.labs.registry import LabPlugin, TryIt, register
        from eventlab.labs.replay import RunReplayer

        from . import api, live, urls, views
        from .models import Preset

        register(LabPlugin(
            key="resilience", title="Resilience lab", nav_label="Resilience lab", nav_url="resilience-home",
            lab_url="resilience-lab", course_title="the resilience lab", views={"lab": ("resilience-lab", "")},
            try_it=(
                TryIt("api-gateway-and-discovery", "Run: an instance dies under load",
                      "The resilience lab with an instance dying under load: the registry evicts it and the gateway "
                      "routes around it.", preset="instance-dies-under-load"),
                TryIt("circuit-breaker-bulkhead-retry", "Run: the breaker trips and recovers",
                      "The resilience lab with a failing dependency: the breaker goes CLOSED, OPEN, HALF_OPEN and "
                      "back.", preset="breaker-trips-and-recovers"),
            ),
            urlpatterns=urls.urlpatterns, api_router=api.router,
            renderers={"resilience": live.render_update},
            preset_model=Preset, run_pages=views.PAGES, fixtures=("resilience_presets",),
            replayer=RunReplayer(views.PAGES),
        ))
