from django.apps import AppConfig


class ClassroomConfig(AppConfig):
    """The classroom: instructors, classes (each a lab), joining by code, Peer Instruction polls.

    It registers in the lab registry like a lab does — its pages, its live renderers, its nav entry — because a class
    is a lab and its pages are live the same way. Its JSON API lives at /api/classes (not under /api/labs, where the
    registry mounts the labs' routers), so eventlab/api.py mounts `api.router` itself."""

    name = "eventlab.classroom"
    label = "classroom"

    def ready(self) -> None:
        from eventlab.labs.registry import LabPlugin, register

        from . import live, urls

        register(LabPlugin(
            key="classroom", title="Classroom", nav_label="Classes", nav_url="classroom-home",
            urlpatterns=urls.urlpatterns,
            renderers={live.INSTRUCTOR: live.render_instructor, live.LEARNER: live.render_learner},
        ))
