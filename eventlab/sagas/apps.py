from django.apps import AppConfig


class SagasConfig(AppConfig):
    name = "eventlab.sagas"
    label = "sagas"
    verbose_name = "Saga lab"

    def ready(self) -> None:
        from eventlab.labs.registry import LabPlugin, register
        from eventlab.labs.replay import RunReplayer

        from . import api, live, urls, views
        from .models import Preset

        register(LabPlugin(
            key="sagas", title="Saga lab", nav_label="Saga lab", nav_url="saga-home",
            urlpatterns=urls.urlpatterns, api_router=api.router,
            renderers={"saga": live.render_update},
            preset_model=Preset, run_pages=views.PAGES, fixtures=("saga_presets",),
            replayer=RunReplayer(views.PAGES),
        ))
