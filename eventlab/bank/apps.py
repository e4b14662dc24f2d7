from django.apps import AppConfig


class BankConfig(AppConfig):
    name = "eventlab.bank"
    label = "bank"

    def ready(self) -> None:
        from eventlab.labs.models import Scenario
        from eventlab.labs.registry import CodeView, LabPlugin, TryIt, register

        from . import api, domain, handlers, live, projections, replay, urls
        from .domain import Rejected

        register(LabPlugin(
            key="bank", title="Bank lab", nav_label="Bank lab", nav_url="bank-home", lab_url="bank-lab",
            course_title="the bank lab",
            views={"commands": ("bank-lab", "commands-h"), "events": ("bank-lab", "log-h"),
                   "readmodels": ("bank-lab", "readmodels-section"), "time-travel": ("bank-lab", "time-travel-section"),
                   "race": ("bank-lab", "commands-h")},
            try_it=(
                TryIt("event-sourcing", "Open the bank lab",
                      "The bank lab: send a command, watch its events append to the log, and see a refused command "
                      "append nothing.", view="commands"),
                TryIt("snapshots-and-versioning", "Open time travel in the bank lab",
                      "The bank lab's time travel: scrub an account through its versions and see how many events each "
                      "load replayed after which snapshot; old deposits read as schema v2.", view="time-travel"),
                TryIt("cqrs", "Open the read models in the bank lab",
                      "The bank lab's read models: each with its checkpoint and lag. Pause or slow one down, send a "
                      "command, and watch it fall behind, then catch up.", view="readmodels"),
            ),
            urlpatterns=urls.urlpatterns, api_router=api.router, api_errors=(Rejected,),
            renderers={"bank": live.render_update},
            preset_model=Scenario,  # the bank's presets are the scenarios (demo_bank)
            fixtures=("demo_bank",),
            projections=tuple(projections.ALL.values()), default_projections=tuple(projections.DEFAULT),
            import_history=handlers.import_history,
            code_view=CodeView(domain),
            replayer=replay.REPLAYER,
        ))
