from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from accounts.tokens import create_token
from audit.context import Actor, acting_as


class Command(BaseCommand):
    help = "Create a personal API token for USERNAME and print it once (only its hash is kept)."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--name", default="cli")

    def handle(self, *args, username, name, **options):
        user = get_user_model().objects.filter(username=username, is_active=True).first()
        if user is None:
            raise CommandError(f"no active user named {username!r}")
        if user.api_tokens.filter(name=name, revoked_at__isnull=True).exists():
            raise CommandError(f"{username} already has an active token named {name!r}")
        with acting_as(Actor.system("manage.py create_api_token")):
            _, raw = create_token(user, name)
        self.stdout.write(raw)
