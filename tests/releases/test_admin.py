from tests.releases.conftest import publish


def test_an_admin_can_read_a_release_in_django_admin(login, alice, app):
    release = publish(app, "1.0.0")
    response = login(alice).get(f"/admin/releases/release/{release.pk}/change/")
    assert response.status_code == 200
    assert b"1.0.0" in response.content


def test_releases_cannot_be_deleted_from_django_admin(login, alice, app):
    release = publish(app, "1.0.0")
    response = login(alice).post(f"/admin/releases/release/{release.pk}/delete/", {"post": "yes"})
    assert response.status_code == 403


def test_channel_settings_that_change_answers_cannot_be_edited_in_django_admin(
    login, alice, channel
):
    login(alice).post(
        f"/admin/releases/channel/{channel.pk}/change/",
        {
            "app": channel.app_id,
            "name": channel.name,
            "release_gate": "immediate",
            "approvals_required": 0,
            "tester_install_ids": '["sneaky"]',
            "upload_policy": "supersede",
            "created_at_0": "2026-01-01",
            "created_at_1": "00:00:00",
        },
    )
    channel.refresh_from_db()
    assert (channel.release_gate, channel.approvals_required) == ("rollout", 1)
    assert channel.tester_install_ids == []


def test_channels_are_not_added_in_django_admin(login, alice, app):
    assert login(alice).get("/admin/releases/channel/add/").status_code == 403


def test_the_channel_admin_page_offers_no_field_that_changes_answers(login, alice, channel):
    page = login(alice).get(f"/admin/releases/channel/{channel.pk}/change/").content
    assert b'name="release_gate"' not in page and b'name="approvals_required"' not in page
    assert b'name="tester_install_ids"' not in page and b'name="upload_policy"' not in page
