from django.apps import AppConfig


class SagasConfig(AppConfig):
    name = "eventlab.sagas"
    label = "sagas"
    verbose_name = "Saga lab"

    def ready(self) -> None:
        from eventlab.labs.registry import LabPlugin, TryIt, register
        from eventlab.labs.replay import RunReplayer

        from . import api, live, urls, views
        from .models import Preset

        register(LabPlugin(
            key="sagas", title="Saga lab", nav_label="Saga lab", nav_url="saga-home", lab_url="saga-lab",
            course_title="the saga lab", views={"lab": ("saga-lab", "")},
            try_it=(
                TryIt("sagas", "Run: the payment is declined",
                      "The saga lab with the payment declined: PaymentFailed, then the compensation CancelOrder.",
                      preset="payment-declined"),
                TryIt("tracing", "Run: a lost message (see its trace)",
                      "The saga lab with a message lost: one trace id across every hop, timeouts and retries "
                      "included, drawn as a waterfall.", preset="message-lost-dead-letter"),
            ),
            urlpatterns=urls.urlpatterns, api_router=api.router,
            renderers={"sagas": live.render_update},
            preset_model=Preset, run_pages=views.PAGES, fixtures=("saga_presets",),
            replayer=RunReplayer(views.PAGES),
        ))
