from django import template

from audit.models import AuditEvent

register = template.Library()


@register.inclusion_tag("audit/_history.html")
def audit_history(obj, limit: int = 20):
    """The per-object history panel: ``{% audit_history release %}`` on any page."""
    events = list(AuditEvent.objects.for_object(obj._meta.label_lower, obj.pk)[:limit])
    return {"events": events, "object_type": obj._meta.label_lower, "object_id": obj.pk}
