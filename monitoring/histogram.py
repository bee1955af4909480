"""Fixed log-spaced histogram buckets (the DDSketch mapping) for latency-like values.

A positive value ``v`` falls into bucket ``i = ceil(log(v) / log(GAMMA))``, which covers
``(GAMMA**(i-1), GAMMA**i]``, with ``GAMMA = (1 + ALPHA) / (1 - ALPHA)``. The bucket's
representative value ``2 * GAMMA**i / (GAMMA + 1)`` is within a relative error of ``ALPHA`` (2 %)
of every value in the bucket, so a percentile read from the histogram is within 2 % of the exact
nearest-rank percentile of the values. The scheme is scale-free: milliseconds (LCP, INP, FCP,
TTFB, API latency) and the unitless CLS share it. Values below ``MIN_VALUE`` (CLS is often exactly
0) go to ``ZERO_BUCKET``, whose representative is 0. Indexes for 1e-4 ... 1e9 are -230 ... 518.

Changing ALPHA changes the meaning of stored bucket numbers: it would need a data migration.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

ALPHA = 0.02
GAMMA = (1 + ALPHA) / (1 - ALPHA)
_LOG_GAMMA = math.log(GAMMA)
MIN_VALUE = 1e-4
MAX_VALUE = 1e9
ZERO_BUCKET = -1000


def bucket_of(value: float) -> int:
    if value < MIN_VALUE:
        return ZERO_BUCKET
    value = min(value, MAX_VALUE)
    return math.ceil(math.log(value) / _LOG_GAMMA - 1e-12)


def representative(bucket: int) -> float:
    if bucket == ZERO_BUCKET:
        return 0.0
    return 2 * GAMMA**bucket / (GAMMA + 1)


def percentile(buckets: Iterable[tuple[int, int]], q: float) -> float | None:
    """Nearest-rank ``q`` percentile (0 < q <= 1) of a histogram given as (bucket, count) pairs.

    The exact nearest-rank percentile is the value of rank ``ceil(q * n)`` in sorted order; this
    returns its bucket's representative (within ALPHA of it). None for an empty histogram.
    Negative counts cannot occur in a consistent store; pairs with count <= 0 are skipped.
    """
    pairs = sorted((b, c) for b, c in buckets if c > 0)
    total = sum(c for _, c in pairs)
    if total == 0:
        return None
    rank = max(1, math.ceil(q * total - 1e-9))
    seen = 0
    for bucket, count in pairs:
        seen += count
        if seen >= rank:
            return representative(bucket)
    return representative(pairs[-1][0])
