"""analysis.measure over rollups: outcomes, samples and the no-data rules."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from monitoring import analysis
from monitoring.analysis import MetricSpec
from tests.monitoring.rollup_factory import seed

START = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
END = START + timedelta(minutes=10)


def crash_spec(**kw):
    return MetricSpec("crash_rate", kw.pop("threshold", 0.5), **{"min_samples": 500, **kw})


def test_a_canary_crashing_significantly_more_fails(channel):
    seed(channel, "2.0.0", START, launch=1000, crash=30)
    seed(channel, "1.0.0", START, launch=10000, crash=100)
    m = analysis.measure(channel, crash_spec(), "2.0.0", "1.0.0", START, END)
    assert (m.outcome, m.reason) == ("failed", "breach")
    assert (m.value, m.baseline) == pytest.approx((3.0, 1.0))
    assert m.z == pytest.approx(2.7345, abs=1e-4)


def test_a_canary_within_the_margin_succeeds(channel):
    seed(channel, "2.0.0", START, launch=1000, crash=12)
    seed(channel, "1.0.0", START, launch=10000, crash=100)
    m = analysis.measure(channel, crash_spec(), "2.0.0", "1.0.0", START, END)
    assert m.outcome == "successful"
    assert (m.samples, m.baseline_samples) == (1000, 10000)


def test_an_insignificant_breach_is_inconclusive_not_successful(channel):
    seed(channel, "2.0.0", START, launch=600, crash=8)  # 1.33 % vs 0.5 % absolute
    m = analysis.measure(
        channel, crash_spec(threshold=1.0, relative=False), "2.0.0", None, START, END
    )
    assert (m.outcome, m.reason) == ("inconclusive", "not_significant")


def test_below_min_samples_is_inconclusive_and_flagged_as_no_data(channel):
    seed(channel, "2.0.0", START, launch=499, crash=400)
    seed(channel, "1.0.0", START, launch=10000, crash=10)
    m = analysis.measure(channel, crash_spec(), "2.0.0", "1.0.0", START, END)
    assert (m.outcome, m.reason) == ("inconclusive", "below_min_samples")
    assert m.no_data


def test_no_data_at_all_is_inconclusive(channel):
    m = analysis.measure(channel, crash_spec(), "2.0.0", "1.0.0", START, END)
    assert m.outcome == "inconclusive" and m.no_data
    assert m.value is None


def test_a_relative_metric_without_a_stable_cohort_is_inconclusive(channel):
    seed(channel, "2.0.0", START, launch=1000)
    m = analysis.measure(channel, crash_spec(), "2.0.0", None, START, END)
    assert (m.outcome, m.reason) == ("inconclusive", "no_baseline")


def test_minutes_outside_the_window_are_not_read(channel):
    seed(channel, "2.0.0", START - timedelta(minutes=1), launch=1000, crash=900)
    seed(channel, "2.0.0", END, launch=1000, crash=900)
    seed(channel, "2.0.0", START, launch=1000, crash=1)
    m = analysis.measure(
        channel, crash_spec(threshold=1, relative=False), "2.0.0", None, START, END
    )
    assert (m.samples, m.outcome) == (1000, "successful")


def test_install_failure_rate_divides_failures_by_all_outcomes(channel):
    seed(channel, "2.0.0", START, install_ok=95, install_failed=5)
    spec = MetricSpec("install_failure_rate", 10, relative=False, min_samples=100)
    m = analysis.measure(channel, spec, "2.0.0", None, START, END)
    assert m.value == pytest.approx(5.0)
    assert m.outcome == "successful"


def test_api_error_rate_counts_errored_calls(channel):
    seed(channel, "2.0.0", START, api=(1000, 80))
    seed(channel, "1.0.0", START, api=(5000, 50))
    spec = MetricSpec("api_error_rate", 1.0, min_samples=100)
    m = analysis.measure(channel, spec, "2.0.0", "1.0.0", START, END)
    assert (m.value, m.baseline) == pytest.approx((8.0, 1.0))
    assert m.outcome == "failed"


def test_error_rate_may_exceed_one_error_per_session(channel):
    seed(channel, "2.0.0", START, launch=1000, error=1500)
    seed(channel, "1.0.0", START, launch=1000, error=1400)
    spec = MetricSpec("error_rate", 20, min_samples=100)
    m = analysis.measure(channel, spec, "2.0.0", "1.0.0", START, END)
    assert m.value == pytest.approx(150.0)
    assert m.outcome == "successful"  # +10 pp, within the 20 pp margin


def test_lcp_p75_ratio_against_stable(channel):
    seed(channel, "2.0.0", START, LCP=[1000, 2000, 3000, 4000])  # p75 = 3000
    seed(channel, "1.0.0", START, LCP=[1000, 1500, 2000, 2500])  # p75 = 2000
    spec = MetricSpec("lcp_p75", 1.2, min_samples=4)
    m = analysis.measure(channel, spec, "2.0.0", "1.0.0", START, END)
    assert m.value / m.baseline == pytest.approx(1.5, rel=0.04)
    assert m.outcome == "failed"


def test_inp_p75_against_an_absolute_limit(channel):
    seed(channel, "2.0.0", START, INP=[50, 90, 150, 180])  # p75 = 150 ms
    spec = MetricSpec("inp_p75", 200, relative=False, min_samples=4)
    m = analysis.measure(channel, spec, "2.0.0", None, START, END)
    assert m.value == pytest.approx(150, rel=0.02)
    assert m.outcome == "successful"


def test_measure_all_reads_the_window_once_for_every_metric(channel, django_assert_num_queries):
    seed(channel, "2.0.0", START, launch=1000, crash=5, LCP=[1000] * 200)
    seed(channel, "1.0.0", START, launch=1000, crash=5, LCP=[1000] * 200)
    with django_assert_num_queries(2):
        results = analysis.measure_all(
            channel, analysis.DEFAULT_SPECS, "2.0.0", "1.0.0", START, END
        )
    assert [m.metric for m in results] == [s.metric for s in analysis.DEFAULT_SPECS]


def test_a_measurement_and_its_spec_serialise_to_json(channel):
    seed(channel, "2.0.0", START, launch=1000, crash=2)
    spec = crash_spec(threshold=1, relative=False)
    m = analysis.measure(channel, spec, "2.0.0", None, START, END)
    data = json.loads(json.dumps({"spec": spec.as_dict(), "measurement": m.as_dict()}))
    assert data["measurement"]["window_start"] == START.isoformat()
    assert analysis.parse_spec(data["spec"]) == spec
