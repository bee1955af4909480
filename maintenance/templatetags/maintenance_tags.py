from django import template

from maintenance.schedule import format_duration

register = template.Library()


@register.filter
def duration(value) -> str:
    """A timedelta as the job file writes it ("1h30m", "45s"); "—" for None."""
    return format_duration(value) or "—"
