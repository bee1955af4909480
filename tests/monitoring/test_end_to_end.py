"""From HTTP batches to a verdict: what clients report is what the analysis judges."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from monitoring import analysis
from monitoring.analysis import MetricSpec


def post(post_batch, channel, version, install_id, launches, crashes):
    events = [{"type": "launch"}] * launches + [{"type": "crash"}] * crashes
    response = post_batch(
        channel.client_key, {"install_id": install_id, "version": version, "events": events}
    )
    assert response.status_code == 202


def test_a_crashing_canary_reported_over_http_fails_its_crash_rate(channel, post_batch):
    start = timezone.now() - timedelta(minutes=1)
    for n in range(4):
        post(post_batch, channel, "2.0.0", f"canary-{n}", launches=250, crashes=20)
        post(post_batch, channel, "1.0.0", f"stable-{n}", launches=250, crashes=1)
    end = timezone.now() + timedelta(minutes=1)
    m = analysis.measure(channel, MetricSpec("crash_rate", 0.5), "2.0.0", "1.0.0", start, end)
    assert (m.samples, m.baseline_samples) == (1000, 1000)
    assert (m.outcome, round(m.value, 1), round(m.baseline, 1)) == ("failed", 8.0, 0.4)


def test_the_guardrail_window_never_reaches_before_the_phase():
    now = timezone.now()
    assert analysis.guardrail_window(now, 300, now - timedelta(minutes=2)) == (
        now - timedelta(minutes=2),
        now,
    )
    assert analysis.guardrail_window(now, 300, now - timedelta(hours=1))[0] == now - timedelta(
        minutes=5
    )


def test_installs_seen_counts_each_install_once_per_version(channel, post_batch):
    before = timezone.now()
    post(post_batch, channel, "2.0.0", "a", launches=1, crashes=0)
    post(post_batch, channel, "2.0.0", "a", launches=1, crashes=0)
    post(post_batch, channel, "2.0.0", "b", launches=1, crashes=0)
    post(post_batch, channel, "1.0.0", "a", launches=1, crashes=0)
    assert analysis.installs_seen(channel, "2.0.0") == 2
    assert analysis.installs_seen(channel, "2.0.0", since=before + timedelta(hours=1)) == 0
