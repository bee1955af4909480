"""monitoring.histogram: log-spaced buckets with a 2 % relative error bound."""

from __future__ import annotations

import math
import random

from monitoring import histogram


def exact_nearest_rank(values, q):
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q * len(ordered))) - 1]


def hist_of(values):
    counts = {}
    for v in values:
        b = histogram.bucket_of(v)
        counts[b] = counts.get(b, 0) + 1
    return counts.items()


def test_every_value_is_within_two_percent_of_its_bucket_representative():
    rng = random.Random(4)
    values = [10 ** rng.uniform(-3, 6) for _ in range(5000)]
    worst = max(abs(histogram.representative(histogram.bucket_of(v)) - v) / v for v in values)
    assert worst <= histogram.ALPHA


def test_p75_of_a_lognormal_sample_is_within_the_stated_error():
    rng = random.Random(7)
    values = [rng.lognormvariate(7.5, 0.6) for _ in range(20_000)]  # LCP-like, ~1800 ms median
    exact = exact_nearest_rank(values, 0.75)
    estimate = histogram.percentile(hist_of(values), 0.75)
    assert abs(estimate - exact) / exact <= histogram.ALPHA


def test_p75_of_four_values_is_the_third_smallest():
    estimate = histogram.percentile(hist_of([100, 200, 300, 400]), 0.75)
    assert abs(estimate - 300) / 300 <= histogram.ALPHA


def test_zero_has_its_own_bucket_and_reads_back_as_zero():
    assert histogram.bucket_of(0.0) == histogram.ZERO_BUCKET
    assert histogram.percentile([(histogram.ZERO_BUCKET, 3)], 0.75) == 0.0


def test_an_empty_histogram_has_no_percentile():
    assert histogram.percentile([], 0.75) is None
    assert histogram.percentile([(12, 0)], 0.75) is None
