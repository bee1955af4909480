"""A fleet of simulated clients talking to the real HTTP endpoints.

Each install asks ``/api/v1/update``, downloads the offered bundle (checking its SHA-256),
installs it (or fails to, at ``--install-failure-rate``; a failed hash is never retried, as the
SDK contract says), and reports telemetry to ``/api/v1/telemetry``: launches, crashes, errors,
LCP/INP vitals and API calls, with per-version health::

    manage.py simulate_clients --key ck_... --installs 2000 --rounds 30 --interval 10 \\
        --crash-rate 0.002 --crash-rate 1.4.0=0.05 --lcp 1800 --lcp 1.4.0=2600

A rate given as ``VERSION=R`` applies to that version, a bare ``R`` to every other one.
"""

from __future__ import annotations

import hashlib
import json
import random
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError


class Health:
    """A number per version (``VERSION=R``) with a default (``R``)."""

    def __init__(self, specs: list[str], default: float):
        self.default, self.per_version = default, {}
        for spec in specs or []:
            version, _, value = spec.rpartition("=")
            try:
                number = float(value)
            except ValueError:
                raise CommandError(f"not a number: {spec!r}") from None
            if version:
                self.per_version[version] = number
            else:
                self.default = number

    def __call__(self, version: str) -> float:
        return self.per_version.get(version, self.default)


@dataclass
class Install:
    install_id: str
    version: str
    failed_hashes: set[str] = field(default_factory=set)


@dataclass
class Totals:
    """Counters shared by the worker threads (updated under ``lock``)."""

    checks: int = 0
    downloads: int = 0
    installs: int = 0
    install_failures: int = 0
    launches: dict[str, int] = field(default_factory=dict)
    crashes: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add_error(self, text: str) -> None:
        with self.lock:
            self.errors.append(text)

    def add(self, name: str, n: int = 1, version: str | None = None) -> None:
        with self.lock:
            if version is None:
                setattr(self, name, getattr(self, name) + n)
            else:
                counts = getattr(self, name)
                counts[version] = counts.get(version, 0) + n


class Command(BaseCommand):
    help = "Simulate N clients: update checks, bundle downloads and telemetry over real HTTP."

    def add_arguments(self, parser):
        parser.add_argument("--key", required=True, help="the channel's client key")
        parser.add_argument("--installs", type=int, default=100)
        parser.add_argument("--url", default=settings.SITE_URL, help="the console's base URL")
        parser.add_argument("--from-version", default="1.0.0", help="the embedded bundle version")
        parser.add_argument("--runtime", default="2.0.0")
        parser.add_argument("--prefix", default="sim", help="install ids are PREFIX-<n>")
        parser.add_argument("--rounds", type=int, default=1)
        parser.add_argument("--interval", type=float, default=0.0, help="seconds between rounds")
        parser.add_argument("--sessions", type=int, default=3, help="launches per round")
        parser.add_argument("--crash-rate", action="append", default=[], metavar="[V=]R")
        parser.add_argument("--error-rate", action="append", default=[], metavar="[V=]R")
        parser.add_argument("--install-failure-rate", action="append", default=[], metavar="[V=]R")
        parser.add_argument("--api-error-rate", action="append", default=[], metavar="[V=]R")
        parser.add_argument("--lcp", action="append", default=[], metavar="[V=]MS")
        parser.add_argument("--inp", action="append", default=[], metavar="[V=]MS")
        parser.add_argument("--workers", type=int, default=8)
        parser.add_argument("--seed", type=int, default=None)

    def handle(self, *args, **options):
        if options["installs"] < 1 or options["rounds"] < 1:
            raise CommandError("--installs and --rounds must be at least 1")
        self.base = options["url"].rstrip("/")
        if urllib.parse.urlsplit(self.base).scheme not in ("http", "https"):
            raise CommandError("--url must be an http:// or https:// address")
        self.key = options["key"]
        self.options = options
        self.health = {
            "crash": Health(options["crash_rate"], 0.002),
            "error": Health(options["error_rate"], 0.01),
            "install_failure": Health(options["install_failure_rate"], 0.0),
            "api_error": Health(options["api_error_rate"], 0.002),
            "lcp": Health(options["lcp"], 1800.0),
            "inp": Health(options["inp"], 120.0),
        }
        self.random = random.Random(options["seed"])
        fleet = [
            Install(f"{options['prefix']}-{n}", options["from_version"])
            for n in range(options["installs"])
        ]
        totals = Totals()
        for round_number in range(options["rounds"]):
            seeds = [self.random.random() for _ in fleet]
            with ThreadPoolExecutor(max_workers=max(1, options["workers"])) as pool:
                list(
                    pool.map(lambda pair: self.step(*pair, totals), zip(fleet, seeds, strict=True))
                )
            versions: dict[str, int] = {}
            for install in fleet:
                versions[install.version] = versions.get(install.version, 0) + 1
            self.stdout.write(
                f"round {round_number + 1}: "
                + ", ".join(f"{v}: {n} installs" for v, n in sorted(versions.items()))
            )
            if round_number + 1 < options["rounds"] and options["interval"]:
                time.sleep(options["interval"])
        for version in sorted(totals.launches):
            self.stdout.write(
                f"{version}: {totals.launches[version]} launches, "
                f"{totals.crashes.get(version, 0)} crashes"
            )
        self.stdout.write(
            f"{totals.checks} update checks, {totals.downloads} downloads, {totals.installs} "
            f"installs, {totals.install_failures} install failures"
        )
        if totals.errors:
            raise CommandError(f"{len(totals.errors)} request(s) failed, first: {totals.errors[0]}")

    # --- one install, one round ---------------------------------------------------------------

    def _get(self, path_or_url: str, params: dict | None = None) -> bytes:
        url = path_or_url if "://" in path_or_url else self.base + path_or_url
        if params:
            url += "?" + urllib.parse.urlencode(params)
        with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310 - http(s) only
            return response.read()

    def _post_json(self, path: str, body: dict) -> None:
        request = urllib.request.Request(  # noqa: S310 - --url is checked to be http(s)
            f"{self.base}{path}",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            response.read()

    def step(self, install: Install, seed: float, totals: Totals) -> None:
        rng = random.Random(f"{install.install_id}:{seed}")
        try:
            self._update(install, rng, totals)
            self._telemetry(install, rng, totals)
        except (urllib.error.URLError, OSError, ValueError) as exc:
            totals.add_error(f"{install.install_id}: {exc}")

    def _update(self, install: Install, rng: random.Random, totals: Totals) -> None:
        answer = json.loads(
            self._get(
                "/api/v1/update",
                {
                    "key": self.key,
                    "current": install.version,
                    "runtime": self.options["runtime"],
                    "install_id": install.install_id,
                },
            )
        )
        totals.add("checks")
        if not answer.get("version") or answer["sha256"] in install.failed_hashes:
            return
        # The answer's URL starts with SITE_URL; the simulator talks to --url.
        data = self._get(urllib.parse.urlsplit(answer["url"]).path)
        totals.add("downloads")
        events = []
        if hashlib.sha256(data).hexdigest() != answer["sha256"]:
            install.failed_hashes.add(answer["sha256"])
            events.append({"type": "install_failed", "name": "sha256_mismatch"})
        elif rng.random() < self.health["install_failure"](answer["version"]):
            # Launched with the "is loading" mark, never called ready(): reverted.
            install.failed_hashes.add(answer["sha256"])
            events.append({"type": "install_failed", "name": "not_ready"})
            self._post_json(
                f"/api/v1/telemetry?key={urllib.parse.quote(self.key)}",
                {"install_id": install.install_id, "version": answer["version"], "events": events},
            )
            events = [{"type": "rolled_back", "name": answer["version"]}]
            totals.add("install_failures")
        else:
            install.version = answer["version"]
            events.append({"type": "install_ok"})
            totals.add("installs")
        self._post_json(
            f"/api/v1/telemetry?key={urllib.parse.quote(self.key)}",
            {"install_id": install.install_id, "version": install.version, "events": events},
        )

    def _telemetry(self, install: Install, rng: random.Random, totals: Totals) -> None:
        version = install.version
        events = []
        launches = crashes = 0
        for session in range(self.options["sessions"]):
            events.append({"type": "launch", "device": "mobile"})
            launches += 1
            if rng.random() < self.health["crash"](version):
                events.append({"type": "crash", "name": "SimulatedCrash"})
                crashes += 1
                continue
            if rng.random() < self.health["error"](version):
                events.append({"type": "error", "name": "SimulatedError"})
            events.append(
                {
                    "type": "vital",
                    "name": "LCP",
                    "value": round(rng.lognormvariate(0, 0.35) * self.health["lcp"](version), 1),
                    "id": f"lcp-{install.install_id}-{session}-{rng.randrange(10**9)}",
                    "device": "mobile",
                }
            )
            events.append(
                {
                    "type": "vital",
                    "name": "INP",
                    "value": round(rng.lognormvariate(0, 0.4) * self.health["inp"](version), 1),
                    "id": f"inp-{install.install_id}-{session}-{rng.randrange(10**9)}",
                    "device": "mobile",
                }
            )
            failed = rng.random() < self.health["api_error"](version)
            events.append(
                {
                    "type": "api",
                    "value": round(rng.uniform(40, 400), 1),
                    "status": 503 if failed else 200,
                    "route": "/api/cart",
                }
            )
        self._post_json(
            f"/api/v1/telemetry?key={urllib.parse.quote(self.key)}",
            {"install_id": install.install_id, "version": version, "events": events},
        )
        totals.add("launches", launches, version)
        totals.add("crashes", crashes, version)
