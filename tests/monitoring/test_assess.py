"""analysis.assess and run_status: Argo's accounting with its known holes fixed."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from monitoring import analysis
from monitoring.analysis import Measurement, MetricSpec

T = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
SPEC = MetricSpec("crash_rate", 0.5)


def m(outcome, reason=None):
    reason = reason or {"successful": "ok", "failed": "breach", "error": "error"}.get(
        outcome, "below_min_samples"
    )
    return Measurement("crash_rate", outcome, reason, T, T, 0.5, True, 200)


def test_a_failure_beyond_the_limit_fails_even_during_the_hold():
    status = analysis.assess([m("successful"), m("failed")], SPEC, final=False)
    assert status.status == "failed"


def test_failures_up_to_the_limit_are_tolerated():
    spec = MetricSpec("crash_rate", 0.5, failure_limit=1)
    assert analysis.assess([m("failed"), m("successful")], spec, final=True).status == "successful"


def test_no_data_at_the_verdict_is_inconclusive_never_successful():
    status = analysis.assess([m("successful"), m("inconclusive")], SPEC, final=True)
    assert status.status == "inconclusive"
    assert status.no_data


def test_no_data_during_the_hold_is_just_running():
    assert analysis.assess([m("inconclusive")] * 10, SPEC, final=False).status == "running"


def test_errors_never_count_as_success():
    status = analysis.assess([m("error")], SPEC, final=True)
    assert status.status == "running"
    assert status.successful == 0


def test_the_fifth_consecutive_error_is_an_error():
    four = [m("successful")] + [m("error")] * 4
    assert analysis.assess(four, SPEC, final=False).status == "running"
    assert analysis.assess([*four, m("error")], SPEC, final=False).status == "error"


def test_a_success_between_errors_resets_the_consecutive_count():
    runs = [m("error")] * 4 + [m("successful")] + [m("error")] * 4
    status = analysis.assess(runs, SPEC, final=False)
    assert (status.consecutive_errors, status.status) == (4, "running")


def test_success_needs_the_quorum_of_successful_measurements():
    spec = MetricSpec("crash_rate", 0.5, quorum=3)
    assert analysis.assess([m("inconclusive"), m("successful")], spec, final=True).status == (
        "inconclusive"
    )
    assert analysis.assess([m("successful")] * 3, spec, final=True).status == "successful"


def test_an_empty_phase_is_not_successful():
    assert analysis.assess([], SPEC, final=True).status == "running"


def _status(status, dry_run=False):
    return analysis.MetricStatus("x", status, 0, 0, 0, 0, 0, dry_run, False, None)


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        (["successful", "inconclusive", "running"], "inconclusive"),
        (["successful", "error", "failed"], "failed"),
        (["running", "error"], "error"),
        (["successful", "successful"], "successful"),
    ],
)
def test_the_run_takes_the_worst_metric_status(statuses, expected):
    assert analysis.run_status([_status(s) for s in statuses]) == expected


def test_dry_run_metrics_never_change_the_run():
    statuses = [_status("successful"), _status("failed", dry_run=True)]
    assert analysis.run_status(statuses) == "successful"


def test_worst_case_breach_to_abort_is_window_plus_interval_times_limit_plus_one():
    assert analysis.breach_to_abort_seconds(300, 60, 2) == 480
    spec = MetricSpec("crash_rate", 0.5, window_seconds=120, interval_seconds=30)
    assert spec.breach_to_abort_seconds == 150


def test_a_spec_is_parsed_with_defaults_for_what_is_left_out():
    spec = analysis.parse_spec({"metric": "lcp_p75", "threshold": 1.3})
    assert (spec.relative, spec.min_samples, spec.threshold) == (True, 100, 1.3)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"metric": "fid_p75"}, "metric must be one of"),
        ({"metric": "crash_rate", "threshold": "high"}, "threshold must be a number"),
        ({"metric": "crash_rate", "threshold": -1}, ">= 0"),
        ({"metric": "crash_rate", "min_samples": 0}, "min_samples must be an integer >= 1"),
        ({"metric": "crash_rate", "relative": "yes"}, "relative must be true or false"),
        ({"metric": "crash_rate", "relative": False, "threshold": 150}, "percentage"),
        ({"metric": "crash_rate", "treshold": 1}, "unknown field(s) treshold"),
    ],
)
def test_bad_specs_are_refused_with_a_reason(data, message):
    with pytest.raises(analysis.SpecError, match=message.replace("(", r"\(").replace(")", r"\)")):
        analysis.parse_spec(data)
