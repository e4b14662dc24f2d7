"""manage.py createinstructor <username> [--token]: an instructor account, for the classroom."""

import getpass
import os
import sys

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from eventlab.classroom.access import make_instructor, new_instructor_token


class Command(BaseCommand):
    help = (
        "Create an instructor (or make an existing user one): a user in the 'instructors' group. The password is "
        "asked for at a terminal; without one it comes from INSTRUCTOR_PASSWORD if set, else none is set (use "
        "`manage.py changepassword` later). --token prints a fresh API token as the last line."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--token", action="store_true", help="Print a fresh API token (the last line).")

    def handle(self, *args, **options):
        username = options["username"].strip()
        if not username or len(username) > 150:
            raise CommandError("A username is 1 to 150 characters.")
        users = get_user_model()
        user, created = users.objects.get_or_create(username=username)
        password = os.environ.get("INSTRUCTOR_PASSWORD")
        if sys.stdin.isatty() and password is None:
            password = self.ask_password(user)
        if password:
            try:
                validate_password(password, user)
            except ValidationError as exc:
                raise CommandError(" ".join(exc.messages)) from None
            user.set_password(password)
        elif created:
            user.set_unusable_password()
        user.save()
        make_instructor(user)
        what = "Created" if created else "Made"
        self.stdout.write(f"{what} instructor {username}" + ("" if password or not created else
                                                              " (no password yet: manage.py changepassword)") + ".")
        if options["token"]:
            self.stdout.write(new_instructor_token(user))

    def ask_password(self, user) -> str:
        for _attempt in range(3):
            first = getpass.getpass("Password (empty to keep or leave unset): ")
            if not first:
                return ""
            if getpass.getpass("Password again: ") == first:
                return first
            self.stderr.write("The passwords differ; try again.")
        raise CommandError("The passwords differed three times.")
