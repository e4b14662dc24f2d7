from django.core.management import call_command
from django.core.management.base import BaseCommand

from eventlab.labs import registry

COURSE_FIXTURES = ("quiz_questions",)


def fixture_names() -> list[str]:
    """Every registered lab's fixtures (its presets, its demo data), then the course's quiz questions."""
    return [name for plugin in registry.plugins() for name in plugin.fixtures] + list(COURSE_FIXTURES)


class Command(BaseCommand):
    help = "Load every registered lab's fixtures and the course's quiz questions (what `make setup` loads)."

    def handle(self, **options) -> str:
        names = fixture_names()
        call_command("loaddata", *names, verbosity=0)
        return f"loaded {', '.join(names)}"
