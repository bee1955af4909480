"""Flag evaluation: which variant of a flag one install gets (pure, no database).

    evaluate(state, install_id, client_version) -> variant name, or None (off)

in this order:

1. the kill switch is on          -> off for everyone, testers included;
2. the client runs a version older than the flag's minimum (the release that ships it dark),
   or its version cannot be read -> off;
3. the install id is on the flag's tester allowlist -> its forced variant;
4. no install id                  -> off (never in a cohort, as for rollouts);
5. cohort: ``releases.bucketing.in_cohort(flag.salt, install_id, percent)`` (the public bucketing
   function, murmur3 seed 0) -> outside: off;
6. variant: a SECOND hash, independent of the first, picks the variant by weight:

       h  = murmur3_x86_32(utf8(variant_salt + ":" + install_id), seed=VARIANT_SEED)  unsigned
       bp = (h * 10000) >> 32                    0..9999
       the first variant whose cumulative weight x 100 exceeds bp

   Both the seed and the salt differ from the cohort hash, so an install's variant says nothing
   about whether (or how early) it entered the cohort: the variant split is the same inside and
   outside the cohort, and growing the percentage never changes anyone's variant. Cohorts stay
   nested (a client in at 10 % is in at 25 %) because step 5 is the rollout bucketing itself.

A variant named ``off`` is the in-cohort control group: it evaluates to off (None).
"""

from __future__ import annotations

from collections.abc import Iterable

import mmh3

from releases import bucketing
from releases.versioning import VersionError, parse

VARIANT_SEED = 0x2F1A6  # anything but the cohort hash's 0
OFF = "off"


def variant_bucket(variant_salt: str, install_id: str) -> int:
    """The install's basis point (0..9999) on the variant hash."""
    h = mmh3.hash(f"{variant_salt}:{install_id}".encode(), VARIANT_SEED, signed=False)
    return (h * bucketing.BASIS_POINTS) >> 32


def variant_for(variants: Iterable, variant_salt: str, install_id: str) -> str:
    """The weighted variant for ``install_id`` (weights are integer percents summing to 100)."""
    bp = variant_bucket(variant_salt, install_id)
    edge, last = 0, OFF
    for name, weight in _pairs(variants):
        edge += int(weight) * 100
        last = name
        if bp < edge:
            return name
    return last


def _pairs(variants) -> list[tuple[str, int]]:
    return [
        (v["name"], v["weight"]) if isinstance(v, dict) else (v[0], v[1]) for v in variants or ()
    ]


def _on(variant: str | None) -> str | None:
    return None if variant in (None, "", OFF) else variant


def too_old(client_version: str | None, min_version: str) -> bool:
    if not client_version:
        return True
    try:
        return parse(client_version) < parse(min_version)
    except VersionError:
        return True


def evaluate(state: dict, install_id: str | None, client_version: str | None) -> str | None:
    """The variant ``install_id`` running ``client_version`` gets, or None (off). ``state`` is
    a flag's ``state_of`` dict."""
    if state["killed"]:
        return None
    if too_old(client_version, state["min_version"]):
        return None
    if install_id and install_id in state["testers"]:
        return _on(state["testers"][install_id])
    if not install_id or not bucketing.in_cohort(state["salt"], install_id, state["percent"]):
        return None
    return _on(variant_for(state["variants"], state["variant_salt"], install_id))


def evaluate_all(states, install_id: str | None, client_version: str | None) -> dict[str, str]:
    """``{key: variant}`` for the flags that are on for this install (off flags are left out)."""
    out = {}
    for state in states:
        variant = evaluate(state, install_id, client_version)
        if variant is not None:
            out[state["key"]] = variant
    return out


def state_of(flag) -> dict:
    """What evaluation needs from a Flag row (cached with the update plan, pickled)."""
    return {
        "key": flag.key,
        "killed": bool(flag.killed),
        "min_version": flag.min_version,
        "percent": float(flag.percent),
        "salt": flag.salt,
        "variant_salt": flag.variant_salt,
        "variants": [(v["name"], int(v["weight"])) for v in flag.variants],
        "testers": dict(flag.testers or {}),
    }


def states_for_channel(channel_id: int) -> tuple:
    """Every flag of the channel, as evaluation states (an empty tuple when none)."""
    from flags.models import Flag

    return tuple(state_of(f) for f in Flag.objects.filter(channel_id=channel_id).order_by("key"))
