"""SQLite analysis: integrity, reclaimable space and duplicate / prefix-redundant indexes.

SQLite keeps no index-usage counters and no per-table modification counts, so "unused" and
"stale statistics" do not exist here; ``PRAGMA optimize`` is SQLite's own answer to the latter.
"""

from __future__ import annotations

import re

from dbhealth.targets import Db, quote

WHERE = re.compile(r"\bwhere\b(.*)$", re.IGNORECASE | re.DOTALL)


# What SQLite says when the file itself cannot be read as a database: that is the check's
# answer (the file is damaged), not a reason to skip it.
DAMAGED = ("malformed", "not a database", "corrupt")


def integrity(db: Db, *, full: bool, limit: int = 100) -> list[str]:
    pragma = "integrity_check" if full else "quick_check"
    try:
        return [row[0] for row in db.rows(f"PRAGMA {pragma}({int(limit)})")]
    except Exception as exc:
        if any(word in str(exc).lower() for word in DAMAGED):
            return [f"{pragma} stopped: {exc}"]
        raise


def space(db: Db) -> dict:
    page_size = db.one("PRAGMA page_size")
    pages = db.one("PRAGMA page_count")
    free = db.one("PRAGMA freelist_count")
    return {
        "page_size": page_size,
        "page_count": pages,
        "freelist_count": free,
        "reclaimable_bytes": free * page_size,
        "reclaimable_percent": round(free / pages * 100, 1) if pages else 0.0,
    }


def _sizes(db: Db) -> dict[str, int] | None:
    """Bytes per table/index from the dbstat virtual table, when SQLite was built with it."""
    try:
        rows = db.rows("SELECT name, sum(pgsize) FROM dbstat GROUP BY name")
    except Exception:  # no dbstat in this build: sizes are unknown, and shown as such
        return None
    return {name: int(size) for name, size in rows}


def _predicate(sql: str | None) -> str:
    if not sql:
        return ""
    found = WHERE.search(sql)
    return " ".join(found.group(1).split()).lower() if found else ""


def indexes(db: Db) -> tuple[list[dict], bool]:
    """Every index with its key columns, and whether sizes are known."""
    sizes = _sizes(db)
    sql_by_name = dict(db.rows("SELECT name, sql FROM sqlite_master WHERE type = 'index'"))
    tables = [
        row[0]
        for row in db.rows(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
            "ORDER BY name"
        )
    ]
    found = []
    for table in tables:
        for _seq, name, unique, origin, partial in db.rows(f"PRAGMA index_list({quote(table)})"):
            keys, included = [], []
            for _n, cid, column, desc, coll, key in db.rows(f"PRAGMA index_xinfo({quote(name)})"):
                entry = (cid, column or ("(expression)" if cid == -2 else "rowid"), desc, coll)
                (keys if key else included).append(entry)
            sql = sql_by_name.get(name)
            found.append(
                {
                    "table": table,
                    "name": name,
                    "unique": bool(unique),
                    "origin": origin,
                    "partial": bool(partial),
                    "predicate": _predicate(sql),
                    "keys": keys,
                    "columns": [k[1] for k in keys],
                    "expressions": any(k[0] == -2 for k in keys),
                    "definition": sql or "",
                    "size": None if sizes is None else sizes.get(name),
                    "verdicts": [],
                }
            )
    _mark_duplicates(found)
    for index in found:
        if not index["verdicts"]:
            index["verdicts"] = ["ok"]
        index["droppable"] = (
            index["origin"] == "c"
            and bool(index["definition"])
            and any(v.startswith(("duplicate", "redundant")) for v in index["verdicts"])
        )
        index["keys"] = [list(k) for k in index["keys"]]
    return found, sizes is not None


def _mark_duplicates(found: list[dict]) -> None:
    by_table: dict[str, list[dict]] = {}
    for index in found:
        by_table.setdefault(index["table"], []).append(index)

    def rank(index: dict) -> tuple:  # keep constraint-made, unique, then older (earlier name)
        return (index["origin"] == "c", not index["unique"], index["name"])

    for group in by_table.values():
        for a in group:
            for b in group:
                if a is b or a["verdicts"] or a["predicate"] != b["predicate"]:
                    continue
                if a["keys"] == b["keys"]:
                    if rank(a) > rank(b) and a["origin"] == "c":
                        a["verdicts"].append(f"duplicate of {b['name']}")
                    continue
                if (
                    not a["unique"]
                    and not a["expressions"]
                    and a["origin"] == "c"
                    and len(a["keys"]) < len(b["keys"])
                    and b["keys"][: len(a["keys"])] == a["keys"]
                ):
                    a["verdicts"].append(f"redundant: prefix of {b['name']}")


def problems(found: list[dict]) -> int:
    return sum(1 for index in found if index["verdicts"] != ["ok"])
