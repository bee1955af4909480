"""What a runner sees of its run: log lines, progress, a checkpoint, and whether to stop.

``execute_run`` creates one context per claimed run and registers it under the run's pk for the
duration of the body; the heartbeat thread flushes it to the row with a compare-and-set on the
run's fencing token, so a worker that lost its run (timed out, cancelled, reaped as lost) can
never write into it again and learns at its next ``check()``.
"""

from __future__ import annotations

import threading
from collections import deque
from datetime import datetime

from django.utils import timezone

LOG_EXCERPT_CHARS = 20_000


class RunStopped(Exception):
    """The run was timed out, cancelled or reaped while the body was still working."""


class RunContext:
    def __init__(self, run_pk: int, token: int, deadline: datetime, checkpoint: dict):
        self.run_pk = run_pk
        self.token = token
        self.deadline = deadline
        self.checkpoint = dict(checkpoint or {})
        self.progress_done = 0
        self.progress_total = 0
        self.stopped = ""
        self._lines: deque[str] = deque()
        self._chars = 0
        self._lock = threading.Lock()

    def log(self, line: str) -> None:
        stamp = timezone.now().strftime("%H:%M:%S")
        text = f"{stamp} {line}".rstrip()
        with self._lock:
            self._lines.append(text)
            self._chars += len(text) + 1
            while self._chars > LOG_EXCERPT_CHARS and len(self._lines) > 1:
                self._chars -= len(self._lines.popleft()) + 1

    def progress(self, done: int, total: int) -> None:
        self.progress_done, self.progress_total = max(0, done), max(0, total)

    def text(self) -> str:
        with self._lock:
            return "\n".join(self._lines)

    def check(self) -> None:
        """Raise RunStopped if the run is no longer ours or its deadline passed."""
        if self.stopped:
            raise RunStopped(self.stopped)
        if timezone.now() > self.deadline:
            self.stopped = "deadline passed"
            raise RunStopped(self.stopped)

    def save_checkpoint(self, **values) -> None:
        """Persist resumable state now (a retry of this run starts from it)."""
        from maintenance.runs import flush

        self.checkpoint.update(values)
        flush(self)


_contexts: dict[int, RunContext] = {}


def context(run_pk: int) -> RunContext:
    try:
        return _contexts[run_pk]
    except KeyError:
        raise LookupError(
            f"run #{run_pk} is not being executed here: runners run inside execute_run"
        ) from None


def bind(ctx: RunContext) -> None:
    _contexts[ctx.run_pk] = ctx


def unbind(ctx: RunContext) -> None:
    _contexts.pop(ctx.run_pk, None)
