"""Cohort bucketing: one function, pinned by the test vectors in releases/API.md.

    h  = murmur3_x86_32(utf8(salt + ":" + install_id), seed=0) as unsigned 32-bit
    bp = (h * 10000) >> 32          basis points 0..9999: no modulo bias, no floats
    in_cohort = bp < round(percent * 100)

For one salt the cohorts are nested (5% ⊆ 25% ⊆ 50%). No install id means no bucket: such a
client is never in a cohort. The JS SDK (issue 4) must reproduce the vectors exactly.
"""

from __future__ import annotations

import mmh3

BASIS_POINTS = 10_000


def bucket(salt: str, install_id: str | None) -> int | None:
    """The install's basis point (0..9999) for ``salt``; None when there is no install id."""
    if not install_id:
        return None
    h = mmh3.hash(f"{salt}:{install_id}".encode(), 0, signed=False)
    return (h * BASIS_POINTS) >> 32


def threshold(percent: float) -> int:
    """Basis points below which a bucket is in a cohort of ``percent`` % (0.01% resolution)."""
    return max(0, min(BASIS_POINTS, round(percent * 100)))


def in_cohort(salt: str, install_id: str | None, percent: float) -> bool:
    bp = bucket(salt, install_id)
    return bp is not None and bp < threshold(percent)
