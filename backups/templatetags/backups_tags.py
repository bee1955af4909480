from django import template

register = template.Library()


@register.simple_tag
def sparkline(sizes, width: int = 100, height: int = 20) -> str:
    """SVG polyline points for a list of numbers (empty when there are fewer than two)."""
    if not sizes or len(sizes) < 2:
        return ""
    top = max(sizes) or 1
    step = width / (len(sizes) - 1)
    return " ".join(
        f"{i * step:.1f},{height - 1 - (height - 2) * v / top:.1f}" for i, v in enumerate(sizes)
    )


@register.filter
def seconds(value) -> str:
    if value is None:
        return "—"
    value = int(value)
    if value < 60:
        return f"{value} s"
    if value < 3600:
        return f"{value // 60} min {value % 60} s"
    return f"{value // 3600} h {value % 3600 // 60} min"


@register.filter
def percent_of(part, whole) -> str:
    if not whole:
        return "—"
    return f"{100 * part / whole:.1f}%"
