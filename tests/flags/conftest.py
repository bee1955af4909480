"""A shop app with an ``immediate`` production channel, releases 1.0.0 and 1.1.0 (1.1.0 ships
the flags dark), bundle storage in a temporary folder and a clean answer cache."""

from __future__ import annotations

import pytest

from flags import ramp
from releases import publishing
from tests.releases.conftest import _bundle_storage, app, publish  # noqa: F401 (fixtures)


@pytest.fixture
def channel(app):  # noqa: F811
    channel = publishing.create_channel(app, name="production", release_gate="immediate")
    publish(app, "1.0.0")
    publish(app, "1.1.0")
    return channel


def make_flag(channel, key="new-checkout", **options):
    options.setdefault("min_version", "1.1.0")
    options.setdefault("phases", [{"percent": 10, "hold_seconds": 60}, {"percent": 100}])
    options.setdefault(
        "metrics",
        [{"metric": "crash_rate", "threshold": 1.0, "relative": False, "min_samples": 50}],
    )
    return ramp.create(channel, key=key, **options)


@pytest.fixture
def flag(channel, bob):
    return make_flag(channel, user=bob)
