"""Writing rollups directly (as the ingest path would have) for analysis tests and benches."""

from __future__ import annotations

from collections.abc import Iterable

from monitoring import histogram
from monitoring.rollups import Deltas


def seed(channel, version, minute, *, device="", **metrics):
    """seed(ch, "1.0.0", minute, launch=1000, crash=12, api=(500, 7)) adds rollup counts.

    A metric given as a tuple is (count, errors); ``LCP=[1800, 2100, ...]`` adds values to the
    vital's counters and histogram.
    """
    deltas = Deltas()
    for metric, spec in metrics.items():
        key = (channel.pk, version, metric, minute, device)
        if isinstance(spec, tuple):
            deltas.add(key, count=spec[0], errors=spec[1])
        elif isinstance(spec, Iterable):
            for value in spec:
                deltas.add(key, total=value, bucket=histogram.bucket_of(value))
        else:
            deltas.add(key, count=spec)
    deltas.apply()
