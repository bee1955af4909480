"""Evaluation (pure): the order of the rules, pinned hash values, and the independence of the
variant hash from the cohort hash."""

from __future__ import annotations

from collections import Counter

import pytest

from flags.evaluation import VARIANT_SEED, evaluate, evaluate_all, variant_bucket, variant_for
from releases import bucketing

IDS = [f"install-{n}" for n in range(10_000)]


def state(**over) -> dict:
    base = {
        "key": "checkout",
        "killed": False,
        "min_version": "1.1.0",
        "percent": 100.0,
        "salt": "cohort-salt",
        "variant_salt": "variant-salt",
        "variants": [("on", 100)],
        "testers": {},
    }
    return base | over


# (variant_salt, install_id) -> basis point on the variant hash (seed VARIANT_SEED).
VARIANT_VECTORS = [
    ("v1", "install-1", 5360),
    ("v1", "install-2", 6063),
    ("v1", "device-001", 9133),
    ("k7Gh2", "AbCdEf-123_.:", 5281),
    ("", "a", 2319),
    ("ab", "ид-установки", 38),
]


@pytest.mark.parametrize(("salt", "install_id", "bp"), VARIANT_VECTORS)
def test_the_variant_hash_is_pinned(salt, install_id, bp):
    assert variant_bucket(salt, install_id) == bp


def test_the_variant_hash_is_not_the_cohort_hash():
    assert VARIANT_SEED != 0
    # Same text, different seed: different buckets (the cohort vector for ("", "a") is 9649).
    assert bucketing.bucket("", "a") == 9649 and variant_bucket("", "a") == 2319


def test_weights_pick_the_variant_by_cumulative_basis_points():
    variants = [("A", 50), ("B", 30), ("C", 20)]
    # "v1"/"install-1" is at 5360: past A (0..4999), inside B (5000..7999).
    assert variant_for(variants, "v1", "install-1") == "B"
    assert variant_for(variants, "v1", "device-001") == "C"  # 9133 >= 8000
    assert variant_for([("on", 100)], "v1", "device-001") == "on"


def test_golden_cases_in_rule_order():
    on = state(testers={"tester-1": "on"})
    assert evaluate(on, "anyone", "1.1.0") == "on"
    assert evaluate(on, "anyone", "1.2.0") == "on"
    # Below the minimum version, or no readable version: off.
    assert evaluate(on, "anyone", "1.0.9") is None
    assert evaluate(on, "anyone", "1.1.0-beta.1") is None
    assert evaluate(on, "anyone", None) is None
    # No install id: never in a cohort, never a tester.
    assert evaluate(on, None, "1.1.0") is None
    # 0 %: only testers.
    dark = state(percent=0.0, testers={"tester-1": "on"})
    assert evaluate(dark, "tester-1", "1.1.0") == "on"
    assert evaluate(dark, "anyone", "1.1.0") is None
    # A tester below the minimum version still lacks the code: off.
    assert evaluate(dark, "tester-1", "1.0.0") is None
    # The kill switch beats everything, testers included.
    killed = state(killed=True, testers={"tester-1": "on"})
    assert evaluate(killed, "tester-1", "1.1.0") is None
    assert evaluate(killed, "anyone", "1.1.0") is None


def test_a_tester_is_forced_to_their_variant_and_off_means_off():
    ab = state(variants=[("A", 50), ("B", 50)], testers={"t-a": "A", "t-b": "B", "t-off": "off"})
    assert evaluate(ab, "t-a", "1.1.0") == "A"
    assert evaluate(ab, "t-b", "1.1.0") == "B"
    ctrl = state(variants=[("off", 50), ("on", 50)], testers={"t-off": "off"})
    assert evaluate(ctrl, "t-off", "1.1.0") is None


def test_the_cohort_is_the_public_bucketing_function_with_the_flag_salt():
    s = state(percent=25.0)
    for install_id in IDS[:2000]:
        expected = bucketing.in_cohort("cohort-salt", install_id, 25.0)
        assert (evaluate(s, install_id, "1.1.0") is not None) == expected


def test_evaluate_all_lists_only_the_flags_that_are_on():
    states = [
        state(key="a"),
        state(key="b", killed=True),
        state(key="c", min_version="2.0.0"),
        state(key="d", variants=[("off", 100)]),
        state(key="e", variants=[("blue", 100)]),
    ]
    assert evaluate_all(states, "x", "1.1.0") == {"a": "on", "e": "blue"}
    assert evaluate_all((), "x", "1.1.0") == {}


def test_cohorts_are_monotonic_as_the_percentage_grows():
    previous: set[str] = set()
    for percent in (1, 5, 10, 25, 50, 75, 100):
        s = state(percent=float(percent))
        now_in = {i for i in IDS if evaluate(s, i, "1.1.0") is not None}
        assert previous <= now_in  # a client in at 10 % stays in at 25 %
        assert abs(len(now_in) - percent * 100) <= 250  # about percent % of 10k
        previous = now_in
    assert len(previous) == len(IDS)


def test_growing_the_percentage_never_changes_a_clients_variant():
    variants = [("A", 34), ("B", 33), ("C", 33)]
    at_10 = {i: evaluate(state(percent=10.0, variants=variants), i, "1.1.0") for i in IDS}
    at_60 = {i: evaluate(state(percent=60.0, variants=variants), i, "1.1.0") for i in IDS}
    assert all(at_60[i] == v for i, v in at_10.items() if v is not None)


def _split(ids, variants) -> dict[str, float]:
    counts = Counter(variant_for(variants, "variant-salt", i) for i in ids)
    return {name: counts[name] / len(ids) for name, _ in variants}


def test_the_variant_split_is_the_same_inside_and_outside_the_cohort():
    """Independence: 10k synthetic ids at 30 %. If the variant hash were the cohort hash (or
    correlated with it) the cohort would be mostly one variant; instead both halves show the
    weights within sampling tolerance (a binomial 4-sigma band)."""
    variants = [("A", 50), ("B", 30), ("C", 20)]
    inside = [i for i in IDS if bucketing.in_cohort("cohort-salt", i, 30.0)]
    outside = [i for i in IDS if not bucketing.in_cohort("cohort-salt", i, 30.0)]
    assert 2700 <= len(inside) <= 3300
    for group in (inside, outside):
        split = _split(group, variants)
        for name, weight in variants:
            p = weight / 100
            sigma = (p * (1 - p) / len(group)) ** 0.5
            assert abs(split[name] - p) <= 4 * sigma, (name, split[name], len(group))


def test_a_correlated_hash_would_fail_the_independence_check():
    """The check above has teeth: reusing the cohort hash for variants puts the whole 30 %
    cohort into variant A (its buckets are all below 3000, A covers 0..4999)."""
    inside = [i for i in IDS if bucketing.in_cohort("cohort-salt", i, 30.0)]
    same_hash = Counter("A" if bucketing.bucket("cohort-salt", i) < 5000 else "B/C" for i in inside)
    assert same_hash["A"] == len(inside)


def test_the_cohort_and_variant_buckets_are_uncorrelated():
    xs = [bucketing.bucket("cohort-salt", i) for i in IDS]
    ys = [variant_bucket("variant-salt", i) for i in IDS]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    cov = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
    vx = sum((x - mx) ** 2 for x in xs)
    vy = sum((y - my) ** 2 for y in ys)
    r = cov / (vx * vy) ** 0.5
    assert abs(r) < 0.04  # |r| of independent samples of 10k: sd 0.01
