"""The releases pages: what they show, what their forms do, HTMX fragments, query counts."""

import io

import pytest

from audit.models import AuditEvent, ChangeRequest
from releases import publishing
from releases.models import App, Release
from tests.releases.conftest import make_zip, publish


def _bundle(name="bundle.zip", files=None):
    f = io.BytesIO(make_zip(files or {"index.js": "page"}))
    f.name = name
    return f


def test_the_apps_list_shows_each_app_with_its_counts(
    login, bob, app, channel, django_assert_max_num_queries
):
    publish(app, "1.0.0")
    client = login(bob)
    client.get("/releases/")
    with django_assert_max_num_queries(12):
        response = client.get("/releases/")
    assert b"Shop" in response.content
    assert response.context["apps"][0].release_count == 1


def test_the_apps_list_query_count_does_not_grow_with_apps(
    login, bob, db, django_assert_max_num_queries
):
    for n in range(6):
        App.objects.create(slug=f"app-{n}", name=f"App {n}")
    client = login(bob)
    client.get("/releases/")  # the session's first request writes it; pin the steady state
    with django_assert_max_num_queries(12):
        client.get("/releases/")


def test_creating_an_app_from_the_list_opens_its_page(login, bob, db):
    response = login(bob).post("/releases/create/", {"slug": "news", "name": "News"})
    assert response.status_code == 302
    assert response["Location"] == "/releases/news/"


def test_a_taken_slug_re_renders_the_form_with_the_message(login, bob, app):
    response = login(bob).post("/releases/create/", {"slug": "shop", "name": "Again"})
    assert response.status_code == 400
    assert b"exists" in response.content


def test_the_app_page_shows_channels_keys_timeline_and_budgets(
    login, dave, app, channel, django_assert_max_num_queries
):
    publish(app, "1.0.0")
    publish(app, "1.1.0")
    client = login(dave)
    client.get("/releases/")
    with django_assert_max_num_queries(14):
        response = client.get("/releases/shop/")
    assert channel.client_key.encode() in response.content
    assert b"1.1.0" in response.content and b"Size budgets" in response.content


def test_viewers_see_no_publishing_controls(login, dave, app, channel):
    response = login(dave).get("/releases/shop/")
    assert b"Rotate key" not in response.content
    assert b"Publish a release" not in response.content


def test_adding_a_channel_gives_it_a_key(login, bob, app):
    response = login(bob).post(
        "/releases/shop/channels/", {"name": "beta", "upload_policy": "reject"}
    )
    assert response.status_code == 302
    assert app.channels.get().client_key.startswith("ck_")


def test_a_channel_added_on_the_page_can_let_releases_out_at_once(login, bob, app):
    client = login(bob)
    client.post(
        "/releases/shop/channels/",
        {"name": "beta", "upload_policy": "reject", "release_gate": "immediate"},
    )
    assert app.channels.get().release_gate == "immediate"
    assert b"immediately to everyone" in client.get("/releases/shop/").content


def test_a_channel_added_on_the_page_is_gated_by_rollouts_by_default(login, bob, app):
    client = login(bob)
    client.post("/releases/shop/channels/", {"name": "beta", "upload_policy": "reject"})
    assert app.channels.get().release_gate == "rollout"
    assert b"through a rollout" in client.get("/releases/shop/").content


def test_an_unknown_release_gate_on_the_page_is_refused(login, bob, app):
    response = login(bob).post("/releases/shop/channels/", {"name": "beta", "release_gate": "x"})
    assert response.status_code == 400
    assert not app.channels.exists()


def test_rotating_a_key_redirects_back_without_htmx(login, bob, channel):
    old = channel.client_key
    response = login(bob).post("/releases/shop/channels/production/rotate/")
    channel.refresh_from_db()
    assert response.status_code == 302
    assert (channel.client_key != old, channel.previous_client_key) == (True, old)


def test_rotating_a_key_with_htmx_returns_the_channels_panel(login, bob, channel):
    response = login(bob).post("/releases/shop/channels/production/rotate/", HTTP_HX_REQUEST="true")
    channel.refresh_from_db()
    assert response.content.decode().lstrip().startswith('<section id="channels"')
    assert channel.client_key.encode() in response.content


def test_saving_testers_with_htmx_returns_the_panel_with_the_count(login, bob, channel):
    response = login(bob).post(
        "/releases/shop/channels/production/testers/",
        {"testers": "dev-1\ndev-2\n\ndev-1"},
        HTTP_HX_REQUEST="true",
    )
    channel.refresh_from_db()
    assert channel.tester_install_ids == ["dev-1", "dev-2"]
    assert b"Install ids (2)" in response.content


def test_saving_testers_without_htmx_redirects(login, bob, channel):
    response = login(bob).post("/releases/shop/channels/production/testers/", {"testers": "dev-1"})
    assert response.status_code == 302


def test_budgets_are_saved_and_audited(login, bob, app):
    login(bob).post(
        "/releases/shop/budgets/",
        {
            "main_budget_kib": 100,
            "subpackage_budget_kib": 50,
            "total_budget_kib": 1000,
            "growth_budget_pct": 10,
        },
    )
    app.refresh_from_db()
    assert app.main_budget_kib == 100
    assert AuditEvent.objects.filter(action="app.budgets_changed").exists()


def test_the_publish_form_offers_the_next_numbers(login, bob, app):
    publish(app, "1.2.3")
    content = login(bob).get("/releases/shop/publish/").content.decode()
    assert "Next major: 2.0.0" in content and "Next minor: 1.3.0" in content
    assert "Next patch: 1.2.4" in content


def test_publishing_through_the_form_opens_the_release(login, bob, app, channel):
    response = login(bob).post(
        "/releases/shop/publish/",
        {"version": "1.0.0", "bundle": _bundle(), "changes": "feature: first"},
    )
    assert response.status_code == 302
    assert response["Location"] == "/releases/shop/v/1.0.0/"


def test_an_upload_with_progress_gets_json_with_the_redirect(login, bob, app):
    response = login(bob).post(
        "/releases/shop/publish/", {"version": "1.0.0", "bundle": _bundle()}, HTTP_X_UPLOAD="xhr"
    )
    assert response.json() == {"redirect": "/releases/shop/v/1.0.0/"}


def test_a_lower_version_re_renders_the_form_naming_the_latest(login, bob, app):
    publish(app, "2.0.0")
    response = login(bob).post("/releases/shop/publish/", {"version": "1.0.0", "bundle": _bundle()})
    assert response.status_code == 409
    assert b"lower than the latest release 2.0.0" in response.content


def test_a_bad_zip_through_the_upload_gets_json_errors(login, bob, app):
    f = io.BytesIO(b"not a zip")
    f.name = "b.zip"
    response = login(bob).post(
        "/releases/shop/publish/", {"version": "1.0.0", "bundle": f}, HTTP_X_UPLOAD="xhr"
    )
    assert response.status_code == 400
    assert "bundle" in response.json()["errors"]


def test_the_release_page_shows_changes_analysis_charts_and_diff(login, dave, app):
    publish(app, "1.0.0", {"index.js": "a" * 10, "pkg/x.js": "b"})
    publish(app, "1.1.0", {"index.js": "a" * 100, "new.css": "c"}, changes="fix: crash")
    content = login(dave).get("/releases/shop/v/1.1.0/").content.decode()
    assert "crash" in content and "Treemap" in content and "<svg" in content
    assert "1 added" in content and "1 removed" in content


def test_disabling_from_the_release_page_needs_a_reason(login, bob, app):
    release = publish(app, "1.0.0")
    client = login(bob)
    client.post("/releases/shop/v/1.0.0/disable/", {"reason": ""})
    assert not Release.objects.get(pk=release.pk).is_disabled
    client.post("/releases/shop/v/1.0.0/disable/", {"reason": "crash on launch"})
    assert Release.objects.get(pk=release.pk).is_disabled


def test_an_over_budget_release_offers_an_override_request(login, bob, app):
    publishing.set_budgets(app, main_budget_kib=1)
    publish(app, "1.0.0", {"big.bin": bytes(range(256)) * 8})
    client = login(bob)
    assert b"Request a budget override" in client.get("/releases/shop/v/1.0.0/").content
    response = client.post("/releases/shop/v/1.0.0/override/", {"reason": "launch art"})
    cr = ChangeRequest.objects.get(kind="releases.budget_override")
    assert response["Location"] == f"/audit/approvals/{cr.pk}/"


def test_an_unknown_release_is_a_404(login, dave, app):
    assert login(dave).get("/releases/shop/v/9.9.9/").status_code == 404


def test_the_navigation_has_releases(login, dave, db):
    assert b'href="/releases/"' in login(dave).get("/").content


@pytest.mark.parametrize("with_app", [False, True])
def test_the_dashboard_card_counts_releases_or_says_what_to_do(login, dave, db, with_app):
    if with_app:
        publish(App.objects.create(slug="shop", name="Shop"), "1.0.0")
    content = login(dave).get("/").content.decode()
    expected = "Published in 7 days" if with_app else "No apps yet"
    assert expected in content
