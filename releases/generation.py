"""The release-state generation: a token that changes on every change clients could see.

Update answers are cached under the current generation, so bumping it invalidates every cached
answer at once. The token lives in a small file next to the bundles rather than in the database
(reading it must cost no query) or in the cache (a per-process locmem cache would not tell the
other web workers). Every web host serving bundles shares the bundle directory anyway, so it sees
the same file. A bump writes a new token at once and again after the transaction commits: a
reader that raced the commit can only have cached the old answer under a token that the second
write retires.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from pathlib import Path

from django.conf import settings
from django.core.signals import setting_changed
from django.db import transaction
from django.dispatch import receiver

_path_cache: list[Path] = []


def _path() -> Path:
    # Resolved once: a missing optional setting costs an exception on every lookup.
    if not _path_cache:
        base = getattr(settings, "RELEASES_STATE_DIR", None) or settings.DATA_DIR / "releases"
        _path_cache.append(Path(base) / "generation")
    return _path_cache[0]


@receiver(setting_changed)
def _forget_path(setting, **kwargs) -> None:
    if setting in {"RELEASES_STATE_DIR", "DATA_DIR"}:
        _path_cache.clear()


# Other processes' bumps are noticed within this many seconds (the issue asks for one second);
# this process's own bumps at once. Re-reading the file on every request cost a measurable share
# of an update check (bench/update_check).
RECHECK_SECONDS = 0.5
_seen: dict[str, tuple[str, float]] = {}  # path -> (token, monotonic time read)
_lock = threading.Lock()


def _read(path: Path) -> str:
    try:
        with open(path, encoding="ascii") as f:
            return f.read().strip() or "0"
    except FileNotFoundError:
        return "0"


def current(now: float | None = None) -> str:
    """The current token ("0" before the first change); ``now`` is a ``time.monotonic()``
    reading (injectable for tests)."""
    path = _path()
    key = str(path)  # per path: tests point the setting at a fresh folder each
    seen = _seen.get(key)
    now = time.monotonic() if now is None else now
    if seen is not None and now - seen[1] < RECHECK_SECONDS:
        return seen[0]
    token = _read(path)
    _seen[key] = (token, now)
    return token


def _write() -> None:
    path = _path()
    path.parent.mkdir(parents=True, exist_ok=True)
    token = uuid.uuid4().hex
    tmp = path.with_name(f".generation-{token}")
    tmp.write_text(token, encoding="ascii")
    with _lock:
        os.replace(tmp, path)
        _seen[str(path)] = (token, time.monotonic())


def bump() -> None:
    """Invalidate every cached update answer now and once the current transaction commits."""
    _write()
    transaction.on_commit(_write)
