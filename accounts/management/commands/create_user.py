import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from accounts import actions
from accounts.roles import ROLES
from audit.context import Actor, acting_as


class Command(BaseCommand):
    help = "Create a person with a role (viewer, operator, release_manager, admin)."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--role", required=True, choices=sorted(ROLES))
        parser.add_argument("--email", default="")
        parser.add_argument(
            "--password",
            default=None,
            help="Defaults to a random password, printed once.",
        )

    def handle(self, *args, username, role, email, password, **options):
        if get_user_model().objects.filter(username__iexact=username).exists():
            raise CommandError(f"a user named {username!r} already exists")
        generated = password is None
        password = password or secrets.token_urlsafe(12)
        with acting_as(Actor.system("manage.py create_user")):
            actions.create_user(username, role=ROLES[role], password=password, email=email)
        self.stdout.write(f"created {username} ({ROLES[role].name})")
        if generated:
            self.stdout.write(f"password: {password}")
