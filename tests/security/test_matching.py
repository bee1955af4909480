"""Golden cases for our own version matching (PEP 440 for PyPI, SemVer for npm)."""

import pytest

from security import matching
from security.matching import InvalidVersion, is_affected


def semver_range(*events):
    return [{"type": "SEMVER", "events": list(events)}]


def eco_range(*events):
    return [{"type": "ECOSYSTEM", "events": list(events)}]


PYPI = [
    # (version, ranges, versions, affected)
    ("0.0.1", eco_range({"introduced": "0"}, {"fixed": "1.2.0"}), [], True),
    ("1.1.9", eco_range({"introduced": "0"}, {"fixed": "1.2.0"}), [], True),
    ("1.2.0", eco_range({"introduced": "0"}, {"fixed": "1.2.0"}), [], False),
    ("1.2", eco_range({"introduced": "0"}, {"fixed": "1.2.0"}), [], False),  # 1.2 == 1.2.0
    ("1.10.0", eco_range({"introduced": "1.2"}, {"fixed": "1.9.5"}), [], False),  # not string order
    ("1.0.0", eco_range({"introduced": "1.0.0"}, {"last_affected": "1.4.0"}), [], True),
    ("1.4.0", eco_range({"introduced": "1.0.0"}, {"last_affected": "1.4.0"}), [], True),
    ("1.4.1", eco_range({"introduced": "1.0.0"}, {"last_affected": "1.4.0"}), [], False),
    ("0.9", eco_range({"introduced": "1.0.0"}, {"last_affected": "1.4.0"}), [], False),
    # Multiple ranges in one range object and across objects.
    (
        "2.5",
        eco_range({"introduced": "1.0"}, {"fixed": "1.5"}, {"introduced": "2.0"}, {"fixed": "2.6"}),
        [],
        True,
    ),
    (
        "1.7",
        eco_range({"introduced": "1.0"}, {"fixed": "1.5"}, {"introduced": "2.0"}, {"fixed": "2.6"}),
        [],
        False,
    ),
    (
        "3.1",
        eco_range({"introduced": "1.0"}, {"fixed": "1.5"}) + eco_range({"introduced": "3.0"}),
        [],
        True,
    ),
    # Pre-releases sort before their release.
    ("2.0.0rc1", eco_range({"introduced": "0"}, {"fixed": "2.0.0"}), [], True),
    ("2.0.0.post1", eco_range({"introduced": "0"}, {"fixed": "2.0.0"}), [], False),
    ("2.0.0a1", eco_range({"introduced": "2.0.0"}), [], False),
    # versions[] only.
    ("1.3.0", [], ["1.2.0", "1.3.0"], True),
    ("1.3", [], ["1.2.0", "1.3.0"], True),
    ("1.3.1", [], ["1.2.0", "1.3.0"], False),
    # GIT ranges cannot speak for package versions.
    ("1.0", [{"type": "GIT", "events": [{"introduced": "0"}]}], [], False),
    # Unordered events are sorted first.
    ("1.5", eco_range({"fixed": "2.0"}, {"introduced": "1.0"}), [], True),
]

NPM = [
    ("1.2.3", semver_range({"introduced": "0"}, {"fixed": "1.2.4"}), [], True),
    ("1.2.4", semver_range({"introduced": "0"}, {"fixed": "1.2.4"}), [], False),
    ("1.2.4-beta.1", semver_range({"introduced": "0"}, {"fixed": "1.2.4"}), [], True),
    ("1.2.4-beta.1", semver_range({"introduced": "1.2.4"}), [], False),
    ("4.17.20", semver_range({"introduced": "4.0.0"}, {"last_affected": "4.17.20"}), [], True),
    ("4.17.21", semver_range({"introduced": "4.0.0"}, {"last_affected": "4.17.20"}), [], False),
    ("10.0.0", semver_range({"introduced": "9.0.0"}, {"fixed": "9.10.0"}), [], False),
    ("9.2.0", semver_range({"introduced": "9.0.0"}, {"fixed": "9.10.0"}), [], True),
    ("1.0.0", [], ["1.0.0"], True),
]


@pytest.mark.parametrize(("version", "ranges", "versions", "expected"), PYPI)
def test_pypi_golden_cases(version, ranges, versions, expected):
    assert is_affected("PyPI", version, ranges, versions) is expected


@pytest.mark.parametrize(("version", "ranges", "versions", "expected"), NPM)
def test_npm_golden_cases(version, ranges, versions, expected):
    assert is_affected("npm", version, ranges, versions) is expected


@pytest.mark.parametrize(
    ("ecosystem", "version"),
    [("PyPI", "not a version"), ("PyPI", ""), ("npm", "1.2"), ("npm", "latest"), ("npm", "^1.0.0")],
)
def test_an_invalid_installed_version_is_refused_not_matched(ecosystem, version):
    with pytest.raises(InvalidVersion):
        is_affected(ecosystem, version, eco_range({"introduced": "0"}), [])


def test_a_range_with_an_unparsable_event_is_ignored_and_counted():
    ranges = semver_range({"introduced": "0"}, {"fixed": "banana"})
    assert is_affected("npm", "1.0.0", ranges, []) is False
    assert matching.unusable_ranges("npm", ranges) == 1


def test_introduced_and_fixed_at_the_same_version_affect_nothing():
    assert (
        is_affected("PyPI", "1.0", eco_range({"introduced": "1.0"}, {"fixed": "1.0"}), []) is False
    )


def test_pypi_names_are_normalised_and_npm_names_kept():
    assert matching.normalise_name("PyPI", "Django_REST.framework") == "django-rest-framework"
    assert matching.normalise_name("npm", "@scope/Pkg") == "@scope/Pkg"
