"""Does an installed version fall inside an OSV ``affected[]`` entry? Decided here, offline.

PyPI versions compare with PEP 440 (``packaging.version``), npm versions with SemVer 2.0
(``semver``), pre-releases included in both orders (``2.0.0rc1 < 2.0.0``, ``1.0.0-beta <
1.0.0``). Ranges follow the OSV evaluation: events sorted by version, ``introduced`` opens,
``fixed`` closes (exclusive), ``last_affected`` closes after itself (inclusive); ``"0"`` means
"from the very first version". ``versions[]`` lists exact affected versions.

A version we cannot parse is never "not affected" by accident: ``parse`` raises
``InvalidVersion`` and the scan records the package as skipped. An event we cannot parse makes
its range unusable (ignored, and reported by ``unusable_ranges``).
"""

from __future__ import annotations

from typing import Any

import semver
from packaging import version as pep440
from packaging.utils import canonicalize_name

# Range types we can evaluate; GIT ranges (commit hashes) cannot be mapped to package versions.
RANGE_TYPES = {"ECOSYSTEM", "SEMVER"}


class InvalidVersion(ValueError):
    pass


class _Zero:
    """The ``introduced: "0"`` sentinel: below every version."""

    def __lt__(self, other):
        return not isinstance(other, _Zero)

    def __le__(self, other):
        return True

    def __gt__(self, other):
        return False

    def __ge__(self, other):
        return isinstance(other, _Zero)

    def __eq__(self, other):
        return isinstance(other, _Zero)

    def __hash__(self):
        return 0


ZERO = _Zero()


def normalise_name(ecosystem: str, name: str) -> str:
    return canonicalize_name(name) if ecosystem == "PyPI" else name.strip()


def parse(ecosystem: str, text: str) -> Any:
    """A comparable version, or InvalidVersion."""
    text = (text or "").strip()
    if ecosystem == "PyPI":
        try:
            return pep440.Version(text)
        except pep440.InvalidVersion:
            raise InvalidVersion(f"{text!r} is not a PEP 440 version") from None
    if ecosystem == "npm":
        candidate = text[1:] if text.startswith("v") else text
        try:
            return semver.Version.parse(candidate)
        except (ValueError, TypeError):
            raise InvalidVersion(f"{text!r} is not a SemVer version") from None
    raise InvalidVersion(f"unsupported ecosystem {ecosystem!r}")


def _event_version(ecosystem: str, text: str) -> Any:
    if str(text).strip() == "0":
        return ZERO
    return parse(ecosystem, str(text))


# Order of event kinds at the same version: open before close, so "introduced 1.0, fixed 1.0"
# affects nothing.
_KIND_ORDER = {"introduced": 0, "last_affected": 1, "fixed": 2}


def _sorted_events(ecosystem: str, events: list[dict]) -> list[tuple[Any, str]]:
    parsed = []
    for event in events:
        for kind in ("introduced", "fixed", "last_affected"):
            if kind in event:
                parsed.append((_event_version(ecosystem, event[kind]), kind))
    # Versions of one ecosystem are mutually comparable; ZERO sorts first.
    return sorted(
        parsed,
        key=_SortKey,
    )


class _SortKey:
    def __init__(self, item):
        self.version, self.kind = item

    def __lt__(self, other):
        if self.version == other.version:
            return _KIND_ORDER[self.kind] < _KIND_ORDER[other.kind]
        if isinstance(self.version, _Zero):
            return True
        if isinstance(other.version, _Zero):
            return False
        return self.version < other.version


def in_range(ecosystem: str, installed: Any, events: list[dict]) -> bool:
    """OSV's evaluation of one range for an already-parsed ``installed`` version."""
    affected = False
    for at, kind in _sorted_events(ecosystem, events):
        if isinstance(at, _Zero):
            # "0" only ever opens a range; a close at "0" would close before anything exists.
            affected = affected or kind == "introduced"
        elif kind == "introduced" and installed >= at:
            affected = True
        elif (kind == "fixed" and installed >= at) or (kind == "last_affected" and installed > at):
            affected = False
    return affected


def is_affected(ecosystem: str, version_text: str, ranges: list[dict], versions: list) -> bool:
    """True if ``version_text`` is affected. Raises InvalidVersion for an unparsable version."""
    installed = parse(ecosystem, version_text)
    for listed in versions or []:
        try:
            if parse(ecosystem, str(listed)) == installed:
                return True
        except InvalidVersion:
            if str(listed).strip() == version_text.strip():
                return True
    for spec in ranges or []:
        if spec.get("type") not in RANGE_TYPES:
            continue
        try:
            if in_range(ecosystem, installed, spec.get("events") or []):
                return True
        except InvalidVersion:
            continue  # an unusable range: see unusable_ranges
    return False


def unusable_ranges(ecosystem: str, ranges: list[dict]) -> int:
    """How many ranges cannot be evaluated (GIT type or unparsable events)."""
    count = 0
    for spec in ranges or []:
        if spec.get("type") not in RANGE_TYPES:
            count += 1
            continue
        try:
            _sorted_events(ecosystem, spec.get("events") or [])
        except InvalidVersion:
            count += 1
    return count


def fixed_versions(ranges: list[dict]) -> list[str]:
    seen: list[str] = []
    for spec in ranges or []:
        for event in spec.get("events") or []:
            if "fixed" in event and str(event["fixed"]) not in seen:
                seen.append(str(event["fixed"]))
    return seen
