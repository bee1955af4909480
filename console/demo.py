"""The demo `make run` shows: Demo Shop with a canary moving, fed by simulated clients, and one
live example of each other area.

``ensure_demo(release_manager, operator)`` creates, once, through the same functions the console
and the CI API use (``releases.publishing``, ``releases.rollouts``, ``backups.registry``,
``flags.ramp``, ``security.osv``, ``maintenance.specs`` / ``maintenance.runs``, the fleet forms and
``fleet.deployments``):

* the app ``demo-shop`` ("Demo Shop") with a ``production`` channel,
* releases 1.0.0 and 1.1.0 of generated bundles (a manifest, JS, CSS, image-like files, one
  subpackage and a package-lock.json; 1.1.0 is a little bigger, lists typed changes and moved to
  a ``@demo-shop/money-round`` the demo advisory says is vulnerable),
* a canary rollout of 1.1.0 with short phases (``DEMO_PHASES``) and the default metrics, started
  by the demo release manager,
* a directory backup source ``demo-files`` over ``var/demo/files``,
* the dark flag ``search-suggestions`` (min version 1.1.0, tester ``sim-0``, a short ramp plan
  judged on absolute thresholds), created by the release manager and not started,
* the made-up advisory in ``demo_data/osv-npm`` imported as an OSV export, a weekly
  ``dependency_audit`` job of Demo Shop and its first run (queued for the worker, requested by
  the demo operator): it audits 1.1.0 and opens a high finding with a 30-day SLA,
* the fleet ``demo-shop-web`` on the production channel with hosts ``web-1`` and ``web-2`` on
  free loopback ports from 8701 (their agents are started by bin/run),
* a daily ``index_health`` job over the console's database and its first run.

Each step checks what exists first, so running it again changes nothing (not even the audit
trail), and a run interrupted half-way is completed by the next one. ``bin/run`` then starts
``manage.py simulate_clients`` with the channel's client key (400 healthy installs move the canary
from its first phase to the approval wait within about a minute and a half), one deploy agent
per demo host, and, once they listen, ``seed_demo --deploy-fleet`` (``ensure_first_deployment``):
the fleet's first rolling deployment, of 1.0.0, which the worker drives.
"""

from __future__ import annotations

import io
import json
import random
import socket
import zipfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from django.conf import settings

from audit.context import Actor, acting_as
from releases import publishing, rollouts
from releases.models import App, Channel, Release, Rollout

APP_SLUG = "demo-shop"
APP_NAME = "Demo Shop"
CHANNEL = "production"
ACTOR = "manage.py seed_demo"

# 20 % rather than the usual 5-10 %: the install-failure metric needs 50 installs in the canary
# (its default min_samples), and bin/run simulates 400 installs, so 20 % (about 80) clears it
# with room to spare; 10 % (about 40) would never have the data and would pause the rollout.
DEMO_PHASES = [
    {"percent": 20, "hold_seconds": 60},
    {"percent": 50, "hold_seconds": 120, "requires_approval": True},
    {"percent": 100},
]

RELEASES = {
    "1.0.0": {
        "notes": "The first release of the demo shop.",
        "changes": [
            {"type": "feature", "text": "Catalogue, cart and checkout"},
            {"type": "feature", "text": "Order history in the orders subpackage"},
        ],
    },
    "1.1.0": {
        "notes": "Search, and a fix for the cart total.",
        "changes": [
            {"type": "feature", "text": "Search page with suggestions"},
            {"type": "fix", "text": "Cart total rounded per line instead of per order"},
            {"type": "security", "text": "Escape product names in the order summary"},
            {"type": "deprecation", "text": "The v1 cart API (cart.legacyTotal)"},
        ],
    },
}


@dataclass
class Demo:
    app: App
    channel: Channel
    releases: list[Release]
    rollout: Rollout | None
    created: list[str]
    flag: object = None  # flags.models.Flag
    audit_job: object = None  # maintenance.models.Job (dependency_audit)
    fleet: object = None  # fleet.models.Fleet
    index_job: object = None  # maintenance.models.Job (index_health)


# --- bundles -----------------------------------------------------------------------------------


def _js(rng: random.Random, functions: int) -> str:
    lines = []
    for _ in range(functions):
        name = "".join(rng.choices("abcdefghijklmnopqrstuvwxyz", k=8))
        key = rng.getrandbits(48)
        lines.append(
            f"export function {name}(item, qty) {{\n"
            f"  const price = item.price * {rng.randint(2, 97)} / 100;\n"
            f'  return {{ id: "{key:012x}", total: Math.round(price * qty), tag: "{name}" }};\n'
            "}\n"
        )
    return "".join(lines)


def _css(rng: random.Random, rules: int) -> str:
    return "".join(
        f".c-{rng.getrandbits(32):08x} {{ margin: {rng.randint(0, 24)}px; "
        f"color: #{rng.getrandbits(24):06x}; }}\n"
        for _ in range(rules)
    )


def _image(rng: random.Random, header: bytes, size: int) -> bytes:
    """Image-like bytes: the format's signature, then noise (it compresses like a real image)."""
    return header + rng.randbytes(size - len(header))


# What each release's package-lock.json pins. 1.1.0 moved to a money-round the demo advisory
# (console/demo_data/osv-npm) says is vulnerable from 2.1.0 and fixed in 2.3.4.
NPM_PACKAGES = {
    "1.0.0": {
        "@demo-shop/money-round": "2.0.3",
        "@demo-shop/ui-kit": "1.4.2",
        "@demo-shop/http-lite": "0.9.1",
    },
    "1.1.0": {
        "@demo-shop/money-round": "2.3.1",
        "@demo-shop/ui-kit": "1.5.0",
        "@demo-shop/http-lite": "0.9.1",
        "@demo-shop/search-box": "0.3.0",
    },
}


def package_lock(version: str) -> str:
    """The lockfileVersion 3 package-lock.json the demo bundle of ``version`` ships."""
    packages: dict[str, dict] = {"": {"name": APP_SLUG, "version": version}}
    for name, pinned in NPM_PACKAGES[version].items():
        packages[f"node_modules/{name}"] = {"version": pinned}
    doc = {"name": APP_SLUG, "version": version, "lockfileVersion": 3, "packages": packages}
    return json.dumps(doc, indent=2)


PNG = b"\x89PNG\r\n\x1a\n"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00"


def bundle(version: str) -> bytes:
    """A small valid bundle for ``version``: the same every time it is built."""
    rng = random.Random(f"demo-shop {version}")
    newer = version != "1.0.0"
    manifest = {
        "name": APP_NAME,
        "version": version,
        "pages": ["pages/index/index", "pages/cart/cart"]
        + (["pages/search/search"] if newer else []),
        "subpackages": [{"root": "orders/", "pages": ["list/list"]}],
    }
    files: dict[str, bytes | str] = {
        "app.json": json.dumps(manifest, indent=2),
        "app.js": _js(rng, 70 if newer else 66),
        "app.css": _css(rng, 120),
        "pages/index/index.js": _js(rng, 30),
        "pages/index/index.css": _css(rng, 40),
        "pages/cart/cart.js": _js(rng, 36 if newer else 34),
        "images/logo.png": _image(rng, PNG, 6_000),
        "images/banner.jpg": _image(rng, JPEG, 14_000),
        "orders/list/list.js": _js(rng, 24),
        "orders/list/list.css": _css(rng, 30),
    }
    if newer:
        files["pages/search/search.js"] = _js(rng, 10)
    files["package-lock.json"] = package_lock(version)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            info = zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    return buffer.getvalue()


# --- the demo ------------------------------------------------------------------------------------


def ensure_demo(release_manager=None, operator=None) -> Demo:
    """Create what is missing of the demo (see the module docstring); returns all of it."""
    created: list[str] = []
    actor = Actor.for_run(ACTOR, release_manager) if release_manager else Actor.system(ACTOR)
    with acting_as(actor):
        app = App.objects.filter(slug=APP_SLUG).first()
        if app is None:
            app = publishing.create_app(slug=APP_SLUG, name=APP_NAME, owner=release_manager)
            created.append("app")
        channel = Channel.objects.filter(app=app, name=CHANNEL).first()
        if channel is None:
            channel = publishing.create_channel(app, name=CHANNEL, is_production=True)
            created.append("channel")
        releases = []
        for version, text in RELEASES.items():
            release = Release.objects.filter(app=app, version=version).first()
            if release is None:
                upload = publishing.Upload(
                    version=version,
                    chunks=[bundle(version)],
                    changes=text["changes"],
                    notes=text["notes"],
                    channel=channel,
                )
                release = publishing.publish(app, upload, author=release_manager)
                created.append(f"release {version}")
            releases.append(release)
        candidate = releases[-1]
        rollout = Rollout.objects.filter(channel=channel, release=candidate).first()
        if rollout is None:
            rollout = rollouts.start(
                channel,
                candidate,
                user=release_manager,
                phases=DEMO_PHASES,
                reason="Demo canary: simulated clients drive it (bin/run, UPKEEP_DEMO_TRAFFIC)",
            )
            created.append("rollout")
        if ensure_backup_source(app):
            created.append("backup source")
        flag = ensure_flag(channel, release_manager, created)
        audit_job = ensure_dependency_audit(operator, created)
        fleet = ensure_fleet(app, channel, created)
        index_job = ensure_index_health(operator, created)
    return Demo(
        app=app,
        channel=channel,
        releases=releases,
        rollout=rollout,
        created=created,
        flag=flag,
        audit_job=audit_job,
        fleet=fleet,
        index_job=index_job,
    )


BACKUP_SOURCE = "demo-files"


def ensure_backup_source(app: App) -> bool:
    """A directory source over ``var/demo/files`` (a few files to back up); True if created."""
    from backups.models import Source
    from backups.registry import add_source

    folder = settings.VAR_DIR / "demo" / "files"
    if not folder.exists():
        folder.mkdir(parents=True)
        (folder / "README.txt").write_text("Files of the Demo Shop, backed up by the demo.\n")
        (folder / "catalogue.json").write_text(
            json.dumps([{"sku": f"SKU-{n:03}", "price": 100 + n * 7} for n in range(50)])
        )
        (folder / "bundle-1.0.0.zip").write_bytes(bundle("1.0.0"))
    if Source.objects.filter(name=BACKUP_SOURCE).exists():
        return False
    add_source(name=BACKUP_SOURCE, kind=Source.Kind.DIRECTORY, location=str(folder), app=app)
    return True


# --- feature flag --------------------------------------------------------------------------------

FLAG_KEY = "search-suggestions"
# sim-0 is the first of bin/run's simulated installs: once it runs 1.1.0 its update answer
# carries the flag, while the dark flag is off for everyone else.
FLAG_TESTER = "sim-0"
FLAG_PHASES = [
    {"percent": 10, "hold_seconds": 60},
    {"percent": 50, "hold_seconds": 120, "requires_approval": True},
    {"percent": 100},
]
# Absolute thresholds: they judge a phase without telemetry from before the ramp (relative ones
# compare with the hour before it, which a fresh demo does not have; see flags/README.md). The
# simulated clients crash 0.2 % of launches and have an LCP p75 of about 2.3 s.
FLAG_METRICS = [
    {"metric": "crash_rate", "threshold": 1.0, "relative": False},
    {"metric": "lcp_p75", "threshold": 2500, "relative": False},
]


def ensure_flag(channel: Channel, user, created: list[str]):
    """The dark flag ``search-suggestions`` (1.1.0 ships the feature off), created by ``user``."""
    from flags import ramp
    from flags.models import Flag

    flag = Flag.objects.filter(channel=channel, key=FLAG_KEY).first()
    if flag is None:
        flag = ramp.create(
            channel,
            key=FLAG_KEY,
            min_version="1.1.0",
            description="Suggestions under the search box; 1.1.0 ships them dark.",
            testers={FLAG_TESTER: "on"},
            phases=FLAG_PHASES,
            metrics=FLAG_METRICS,
            user=user,
        )
        created.append("flag")
    return flag


# --- security: advisories, a dependency audit job and its first run ------------------------------

OSV_DIR = Path(__file__).resolve().parent / "demo_data" / "osv-npm"
OSV_FILENAME = "demo-osv-npm.zip"
AUDIT_JOB = "demo-shop-dependency-audit"


def osv_sample() -> bytes:
    """The demo's OSV export: the advisories in ``demo_data/osv-npm``, zipped as OSV ships them."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(OSV_DIR.glob("*.json")):
            info = zipfile.ZipInfo(path.name, date_time=(2026, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes())
    return buffer.getvalue()


def osv_ids() -> list[str]:
    return sorted(json.loads(path.read_text())["id"] for path in OSV_DIR.glob("*.json"))


def ensure_job(spec: dict) -> tuple[object, bool]:
    """A maintenance job as ``manage.py jobs import`` creates it; (job, created)."""
    from maintenance import specs
    from maintenance.models import Job

    job = Job.objects.filter(name=spec["name"]).first()
    if job is not None:
        return job, False
    specs.apply(specs.load({"jobs": [spec]}))
    return Job.objects.get(name=spec["name"]), True


def ensure_first_run(job, user) -> bool:
    """Run now, once: a job that has never had a run gets one (the worker executes it)."""
    from maintenance import runs

    if job.occurrences.exists():
        return False
    runs.run_now(job, user)
    return True


def audit_job_spec(owner: str | None) -> dict:
    """The weekly dependency audit of Demo Shop, in the format of ``manage.py jobs import``."""
    return {
        "name": AUDIT_JOB,
        "type": "dependency_audit",
        "schedule": "0 6 * * 1",
        "timezone": "UTC",
        "max_duration": "10m",
        "params": {"app": APP_SLUG},
        "description": "Audits what Demo Shop ships against the imported advisories.",
        "app": APP_SLUG,
        "owner": owner,
    }


def ensure_dependency_audit(operator, created: list[str]):
    """Import the demo advisories, create a weekly ``dependency_audit`` job of Demo Shop and ask
    for its first run; the worker then opens the finding on 1.1.0's money-round."""
    from security import osv
    from security.models import AdvisoryRecord

    ids = osv_ids()
    if AdvisoryRecord.objects.filter(osv_id__in=ids).count() < len(ids):
        data = osv_sample()
        osv.import_export(io.BytesIO(data), filename=OSV_FILENAME, size=len(data))
        created.append("advisories")
    job, new = ensure_job(audit_job_spec(getattr(operator, "username", None)))
    if new:
        created.append("dependency audit job")
    if ensure_first_run(job, operator):
        created.append("dependency audit run")
    return job


# --- fleet: two hosts whose deploy agents bin/run starts -----------------------------------------

FLEET = "demo-shop-web"
AGENT_HOSTS = ("web-1", "web-2")
AGENT_PORTS = range(8701, 8800)


def _port_free(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_port(taken: set[int]) -> int:
    """The first loopback port from 8701 on that is free now and no other host uses."""
    for port in AGENT_PORTS:
        if port not in taken and _port_free(port):
            return port
    raise RuntimeError(f"no free loopback port in {AGENT_PORTS.start}-{AGENT_PORTS.stop - 1}")


def agent_listen(host) -> str | None:
    """``127.0.0.1:PORT`` for a host whose agent runs on this machine, else None."""
    url = urlsplit(host.agent_url)
    if url.scheme != "http" or url.hostname != "127.0.0.1" or not url.port:
        return None
    return f"127.0.0.1:{url.port}"


def ensure_fleet(app: App, channel: Channel, created: list[str]):
    """The fleet ``demo-shop-web`` on the production channel with hosts web-1 and web-2, made
    through the fleet forms and ``fleet.deployments`` as the Fleet pages make them."""
    from fleet import deployments
    from fleet.forms import FleetForm, HostForm
    from fleet.models import Fleet, Host

    fleet = Fleet.objects.filter(name=FLEET).first()
    if fleet is None:
        form = FleetForm(
            data={
                "name": FLEET,
                "app": app.pk,
                "channel": channel.pk,
                "batch_size": 1,
                "failure_budget": 0,
                "health_path": "/health",
                "host_timeout": 30,
            },
            instance=Fleet(),
        )
        if not form.is_valid():
            raise RuntimeError(f"demo fleet: {form.errors.as_text()}")
        fleet = deployments.save_fleet(form.save(commit=False))
        created.append("fleet")
    taken = {urlsplit(url).port for url in Host.objects.values_list("agent_url", flat=True)}
    for name in AGENT_HOSTS:
        if fleet.hosts.filter(name=name).exists():
            continue
        port = _free_port(taken)
        taken.add(port)
        form = HostForm(data={"name": name, "agent_url": f"http://127.0.0.1:{port}"}, fleet=fleet)
        if not form.is_valid():
            raise RuntimeError(f"demo host {name}: {form.errors.as_text()}")
        deployments.add_host(
            fleet, name=form.cleaned_data["name"], agent_url=form.cleaned_data["agent_url"]
        )
        created.append(f"host {name}")
    return fleet


FLEET_RELEASE = "1.0.0"


def ensure_first_deployment(release_manager=None):
    """Roll ``FLEET_RELEASE`` out to the demo fleet once: the deployment the fleet has never had
    (None if it has one, or if there is no demo fleet). ``seed_demo --deploy-fleet``: bin/run
    calls it once the demo's deploy agents listen; the worker drives it."""
    from fleet import deployments
    from fleet.models import Fleet

    fleet = Fleet.objects.filter(name=FLEET).first()
    if fleet is None or fleet.deployments.exists():
        return None
    release = Release.objects.get(app=fleet.app, version=FLEET_RELEASE)
    actor = Actor.for_run(ACTOR, release_manager) if release_manager else Actor.system(ACTOR)
    with acting_as(actor):
        return deployments.start(fleet, release, user=release_manager)


# --- database upkeep -----------------------------------------------------------------------------

INDEX_JOB = "demo-console-index-health"


def index_job_spec(owner: str | None) -> dict:
    return {
        "name": INDEX_JOB,
        "type": "index_health",
        "schedule": "30 3 * * *",
        "timezone": "UTC",
        "max_duration": "30m",
        "params": {"target": "console"},
        "description": "Index health of the console's own database (unused, duplicate, "
        "missing and bloated indexes).",
        "owner": owner,
    }


def ensure_index_health(operator, created: list[str]):
    """A daily ``index_health`` job over the console's own database, run once now."""
    job, new = ensure_job(index_job_spec(getattr(operator, "username", None)))
    if new:
        created.append("index health job")
    if ensure_first_run(job, operator):
        created.append("index health run")
    return job
