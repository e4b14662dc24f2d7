from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from eventlab.labs.models import Scenario
from eventlab.labs.services import start_scenario


class Command(BaseCommand):
    help = "Start a new lab from a loaded scenario; prints its id, API token and join link."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("slug", help="The scenario's slug, e.g. demo-bank (see `loaddata`).")

    def handle(self, slug: str, **options: Any) -> str:
        scenario = Scenario.objects.filter(pk=slug).first()
        if scenario is None:
            known = ", ".join(Scenario.objects.values_list("slug", flat=True)) or "none loaded"
            raise CommandError(f"No scenario {slug!r} (known: {known}).")
        lab, token = start_scenario(scenario)
        return f"lab {lab.id} token {token} join {lab.join_url}"
