from django.apps import AppConfig


class ResilienceConfig(AppConfig):
    name = "eventlab.resilience"
    label = "resilience"
    verbose_name = "Resilience lab"

    def ready(self) -> None:
        from eventlab.labs.registry import LabPlugin, register
        from eventlab.labs.replay import RunReplayer

        from . import api, live, urls, views
        from .models import Preset

        register(LabPlugin(
            key="resilience", title="Resilience lab", nav_label="Resilience lab", nav_url="resilience-home",
            urlpatterns=urls.urlpatterns, api_router=api.router,
            renderers={"resilience": live.render_update},
            preset_model=Preset, run_pages=views.PAGES, fixtures=("resilience_presets",),
            replayer=RunReplayer(views.PAGES),
        ))
