"""Severity of an OSV record: the database's own label when it gives one, else the CVSS v3 base
score computed from the vector, else "unknown" (never guessed).

The CVSS v3.x base score is the specification's formula (FIRST, CVSS v3.1 section 7.1) with its
``Roundup``; CVSS v2 and v4 vectors are not scored (their records stay "unknown" unless the
database labels them).
"""

from __future__ import annotations

import math

LABELS = {
    "critical": "critical",
    "high": "high",
    "moderate": "medium",
    "medium": "medium",
    "low": "low",
}

_AV = {"N": 0.85, "A": 0.62, "L": 0.55, "P": 0.2}
_AC = {"L": 0.77, "H": 0.44}
_PR_U = {"N": 0.85, "L": 0.62, "H": 0.27}
_PR_C = {"N": 0.85, "L": 0.68, "H": 0.5}
_UI = {"N": 0.85, "R": 0.62}
_CIA = {"H": 0.56, "L": 0.22, "N": 0.0}


def _roundup(value: float) -> float:
    as_int = round(value * 100000)
    if as_int % 10000 == 0:
        return as_int / 100000.0
    return (math.floor(as_int / 10000) + 1) / 10.0


def cvss3_score(vector: str) -> float | None:
    """The base score of a ``CVSS:3.0/…`` or ``CVSS:3.1/…`` vector; None if it is not one."""
    parts = (vector or "").strip().split("/")
    if not parts or parts[0] not in ("CVSS:3.0", "CVSS:3.1"):
        return None
    metrics = {}
    for part in parts[1:]:
        name, _, value = part.partition(":")
        metrics[name] = value
    try:
        scope_changed = {"U": False, "C": True}[metrics["S"]]
        av, ac, ui = _AV[metrics["AV"]], _AC[metrics["AC"]], _UI[metrics["UI"]]
        pr = (_PR_C if scope_changed else _PR_U)[metrics["PR"]]
        c, i, a = _CIA[metrics["C"]], _CIA[metrics["I"]], _CIA[metrics["A"]]
    except KeyError:
        return None
    iss = 1 - (1 - c) * (1 - i) * (1 - a)
    impact = 7.52 * (iss - 0.029) - 3.25 * (iss - 0.02) ** 15 if scope_changed else 6.42 * iss
    exploitability = 8.22 * av * ac * pr * ui
    if impact <= 0:
        return 0.0
    if scope_changed:
        return _roundup(min(1.08 * (impact + exploitability), 10))
    return _roundup(min(impact + exploitability, 10))


def from_score(score: float) -> str:
    if score >= 9.0:
        return "critical"
    if score >= 7.0:
        return "high"
    if score >= 4.0:
        return "medium"
    return "low"


def _label(value) -> str | None:
    if isinstance(value, str):
        return LABELS.get(value.strip().lower())
    return None


def of_record(doc: dict) -> str:
    """Severity of one OSV document (see the module docstring for the order)."""
    label = _label((doc.get("database_specific") or {}).get("severity"))
    if label:
        return label
    for affected in doc.get("affected") or []:
        for key in ("database_specific", "ecosystem_specific"):
            label = _label((affected.get(key) or {}).get("severity"))
            if label:
                return label
    scores = []
    for entry in doc.get("severity") or []:
        if isinstance(entry, dict) and entry.get("type") == "CVSS_V3":
            score = cvss3_score(str(entry.get("score", "")))
            if score is not None:
                scores.append(score)
    if scores:
        return from_score(max(scores))
    return "unknown"
