"""Upkeep's settings plus one trivial view (the benchmark's baseline), nothing else changed."""

from config.settings import *  # noqa: F403

ROOT_URLCONF = "bench.update_check.urls"
