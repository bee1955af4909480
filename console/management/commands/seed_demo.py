import json
import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from accounts import actions
from accounts.roles import ROLES
from audit.context import Actor, acting_as
from console import demo
from fleet.models import Fleet

DEMO_USERS = [
    ("admin", "admin"),
    ("release", "release_manager"),
    ("operator", "operator"),
    ("viewer", "viewer"),
]
# bin/run reads this line to point the client simulator at the demo channel,
KEY_LINE = "demo channel key: {key}"
# and these (one per demo host) to start the deploy agents: name, listen address, token SHA-256.
AGENT_LINE = "demo agent: {name} {listen} {sha256}"


class Command(BaseCommand):
    help = (
        "Create demo users (one per role) and print their passwords, and the Demo Shop app with "
        "a canary rollout, a dark flag, a dependency audit, a fleet and maintenance jobs "
        "(console/demo.py); print its channel's client key and its deploy agents. Safe to run "
        "again."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--deploy-fleet",
            action="store_true",
            help="Only start the demo fleet's first rolling deployment (of 1.0.0), unless it "
            "has had one; bin/run uses it once the demo's deploy agents listen.",
        )

    def handle(self, *args, **options):
        User = get_user_model()
        if options["deploy_fleet"]:
            deployment = demo.ensure_first_deployment(
                User.objects.filter(username="release").first()
            )
            if deployment is None and not Fleet.objects.filter(name=demo.FLEET).exists():
                self.stdout.write("demo fleet: none yet (run seed_demo without options first)")
            elif deployment is None:
                self.stdout.write("demo fleet: nothing to start (it has had a deployment)")
            else:
                self.stdout.write(
                    f"demo fleet: rolling out {deployment.release.version} "
                    f"(deployment #{deployment.pk})"
                )
            return
        path = settings.VAR_DIR / "demo_credentials.json"
        known = json.loads(path.read_text()) if path.exists() else {}
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
        shop = demo.ensure_demo(
            User.objects.filter(username="release").first(),
            operator=User.objects.filter(username="operator").first(),
        )
        self.stdout.write(KEY_LINE.format(key=shop.channel.client_key))
        for host in shop.fleet.hosts.order_by("name"):
            listen = demo.agent_listen(host)
            if listen:
                self.stdout.write(
                    AGENT_LINE.format(name=host.name, listen=listen, sha256=host.secret_sha256)
                )
