import re
from pathlib import Path

from releases.bucketing import bucket, in_cohort

API_DOC = Path(__file__).resolve().parents[2] / "releases" / "API.md"
VECTOR = re.compile(r"^\|\s*`([^`]*)`\s*\|\s*`([^`]*)`\s*\|\s*(\d+)\s*\|$")


def _vectors():
    return [
        VECTOR.match(line).groups()
        for line in API_DOC.read_text().splitlines()
        if VECTOR.match(line)
    ]


def test_the_published_vectors_are_at_least_twenty():
    assert len(_vectors()) >= 20


def test_every_published_vector_matches_the_function():
    mismatches = [(s, u, bp) for s, u, bp in _vectors() if bucket(s, u) != int(bp)]
    assert mismatches == []


def test_buckets_stay_within_basis_points():
    values = [bucket("salt", f"install-{i}") for i in range(2000)]
    assert min(values) >= 0
    assert max(values) <= 9999


def test_cohorts_are_nested_for_one_salt():
    ids = [f"i{n}" for n in range(3000)]
    five = {i for i in ids if in_cohort("r1", i, 5)}
    quarter = {i for i in ids if in_cohort("r1", i, 25)}
    assert five <= quarter
    assert 0.2 < len(quarter) / len(ids) < 0.3


def test_no_install_id_is_never_in_a_cohort():
    assert bucket("salt", None) is None
    assert not in_cohort("salt", "", 100)


def test_zero_percent_holds_nobody_and_hundred_holds_everyone():
    assert not any(in_cohort("s", f"i{n}", 0) for n in range(500))
    assert all(in_cohort("s", f"i{n}", 100) for n in range(500))
