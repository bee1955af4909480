from datetime import UTC, datetime, time, timedelta

import pytest

from maintenance import windows
from maintenance.models import Window
from tests.maintenance.conftest import make_job, make_window

pytestmark = pytest.mark.django_db

NIGHT = datetime(2026, 6, 2, 2, 0, tzinfo=UTC)  # the night window opens 02:00 UTC for 2h


def test_a_run_that_fits_inside_an_allow_window_may_start():
    make_window()
    job = make_job(max_duration=timedelta(minutes=45))
    assert windows.check(job, NIGHT + timedelta(minutes=10)).ok


def test_a_run_due_too_close_to_the_windows_end_is_refused_with_the_next_opening():
    make_window()
    job = make_job(max_duration=timedelta(minutes=45))
    verdict = windows.check(job, NIGHT + timedelta(minutes=80))  # 03:20 + 46m > 04:00
    assert not verdict.ok and "closes at 04:00" in verdict.reason
    assert verdict.next_start == NIGHT + timedelta(days=1)


def test_outside_every_window_the_next_start_is_the_next_opening():
    make_window()
    job = make_job()
    verdict = windows.check(job, NIGHT - timedelta(hours=5))
    assert verdict.reason == "outside every allowed window"
    assert verdict.next_start == NIGHT


def test_a_blackout_overlapping_the_run_refuses_it_and_the_next_start_is_its_end():
    make_window("freeze", kind="blackout", schedule="30 12 * * *", duration=timedelta(hours=1))
    job = make_job(max_duration=timedelta(minutes=30))
    at = datetime(2026, 6, 2, 12, 0, tzinfo=UTC)
    verdict = windows.check(job, at)
    assert "blackout freeze" in verdict.reason
    assert verdict.next_start == datetime(2026, 6, 2, 13, 30, tzinfo=UTC)


def test_with_no_allow_window_in_scope_a_job_may_start_any_time():
    make_window(scope=Window.Scope.JOB_TYPE, job_type="data_cleanup")
    assert windows.check(make_job(), NIGHT - timedelta(hours=5)).ok


def test_weekday_windows_open_in_their_own_time_zone():
    make_window(
        "weekend",
        schedule="",
        weekdays=[5, 6],
        start_time=time(22, 0),
        timezone="Europe/Berlin",
        duration=timedelta(hours=3),
    )
    job = make_job(max_duration=timedelta(minutes=30))
    saturday_22_berlin = datetime(2026, 6, 6, 20, 0, tzinfo=UTC)
    assert windows.check(job, saturday_22_berlin).ok
    assert not windows.check(job, saturday_22_berlin - timedelta(days=1)).ok


def test_the_longest_allow_window_in_scope_is_reported_for_the_form():
    make_window(duration=timedelta(hours=2))
    make_window("short", duration=timedelta(minutes=30))
    assert windows.longest_allow(make_job()) == timedelta(hours=2)


def test_an_app_scoped_window_applies_only_to_that_apps_jobs():
    from releases.models import App

    shop = App.objects.create(slug="shop", name="Shop")
    make_window(scope=Window.Scope.APP, app=shop)
    shop_job = make_job("shop-job", app=shop)
    other = make_job("other")
    afternoon = NIGHT + timedelta(hours=10)
    assert not windows.check(shop_job, afternoon).ok
    assert windows.check(other, afternoon).ok
