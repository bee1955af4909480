"""Semantic versions: strict parsing, ordering, the "next" numbers and runtime ranges.

Parsing is the ``semver`` library's (strict SemVer 2.0.0). Runtime ranges are a small, documented
grammar over it: comparators separated by spaces or commas, all of which must hold, and ``||``
between alternatives:

    ""  or  "*"           any runtime
    ">=2.1.0 <3.0.0"      every comparator must hold (ops: >= > <= < == !=; none means ==)
    "^2.1.0"              >=2.1.0 <3.0.0      (^0.3.1: >=0.3.1 <0.4.0)
    "~2.1.0"              >=2.1.0 <2.2.0
    "2.x" / "2.1.x"       >=2.0.0 <3.0.0 / >=2.1.0 <2.2.0
    "^1.0.0 || ^2.0.0"    either

Partial versions ("2", "2.1") are accepted in ranges and in a client's runtime and padded with
zeros.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable

import semver

Version = semver.Version


class VersionError(ValueError):
    pass


# Versions are immutable; the update endpoint parses the same few strings over and over.
@functools.lru_cache(maxsize=4096)
def parse(text: str) -> Version:
    """A strict semver version (``1.2.3``, ``1.2.3-beta.1+build.5``), or VersionError."""
    text = (text or "").strip()
    try:
        return Version.parse(text)
    except (ValueError, TypeError):
        raise VersionError(
            f"{text!r} is not a semantic version (MAJOR.MINOR.PATCH, e.g. 1.4.0 or 2.0.0-beta.1)"
        ) from None


@functools.lru_cache(maxsize=4096)
def parse_loose(text: str) -> Version:
    """Like ``parse`` but "2" and "2.1" are accepted (runtimes often report only major.minor)."""
    text = (text or "").strip()
    try:
        return Version.parse(text, optional_minor_and_patch=True)
    except (ValueError, TypeError):
        raise VersionError(f"{text!r} is not a version (e.g. 2, 2.1 or 2.1.3)") from None


@functools.lru_cache(maxsize=4096)
def normalise(text: str, *, loose: bool = False) -> str:
    """The canonical text of a version ("2.1" → "2.1.0" when ``loose``), or VersionError."""
    return str(parse_loose(text) if loose else parse(text))


def newest_first(releases: Iterable) -> list:
    """Objects with a ``version`` attribute, sorted newest first in semver order."""
    return sorted(releases, key=lambda r: parse(r.version), reverse=True)


def next_versions(latest: str | None) -> dict[str, str]:
    """The next major / minor / patch after ``latest`` (a pre-release bumps to its own release:
    the next patch after 1.3.0-rc.1 is 1.3.0)."""
    if not latest:
        return {"major": "1.0.0", "minor": "0.1.0", "patch": "0.0.1"}
    v = parse(latest)
    if v.prerelease:
        base = v.replace(prerelease=None, build=None)
        patch = str(base)
        minor = str(base) if base.patch == 0 else str(base.bump_minor())
        major = str(base) if base.patch == 0 and base.minor == 0 else str(base.bump_major())
        return {"major": major, "minor": minor, "patch": patch}
    return {
        "major": str(v.bump_major()),
        "minor": str(v.bump_minor()),
        "patch": str(v.bump_patch()),
    }


# --- runtime ranges --------------------------------------------------------------------------

_COMPARATOR = re.compile(r"^(>=|<=|>|<|==|=|!=|\^|~)?\s*(.+)$")
_OPS = {
    ">=": lambda a, b: a >= b,
    ">": lambda a, b: a > b,
    "<=": lambda a, b: a <= b,
    "<": lambda a, b: a < b,
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
}


def _expand(op: str, text: str) -> list[tuple[str, Version]]:
    parts = text.split(".")
    wildcard = [p.lower() in {"x", "*"} for p in parts]
    if any(wildcard):
        if op or not all(wildcard[wildcard.index(True) :]):
            raise VersionError(f"{text!r}: a wildcard must come last and stand alone")
        fixed = parts[: wildcard.index(True)]
        if not fixed:
            return []
        low = parse_loose(".".join(fixed))
        high = low.bump_major() if len(fixed) == 1 else low.bump_minor()
        return [(">=", low), ("<", high)]
    v = parse_loose(text)
    given = len(text.split("-")[0].split("+")[0].split("."))
    if op == "^":
        if v.major:
            high = v.bump_major()
        elif v.minor or given < 3:
            high = v.bump_minor() if given >= 2 else v.bump_major()
        else:
            high = v.bump_patch()
        return [(">=", v), ("<", high)]
    if op == "~":
        high = v.bump_minor() if given >= 2 else v.bump_major()
        return [(">=", v), ("<", high)]
    if not op or op in {"=", "=="}:
        if given < 3:  # "2.1" means any 2.1.x
            return [(">=", v), ("<", v.bump_minor() if given == 2 else v.bump_major())]
        return [("==", v)]
    return [(op, v)]


def parse_range(text: str) -> list[list[tuple[str, Version]]]:
    """A range as alternatives of comparator lists; VersionError when malformed."""
    text = (text or "").strip()
    if text in {"", "*"}:
        return [[]]
    alternatives = []
    for alternative in text.split("||"):
        # "> = 1.0" style spacing is not allowed; ">=1.0" and ">= 1.0" both are.
        tokens = re.findall(r"(?:>=|<=|==|!=|>|<|=|\^|~)?\s*[^\s,<>=!^~|]+", alternative)
        if not tokens:
            raise VersionError(f"{text!r}: an empty alternative")
        comparators: list[tuple[str, Version]] = []
        for token in tokens:
            match = _COMPARATOR.match(token.strip())
            if not match:
                raise VersionError(f"{token!r} is not a version comparator")
            comparators += _expand(match.group(1) or "", match.group(2).strip())
        leftover = re.sub(r"(?:>=|<=|==|!=|>|<|=|\^|~)?\s*[^\s,<>=!^~|]+|[\s,]", "", alternative)
        if leftover:
            raise VersionError(f"{text!r}: cannot read {leftover!r}")
        alternatives.append(comparators)
    return alternatives


def in_range(version: Version, range_text: str) -> bool:
    """Does ``version`` satisfy ``range_text``? (Malformed ranges never match.)"""
    try:
        alternatives = parse_range(range_text)
    except VersionError:
        return False
    return any(all(_OPS[op](version, bound) for op, bound in alt) for alt in alternatives)


def check_range(range_text: str) -> str:
    """The normalised range text (whitespace collapsed), or VersionError."""
    parse_range(range_text)
    return " ".join((range_text or "").split())
