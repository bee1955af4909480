"""Golden cases for GFS retention (pure function: backups in, decisions with reasons out)."""

from datetime import UTC, datetime, timedelta

from backups.retention import Item, Policy, plan


def at(text):
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def kept(decisions):
    return {d.id for d in decisions if d.keep}


def reasons(decisions, backup_id):
    return next(d.reasons for d in decisions if d.id == backup_id)


def daily_items(days, start="2026-03-01T12:00:00"):
    return [Item(i + 1, at(start) + timedelta(days=i)) for i in range(days)]


NOW = at("2026-06-01T00:00:00")


def test_keep_last_keeps_the_newest_n():
    decisions = plan(daily_items(5), Policy(last=2, floor=0), NOW)
    assert kept(decisions) == {4, 5}
    assert reasons(decisions, 1) == ["no rule keeps it"]


def test_daily_keeps_the_newest_backup_of_each_of_the_newest_days():
    items = [
        Item(1, at("2026-03-01T08:00")),
        Item(2, at("2026-03-01T20:00")),
        Item(3, at("2026-03-02T08:00")),
        Item(4, at("2026-03-03T08:00")),
    ]
    decisions = plan(items, Policy(daily=2, floor=0), NOW)
    assert kept(decisions) == {3, 4}
    assert reasons(decisions, 4) == ["daily 2026-03-03"]


def test_monthly_reasons_name_the_month():
    decisions = plan(daily_items(70), Policy(monthly=3, floor=0), NOW)
    assert kept(decisions) == {31, 61, 70}
    assert reasons(decisions, 31) == ["monthly 2026-03"]


def test_day_buckets_follow_the_policys_time_zone():
    # 23:30 UTC on 1 March is already 2 March in Berlin: two backups, one Berlin day.
    items = [Item(1, at("2026-03-01T23:30")), Item(2, at("2026-03-02T10:00"))]
    assert kept(plan(items, Policy(daily=5, floor=0, tz="UTC"), NOW)) == {1, 2}
    assert kept(plan(items, Policy(daily=5, floor=0, tz="Europe/Berlin"), NOW)) == {2}


def test_the_hour_repeated_when_clocks_go_back_counts_as_two_hours():
    # 2026-10-25 in Berlin: 02:00-03:00 CEST then again CET. 00:30Z and 01:30Z are both "02:30".
    items = [Item(1, at("2026-10-25T00:30")), Item(2, at("2026-10-25T01:30"))]
    decisions = plan(items, Policy(hourly=5, floor=0, tz="Europe/Berlin"), NOW)
    assert kept(decisions) == {1, 2}
    assert reasons(decisions, 1) != reasons(decisions, 2)


def test_the_skipped_spring_hour_does_not_break_daily_buckets():
    items = [Item(1, at("2026-03-29T00:30")), Item(2, at("2026-03-29T01:30"))]  # 01:30, 03:30
    assert kept(plan(items, Policy(daily=1, floor=0, tz="Europe/Berlin"), NOW)) == {2}


def test_weekly_uses_iso_weeks_across_new_year():
    items = [
        Item(1, at("2025-12-29T12:00")),
        Item(2, at("2026-01-02T12:00")),
        Item(3, at("2026-01-05T12:00")),
    ]
    decisions = plan(items, Policy(weekly=5, floor=0), NOW)
    assert kept(decisions) == {2, 3}
    assert reasons(decisions, 2) == ["weekly 2026-W01"]


def test_parents_of_kept_backups_are_kept_through_the_whole_chain():
    items = [
        Item(1, at("2026-03-01T00:00")),
        Item(2, at("2026-03-02T00:00"), parent_id=1),
        Item(3, at("2026-03-03T00:00"), parent_id=2),
    ]
    decisions = plan(items, Policy(last=1, floor=0), NOW)
    assert kept(decisions) == {1, 2, 3}
    assert reasons(decisions, 1) == ["parent of kept backup #2"]


def test_pinned_and_newest_verified_backups_are_always_kept():
    items = daily_items(5)
    items[0].pinned = True
    items[1].verified = True
    decisions = plan(items, Policy(last=1, floor=0), NOW)
    assert kept(decisions) == {1, 2, 5}
    assert reasons(decisions, 2) == ["newest verified backup"]


def test_the_floor_keeps_the_newest_backups_when_rules_keep_too_few():
    items = daily_items(5, start="2020-01-01T00:00:00")
    decisions = plan(items, Policy(within=timedelta(days=7), floor=2), NOW)
    assert kept(decisions) == {4, 5}
    assert reasons(decisions, 5) == ["minimum of 2 backups"]


def test_fewer_backups_than_the_policy_asks_for_are_all_kept():
    decisions = plan(daily_items(2), Policy(last=10, daily=30, monthly=12), NOW)
    assert kept(decisions) == {1, 2}


def test_keep_within_counts_back_from_now():
    decisions = plan(
        daily_items(10, start="2026-05-20T12:00:00"), Policy(within=timedelta(days=4), floor=0), NOW
    )
    assert kept(decisions) == {9, 10}


def test_no_rules_at_all_keeps_everything():
    decisions = plan(daily_items(3), Policy(floor=0), NOW)
    assert kept(decisions) == {1, 2, 3}
