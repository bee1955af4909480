"""The flag pages: list, detail, create/edit forms with validation, kill switch with confirm,
the dashboard card and the navigation."""

from __future__ import annotations

from flags.models import Flag, FlagState
from tests.flags.conftest import make_flag

VALID = {
    "key": "new-checkout",
    "description": "One-page checkout",
    "min_version": "1.1.0",
    "variants": "on=100",
    "testers": "tester-1\ntester-2=on",
    "phases": "5 600\n25 1800 approval\n100 0",
}


def test_the_list_groups_flags_by_app_and_channel_and_filters(login, dave, channel, app):
    from releases import publishing

    make_flag(channel)
    beta = publishing.create_channel(app, name="beta", release_gate="immediate")
    make_flag(beta, key="dark-mode")
    body = login(dave).get("/flags/").content.decode()
    assert "shop / production" in body and "shop / beta" in body
    assert "new-checkout" in body and "dark-mode" in body
    body = login(dave).get("/flags/?app=shop&channel=beta").content.decode()
    assert "dark-mode" in body and "new-checkout" not in body


def test_the_empty_list_says_what_to_do(login, bob, dave, channel):
    assert "create its flag" in login(bob).get("/flags/").content.decode()
    assert "ask a release manager" in login(dave).get("/flags/").content.decode()


def test_creating_a_flag_through_the_form(login, bob, channel):
    response = login(bob).post("/flags/new/", {**VALID, "channel": channel.pk})
    flag = Flag.objects.get(key="new-checkout")
    assert response.status_code == 302 and response["Location"] == f"/flags/{flag.pk}/"
    assert flag.testers == {"tester-1": "on", "tester-2": "on"}
    assert flag.phases[1] == {"percent": 25.0, "hold_seconds": 1800, "requires_approval": True}
    assert (flag.state, flag.percent, flag.created_by) == (FlagState.DRAFT, 0.0, bob)


def _refused(client, data, field, text):
    response = client.post("/flags/new/", data)
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert field in errors and text in " ".join(errors[field]), errors
    assert not Flag.objects.exists()


def test_bad_input_re_renders_with_field_errors_and_changes_nothing(login, bob, channel):
    c = login(bob)
    base = {**VALID, "channel": channel.pk}
    _refused(c, {**base, "variants": "A=50\nB=40"}, "variants", "add up to 100")
    _refused(c, {**base, "variants": "A=50\nA=50"}, "variants", "twice")
    _refused(c, {**base, "variants": "off=100"}, "variants", "at least one variant must be on")
    _refused(c, {**base, "variants": "A=lots"}, "variants", "name=weight")
    _refused(c, {**base, "min_version": "1.1"}, "min_version", "not a semantic version")
    _refused(c, {**base, "key": "New Checkout"}, "key", "lower-case")
    _refused(c, {**base, "testers": "t-1=purple"}, "testers", "not one of the variants")
    _refused(c, {**base, "phases": "50 60\n25 60"}, "phases", "percent must grow")
    _refused(c, {**base, "phases": "5 600 approval"}, "phases", "first phase")


def test_a_key_is_unique_per_channel(login, bob, channel):
    make_flag(channel)
    response = login(bob).post("/flags/new/", {**VALID, "channel": channel.pk})
    assert response.status_code == 400
    assert "already has a flag" in " ".join(response.context["form"].errors["key"])
    assert Flag.objects.count() == 1


def test_editing_with_a_stale_form_is_refused(login, bob, channel):
    flag = make_flag(channel)
    c = login(bob)
    form = c.get(f"/flags/{flag.pk}/edit/").context["form"]
    data = {**form.initial, "description": "first"}
    assert c.post(f"/flags/{flag.pk}/edit/", data).status_code == 302
    response = c.post(f"/flags/{flag.pk}/edit/", {**data, "description": "second"})
    assert response.status_code == 409
    assert Flag.objects.get(pk=flag.pk).description == "first"


def test_the_kill_switch_needs_the_confirmation_box(login, bob, channel):
    flag = make_flag(channel)
    c = login(bob)
    c.post(f"/flags/{flag.pk}/kill/", {"reason": "oops"})
    assert not Flag.objects.get(pk=flag.pk).killed
    c.post(f"/flags/{flag.pk}/kill/", {"reason": "errors", "confirm": "yes"})
    flag.refresh_from_db()
    assert flag.killed and flag.killed_reason == "errors"
    body = c.get(f"/flags/{flag.pk}/").content.decode()
    assert "Kill switch on" in body and "Turn the kill switch off" in body


def test_start_then_pause_through_the_pages(login, bob, channel):
    flag = make_flag(channel)
    c = login(bob)
    c.post(f"/flags/{flag.pk}/start/")
    flag.refresh_from_db()
    assert (flag.state, flag.percent, flag.ramp_started_by) == (FlagState.RUNNING, 10.0, bob)
    c.post(f"/flags/{flag.pk}/pause/")
    assert Flag.objects.get(pk=flag.pk).state == FlagState.PAUSED


def test_the_detail_page_shows_the_definition_ramp_and_history(login, dave, channel):
    flag = make_flag(channel, testers={"tester-1": "on"})
    body = login(dave).get(f"/flags/{flag.pk}/").content.decode()
    assert "tester-1" in body and "Shipped dark in release <strong>1.1.0</strong>" in body
    assert "Phase 1: 10 %" in body and "flag.created" in body
    assert "Kill" not in body.split("Definition")[1].split("transitions")[0]  # viewers: no controls


def _card(dave):
    from django.test import RequestFactory

    from console import dashboard

    request = RequestFactory().get("/")
    request.user = dave
    (provider,) = [p for name, _, p in dashboard._providers if name == "flags"]
    return provider(request)


def test_the_dashboard_card_has_real_numbers_and_an_empty_state(dave, channel, bob):
    from flags import ramp

    assert "No flag yet" in _card(dave).empty
    ramp.start(make_flag(channel), user=bob)
    ramp.kill(make_flag(channel, key="other"), reason="bad")
    card = _card(dave)
    assert dict(card.stats) == {
        "Flags": 2,
        "Ramping": 1,
        "Awaiting approval": 0,
        "Fully on": 0,
        "Killed": 1,
    }
    assert (card.status, card.status_label, card.empty) == ("bad", "1 killed", "")


def test_the_navigation_has_a_flags_item(login, dave):
    body = login(dave).get("/flags/").content.decode()
    assert '<a href="/flags/" aria-current="page">Flags</a>' in body


def test_every_state_renders_and_only_other_approvers_see_the_decide_form(
    login, bob, becky, dave, channel
):
    from datetime import timedelta

    from django.utils import timezone

    from flags import ramp

    flag = make_flag(
        channel,
        phases=[{"percent": 10, "hold_seconds": 60}, {"percent": 50, "requires_approval": True}],
    )
    ramp.start(flag, user=bob, now=timezone.now() - timedelta(minutes=2))
    flag = ramp.fresh(flag)
    ramp.analyse(flag.pk)  # a look (no data) so the analysis table has rows
    body = login(dave).get(f"/flags/{flag.pk}/").content.decode()
    assert "Crashes per launch" in body and "s left" in body
    partial = login(dave).get(f"/flags/{flag.pk}/", HTTP_HX_REQUEST="true").content.decode()
    assert partial.lstrip().startswith('<div id="live"') and "<html" not in partial
    ramp.advance(ramp.fresh(flag), now=timezone.now(), reason="test")
    assert "Reject and kill" in login(becky).get(f"/flags/{flag.pk}/").content.decode()
    body = login(bob).get(f"/flags/{flag.pk}/").content.decode()
    assert "Reject and kill" not in body and "someone else approves it" in body
    ramp.kill(ramp.fresh(flag), reason="bad")
    body = login(bob).get(f"/flags/{flag.pk}/").content.decode()
    assert "Turn the kill switch off" in body and "Resume" not in body


def test_editing_a_ramping_flag_keeps_its_phases(login, bob, channel):
    from flags import ramp

    flag = make_flag(channel)
    ramp.start(flag, user=bob)
    c = login(bob)
    form = c.get(f"/flags/{flag.pk}/edit/").context["form"]
    data = {**form.initial, "testers": "t-9", "phases": "50 60"}
    assert c.post(f"/flags/{flag.pk}/edit/", data).status_code == 302
    flag.refresh_from_db()
    assert flag.testers == {"t-9": "on"} and flag.phases[0]["percent"] == 10.0
