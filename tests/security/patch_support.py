"""Helpers for the security patch tests (their fixtures live in conftest.py): patched bundles
and a short way to prepare a patch."""

from __future__ import annotations

from security import patches
from tests.security.conftest import FIXED, TESTER, VULNERABLE, bundle

__all__ = ["FIXED", "TESTER", "VULNERABLE", "patched", "prepare"]

_n = iter(range(1, 10**6))


def patched(files: dict | None = None) -> list[bytes]:
    """A patched bundle as the upload would stream it (distinct bytes every call)."""
    files = dict(files if files is not None else FIXED)
    files.setdefault("index.js", f"console.log('patched {next(_n)}')")
    return [bundle(files)]


def prepare(app, channel, finding, user, sources, urls, *, files=None, **extra):
    return patches.prepare(
        app,
        user=user,
        channel=channel,
        findings=[finding],
        version=extra.pop("version", "1.0.1"),
        bundle=patched(files),
        sources=sources,
        health_urls=urls,
        health_timeout=extra.pop("health_timeout", 1.0),
        enqueue=False,
        **extra,
    )
