"""Helpers for tests that start real Upkeep processes (workers, controllers) as subprocesses."""

from __future__ import annotations

import os


def env_for_test_database() -> dict:
    """Environment for a child process that must use the test database of this test run."""
    from django.db import connection

    env = dict(os.environ)
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        env["DATABASE_URL"] = f"sqlite:///{db['NAME']}"
    else:
        env["DATABASE_URL"] = (
            f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
        )
    return env
