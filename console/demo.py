"""The demo `make run` shows: an app with a canary rollout moving, fed by simulated clients.

``ensure_demo(release_manager)`` creates, once, through the same functions the console and the CI
API use (``releases.publishing``, ``releases.rollouts``, ``backups.registry``):

* the app ``demo-shop`` ("Demo Shop") with a ``production`` channel,
* releases 1.0.0 and 1.1.0 of generated bundles (a manifest, JS, CSS, image-like files and one
  subpackage; 1.1.0 is a little bigger and lists typed changes),
* a canary rollout of 1.1.0 with short phases (``DEMO_PHASES``) and the default metrics, started
  by the demo release manager,
* a directory backup source ``demo-files`` over ``var/demo/files``.

Each step checks what exists first, so running it again changes nothing, and a run interrupted
half-way is completed by the next one. ``bin/run`` then starts ``manage.py simulate_clients`` with
the channel's client key: 400 healthy installs move the canary from its first phase to the
approval wait within about a minute and a half.
"""

from __future__ import annotations

import io
import json
import random
import zipfile
from dataclasses import dataclass

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
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            info = zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    return buffer.getvalue()


# --- the demo ------------------------------------------------------------------------------------


def ensure_demo(release_manager=None) -> Demo:
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
    return Demo(app=app, channel=channel, releases=releases, rollout=rollout, created=created)


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
