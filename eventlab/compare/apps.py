from django.apps import AppConfig


class CompareConfig(AppConfig):
    """Saga vs 2PC and the failure matrices: the one package that may import two labs (sagas and twopc)."""

    name = "eventlab.compare"
    label = "compare"
    verbose_name = "Saga vs 2PC"

    def ready(self) -> None:
        from eventlab.labs.registry import LabPlugin, register

        from . import live, urls

        register(LabPlugin(
            key="compare", title="Saga vs 2PC",  # no nav entry of its own: its pages sit in the 2PC lab's nav
            urlpatterns=urls.urlpatterns, renderers={"compare": live.render_update},
        ))
