from __future__ import annotations

from django import template

register = template.Library()


@register.filter
def pct(value, digits=2):
    """A 0-1 share as a percentage; None (no denominator) reads "no data"."""
    if value is None:
        return "no data"
    return f"{100 * value:.{int(digits)}f} %"


@register.filter
def vital(value, unit):
    """A p75 in its unit: "1,820 ms", "0.084" for CLS; None reads "no data"."""
    if value is None:
        return "no data"
    if unit == "ms":
        return f"{value:,.0f} ms"
    return f"{value:.3f}"
