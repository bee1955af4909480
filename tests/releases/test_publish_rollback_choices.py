"""The publish form offers exactly the rollback targets the publish accepts
(``rollouts.rollback_candidates`` for the channel chosen), and follows the channel (HTMX)."""

from __future__ import annotations

import io
import re
from datetime import timedelta

import pytest
from django.utils import timezone

from releases import publishing, rollouts
from releases.forms import PublishForm
from releases.models import Channel, Release
from tests.releases.conftest import make_zip, publish
from tests.releases.rollout_support import rolled_out

URL = "/releases/shop/publish/"
NOW = timezone.now().replace(microsecond=0)


@pytest.fixture
def history(app, channel):
    """On production: 1.0.0 rolled out, 1.1.0 aborted (withdrawn), 1.2.0 disabled; 1.3.0 was
    published to beta alone."""
    beta = publishing.create_channel(app, name="beta")
    rolled_out(channel, publish(app, "1.0.0"), now=NOW - timedelta(days=2))
    rollouts.abort(rollouts.start(channel, publish(app, "1.1.0")), reason="crashes")
    publishing.disable(publish(app, "1.2.0"), reason="broken build")
    publish(app, "1.3.0", channel=beta)
    return beta


def _offered(html: str) -> list[str]:
    select = re.search(r'<select name="rollback_target".*?</select>', html, re.S).group(0)
    return re.findall(r'<option value="([^"]*)"', select)


def _bundle():
    f = io.BytesIO(make_zip({"index.js": "next"}))
    f.name = "bundle.zip"
    return f


def test_every_channel_offers_only_releases_no_channel_withdrew(login, bob, history):
    assert _offered(login(bob).get(URL).content.decode()) == ["", "1.0.0"]


def test_a_channel_offers_its_own_releases_too(login, bob, history):
    assert _offered(login(bob).get(URL + "?channel=beta").content.decode()) == [
        "",
        "1.3.0",
        "1.1.0",
        "1.0.0",
    ]


@pytest.mark.parametrize("name", ["", "production", "beta"])
def test_the_choices_are_what_the_publish_accepts(app, history, name):
    channel = Channel.objects.filter(app=app, name=name).first()
    form = PublishForm(app=app, initial={"channel": name})
    offered = [v for v, _ in form.fields["rollback_target"].choices if v]
    assert offered == [r.version for r in rollouts.rollback_candidates(app, channel, "9.0.0")]


def test_changing_the_channel_re_renders_only_the_choices(login, bob, history):
    response = login(bob).get(URL + "?channel=beta", HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert html.lstrip().startswith('<div class="field" id="rollback-field">')
    assert _offered(html) == ["", "1.3.0", "1.1.0", "1.0.0"] and "<form" not in html


def test_the_channel_select_asks_for_new_choices(login, bob, history):
    html = login(bob).get(URL).content.decode()
    select = re.search(r'<select name="channel"[^>]*>', html).group(0)
    assert f'hx-get="{URL}"' in select and 'hx-target="#rollback-field"' in select


def test_a_withdrawn_target_is_refused_by_the_form_and_nothing_is_published(
    login, bob, app, history
):
    response = login(bob).post(
        URL, {"version": "2.0.0", "bundle": _bundle(), "rollback_target": "1.1.0"}
    )
    assert response.status_code == 400 and "rollback_target" in response.context["form"].errors
    assert not Release.objects.filter(version="2.0.0").exists()


def test_a_channel_only_target_is_accepted_for_that_channel(login, bob, app, history):
    response = login(bob).post(
        URL,
        {"version": "2.0.0", "bundle": _bundle(), "channel": "beta", "rollback_target": "1.3.0"},
    )
    assert response.status_code == 302
    assert Release.objects.get(version="2.0.0").rollback_target.version == "1.3.0"


def test_a_channel_only_target_is_refused_for_every_channel(login, bob, history):
    response = login(bob).post(
        URL, {"version": "2.0.0", "bundle": _bundle(), "rollback_target": "1.3.0"}
    )
    assert response.status_code == 400
    assert not Release.objects.filter(version="2.0.0").exists()
