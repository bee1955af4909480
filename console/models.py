from django.db import models


class Heartbeat(models.Model):
    """The last time a long-running process (worker or controller) proved it was alive.

    One row per process (kind + name, e.g. ``controller`` / ``host:pid``). The banner reads the
    newest ``seen_at`` per kind.
    """

    class Kind(models.TextChoices):
        WORKER = "worker", "Worker"
        CONTROLLER = "controller", "Controller"

    kind = models.CharField(max_length=20, choices=Kind.choices)
    name = models.CharField(max_length=200)
    seen_at = models.DateTimeField()
    started_at = models.DateTimeField()
    info = models.JSONField(default=dict, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["kind", "name"], name="heartbeat_unique_process")
        ]
        # The banner asks "newest seen_at for this kind" on every page.
        indexes = [models.Index(fields=["kind", "-seen_at"], name="heartbeat_kind_seen")]

    def __str__(self) -> str:
        return f"{self.kind} {self.name}"


class WorkerProbe(models.Model):
    """A single row: when the controller last queued a heartbeat task and when one answered.

    The controller queues a new probe only when the previous one was answered (or is clearly
    lost), claiming the right to do so with a conditional UPDATE so that two controllers never
    flood the queue.
    """

    sent_at = models.DateTimeField(null=True, blank=True)
    answered_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"worker probe sent {self.sent_at} answered {self.answered_at}"
