from datetime import timedelta

from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent, ChangeRequest
from console.dashboard import Card


def card(request) -> Card:
    pending = ChangeRequest.objects.filter(status=ChangeRequest.Status.PENDING).count()
    approved = ChangeRequest.objects.filter(status=ChangeRequest.Status.APPROVED).count()
    day = AuditEvent.objects.filter(at__gte=timezone.now() - timedelta(days=1)).count()
    total = AuditEvent.objects.count()
    return Card(
        title="Approvals and audit",
        url=reverse("audit:approvals"),
        stats=[
            ("Waiting for approval", pending),
            ("Approved, not applied", approved),
            ("Audit events, last 24 h", day),
            ("Audit events in total", total),
        ],
        status="warn" if pending else "",
        status_label=f"{pending} waiting" if pending else "",
    )
