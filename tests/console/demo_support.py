"""What the seed_demo tests share: demo files in the test's own folder, a clean answer cache,
and running the command."""

from __future__ import annotations

from io import StringIO

from django.core.cache import cache
from django.core.management import call_command

from releases import update


def use_test_storage(settings, tmp_path):
    """Point the demo's files at ``tmp_path`` and clear the update-answer caches around a test
    (a generator: ``yield from`` it in an autouse fixture)."""
    settings.VAR_DIR = tmp_path / "var"
    settings.VAR_DIR.mkdir()
    settings.RELEASES_BUNDLE_DIR = tmp_path / "bundles"
    settings.RELEASES_STATE_DIR = tmp_path / "state"
    cache.clear()
    update.clear_local()
    yield
    cache.clear()
    update.clear_local()


def seed() -> list[str]:
    out = StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue().splitlines()
