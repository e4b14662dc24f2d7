from django.apps import AppConfig


class TwoPCConfig(AppConfig):
    name = "eventlab.twopc"
    label = "twopc"
    verbose_name = "Two-phase commit lab"

    def ready(self) -> None:
        from eventlab.labs.registry import LabPlugin, TryIt, register
        from eventlab.labs.replay import RunReplayer

        from . import api, live, urls, views
        from .models import Preset

        register(LabPlugin(
            key="twopc", title="Two-phase commit lab", nav_label="2PC lab", nav_url="twopc-home", lab_url="twopc-lab",
            course_title="the 2PC lab", views={"lab": ("twopc-lab", "")},
            try_it=(
                TryIt("two-phase-commit", "Run: the coordinator crashes after prepare",
                      "The 2PC lab with the coordinator crashing after the participants voted Yes: they hold their "
                      "locks, in doubt, until you recover the coordinator from its log.",
                      preset="coordinator-crash-after-prepare"),
            ),
            urlpatterns=urls.urlpatterns, api_router=api.router,
            renderers={"twopc": live.render_update},
            preset_model=Preset, run_pages=views.PAGES, fixtures=("twopc_presets",),
            replayer=RunReplayer(views.PAGES),
        ))
