from django.apps import AppConfig


class BankConfig(AppConfig):
    name = "eventlab.bank"
    label = "bank"

    def ready(self) -> None:
        from eventlab.labs.models import Scenario
        from eventlab.labs.registry import LabPlugin, register

        from . import api, handlers, live, projections, replay, urls
        from .domain import Rejected

        register(LabPlugin(
            key="bank", title="Bank lab", nav_label="Bank lab", nav_url="bank-home",
            urlpatterns=urls.urlpatterns, api_router=api.router, api_errors=(Rejected,),
            renderers={"bank": live.render_update},
            preset_model=Scenario,  # the bank's presets are the scenarios (demo_bank)
            fixtures=("demo_bank",),
            projections=tuple(projections.ALL.values()), default_projections=tuple(projections.DEFAULT),
            import_history=handlers.import_history,
            replayer=replay.REPLAYER,
        ))
