from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from maintenance import schedule


def _local_days(expr, tz, start, days):
    zone = ZoneInfo(tz)
    after = datetime.combine(start, datetime.min.time(), tzinfo=zone).astimezone(UTC)
    last_day = start + timedelta(days=days)
    end = datetime.combine(last_day, datetime.min.time(), tzinfo=zone).astimezone(UTC)
    end -= timedelta(seconds=1)
    return [t.astimezone(zone) for t in schedule.times_between(expr, tz, after, end)]


@pytest.mark.parametrize(
    ("tz", "spring", "autumn"),
    [
        ("Europe/Berlin", datetime(2026, 3, 28).date(), datetime(2026, 10, 24).date()),
        ("America/New_York", datetime(2026, 3, 7).date(), datetime(2026, 10, 31).date()),
    ],
)
def test_a_daily_job_in_the_repeated_or_skipped_hour_fires_once_a_day(tz, spring, autumn):
    # Berlin changes at 02:00→03:00 and 03:00→02:00, New York at 02:00 and 02:00→01:00; 01:30
    # and 02:30 cover both zones' skipped and repeated hours.
    for expr in ("30 2 * * *", "30 1 * * *"):
        for start in (spring, autumn):
            fired = _local_days(expr, tz, start, 3)
            assert len(fired) == 3
            assert len({t.date() for t in fired}) == 3


def test_the_fall_back_day_does_not_repeat_a_wall_clock_time_in_berlin():
    fired = _local_days("*/30 * * * *", "Europe/Berlin", datetime(2026, 10, 25).date(), 1)
    wall = [t.strftime("%H:%M") for t in fired]
    assert len(wall) == len(set(wall)) == 48


def test_the_spring_forward_day_fires_the_skipped_time_once_at_three_in_new_york():
    fired = _local_days("30 2 * * *", "America/New_York", datetime(2026, 3, 8).date(), 1)
    assert [t.strftime("%H:%M") for t in fired] == ["03:00"]


def test_next_times_are_in_order_and_after_the_given_moment():
    start = datetime(2026, 1, 1, 12, tzinfo=UTC)
    times = schedule.next_times("0 * * * *", "UTC", start, 5)
    assert times[0] == datetime(2026, 1, 1, 13, tzinfo=UTC)
    assert times == sorted(times) and len(times) == 5


def test_an_invalid_expression_is_refused_with_a_reason():
    with pytest.raises(schedule.ScheduleError, match="5 fields"):
        schedule.validate_cron("* * *")
    with pytest.raises(schedule.ScheduleError, match="not a valid"):
        schedule.validate_cron("61 * * * *")


def test_an_unknown_zone_is_refused():
    with pytest.raises(schedule.ScheduleError, match="unknown time zone"):
        schedule.zone("Mars/Olympus")


def test_describe_reads_a_cron_expression_aloud():
    assert schedule.describe("30 2 * * *") == "At 02:30 every day"
    assert schedule.describe("manual") == "Manual only"


@pytest.mark.parametrize(
    ("text", "seconds"), [("45m", 2700), ("1h30m", 5400), ("90", 90), ("1d", 86400), (30, 30)]
)
def test_durations_parse_and_format_round_trip(text, seconds):
    value = schedule.parse_duration(text)
    assert value.total_seconds() == seconds
    assert schedule.parse_duration(schedule.format_duration(value)) == value


def test_a_nonsense_duration_is_refused():
    with pytest.raises(schedule.ScheduleError):
        schedule.parse_duration("soon")


def test_starting_inside_the_repeated_hour_does_not_fire_its_times_again():
    zone = ZoneInfo("Europe/Berlin")
    second_pass = datetime(2026, 10, 25, 2, 10, fold=1, tzinfo=zone).astimezone(UTC)
    nxt = schedule.next_times("*/30 * * * *", "Europe/Berlin", second_pass, 1)[0]
    assert nxt.astimezone(zone).strftime("%H:%M") == "03:00"
