import pytest

from releases.versioning import (
    VersionError,
    check_range,
    in_range,
    newest_first,
    next_versions,
    parse,
    parse_loose,
)


class V:
    def __init__(self, version):
        self.version = version


def test_prereleases_sort_below_their_release_by_semver_rules():
    ordered = [
        v.version
        for v in newest_first(
            V(x)
            for x in ["1.0.0", "1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-beta", "0.9.9", "1.0.0-rc.1"]
        )
    ]
    assert ordered == ["1.0.0", "1.0.0-rc.1", "1.0.0-beta", "1.0.0-alpha.1", "1.0.0-alpha", "0.9.9"]


def test_ordering_is_numeric_not_textual():
    assert [v.version for v in newest_first([V("1.9.0"), V("1.10.0")])] == ["1.10.0", "1.9.0"]


@pytest.mark.parametrize("text", ["1.0", "v1.0.0", "01.0.0", "1.0.0.0", "", "latest"])
def test_strict_parsing_refuses_what_is_not_semver(text):
    with pytest.raises(VersionError):
        parse(text)


def test_runtimes_may_omit_minor_and_patch():
    assert str(parse_loose("2")) == "2.0.0"
    assert str(parse_loose("2.1")) == "2.1.0"


def test_next_versions_bump_each_part_from_the_latest():
    assert next_versions("1.2.3") == {"major": "2.0.0", "minor": "1.3.0", "patch": "1.2.4"}
    assert next_versions(None)["major"] == "1.0.0"


def test_the_next_version_after_a_prerelease_is_its_release():
    assert next_versions("1.3.0-rc.1") == {"major": "2.0.0", "minor": "1.3.0", "patch": "1.3.0"}


@pytest.mark.parametrize(
    ("runtime", "range_", "expected"),
    [
        ("2.5.0", ">=2.1.0 <3", True),
        ("3.0.0", ">=2.1.0 <3", False),
        ("2.0.9", ">=2.1.0, <3.0.0", False),
        ("2.9.9", "^2.1.0", True),
        ("3.0.0", "^2.1.0", False),
        ("0.3.9", "^0.3.1", True),
        ("0.4.0", "^0.3.1", False),
        ("2.1.7", "~2.1.0", True),
        ("2.2.0", "~2.1.0", False),
        ("2.7.1", "2.x", True),
        ("3.1.0", "^1.0.0 || ^3.0.0", True),
        ("2.1.0", "^1.0.0 || ^3.0.0", False),
        ("9.9.9", "", True),
        ("9.9.9", "*", True),
        ("2.1.3", "2.1.3", True),
        ("2.1.4", "!=2.1.4", False),
    ],
)
def test_runtime_ranges_follow_semver_comparison(runtime, range_, expected):
    assert in_range(parse_loose(runtime), range_) is expected


@pytest.mark.parametrize("text", [">=1.0 <<2", "abc", "^", ">=1.0 ||", "1.x.2"])
def test_malformed_ranges_are_refused(text):
    with pytest.raises(VersionError):
        check_range(text)
