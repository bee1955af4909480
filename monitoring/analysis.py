"""The analysis evaluator: measurements over rollups and the Argo-style run accounting.

Pure functions and dataclasses the rollout controller calls; nothing here changes state.

* ``measure(channel, spec, canary_version, stable_version, start, end) -> Measurement`` reads the
  rollups of one window (two queries, whatever the number of events) and judges one metric.
  ``measure_all`` does the same for several metrics with the same two queries.
* ``assess(measurements, spec, final=) -> MetricStatus`` counts outcomes and decides the metric's
  status; ``run_status(statuses)`` takes the worst blocking one.

Units. Rates (``crash_rate``, ``error_rate``, ``install_failure_rate``, ``api_error_rate``) are
reported and thresholded in percent: an absolute threshold of 1 means "at most 1 %", a relative
one of 0.5 means "canary at most 0.5 percentage points above stable". Percentiles (``lcp_p75``,
``inp_p75``) are in milliseconds; a relative threshold is a ratio (1.2: canary p75 at most 1.2 x
stable p75).

Statistics. A rate breach must be significant before it fails a measurement (one-sided test at
``alpha``): crash, install-failure and API-error rates are proportions (two-proportion z-test;
pooled standard error when the margin is 0, unpooled (Wald) with a margin; one-sample z-test
against an absolute threshold); errors per session may exceed 1 per session, so ``error_rate``
uses the Poisson rate z-test in the same three forms. An observed breach that is not (yet)
significant is inconclusive, never successful. Percentiles are compared directly (their values
carry the histogram's 2 % relative error, see ``monitoring.histogram``).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import datetime, timedelta

from django.db.models import Sum

from monitoring import histogram
from monitoring.models import Install, Rollup, RollupBucket

SUCCESSFUL = "successful"
FAILED = "failed"
INCONCLUSIVE = "inconclusive"
ERROR = "error"
RUNNING = "running"  # a metric status only: no verdict yet, nothing wrong so far

# Reasons attached to a measurement.
OK = "ok"
BREACH = "breach"
NOT_SIGNIFICANT = "not_significant"
BELOW_MIN_SAMPLES = "below_min_samples"
NO_BASELINE = "no_baseline"

CONSECUTIVE_ERROR_LIMIT = 5


@dataclass(frozen=True)
class MetricDef:
    name: str
    title: str
    kind: str  # "proportion" | "poisson" | "percentile"
    numerator: tuple[str, str] = ("", "")  # (rollup metric, "count" | "errors")
    denominator: tuple[str, ...] = ()  # rollup metrics whose counts add up to the denominator
    vital: str = ""
    quantile: float = 0.75
    unit: str = "%"


METRICS: dict[str, MetricDef] = {
    m.name: m
    for m in (
        MetricDef(
            "crash_rate", "Crashes per launch", "proportion", ("crash", "count"), ("launch",)
        ),
        MetricDef("error_rate", "Errors per session", "poisson", ("error", "count"), ("launch",)),
        MetricDef(
            "install_failure_rate",
            "Install failure rate",
            "proportion",
            ("install_failed", "count"),
            ("install_ok", "install_failed"),
        ),
        MetricDef("api_error_rate", "API error rate", "proportion", ("api", "errors"), ("api",)),
        MetricDef("lcp_p75", "p75 LCP", "percentile", vital="LCP", unit="ms"),
        MetricDef("inp_p75", "p75 INP", "percentile", vital="INP", unit="ms"),
    )
}


class SpecError(ValueError):
    """A metric specification that cannot be used (unknown metric, bad number)."""


@dataclass(frozen=True)
class MetricSpec:
    metric: str
    threshold: float
    relative: bool = True
    min_samples: int = 200
    interval_seconds: int = 60
    # Guardrail measurements look at the last window_seconds of the phase (guardrail_window).
    window_seconds: int = 300
    failure_limit: int = 0
    quorum: int = 1  # successful measurements needed for a successful verdict
    alpha: float = 0.05
    dry_run: bool = False

    @property
    def definition(self) -> MetricDef:
        return METRICS[self.metric]

    @property
    def breach_to_abort_seconds(self) -> float:
        return breach_to_abort_seconds(
            self.window_seconds, self.interval_seconds, self.failure_limit
        )

    def as_dict(self) -> dict:
        return asdict(self)


# The defaults of a rollout that names no metrics (RELEASES.md: crash rate per launch, error rate
# per session, install failure rate, p75 LCP and INP, API error rate).
DEFAULT_SPECS: tuple[MetricSpec, ...] = (
    MetricSpec("crash_rate", 0.5, relative=True, min_samples=200),
    MetricSpec("error_rate", 2.0, relative=True, min_samples=200),
    MetricSpec("install_failure_rate", 2.0, relative=False, min_samples=50),
    MetricSpec("api_error_rate", 1.0, relative=True, min_samples=200),
    MetricSpec("lcp_p75", 1.2, relative=True, min_samples=100),
    MetricSpec("inp_p75", 1.2, relative=True, min_samples=100),
)

_INT_FIELDS = {
    "min_samples": 1,
    "interval_seconds": 10,
    "window_seconds": 60,
    "failure_limit": 0,
    "quorum": 1,
}


def parse_spec(data: object) -> MetricSpec:
    """A MetricSpec from a JSON object (the rollouts API); SpecError says what is wrong."""
    if not isinstance(data, dict):
        raise SpecError("a metric must be a JSON object")
    metric = data.get("metric")
    if metric not in METRICS:
        raise SpecError(f"metric must be one of {', '.join(METRICS)}")
    defaults = next(s for s in DEFAULT_SPECS if s.metric == metric)
    unknown = set(data) - set(MetricSpec.__dataclass_fields__)
    if unknown:
        raise SpecError(f"unknown field(s) {', '.join(sorted(unknown))}")
    values: dict = {"metric": metric}
    threshold = data.get("threshold", defaults.threshold)
    if isinstance(threshold, bool) or not isinstance(threshold, int | float):
        raise SpecError("threshold must be a number")
    if not math.isfinite(threshold) or threshold < 0:
        raise SpecError("threshold must be a finite number >= 0")
    values["threshold"] = float(threshold)
    for name in ("relative", "dry_run"):
        value = data.get(name, getattr(defaults, name))
        if not isinstance(value, bool):
            raise SpecError(f"{name} must be true or false")
        values[name] = value
    for name, minimum in _INT_FIELDS.items():
        value = data.get(name, getattr(defaults, name))
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise SpecError(f"{name} must be an integer >= {minimum}")
        values[name] = value
    alpha = data.get("alpha", defaults.alpha)
    if isinstance(alpha, bool) or not isinstance(alpha, int | float) or not 0 < alpha < 0.5:
        raise SpecError("alpha must be a number between 0 and 0.5")
    values["alpha"] = float(alpha)
    kind = METRICS[metric].kind
    if kind != "percentile" and not values["relative"] and values["threshold"] > 100:
        raise SpecError("an absolute rate threshold is a percentage (0-100)")
    if kind == "percentile" and values["relative"] and values["threshold"] == 0:
        raise SpecError("a relative percentile threshold is a ratio > 0 (e.g. 1.2)")
    return MetricSpec(**values)


@dataclass(frozen=True)
class Measurement:
    """One look at one metric over one window. ``value``/``baseline`` in the metric's unit."""

    metric: str
    outcome: str
    reason: str
    window_start: datetime
    window_end: datetime
    threshold: float
    relative: bool
    min_samples: int
    value: float | None = None
    baseline: float | None = None
    samples: int = 0
    baseline_samples: int = 0
    z: float | None = None
    p_value: float | None = None
    dry_run: bool = False
    detail: str = ""

    @property
    def no_data(self) -> bool:
        return self.reason in (BELOW_MIN_SAMPLES, NO_BASELINE)

    def as_dict(self) -> dict:
        data = asdict(self)
        data["window_start"] = self.window_start.isoformat()
        data["window_end"] = self.window_end.isoformat()
        return data


@dataclass
class Cohort:
    """What the rollups say about one version in one window."""

    counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    errors: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    histograms: dict[str, dict[int, int]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(int))
    )


def floor_minute(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)


def read_window(
    channel_id: int,
    versions: Iterable[str],
    start: datetime,
    end: datetime,
    *,
    vitals: Iterable[str] = ("LCP", "INP"),
    device: str | None = None,
) -> dict[str, Cohort]:
    """Counters and histograms per version for the rollup minutes in [floor(start), end).

    ``device`` None sums every device; "" / "mobile" / "desktop" reads one.
    """
    versions = sorted(set(versions))
    cohorts: dict[str, Cohort] = {v: Cohort() for v in versions}
    if not versions:
        return cohorts
    where = {
        "channel_id": channel_id,
        "version__in": versions,
        "minute__gte": floor_minute(start),
        "minute__lt": end,
    }
    if device is not None:
        where["device"] = device
    rows = (
        Rollup.objects.filter(**where)
        .values_list("version", "metric")
        .annotate(n=Sum("count"), e=Sum("errors"))
        .order_by()
    )
    for version, metric, n, e in rows:
        cohorts[version].counts[metric] += n or 0
        cohorts[version].errors[metric] += e or 0
    vitals = sorted(set(vitals))
    if vitals:
        buckets = (
            RollupBucket.objects.filter(metric__in=vitals, **where)
            .values_list("version", "metric", "bucket")
            .annotate(n=Sum("count"))
            .order_by()
        )
        for version, metric, bucket, n in buckets:
            if n:
                cohorts[version].histograms[metric][bucket] += n
    return cohorts


# --- statistics ------------------------------------------------------------------------------


def upper_p_value(z: float) -> float:
    """One-sided p-value P(Z >= z) of a standard normal."""
    return 0.5 * math.erfc(z / math.sqrt(2))


def two_proportion_z(x1: int, n1: int, x2: int, n2: int, margin: float = 0.0) -> float:
    """z for H0: p1 - p2 <= margin against H1: p1 - p2 > margin (1 = canary, 2 = stable)."""
    p1, p2 = x1 / n1, x2 / n2
    if margin == 0:
        pooled = (x1 + x2) / (n1 + n2)
        se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    else:
        se = math.sqrt(p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2)
    return _z(p1 - p2 - margin, se)


def one_proportion_z(x: int, n: int, threshold: float) -> float:
    """z for H0: p <= threshold (standard error under H0, or of the estimate at 0 and 1)."""
    p = x / n
    if 0 < threshold < 1:
        se = math.sqrt(threshold * (1 - threshold) / n)
    else:
        se = math.sqrt(p * (1 - p) / n)
    return _z(p - threshold, se)


def two_rate_z(x1: int, n1: int, x2: int, n2: int, margin: float = 0.0) -> float:
    """Poisson rate z for H0: x1/n1 - x2/n2 <= margin (events per unit of exposure)."""
    r1, r2 = x1 / n1, x2 / n2
    if margin == 0:
        pooled = (x1 + x2) / (n1 + n2)
        se = math.sqrt(pooled * (1 / n1 + 1 / n2))
    else:
        se = math.sqrt(x1 / n1**2 + x2 / n2**2)
    return _z(r1 - r2 - margin, se)


def one_rate_z(x: int, n: int, threshold: float) -> float:
    se = math.sqrt(threshold / n) if threshold > 0 else math.sqrt(x) / n
    return _z(x / n - threshold, se)


def _z(difference: float, se: float) -> float:
    if se > 0:
        return difference / se
    if difference > 0:
        return math.inf
    return -math.inf if difference < 0 else 0.0


# --- measuring -------------------------------------------------------------------------------


def measure(
    channel,
    spec: MetricSpec,
    canary_version: str,
    stable_version: str | None,
    window_start: datetime,
    window_end: datetime,
) -> Measurement:
    return measure_all(channel, [spec], canary_version, stable_version, window_start, window_end)[0]


def measure_all(
    channel,
    specs: Sequence[MetricSpec],
    canary_version: str,
    stable_version: str | None,
    window_start: datetime,
    window_end: datetime,
) -> list[Measurement]:
    """One measurement per spec over [window_start, window_end), reading the rollups once.

    A failure to read (database error) gives every metric an ``error`` measurement: it never
    counts as success, and five in a row make the metric's status ``error``.
    """
    versions = [canary_version] + ([stable_version] if stable_version else [])
    vitals = [METRICS[s.metric].vital for s in specs if METRICS[s.metric].vital]
    channel_id = getattr(channel, "pk", channel)
    try:
        cohorts = read_window(channel_id, versions, window_start, window_end, vitals=vitals)
    except Exception as exc:  # the provider failed: recorded as an error measurement
        return [
            _errored(s, window_start, window_end, f"reading rollups failed: {exc}") for s in specs
        ]
    canary = cohorts[canary_version]
    stable = cohorts.get(stable_version) if stable_version else None
    results = []
    for spec in specs:
        try:
            results.append(judge(spec, canary, stable, window_start, window_end))
        except Exception as exc:
            results.append(_errored(spec, window_start, window_end, f"evaluation failed: {exc}"))
    return results


def _errored(spec: MetricSpec, start: datetime, end: datetime, detail: str) -> Measurement:
    return Measurement(
        metric=spec.metric,
        outcome=ERROR,
        reason=ERROR,
        window_start=start,
        window_end=end,
        threshold=spec.threshold,
        relative=spec.relative,
        min_samples=spec.min_samples,
        dry_run=spec.dry_run,
        detail=detail,
    )


def rate_parts(definition: MetricDef, cohort: Cohort) -> tuple[int, int]:
    """(numerator, denominator) of a rate metric for one cohort."""
    metric, column = definition.numerator
    x = (cohort.errors if column == "errors" else cohort.counts).get(metric, 0)
    n = sum(cohort.counts.get(m, 0) for m in definition.denominator)
    if definition.kind == "proportion":
        x = min(x, n)  # a proportion cannot exceed 1 (e.g. a crash reported without its launch)
    return max(x, 0), max(n, 0)


def value_of(definition: MetricDef, cohort: Cohort) -> tuple[float | None, int]:
    """(value in the metric's unit, samples) for one cohort; value None without samples."""
    if definition.kind == "percentile":
        hist = cohort.histograms.get(definition.vital, {})
        samples = sum(c for c in hist.values() if c > 0)
        return histogram.percentile(hist.items(), definition.quantile), samples
    x, n = rate_parts(definition, cohort)
    return (100.0 * x / n if n else None), n


def judge(
    spec: MetricSpec,
    canary: Cohort,
    stable: Cohort | None,
    window_start: datetime,
    window_end: datetime,
) -> Measurement:
    """The outcome of one metric given both cohorts' numbers (no database access)."""
    definition = spec.definition
    value, samples = value_of(definition, canary)
    baseline, baseline_samples = value_of(definition, stable) if stable else (None, 0)
    base = Measurement(
        metric=spec.metric,
        outcome=INCONCLUSIVE,
        reason=BELOW_MIN_SAMPLES,
        window_start=window_start,
        window_end=window_end,
        threshold=spec.threshold,
        relative=spec.relative,
        min_samples=spec.min_samples,
        value=value,
        baseline=baseline,
        samples=samples,
        baseline_samples=baseline_samples,
        dry_run=spec.dry_run,
    )
    if samples < spec.min_samples:
        return replace(base, detail=f"{samples} samples, {spec.min_samples} needed")
    if spec.relative and stable is None:
        return replace(base, reason=NO_BASELINE, detail="no stable cohort to compare with")
    if spec.relative and baseline_samples < spec.min_samples:
        return replace(
            base,
            detail=f"stable cohort has {baseline_samples} samples, {spec.min_samples} needed",
        )
    if definition.kind == "percentile":
        return _judge_percentile(spec, base)
    return _judge_rate(spec, definition, canary, stable, base)


def _judge_percentile(spec: MetricSpec, base: Measurement) -> Measurement:
    value, baseline = base.value, base.baseline
    if spec.relative:
        # A zero stable p75 (all values in the zero bucket): any positive canary p75 is worse.
        observed = value / baseline if baseline else (1.0 if value == 0 else math.inf)
        detail = f"ratio {observed:.3f} (limit {spec.threshold})"
    else:
        observed = value
        detail = f"{value:.1f} ms (limit {spec.threshold} ms)"
    if observed <= spec.threshold:
        return replace(base, outcome=SUCCESSFUL, reason=OK, detail=detail)
    return replace(base, outcome=FAILED, reason=BREACH, detail=detail)


def _judge_rate(
    spec: MetricSpec, definition: MetricDef, canary: Cohort, stable: Cohort | None, base
) -> Measurement:
    x1, n1 = rate_parts(definition, canary)
    threshold = spec.threshold / 100.0  # percent / percentage points -> fraction
    proportion = definition.kind == "proportion"
    if spec.relative:
        x2, n2 = rate_parts(definition, stable)
        observed = x1 / n1 - x2 / n2
        z = (two_proportion_z if proportion else two_rate_z)(x1, n1, x2, n2, threshold)
        detail = f"{100 * observed:+.3f} pp vs stable (limit +{spec.threshold} pp)"
    else:
        observed = x1 / n1
        z = (one_proportion_z if proportion else one_rate_z)(x1, n1, threshold)
        detail = f"{100 * observed:.3f} % (limit {spec.threshold} %)"
    p_value = upper_p_value(z)
    base = replace(base, z=z if math.isfinite(z) else None, p_value=p_value)
    if observed <= threshold + 1e-12:
        return replace(base, outcome=SUCCESSFUL, reason=OK, detail=detail)
    if p_value < spec.alpha:
        return replace(base, outcome=FAILED, reason=BREACH, detail=f"{detail}, p={p_value:.2g}")
    return replace(
        base,
        outcome=INCONCLUSIVE,
        reason=NOT_SIGNIFICANT,
        detail=f"{detail}, not significant (p={p_value:.2g}, alpha {spec.alpha})",
    )


# --- run accounting --------------------------------------------------------------------------


@dataclass(frozen=True)
class MetricStatus:
    metric: str
    status: str
    successful: int
    failed: int
    inconclusive: int
    errors: int
    consecutive_errors: int
    dry_run: bool
    no_data: bool  # the deciding measurement lacked samples: extend the hold up to max_hold
    last: Measurement | None

    @property
    def blocking(self) -> bool:
        """Dry-run metrics are recorded and shown but never change a rollout's state."""
        return not self.dry_run


def assess(measurements: Sequence[Measurement], spec: MetricSpec, *, final: bool) -> MetricStatus:
    """The metric's status from its measurements in the phase, oldest first.

    * ``failed`` once failed measurements exceed ``failure_limit`` (guardrail: checked every
      interval, ``final`` or not);
    * ``error`` at the 5th consecutive error measurement;
    * during the hold (``final=False``) otherwise ``running``;
    * at the end of the hold (``final=True``; the last measurement is the phase verdict over the
      whole phase window): ``successful`` only if that verdict is successful and at least
      ``quorum`` measurements were successful; otherwise ``inconclusive`` (no data: ``no_data``
      is set and the controller extends the hold up to max_hold, measuring the verdict again;
      not significant, or quorum not reached: pause for a human). Argo's inconclusive limit is
      therefore 0: an inconclusive verdict is never waved through. An ``error`` verdict stays
      ``running`` (measure again next interval: an error never counts as success).

    Inconclusive guardrail measurements during the hold (early minutes with few samples) are
    counted but never decide anything: repeated looks would inflate false alarms.
    """
    successful = sum(m.outcome == SUCCESSFUL for m in measurements)
    failed = sum(m.outcome == FAILED for m in measurements)
    inconclusive = sum(m.outcome == INCONCLUSIVE for m in measurements)
    errors = sum(m.outcome == ERROR for m in measurements)
    consecutive = 0
    for m in reversed(measurements):
        if m.outcome != ERROR:
            break
        consecutive += 1
    last = measurements[-1] if measurements else None
    if failed > spec.failure_limit:
        status = FAILED
    elif consecutive >= CONSECUTIVE_ERROR_LIMIT:
        status = ERROR
    elif not final or last is None or last.outcome == ERROR:
        status = RUNNING
    elif last.outcome == SUCCESSFUL and successful >= spec.quorum:
        status = SUCCESSFUL
    else:
        status = INCONCLUSIVE
    return MetricStatus(
        metric=spec.metric,
        status=status,
        successful=successful,
        failed=failed,
        inconclusive=inconclusive,
        errors=errors,
        consecutive_errors=consecutive,
        dry_run=spec.dry_run,
        no_data=bool(last and last.no_data),
        last=last,
    )


_SEVERITY = {SUCCESSFUL: 0, RUNNING: 1, INCONCLUSIVE: 2, ERROR: 3, FAILED: 4}


def run_status(statuses: Iterable[MetricStatus]) -> str:
    """The worst status among blocking metrics (failed > error > inconclusive > running >
    successful). Failed and error mean abort; inconclusive means pause for a human. With no
    blocking metric the phase has nothing to wait for: ``successful``.
    """
    blocking = [s.status for s in statuses if s.blocking]
    return max(blocking, key=_SEVERITY.__getitem__, default=SUCCESSFUL)


def installs_seen(channel, version: str, *, since: datetime | None = None) -> int:
    """Distinct installs that reported ``version`` on ``channel`` (first seen at or after
    ``since`` when given): the realised exposure of a cohort."""
    rows = Install.objects.filter(channel_id=getattr(channel, "pk", channel), version=version)
    if since is not None:
        rows = rows.filter(first_seen__gte=since)
    return rows.count()


def breach_to_abort_seconds(window_seconds: float, interval_seconds: float, failure_limit: int):
    """Worst case from a breach starting to the abort: window + interval x (limit + 1)."""
    return window_seconds + interval_seconds * (failure_limit + 1)


def guardrail_window(now: datetime, window_seconds: int, phase_start: datetime):
    """The window a guardrail measurement looks at: the last ``window_seconds``, not before the
    phase started."""
    return max(phase_start, now - timedelta(seconds=window_seconds)), now


# --- stored measurements -------------------------------------------------------------------
# Rollouts (releases.RolloutMeasurement) and flag ramps (flags.FlagMeasurement) keep each look
# as a row with the Measurement's fields (a row model may leave some out, e.g. z and p_value),
# plus their own keys (which rollout or flag, phase, kind "guardrail" / "verdict", time).


def row_values(m: Measurement, model) -> dict:
    """The Measurement's fields that ``model`` stores, ready for ``model(**values, ...)``."""
    stored = {f.name for f in model._meta.get_fields()}
    values = {f.name: getattr(m, f.name) for f in fields(Measurement) if f.name in stored}
    values["detail"] = m.detail[:1000]
    return values


def from_row(row) -> Measurement:
    """A stored row read back as the Measurement it was made from."""
    return Measurement(
        **{f.name: getattr(row, f.name) for f in fields(Measurement) if hasattr(row, f.name)}
    )


def guardrail_statuses(specs, stored: dict, *, final: bool, extra=None) -> list:
    """Each metric's status over its stored guardrail rows (``stored``: metric → rows, oldest
    first) and, with ``extra`` (metric → Measurement), the phase verdicts appended."""
    out = []
    for spec in specs:
        ms = [from_row(r) for r in stored.get(spec.metric, []) if r.kind == "guardrail"]
        if extra and spec.metric in extra:
            ms.append(extra[spec.metric])
        out.append((spec, assess(ms, spec, final=final)))
    return out


def breach_reason(pairs, what: str) -> str:
    """``what`` + the blocking metrics that failed or errored (``pairs`` from
    ``guardrail_statuses``), or '' when none did."""
    bad = [s for _, s in pairs if s.blocking and s.status in (FAILED, ERROR)]
    if not bad:
        return ""
    parts = []
    for s in bad:
        detail = s.last.detail if s.last else ""
        parts.append(f"{s.metric} {s.status}" + (f" ({detail})" if detail else ""))
    return f"{what}: " + "; ".join(parts)


def undecided(pairs) -> tuple[list[str], list[str]]:
    """(blocking metrics inconclusive for lack of data, every blocking inconclusive metric): a
    phase only waits longer when the first list is the whole second one."""
    inconclusive = [s for _, s in pairs if s.blocking and s.status == INCONCLUSIVE]
    return [s.metric for s in inconclusive if s.no_data], [s.metric for s in inconclusive]


def metric_row(spec: MetricSpec, status: MetricStatus) -> dict:
    """One metric next to its threshold with its latest measurement, for pages and the API."""
    last = status.last
    return {
        "metric": spec.metric,
        "title": spec.definition.title,
        "unit": spec.definition.unit,
        "threshold": spec.threshold,
        "relative": spec.relative,
        "min_samples": spec.min_samples,
        "dry_run": spec.dry_run,
        "status": status.status if last else "no measurement yet",
        "value": last.value if last else None,
        "baseline": last.baseline if last else None,
        "samples": last.samples if last else 0,
        "baseline_samples": last.baseline_samples if last else 0,
        "outcome": last.outcome if last else None,
        "detail": last.detail if last else "",
    }
