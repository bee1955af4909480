"""The update endpoint's resolution: "which version should this client run?".

Two layers:

* ``plan(channel, runtime, current)`` (database) walks the channel's releases newest → oldest and
  keeps the candidates newer than ``current`` whose runtime range admits ``runtime``, each with
  its exposure (``releases.exposure``) and whether taking it skips a mandatory release.
* ``choose(plan, install_id, testers)`` (no database) picks the first candidate this install may
  have: everyone, a tester on the allowlist, or a bucket inside a rollout's cohort.

``answer`` glues them with the cache: plans are cached per (generation, channel, runtime,
current), the key built only from normalised parameters (never the install id), and the cohort is
chosen after the lookup. In steady state an update check reads two cache entries (three with
the channel's feature-flag states, see ``_flags``) and one small file (the generation) and makes
no database query.

Reasons: UPDATE_AVAILABLE, MANDATORY, TESTER, ROLLOUT_MATCH, ROLLOUT_EXCLUDED, TESTERS_ONLY,
AWAITING_ROLLOUT (the newer release waits for its rollout on a ``rollout``-gated channel),
UP_TO_DATE, NO_COMPATIBLE, NO_RELEASE, ROLLED_BACK (a rollback release, or the stable release
for a client running a release whose rollout was aborted or superseded).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from django.core.cache import cache
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from releases import bucketing, exposure, generation
from releases.models import Channel, Release
from releases.versioning import Version, in_range, newest_first, parse, parse_loose

CACHE_SECONDS = 3600  # the generation invalidates; the timeout only reclaims memory
# A per-process copy in front of the shared cache: it saves unpickling the same plan on every
# request. Keys carry the generation, so stale entries are never read, only dropped when full.
_local: dict[str, object] = {}
LOCAL_MAX = 4096


def clear_local() -> None:
    _local.clear()


def _memo(key: str, compute):
    """The value for ``key`` from this process, the shared cache, or ``compute()`` (None is not
    cached)."""
    value = _local.get(key)
    if value is not None:
        return value
    value = cache.get(key)
    if value is None:
        value = compute()
        if value is None:
            return None
        cache.set(key, value, CACHE_SECONDS)
    if len(_local) >= LOCAL_MAX:
        _local.clear()
    _local[key] = value
    return value


def channel_salt(app_slug: str, channel_name: str) -> str:
    """The salt of the ``bucket`` answered when no rollout names its own."""
    return f"{app_slug}/{channel_name}"


def bundle_url(sha256: str) -> str:
    return reverse("api_releases:bundle", args=[sha256])


def _candidate(release: Release, exp: exposure.Exposure, mandatory: bool) -> dict:
    return {
        "version": release.version,
        "url": bundle_url(release.bundle_sha256),
        "sha256": release.bundle_sha256,
        "size": release.bundle_size,
        "mandatory": mandatory,
        "audience": exp.audience,
        "percent": exp.percent,
        "salt": exp.salt,
        "reason_in": exp.reason_in,
        "reason_out": exp.reason_out,
    }


def _downgrade(channel: Channel, releases: list, runtime: Version, current: Version):
    """The stable release for a client running a withdrawn release (disabled, or its rollout on
    this channel aborted or superseded): the newest older release everyone may have, else (a
    ``rollout``-gated channel that let no older release out yet, e.g. the withdrawn one was its
    first rollout) the newest older one awaiting its rollout, else None."""
    mine = next((r for r in releases if parse(r.version) == current), None)
    if mine is None:  # a disabled release is withdrawn too: its clients go back as well
        disabled = Release.objects.for_channel(channel).filter(disabled_at__isnull=False)
        mine = next((r for r in disabled.only("version") if parse(r.version) == current), None)
        if mine is None:
            return None
    elif not exposure.exposures(channel, [mine])[mine.pk].withdrawn:
        return None
    older = [
        r for r in releases if parse(r.version) < current and in_range(runtime, r.runtime_range)
    ]
    exposures = exposure.exposures(channel, older) if older else {}
    target = next((r for r in older if exposures[r.pk].audience == "everyone"), None) or next(
        (r for r in older if exposures[r.pk].reason_out == "AWAITING_ROLLOUT"), None
    )
    if target is None:
        return None
    return _candidate(target, exposure.Exposure("everyone", reason_in="ROLLED_BACK"), True)


def plan(channel: Channel, runtime: Version, current: Version) -> dict:
    # The analysis document can be large and is never needed here.
    releases = newest_first(Release.objects.for_channel(channel).enabled().defer("analysis"))
    if not releases:
        return {
            "candidates": [],
            "reason": "NO_RELEASE",
            "detail": "the channel has no release; run the embedded bundle",
        }
    downgrade = _downgrade(channel, releases, runtime, current)
    tail = [downgrade] if downgrade else []
    newer = [r for r in releases if parse(r.version) > current]
    if not newer:
        return {
            "candidates": tail,
            "reason": "UP_TO_DATE",
            "detail": f"{current} is the newest release for this client",
        }
    compatible = [r for r in newer if in_range(runtime, r.runtime_range)]
    if not compatible:
        return {
            "candidates": tail,
            "reason": "NO_COMPATIBLE",
            "detail": f"no newer release supports runtime {runtime}",
        }
    exposures = exposure.exposures(channel, compatible)
    # A rollback release (a new record serving an old bundle) tells clients running the bad
    # release, or anything newer, that they are going back.
    rolled_back = (
        dict(
            Release.objects.filter(
                pk__in={r.rollback_of_id for r in compatible if r.rollback_of_id}
            ).values_list("pk", "version")
        )
        if any(r.rollback_of_id for r in compatible)
        else {}
    )
    candidates = []
    for release in compatible:
        v = parse(release.version)
        # Taking this release skips every enabled release between current and it.
        mandatory = any(r.mandatory for r in newer if parse(r.version) <= v)
        exp = exposures[release.pk]
        bad = rolled_back.get(release.rollback_of_id)
        if bad is not None and current >= parse(bad):
            exp = replace(exp, reason_in="ROLLED_BACK")
        candidates.append(_candidate(release, exp, mandatory))
    return {
        "candidates": candidates + tail,
        "reason": "UP_TO_DATE",
        "detail": f"{current} is the newest release available to this client",
    }


def choose(plan: dict, install_id: str | None, testers: frozenset | set) -> dict:
    """The answer for one install (no database)."""
    held_back = None
    is_tester = bool(install_id) and install_id in testers
    for c in plan["candidates"]:
        audience = c["audience"]
        if audience == "everyone":
            reason = c["reason_in"]
        elif is_tester and audience != "nobody":
            reason = "TESTER"
        elif audience == "cohort" and bucketing.in_cohort(c["salt"], install_id, c["percent"]):
            reason = c["reason_in"]
        else:
            held_back = held_back or c
            continue
        return {
            "version": c["version"],
            "url": c["url"],
            "sha256": c["sha256"],
            "size": c["size"],
            "mandatory": c["mandatory"],
            # A rollback says so even though it is mandatory.
            "reason": "MANDATORY" if c["mandatory"] and reason != "ROLLED_BACK" else reason,
        }
    if held_back is not None:
        return {
            "version": None,
            "url": None,
            "sha256": None,
            "size": None,
            "mandatory": False,
            "reason": held_back["reason_out"] or "ROLLOUT_EXCLUDED",
        }
    return {
        "version": None,
        "url": None,
        "sha256": None,
        "size": None,
        "mandatory": False,
        "reason": plan["reason"],
    }


def answer_bucket(plan: dict, install_id: str | None, default_salt: str) -> int | None:
    """The bucket of the newest rollout candidate, else the channel's own salt."""
    salt = next((c["salt"] for c in plan["candidates"] if c["audience"] == "cohort"), default_salt)
    return bucketing.bucket(salt, install_id)


class UnknownKey(LookupError):
    pass


def _lookup_channel(key: str) -> dict | None:
    channel = (
        Channel.objects.select_related("app")
        .filter(Q(client_key=key) | Q(previous_client_key=key))
        .first()
    )
    if channel is None:
        return None
    return {
        "id": channel.pk,
        "app": channel.app.slug,
        "name": channel.name,
        "testers": frozenset(channel.tester_install_ids),
        "expires": (channel.previous_key_expires_at if channel.client_key != key else None),
    }


def channel_for_key(key: str, gen: str) -> dict | None:
    """The channel a client key names (current, or the previous one with its expiry), cached."""
    return _memo(f"releases:key:{gen}:{key}", lambda: _lookup_channel(key))


def answer(
    *,
    key: str,
    runtime: Version,
    current: Version,
    install_id: str | None,
    now: datetime | None = None,
) -> dict:
    """The update answer; UnknownKey when the key names no channel (or its grace is over).

    ``runtime`` and ``current`` are normalised version texts (``versioning.normalise``): they
    are part of the cache key.
    """
    gen = generation.current()
    channel = channel_for_key(key, gen)
    if channel is None or (
        channel["expires"] is not None and (now or timezone.now()) >= channel["expires"]
    ):
        raise UnknownKey(key)
    plan_key = f"releases:plan:{gen}:{channel['id']}:{runtime}:{current}"
    cached = _memo(
        plan_key,
        lambda: plan(
            Channel.objects.select_related("app").get(pk=channel["id"]),
            parse_loose(runtime),
            parse(current),
        ),
    )
    result = choose(cached, install_id, channel["testers"])
    result["bucket"] = answer_bucket(
        cached, install_id, channel_salt(channel["app"], channel["name"])
    )
    result["flags"] = _flags(gen, channel["id"], install_id, current)  # flags app hook
    return result


# --- feature flags (the flags app; see flags/README.md) ----------------------------------------
# The channel's flag states are cached beside the plans under the same generation (every flag
# change bumps it); each install is evaluated from them without a database query.


def _flags(gen: str, channel_id: int, install_id: str | None, current: str) -> dict:
    from flags.evaluation import evaluate_all, states_for_channel

    states = _memo(f"flags:states:{gen}:{channel_id}", lambda: states_for_channel(channel_id))
    return evaluate_all(states, install_id, current) if states else {}
