"""The console's side of the agent protocol (fleet/agent.py): three JSON calls over HTTP.

No database access here: the driver calls these from worker threads and records the outcomes
itself. Every failure comes back as ``AgentCallError`` with a one-line reason for the step row.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass

MAX_ANSWER = 64 * 1024


class AgentCallError(Exception):
    pass


@dataclass(frozen=True)
class Target:
    """What the driver needs to reach one host (copied out of the Host row)."""

    name: str
    url: str
    secret: str


def _call(target: Target, method: str, path: str, body, timeout: float, *, auth: bool = True):
    url = target.url.rstrip("/") + path
    if not url.startswith(("http://", "https://")):
        raise AgentCallError(f"{target.url!r} is not an http(s) URL")
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Content-Type": "application/json", "User-Agent": "upkeep-fleet"}
    if auth:  # the health path is public on the agent: never send the secret there
        headers["Authorization"] = f"Bearer {target.secret}"
    request = urllib.request.Request(url, data=data, method=method, headers=headers)  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - http(s)
            status, raw = response.status, response.read(MAX_ANSWER)
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read(MAX_ANSWER)
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise AgentCallError(f"{method} {url}: unreachable ({reason})") from None
    try:
        answer = json.loads(raw) if raw else {}
    except (ValueError, UnicodeDecodeError):
        answer = {}
    if not isinstance(answer, dict):
        answer = {}
    return status, answer


def _explain(method: str, path: str, status: int, answer: dict) -> str:
    code = answer.get("error") or answer.get("status") or "error"
    detail = answer.get("detail", "")
    return f"{method} {path} answered {status} {code}" + (f": {detail}" if detail else "")


def deploy(target: Target, *, version: str, sha256: str, url: str, timeout: float) -> dict:
    body = {"version": version, "sha256": sha256, "url": url}
    status, answer = _call(target, "POST", "/deploy", body, timeout)
    if status != 200 or answer.get("sha256") != sha256:
        raise AgentCallError(_explain("POST", "/deploy", status, answer))
    return answer


def rollback(target: Target, *, from_sha256: str, timeout: float) -> dict:
    status, answer = _call(target, "POST", "/rollback", {"from_sha256": from_sha256}, timeout)
    if status != 200:
        raise AgentCallError(_explain("POST", "/rollback", status, answer))
    if answer.get("sha256") == from_sha256:
        raise AgentCallError("the agent still runs the new release after the rollback")
    return answer


def health(target: Target, path: str, *, timeout: float) -> tuple[int, dict]:
    return _call(target, "GET", path, None, timeout, auth=False)


def wait_healthy(
    target: Target, path: str, *, sha256: str, timeout: float, interval: float = 0.5
) -> dict:
    """Poll ``path`` until it answers 200 with ``sha256``; AgentCallError with the last reason
    once ``timeout`` seconds have passed (an app may need a moment after the switch)."""
    deadline = time.monotonic() + timeout
    while True:
        left = max(0.2, deadline - time.monotonic())
        try:
            status, answer = health(target, path, timeout=min(left, 10))
            if status == 200 and answer.get("sha256") == sha256:
                return answer
            if status == 200:
                reason = f"health reports sha {answer.get('sha256') or 'none'}, expected {sha256}"
            else:
                reason = _explain("GET", path, status, answer)
        except AgentCallError as exc:
            reason = str(exc)
        if time.monotonic() + interval > deadline:
            raise AgentCallError(f"not healthy within {timeout:g} s: {reason}")
        time.sleep(interval)
