"""Server-rendered SVG chart geometry (templates draw the rects; no inline styles, no JS).

``bars`` lays out horizontal bars, ``treemap`` a slice-and-dice treemap (packages as columns,
their files stacked inside), ``diverging`` the grown/shrunk bars of a diff.
"""

from __future__ import annotations

PALETTE = {"js": "#3f6fb5", "css": "#8a5cb8", "images": "#2f8f5b", "other": "#9a8a5a"}


def human(size: float) -> str:
    for unit in ("B", "KiB", "MiB"):
        if abs(size) < 1024 or unit == "MiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} MiB"


def bars(
    rows: list[tuple[str, int]],
    *,
    width: int = 420,
    row_height: int = 22,
    label_width: int = 130,
    limit: int | None = None,
) -> dict:
    """Rows (label, value) as bars scaled to the largest value (or ``limit`` if larger)."""
    top = max([v for _, v in rows] + [limit or 0, 1])
    span = width - label_width - 90
    items = []
    for i, (label, value) in enumerate(rows):
        items.append(
            {
                "label": label,
                "value": human(value),
                "y": i * row_height,
                "text_y": i * row_height + row_height * 0.7,
                "x": label_width,
                "width": max(1, round(span * value / top)) if value else 0,
                "value_x": label_width + max(1, round(span * value / top)) + 6,
                "over": limit is not None and value > limit,
            }
        )
    marker = None
    if limit:
        marker = label_width + round(span * limit / top)
    return {
        "width": width,
        "height": max(row_height, len(rows) * row_height),
        "items": items,
        "height_inner": len(rows) * row_height,
        "limit_x": marker,
        "row_height": row_height - 4,
    }


def treemap(files: list[dict], *, width: int = 720, height: int = 260) -> dict:
    """Packages side by side (width ∝ size), files stacked inside (height ∝ size)."""
    packages: dict[str, list[dict]] = {}
    for f in files:
        packages.setdefault(f["package"], []).append(f)
    total = sum(f["raw"] for f in files) or 1
    cells, headers, x = [], [], 0.0
    for name, members in sorted(packages.items(), key=lambda kv: -sum(f["raw"] for f in kv[1])):
        size = sum(f["raw"] for f in members)
        w = width * size / total
        headers.append({"name": name, "x": round(x, 1), "width": round(w, 1), "size": human(size)})
        y = 0.0
        for f in sorted(members, key=lambda f: -f["raw"]):
            h = height * f["raw"] / (size or 1)
            cells.append(
                {
                    "x": round(x, 1),
                    "y": round(y, 1),
                    "width": round(max(w - 1, 0), 1),
                    "height": round(max(h - 1, 0), 1),
                    "fill": PALETTE[f["type"]],
                    "title": f"{f['path']} · {human(f['raw'])}",
                    "label": f["path"] if h >= 14 and w >= 60 else "",
                    "text_x": round(x + 3, 1),
                    "text_y": round(y + 11, 1),
                }
            )
            y += h
        x += w
    return {"width": width, "height": height, "cells": cells, "packages": headers}


def diverging(
    change: dict | None, *, width: int = 560, row_height: int = 20, limit: int = 12
) -> dict | None:
    """Grown (right, red) and shrunk (left, green) files by byte delta, biggest first."""
    if not change:
        return None
    rows = [(e["path"], e["delta"]) for e in change["grown"] + change["shrunk"]]
    rows += [(f"added {e['path']}", e["raw"]) for e in change["added"]]
    rows += [(f"removed {e['path']}", -e["raw"]) for e in change["removed"]]
    rows = sorted(rows, key=lambda r: -abs(r[1]))[:limit]
    if not rows:
        return None
    top = max(abs(v) for _, v in rows) or 1
    middle = width // 2
    half = middle - 10
    items = []
    for i, (label, delta) in enumerate(rows):
        w = max(1, round(half * abs(delta) / top))
        items.append(
            {
                "label": label,
                "delta": ("+" if delta > 0 else "-") + human(abs(delta)),
                "y": i * row_height,
                "text_y": i * row_height + row_height * 0.7,
                "x": middle if delta > 0 else middle - w,
                "width": w,
                "fill": "#c0392b" if delta > 0 else "#2f8f5b",
            }
        )
    return {
        "width": width,
        "height": len(rows) * row_height,
        "middle": middle,
        "items": items,
        "row_height": row_height - 4,
    }
