from django.apps import AppConfig


class CompareConfig(AppConfig):
    """Saga vs 2PC and the failure matrices: the one package that may import two labs (sagas and twopc)."""

    name = "eventlab.compare"
    label = "compare"
    verbose_name = "Saga vs 2PC"

    def ready(self) -> None:
        from eventlab.labs.registry import LabPlugin, TryIt, register

        from . import live, urls

        register(LabPlugin(
            key="compare", title="Saga vs 2PC",  # no nav entry of its own: its pages sit in the 2PC lab's nav
            course_title="Saga vs 2PC", views={"compare": ("twopc-compare", ""), "matrix": ("twopc-matrix", "")},
            try_it=(
                TryIt("saga-vs-2pc", "Compare a saga and 2PC side by side",
                      "Saga vs 2PC: pick a failure and step both runs side by side, with locks, messages and time "
                      "blocked.", view="compare"),
                TryIt("choosing-patterns", "Open the failure matrix",
                      "The failure matrix: every fault at every protocol point, for 2PC and for the saga, and how "
                      "each ends.", view="matrix"),
            ),
            urlpatterns=urls.urlpatterns, renderers={"compare": live.render_update},
        ))
