import json
import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from accounts import actions
from accounts.roles import ROLES
from audit.context import Actor, acting_as
from console import demo

DEMO_USERS = [
    ("admin", "admin"),
    ("release", "release_manager"),
    ("operator", "operator"),
    ("viewer", "viewer"),
]
# bin/run reads this line to point the client simulator at the demo channel.
KEY_LINE = "demo channel key: {key}"


class Command(BaseCommand):
    help = (
        "Create demo users (one per role) and print their passwords, and the Demo Shop app with "
        "a canary rollout (console/demo.py) and print its channel's client key. Safe to run again."
    )

    def handle(self, *args, **options):
        path = settings.VAR_DIR / "demo_credentials.json"
        known = json.loads(path.read_text()) if path.exists() else {}
        User = get_user_model()
        with acting_as(Actor.system("manage.py seed_demo")):
            for username, role in DEMO_USERS:
                if not User.objects.filter(username=username).exists():
                    password = secrets.token_urlsafe(9)
                    actions.create_user(
                        username, role=ROLES[role], password=password, email=f"{username}@localhost"
                    )
                    known[username] = password
        path.touch(mode=0o600)
        path.write_text(json.dumps(known, indent=2))
        for username, role in DEMO_USERS:
            password = known.get(username, "(set before; not known to the demo seed)")
            self.stdout.write(f"{username:<10} {password:<16} {ROLES[role].name}")
        shop = demo.ensure_demo(User.objects.filter(username="release").first())
        self.stdout.write(KEY_LINE.format(key=shop.channel.client_key))
