#!/usr/bin/env python3
"""The Upkeep deploy agent: a small HTTP server run on every host of a fleet.

Standard library only, one file: copy it to a host and run
``python3 agent.py --root /srv/shop --listen 0.0.0.0:8700 --token-sha256 <hex>``.

    POST /deploy    {"version", "sha256", "url"}  download, verify, unpack, switch ``current``
    POST /rollback  {"from_sha256"}               point ``current`` back at ``previous``
    GET  /health    (no auth) the running version and sha; 503 when nothing runs or the app's
                    own health URL (``--app-health-url``) fails
    GET  /status    current, previous and unpacked releases

Every request but /health needs ``Authorization: Bearer <secret>``; the agent keeps only the
secret's SHA-256. Layout under ``--root``: ``releases/<sha>/`` (unpacked bundles),
``releases/<sha>.json`` (version and time), ``current`` and ``previous`` (relative symlinks,
each switched with an atomic rename), ``downloads/`` (partial downloads). After each switch only
the ``--keep`` most recently switched-to releases besides ``current`` stay unpacked (``previous``
always does).
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import re
import shutil
import stat
import sys
import tempfile
import threading
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

AGENT_VERSION = "1"
SHA256 = re.compile(r"^[0-9a-f]{64}$")
CHUNK = 256 * 1024
MAX_BODY = 64 * 1024


class AgentError(Exception):
    def __init__(self, status: int, code: str, detail: str):
        super().__init__(detail)
        self.status, self.code, self.detail = status, code, detail


@dataclass
class AgentConfig:
    root: Path
    token_sha256: str
    # Bundle URLs must start with one of these (empty: any http(s) URL).
    allow_origins: tuple[str, ...] = ()
    app_health_url: str = ""
    health_path: str = "/health"
    download_timeout: float = 60.0
    max_bundle_bytes: int = 100 * 1024 * 1024
    max_files: int = 5000
    max_uncompressed_bytes: int = 200 * 1024 * 1024
    max_ratio: int = 200
    # Unpacked releases kept besides ``current`` (``previous`` is always one of them); older
    # ones are deleted after each successful switch.
    keep: int = 3
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


# ------------------------------------------------------------------ layout


def _releases(config: AgentConfig) -> Path:
    return config.root / "releases"


def _link_sha(config: AgentConfig, name: str) -> str:
    """The sha a ``current``/``previous`` link points at, or ""."""
    try:
        target = os.readlink(config.root / name)
    except (FileNotFoundError, OSError):
        return ""
    sha = os.path.basename(target.rstrip("/"))
    return sha if SHA256.match(sha) else ""


def _meta(config: AgentConfig, sha: str) -> dict:
    if not sha:
        return {}
    try:
        return json.loads((_releases(config) / f"{sha}.json").read_text())
    except (OSError, ValueError):
        return {"sha256": sha, "version": ""}


def _point(config: AgentConfig, name: str, sha: str) -> None:
    """Atomically make ``<root>/<name>`` a relative symlink to ``releases/<sha>``."""
    tmp = config.root / f".{name}.{os.getpid()}.{threading.get_ident()}"
    tmp.unlink(missing_ok=True)
    os.symlink(f"releases/{sha}", tmp)
    os.replace(tmp, config.root / name)
    _fsync_dir(config.root)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# ------------------------------------------------------------------ bundle checks


def unsafe_name(name: str) -> str | None:
    if not name or "\x00" in name:
        return "an empty name"
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        return "an absolute path"
    if ".." in name.replace("\\", "/").split("/"):
        return "a '..' component"
    return None


def check_zip(config: AgentConfig, archive: zipfile.ZipFile) -> list[zipfile.ZipInfo]:
    """Every member's name, type and size against the rules; AgentError(422) on the first."""
    infos = archive.infolist()
    if sum(1 for i in infos if not i.is_dir()) > config.max_files:
        raise AgentError(422, "too_many_files", f"more than {config.max_files} files")
    total = compressed = 0
    for info in infos:
        problem = unsafe_name(info.filename)
        if problem:
            raise AgentError(422, "unsafe_path", f"{info.filename!r} is {problem}")
        if stat.S_ISLNK(info.external_attr >> 16):
            raise AgentError(422, "symlink", f"{info.filename!r} is a symbolic link")
        total += info.file_size
        compressed += info.compress_size
        if total > config.max_uncompressed_bytes:
            raise AgentError(422, "too_large_uncompressed", "the bundle unpacks too large")
        if info.file_size > 1024 and info.file_size > config.max_ratio * max(info.compress_size, 1):
            raise AgentError(422, "compression_ratio", f"{info.filename!r} inflates too much")
    return infos


def unpack(config: AgentConfig, zip_path: Path, target: Path) -> None:
    """Unpack into a fresh temporary folder next to ``target``, then rename it into place."""
    staging = Path(tempfile.mkdtemp(prefix=".unpack-", dir=target.parent))
    try:
        try:
            archive = zipfile.ZipFile(zip_path)
        except (zipfile.BadZipFile, OSError) as exc:
            raise AgentError(422, "bad_zip", f"not a valid zip file ({exc})") from None
        with archive:
            base = staging.resolve()
            budget = config.max_uncompressed_bytes
            for info in check_zip(config, archive):
                dest = (staging / info.filename.replace("\\", "/")).resolve()
                if dest != base and base not in dest.parents:
                    raise AgentError(422, "unsafe_path", f"{info.filename!r} leaves the folder")
                if info.is_dir():
                    dest.mkdir(parents=True, exist_ok=True)
                    continue
                dest.parent.mkdir(parents=True, exist_ok=True)
                # O_NOFOLLOW|O_EXCL: never write through a link, never overwrite a member.
                flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
                try:
                    fd = os.open(dest, flags, 0o644)
                except FileExistsError:
                    raise AgentError(422, "duplicate_name", f"{info.filename!r} twice") from None
                try:
                    with os.fdopen(fd, "wb") as out, archive.open(info) as src:
                        while chunk := src.read(CHUNK):
                            budget -= len(chunk)
                            if budget < 0:
                                raise AgentError(422, "too_large_uncompressed", "too large")
                            out.write(chunk)
                except (zipfile.BadZipFile, OSError, RuntimeError, EOFError) as exc:
                    if isinstance(exc, AgentError):
                        raise
                    raise AgentError(422, "bad_zip", f"{info.filename!r}: {exc}") from None
        os.rename(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def download(config: AgentConfig, url: str, sha256: str) -> Path:
    """Stream ``url`` into ``downloads/`` while hashing; AgentError unless the hash matches."""
    folder = config.root / "downloads"
    folder.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=folder, suffix=".zip")
    path = Path(name)
    digest = hashlib.sha256()
    size = 0
    try:
        with os.fdopen(fd, "wb") as out:
            # deploy() admits http(s) URLs only.
            request = urllib.request.Request(url, headers={"User-Agent": "upkeep-agent"})  # noqa: S310
            try:
                with urllib.request.urlopen(request, timeout=config.download_timeout) as response:  # noqa: S310
                    while chunk := response.read(CHUNK):
                        size += len(chunk)
                        if size > config.max_bundle_bytes:
                            raise AgentError(422, "too_large", "the bundle is too large")
                        digest.update(chunk)
                        out.write(chunk)
            except urllib.error.HTTPError as exc:
                raise AgentError(502, "download_failed", f"{url} answered {exc.code}") from None
            except (urllib.error.URLError, OSError) as exc:
                raise AgentError(502, "download_failed", f"{url}: {exc}") from None
        if digest.hexdigest() != sha256:
            raise AgentError(
                422,
                "sha_mismatch",
                f"the download's SHA-256 is {digest.hexdigest()}, not {sha256}",
            )
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path


# ------------------------------------------------------------------ operations


def deploy(config: AgentConfig, body: dict) -> dict:
    version = body.get("version")
    sha = body.get("sha256")
    url = body.get("url")
    if not isinstance(version, str) or not version or len(version) > 100:
        raise AgentError(400, "invalid", "version must be a non-empty string")
    if not isinstance(sha, str) or not SHA256.match(sha):
        raise AgentError(400, "invalid", "sha256 must be 64 lowercase hex digits")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise AgentError(400, "invalid", "url must be an http(s) URL")
    if config.allow_origins and not url.startswith(config.allow_origins):
        raise AgentError(403, "origin_not_allowed", "this agent does not download from there")
    with config.lock:
        current = _link_sha(config, "current")
        if current == sha:
            return {"changed": False, "version": version, "sha256": sha, "previous_sha256": ""}
        target = _releases(config) / sha
        if not target.is_dir():
            target.parent.mkdir(parents=True, exist_ok=True)
            zip_path = download(config, url, sha)
            try:
                unpack(config, zip_path, target)
            finally:
                zip_path.unlink(missing_ok=True)
            meta = {"version": version, "sha256": sha, "unpacked_at": _now()}
            (_releases(config) / f"{sha}.json").write_text(json.dumps(meta))
        # ``previous`` first: a crash between the two renames leaves previous == current, never
        # a rollback target that was not running before.
        if current:
            _point(config, "previous", current)
        _point(config, "current", sha)
        _touch(config, sha)
        answer = {"changed": True, "version": version, "sha256": sha, "previous_sha256": current}
        try:
            answer["pruned"] = prune(config)
        except OSError as exc:  # the switch worked; a full disk must not undo that
            answer["prune_error"] = str(exc)
        return answer


def _switch_seq(config: AgentConfig, sha: str) -> int:
    value = _meta(config, sha).get("switch_seq", 0)
    return value if isinstance(value, int) else 0


def _touch(config: AgentConfig, sha: str) -> None:
    """Mark ``sha`` as the latest switched to: its meta gets a ``switch_seq`` one above every
    other release's (a counter, not a clock: file times are too coarse and clocks step back).
    Call with ``config.lock`` held."""
    folder = _releases(config)
    path = folder / f"{sha}.json"
    if not path.exists():
        return
    others = [p.stem for p in folder.glob("*.json") if SHA256.match(p.stem)]
    meta = _meta(config, sha)
    meta["switch_seq"] = 1 + max((_switch_seq(config, o) for o in others), default=0)
    tmp = folder / f".{sha}.json.tmp"
    tmp.write_text(json.dumps(meta))
    os.replace(tmp, path)


def prune(config: AgentConfig) -> list[str]:
    """Delete unpacked releases beyond the ``config.keep`` most recently switched to besides
    ``current``; never ``current`` or ``previous``. Call with ``config.lock`` held. Returns the
    deleted shas.

    A release folder is first renamed to ``.trash-<sha>`` and then removed, so a half-deleted
    folder never looks like a release a rollback could point at."""
    folder = _releases(config)
    if not folder.is_dir():
        return []
    current, previous = _link_sha(config, "current"), _link_sha(config, "previous")

    def switched_at(sha: str) -> tuple[int, float]:
        try:
            mtime = (folder / sha).stat().st_mtime
        except OSError:
            mtime = 0.0
        return _switch_seq(config, sha), mtime

    others = [
        p.name
        for p in folder.iterdir()
        if SHA256.match(p.name) and p.is_dir() and not p.is_symlink() and p.name != current
    ]
    others.sort(key=lambda sha: (switched_at(sha), sha), reverse=True)
    keep = set(others[: max(0, config.keep)]) | {previous}
    deleted = []
    for sha in others:
        if sha in keep:
            continue
        trash = folder / f".trash-{sha}"
        shutil.rmtree(trash, ignore_errors=True)
        os.rename(folder / sha, trash)
        (folder / f"{sha}.json").unlink(missing_ok=True)
        shutil.rmtree(trash)
        deleted.append(sha)
    return deleted


def rollback(config: AgentConfig, body: dict) -> dict:
    """Point ``current`` back at ``previous`` when ``current`` is ``from_sha256`` (idempotent:
    a repeated rollback after the switch back changes nothing)."""
    from_sha = body.get("from_sha256")
    if not isinstance(from_sha, str) or not SHA256.match(from_sha):
        raise AgentError(400, "invalid", "from_sha256 must be 64 lowercase hex digits")
    with config.lock:
        current = _link_sha(config, "current")
        if current != from_sha:
            return {"changed": False, "sha256": current, **_version(config, current)}
        previous = _link_sha(config, "previous")
        if not previous or previous == current or not (_releases(config) / previous).is_dir():
            raise AgentError(409, "no_previous", "there is no earlier release to go back to")
        _point(config, "previous", current)
        _point(config, "current", previous)
        _touch(config, previous)
        return {"changed": True, "sha256": previous, **_version(config, previous)}


def _version(config: AgentConfig, sha: str) -> dict:
    return {"version": _meta(config, sha).get("version", "")}


def health(config: AgentConfig) -> tuple[int, dict]:
    sha = _link_sha(config, "current")
    if not sha:
        return 503, {"status": "empty", "version": "", "sha256": ""}
    body = {"status": "ok", "sha256": sha, **_version(config, sha)}
    if config.app_health_url:
        try:
            # main() admits http(s) URLs only.
            with urllib.request.urlopen(config.app_health_url, timeout=5) as response:  # noqa: S310
                response.read(MAX_BODY)
        except urllib.error.HTTPError as exc:
            return 503, {**body, "status": "unhealthy", "detail": f"app answered {exc.code}"}
        except (urllib.error.URLError, OSError) as exc:
            return 503, {**body, "status": "unhealthy", "detail": f"app unreachable: {exc}"}
    return 200, body


def status(config: AgentConfig) -> dict:
    current = _link_sha(config, "current")
    previous = _link_sha(config, "previous")
    folder = _releases(config)
    unpacked = (
        sorted(p.name for p in folder.iterdir() if SHA256.match(p.name)) if folder.is_dir() else []
    )
    return {
        "agent_version": AGENT_VERSION,
        "current": {"sha256": current, **_version(config, current)},
        "previous": {"sha256": previous, **_version(config, previous)},
        "releases": unpacked,
        "keep": config.keep,
    }


# ------------------------------------------------------------------ HTTP


class Handler(BaseHTTPRequestHandler):
    server_version = f"upkeep-agent/{AGENT_VERSION}"
    config: AgentConfig  # set on the subclass make_server builds

    def log_message(self, format, *args):
        if os.environ.get("UPKEEP_AGENT_QUIET") != "1":
            super().log_message(format, *args)

    def _send(self, status_code: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status_code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(data)

    def _authorised(self) -> bool:
        scheme, _, secret = self.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            return False
        offered = hashlib.sha256(secret.strip().encode()).hexdigest()
        return hmac.compare_digest(offered, self.config.token_sha256)

    def _body(self) -> dict:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length <= 0 or length > MAX_BODY:
            raise AgentError(400, "invalid_json", "send a JSON object body")
        try:
            data = json.loads(self.rfile.read(length))
        except (ValueError, UnicodeDecodeError):
            raise AgentError(400, "invalid_json", "the body is not valid JSON") from None
        if not isinstance(data, dict):
            raise AgentError(400, "invalid_json", "the body must be a JSON object")
        return data

    def _dispatch(self, method: str) -> None:
        path = self.path.split("?", 1)[0]
        try:
            if method == "GET" and path == self.config.health_path:
                self._send(*health(self.config))
                return
            routes = {
                ("POST", "/deploy"): lambda: deploy(self.config, self._body()),
                ("POST", "/rollback"): lambda: rollback(self.config, self._body()),
                ("GET", "/status"): lambda: status(self.config),
            }
            route = routes.get((method, path))
            if route is None:
                raise AgentError(404, "not_found", f"no {method} {path}")
            if not self._authorised():
                raise AgentError(401, "unauthorized", "send Authorization: Bearer <secret>")
            self._send(200, route())
        except AgentError as exc:
            self._send(exc.status, {"error": exc.code, "detail": exc.detail})
        except Exception as exc:  # the agent must answer, not drop the connection
            self._send(500, {"error": "internal", "detail": str(exc)})

    def do_GET(self):
        self._dispatch("GET")

    def do_POST(self):
        self._dispatch("POST")


def make_server(config: AgentConfig, host: str = "127.0.0.1", port: int = 0) -> ThreadingHTTPServer:
    config.root.mkdir(parents=True, exist_ok=True)
    handler = type("BoundHandler", (Handler,), {"config": config})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    return server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Upkeep deploy agent")
    parser.add_argument("--root", required=True, type=Path, help="folder the releases live in")
    parser.add_argument("--listen", default="127.0.0.1:8700", help="host:port to listen on")
    parser.add_argument(
        "--token-sha256",
        default=os.environ.get("UPKEEP_AGENT_TOKEN_SHA256", ""),
        help="SHA-256 (hex) of the host's secret, as shown on the fleet page",
    )
    parser.add_argument("--allow-origin", action="append", default=[], help="bundle URL prefix")
    parser.add_argument("--app-health-url", default="", help="the app's own health URL")
    parser.add_argument("--health-path", default="/health")
    parser.add_argument("--max-bundle-mb", type=int, default=100)
    parser.add_argument(
        "--keep",
        type=int,
        default=3,
        help="unpacked releases kept besides current (previous is always kept)",
    )
    args = parser.parse_args(argv)
    if args.keep < 0:
        parser.error("--keep must be 0 or more")
    if args.app_health_url and not args.app_health_url.startswith(("http://", "https://")):
        parser.error("--app-health-url must be an http(s) URL")
    if not SHA256.match(args.token_sha256 or ""):
        parser.error("--token-sha256 (or UPKEEP_AGENT_TOKEN_SHA256) must be 64 hex digits")
    host, _, port = args.listen.rpartition(":")
    config = AgentConfig(
        root=args.root.resolve(),
        token_sha256=args.token_sha256,
        allow_origins=tuple(args.allow_origin),
        app_health_url=args.app_health_url,
        health_path=args.health_path,
        max_bundle_bytes=args.max_bundle_mb * 1024 * 1024,
        keep=args.keep,
    )
    server = make_server(config, host or "127.0.0.1", int(port))
    print(f"upkeep-agent listening on {server.server_address}", file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
