import pytest

from notifications.events import UnknownEventError, all_events, get_event, register_event


def test_the_foundation_events_are_registered_when_the_app_loads():
    keys = {e.key for e in all_events()}
    assert {"approvals.requested", "approvals.decided", "system.liveness"} <= keys


def test_approvals_and_system_events_reach_people_by_default():
    assert get_event("approvals.decided").default_email is True
    assert get_event("system.liveness").default_email is True


def test_other_areas_default_to_opt_in(scratch_events):
    event = register_event("testarea.happened", "Something happened")
    assert event.default_email is False
    assert get_event("testarea.happened") == event


def test_the_webhook_test_event_is_not_offered_to_people():
    selectable = {e.key for e in all_events(selectable_only=True)}
    assert "notifications.test" not in selectable


def test_an_unknown_event_fails_loudly():
    with pytest.raises(UnknownEventError, match="not registered"):
        get_event("nobody.registered_this")


def test_a_malformed_key_is_refused(scratch_events):
    with pytest.raises(ValueError, match=r"area\.name"):
        register_event("NoDots", "Bad")
