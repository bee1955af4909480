"""Create the benchmark's app, channel and three releases; print the channel's client key."""

import io
import json
import os
import sys
import zipfile
from pathlib import Path

import django

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.update_check.settings")
django.setup()

from releases import publishing  # noqa: E402
from releases.models import App  # noqa: E402


def bundle(n: int) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("app.json", json.dumps({"name": "bench", "subpackages": ["pkg"]}))
        z.writestr(
            "index.js", "".join(f"function f{i}() {{ return {i * n}; }}\n" for i in range(2000))
        )
        z.writestr("pkg/page.js", f"export const page = {n};\n" * 50)
    return buffer.getvalue()


app, _ = App.objects.get_or_create(slug="bench", defaults={"name": "Bench"})
# "immediate": the bench measures the answer clients get for a published release (an update
# available to everyone), as before the release gate existed (releases/README.md "Release gate").
channel = app.channels.filter(name="production").first() or publishing.create_channel(
    app, name="production", release_gate="immediate"
)
for n, version in enumerate(["1.0.0", "1.1.0", "1.2.0"], 1):
    if not app.releases.filter(version=version).exists():
        publishing.publish(
            app,
            publishing.Upload(
                version=version,
                chunks=[bundle(n)],
                runtime_range=">=2.0.0",
                mandatory=version == "1.1.0",
            ),
        )
# Feature flags the answer evaluates per install (FLAGS, default 3): ramped to 50 % with two
# variants, so each check computes a cohort and a variant hash per flag.
from flags import ramp  # noqa: E402

for i in range(int(os.environ.get("FLAGS", "3"))):
    if not channel.flags.filter(key=f"bench-flag-{i}").exists():
        flag = ramp.create(
            channel,
            key=f"bench-flag-{i}",
            min_version="1.0.0",
            variants=[{"name": "a", "weight": 50}, {"name": "b", "weight": 50}],
            phases=[{"percent": 50, "hold_seconds": 86400}, {"percent": 100}],
        )
        ramp.start(flag, reason="benchmark")
print(channel.client_key)
