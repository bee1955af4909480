"""The pages show real figures, flags and empty states; the actions work for release managers."""

from __future__ import annotations

import pytest

from performance import baselines
from performance.models import Baseline, Candidate
from performance.views import dashboard_card
from releases.models import Release
from tests.performance.conftest import publish
from tests.performance.test_resources import JS

pytestmark = pytest.mark.django_db
BASE = "/performance/shop/production/v/1.0.0/"


def test_the_overview_rates_each_device_class(login, dave, channel, release, vitals):
    vitals(channel, "1.0.0", "LCP", [4500] * 25, device="desktop")
    vitals(channel, "1.0.0", "LCP", [1000] * 3, device="mobile")
    client = login(dave)
    page = client.get("/performance/shop/production/").content.decode()
    assert 'badge-bad">poor' in page
    assert "not enough data" in page
    assert "p75 LCP per day" not in page  # mobile: 3 values are no day's p75
    desktop = client.get("/performance/shop/production/?device=desktop").content.decode()
    assert "p75 LCP per day" in desktop


def test_the_overview_says_when_no_release_has_telemetry(login, dave, release):
    page = login(dave).get("/performance/shop/production/").content.decode()
    assert "No release of this channel has telemetry" in page


def test_regressions_are_flagged_on_the_overview(login, dave, app, channel, release, vitals):
    publish(app, "1.1.0")
    vitals(channel, "1.0.0", "LCP", [2000] * 25)
    vitals(channel, "1.1.0", "LCP", [4500] * 25, prefix="n")
    baselines.take(channel, "1.0.0", source="manual")
    baselines.take(channel, "1.1.0", source="manual")
    page = login(dave).get("/performance/shop/production/").content.decode()
    assert "p75 good → poor" in page


def test_a_release_manager_takes_a_baseline_from_the_release_page(login, bob, channel, release):
    response = login(bob).post(BASE + "baseline/")
    assert response.status_code == 302
    assert Baseline.objects.get().taken_by == bob


def test_the_release_page_offers_the_candidate_button_to_release_managers_only(
    login, bob, dave, release
):
    assert "Create optimised candidate" in login(bob).get(BASE).content.decode()
    assert "Create optimised candidate" not in login(dave).get(BASE).content.decode()


def test_creating_a_candidate_from_the_page_redirects_to_the_new_release(login, bob, app, channel):
    publish(app, "1.0.0", {"index.js": JS})
    response = login(bob).post(BASE + "optimise/")
    assert response.status_code == 302
    assert response["Location"] == "/releases/shop/v/1.0.1-optimized.1/"
    assert Candidate.objects.get().release.version == "1.0.1-optimized.1"


def test_a_refused_candidate_re_renders_with_the_reason(login, bob, release):
    response = login(bob).post(BASE + "optimise/")
    assert response.status_code == 409
    assert "no auto-applicable saving was measured" in response.content.decode()
    assert Release.objects.count() == 1


def test_the_dashboard_card_has_an_empty_state_then_real_numbers(rf, dave, channel, release):
    request = rf.get("/")
    request.user = dave
    card = dashboard_card(request)
    assert card.empty.startswith("No baselines yet")
    baselines.take(channel, "1.0.0", source="manual")
    card = dashboard_card(request)
    assert ("Releases with a baseline", 1) in card.stats


def test_the_navigation_has_a_performance_item(login, dave):
    assert 'href="/performance/"' in login(dave).get("/performance/").content.decode()


def test_the_overview_query_count_does_not_grow_with_releases(
    login, dave, app, channel, release, vitals, django_assert_max_num_queries
):
    for minor in range(1, 5):
        publish(app, f"1.{minor}.0")
        vitals(channel, f"1.{minor}.0", "LCP", [3000 + minor * 300] * 25, prefix=f"p{minor}")
        baselines.take(channel, f"1.{minor}.0", source="manual")
    client = login(dave)
    with django_assert_max_num_queries(20):
        page = client.get("/performance/shop/production/").content.decode()
    assert page.count("<h3>") == 4


def test_the_release_page_compares_with_the_previous_baseline(
    login, dave, app, channel, release, vitals
):
    publish(app, "1.1.0")
    vitals(channel, "1.0.0", "LCP", [2000] * 25)
    vitals(channel, "1.1.0", "LCP", [4500] * 25, prefix="n")
    baselines.take(channel, "1.0.0", source="manual")
    baselines.take(channel, "1.1.0", source="manual")
    page = login(dave).get("/performance/shop/production/v/1.1.0/").content.decode()
    assert "Compared with <code>1.0.0</code>" in page
    assert "LCP (mobile): p75 good → poor" in page


def test_the_index_lists_channels_in_constant_queries(
    login, dave, app, channel, release, django_assert_max_num_queries
):
    from releases import publishing

    for name in ("beta", "nightly", "staging"):
        publishing.create_channel(app, name=name)
        baselines.take(app.channels.get(name=name), "1.0.0", source="manual")
    client = login(dave)
    with django_assert_max_num_queries(10):
        page = client.get("/performance/").content.decode()
    assert page.count("Shop / ") == 4


def test_the_index_has_an_empty_state(login, dave):
    page = login(dave).get("/performance/").content.decode()
    assert "No channel yet" in page


def test_the_release_page_lists_measured_savings(login, bob, app, channel):
    from tests.performance.test_resources import jpeg, png

    publish(app, "1.0.0", {"index.js": JS, "a.png": png(), "b.jpg": jpeg()})
    client = login(bob)
    assert client.post(BASE + "measure/").status_code == 302
    page = client.get(BASE).content.decode()
    assert "Minify JavaScript" in page and "Convert image to WebP" in page
    assert "no: changes names or layout" in page


def test_a_comparison_without_enough_data_says_so(login, dave, app, channel, release, vitals):
    publish(app, "1.1.0")
    vitals(channel, "1.1.0", "LCP", [2000] * 25)
    baselines.take(channel, "1.0.0", source="manual")
    baselines.take(channel, "1.1.0", source="manual")
    page = login(dave).get("/performance/shop/production/v/1.1.0/").content.decode()
    assert "not compared" in page
    assert "no regression flagged" not in page
