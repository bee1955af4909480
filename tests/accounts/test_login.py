from audit.models import AuditEvent
from tests.conftest import PASSWORD


def test_a_person_signs_in_and_the_login_is_audited(client, bob):
    response = client.post("/accounts/login/", {"username": "bob", "password": PASSWORD})
    assert response.status_code == 302
    assert AuditEvent.objects.filter(action="auth.login", actor_label="bob").exists()


def test_a_wrong_password_re_renders_the_form(client, bob):
    response = client.post("/accounts/login/", {"username": "bob", "password": "nope"})
    assert response.status_code == 200
    assert AuditEvent.objects.filter(action="auth.login_failed").count() == 1


def test_sign_in_is_rate_limited_per_username(client, bob, settings):
    settings.LOGIN_FAILURE_LIMIT = 3
    for _ in range(3):
        client.post("/accounts/login/", {"username": "bob", "password": "nope"})
    response = client.post("/accounts/login/", {"username": "bob", "password": PASSWORD})
    assert response.status_code == 429
    assert "_auth_user_id" not in client.session


def test_every_page_redirects_anonymous_visitors_to_sign_in(client, db):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_sign_out_needs_a_post(login, bob):
    client = login(bob)
    assert client.get("/accounts/logout/").status_code == 405
    client.post("/accounts/logout/")
    assert client.get("/").status_code == 302


def test_a_person_changes_their_password(login, bob):
    client = login(bob)
    response = client.post(
        "/accounts/password/",
        {
            "old_password": PASSWORD,
            "new_password1": "a much longer new phrase",
            "new_password2": "a much longer new phrase",
        },
    )
    bob.refresh_from_db()
    assert response.status_code == 302
    assert bob.check_password("a much longer new phrase")
