"""The release health pages: index, channel page (full and HTMX fragment), nav and dashboard."""

from __future__ import annotations

import pytest
from django.utils import timezone

from monitoring.ingest import store, validate
from releases.models import App, Channel


def report(channel, version, events, install_id="i-1"):
    now = timezone.now()
    payload = {"install_id": install_id, "version": version, "events": events}
    store(channel, validate(payload, now=now), now=now)


def healthy_and_crashing(channel):
    report(channel, "1.0.0", [{"type": "launch"}] * 200 + [{"type": "crash"}] * 2)
    report(
        channel,
        "1.1.0",
        [{"type": "launch"}] * 100
        + [{"type": "crash"}] * 10
        + [{"type": "vital", "name": "LCP", "value": 2500, "device": "mobile"}] * 4
        + [{"type": "vital", "name": "LCP", "value": 1200, "device": "desktop"}] * 4
        + [{"type": "api", "value": 180, "status": 200}] * 3,
        install_id="i-2",
    )


def test_the_channel_page_shows_crash_free_rates_per_version(login, dave, channel):
    healthy_and_crashing(channel)
    page = login(dave).get("/monitoring/shop/production/").content.decode()
    assert "99.00 %" in page  # 1.0.0: 2 crashes in 200 launches
    assert "90.00 %" in page  # 1.1.0: 10 in 100
    assert page.index("1.1.0") < page.index("1.0.0")  # newest version first


def test_vitals_are_rated_per_device_with_the_boundary_rated_good(login, dave, channel):
    healthy_and_crashing(channel)
    page = login(dave).get("/monitoring/shop/production/").content.decode()
    mobile = page[page.index("<td>Mobile</td>") :]
    assert "badge-ok" in mobile.split("</tr>")[0]  # p75 LCP 2500 ms on mobile: still good
    assert "<td>Desktop</td>" in page


def test_the_page_plots_each_key_metric(login, dave, channel):
    healthy_and_crashing(channel)
    page = login(dave).get("/monitoring/shop/production/?hours=1").content.decode()
    assert page.count("<svg viewBox") == 4
    assert "<polyline" in page or "<circle" in page


def test_a_channel_without_telemetry_says_so(login, dave, channel):
    page = login(dave).get("/monitoring/shop/production/").content.decode()
    assert "No telemetry from this channel in this window." in page
    assert "Nothing to plot in this window." in page


def test_the_htmx_request_gets_only_the_fragment(login, dave, channel):
    healthy_and_crashing(channel)
    client = login(dave)
    full = client.get("/monitoring/shop/production/").content.decode()
    fragment = client.get("/monitoring/shop/production/", HTTP_HX_REQUEST="true").content.decode()
    assert "<html" in full and "<html" not in fragment
    assert fragment.lstrip().startswith('<div id="health"')


def test_the_channel_page_query_count_is_pinned(login, dave, channel, django_assert_num_queries):
    healthy_and_crashing(channel)
    client = login(dave)
    client.get("/monitoring/shop/production/")  # warm the session
    # session, user, perms (2), liveness (2); channel, rollups, buckets, installs, chart rollups,
    # chart buckets: the same whatever the number of versions or events.
    with django_assert_num_queries(12):
        client.get("/monitoring/shop/production/")


def test_the_index_lists_channels_with_data_only(login, dave, channel):
    other = Channel.objects.create(app=App.objects.get(slug="shop"), name="beta")
    healthy_and_crashing(channel)
    page = login(dave).get("/monitoring/").content.decode()
    assert "/monitoring/shop/production/" in page
    assert f"/monitoring/shop/{other.name}/" not in page


def test_the_index_query_count_is_pinned(login, dave, channel, django_assert_num_queries):
    healthy_and_crashing(channel)
    report(Channel.objects.create(app=channel.app, name="beta"), "1.0.0", [{"type": "launch"}])
    client = login(dave)
    client.get("/monitoring/")
    with django_assert_num_queries(9):  # 4 auth, 3 ours, 2 liveness
        client.get("/monitoring/")


def test_health_is_in_the_navigation_for_viewers(login, dave):
    page = login(dave).get("/").content.decode()
    assert 'href="/monitoring/"' in page


def test_the_dashboard_card_shows_the_last_day(login, dave, channel):
    healthy_and_crashing(channel)
    page = login(dave).get("/").content.decode()
    assert "Release health" in page
    assert "96.00 %" in page  # 12 crashes in 300 launches


@pytest.mark.parametrize("hours", [1, 6, 24, 168])
def test_every_window_renders_its_charts(login, dave, channel, hours):
    healthy_and_crashing(channel)
    page = login(dave).get(f"/monitoring/shop/production/?hours={hours}").content.decode()
    assert page.count("<svg viewBox") == 4
    assert f'href="?hours={hours}" aria-current="page"' in page


def test_an_unknown_window_falls_back_to_a_day(login, dave, channel):
    page = login(dave).get("/monitoring/shop/production/?hours=5000").content.decode()
    assert 'href="?hours=24" aria-current="page"' in page
