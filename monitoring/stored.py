"""The columns of a stored measurement (``monitoring.analysis.Measurement`` as a row).

Rollouts (``releases.RolloutMeasurement``) and flag ramps (``flags.FlagMeasurement``) keep one
row per look with these columns plus their own keys; ``monitoring.analysis.row_values`` and
``from_row`` convert. Kept apart from ``monitoring.models`` (which imports ``releases.models``)
so that ``releases.models`` can use it.
"""

from django.db import models
from django.utils import timezone


class StoredMeasurement(models.Model):
    metric = models.CharField(max_length=40)
    kind = models.CharField(max_length=10)  # "guardrail" | "verdict"
    outcome = models.CharField(max_length=20)
    reason = models.CharField(max_length=30)
    value = models.FloatField(null=True, blank=True)
    baseline = models.FloatField(null=True, blank=True)
    samples = models.PositiveBigIntegerField(default=0)
    baseline_samples = models.PositiveBigIntegerField(default=0)
    threshold = models.FloatField()
    relative = models.BooleanField()
    min_samples = models.PositiveIntegerField()
    dry_run = models.BooleanField(default=False)
    window_start = models.DateTimeField()
    window_end = models.DateTimeField()
    detail = models.TextField(blank=True)
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        abstract = True
