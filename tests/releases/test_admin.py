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
