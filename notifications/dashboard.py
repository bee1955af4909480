from datetime import timedelta

from django.db.models import Count, Q
from django.urls import reverse
from django.utils import timezone

from console.dashboard import Card
from notifications.models import Delivery, WebhookEndpoint


def card(request) -> Card:
    since = timezone.now() - timedelta(days=1)
    counts = Delivery.objects.aggregate(
        sent=Count("pk", filter=Q(status=Delivery.Status.SENT, created_at__gte=since)),
        retrying=Count("pk", filter=Q(status=Delivery.Status.FAILED)),
        dead=Count("pk", filter=Q(status=Delivery.Status.DEAD, created_at__gte=since)),
        waiting=Count(
            "pk", filter=Q(status__in=[Delivery.Status.PENDING, Delivery.Status.SENDING])
        ),
    )
    hooks = WebhookEndpoint.objects.filter(enabled=True).count()
    problems = counts["retrying"] + counts["dead"]
    return Card(
        title="Notifications",
        url=reverse("notifications:deliveries"),
        stats=[
            ("Sent, last 24 h", counts["sent"]),
            ("Waiting to send", counts["waiting"]),
            ("Failing, will retry", counts["retrying"]),
            ("Gave up, last 24 h", counts["dead"]),
            ("Webhooks enabled", hooks),
        ],
        status="bad" if counts["dead"] else ("warn" if problems else ""),
        status_label=f"{problems} failing" if problems else "",
    )
