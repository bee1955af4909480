"""Ratings: good ≤ first threshold, poor > second, a value on a boundary gets the better one."""

from __future__ import annotations

import pytest

from monitoring import histogram
from performance.fielddata import NOT_ENOUGH, rate, rate_bucket, vital_from_histogram


@pytest.mark.parametrize(
    ("name", "good", "poor"),
    [
        ("LCP", 2500, 4000),
        ("INP", 200, 500),
        ("CLS", 0.1, 0.25),
        ("FCP", 1800, 3000),
        ("TTFB", 800, 1800),
    ],
)
def test_boundaries_get_the_better_rating(name, good, poor):
    assert rate(name, good) == "good"
    assert rate(name, good * 1.0001) == "needs improvement"
    assert rate(name, poor) == "needs improvement"
    assert rate(name, poor * 1.0001) == "poor"


def test_zero_is_good():
    assert rate("CLS", 0) == "good"
    assert rate_bucket("CLS", histogram.ZERO_BUCKET) == "good"


def test_a_bucket_holding_the_boundary_gets_the_better_rating():
    assert rate_bucket("LCP", histogram.bucket_of(2500)) == "good"
    assert rate_bucket("LCP", histogram.bucket_of(4000)) == "needs improvement"


def test_a_bucket_clear_of_the_boundary_is_rated_like_its_values():
    assert rate_bucket("LCP", histogram.bucket_of(2700)) == "needs improvement"
    assert rate_bucket("LCP", histogram.bucket_of(4300)) == "poor"
    assert rate_bucket("INP", histogram.bucket_of(150)) == "good"


def test_too_few_samples_is_not_enough_data_never_good():
    hist = {histogram.bucket_of(100): 5}
    vital = vital_from_histogram("LCP", hist, 20)
    assert vital.rating == NOT_ENOUGH
    assert vital.tone == "unknown"


def test_enough_samples_are_rated():
    vital = vital_from_histogram("LCP", {histogram.bucket_of(100): 20}, 20)
    assert vital.rating == "good"
    assert vital.samples == 20
