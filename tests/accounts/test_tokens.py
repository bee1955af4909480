from datetime import timedelta

from django.core.management import call_command
from django.utils import timezone

from accounts.models import ApiToken, hash_token
from accounts.tokens import create_token, revoke_token


def _get_me(client, raw):
    return client.get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {raw}")


def test_only_the_hash_of_a_token_is_stored(bob):
    token, raw = create_token(bob, "ci")
    stored = ApiToken.objects.filter(pk=token.pk).values().get()
    assert raw not in str(stored)
    assert stored["digest"] == hash_token(raw)


def test_a_token_acts_with_its_owners_role(client, bob):
    _, raw = create_token(bob, "ci")
    response = _get_me(client, raw)
    assert response.status_code == 200
    assert response.json()["role"] == "release_manager"


def test_a_revoked_token_is_refused(client, bob):
    token, raw = create_token(bob, "ci")
    revoke_token(token)
    response = _get_me(client, raw)
    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized"


def test_a_token_of_a_deactivated_person_is_refused(client, bob):
    _, raw = create_token(bob, "ci")
    bob.is_active = False
    bob.save()
    assert _get_me(client, raw).status_code == 401


def test_a_missing_or_malformed_header_gets_401_json(client, bob):
    assert client.get("/api/v1/me").json()["error"] == "unauthorized"
    assert client.get("/api/v1/me", HTTP_AUTHORIZATION="Token abc").status_code == 401


def test_a_token_of_someone_without_a_role_gets_403(client, erin):
    _, raw = create_token(erin, "ci")
    response = _get_me(client, raw)
    assert response.status_code == 403
    assert response.json()["error"] == "forbidden"


def test_use_is_recorded_at_most_once_a_minute(client, bob):
    token, raw = create_token(bob, "ci")
    _get_me(client, raw)
    first = ApiToken.objects.get(pk=token.pk).last_used_at
    _get_me(client, raw)
    assert first is not None
    assert ApiToken.objects.get(pk=token.pk).last_used_at == first


def test_stale_last_use_is_refreshed(client, bob):
    token, raw = create_token(bob, "ci")
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=timezone.now() - timedelta(hours=1))
    _get_me(client, raw)
    assert timezone.now() - ApiToken.objects.get(pk=token.pk).last_used_at < timedelta(minutes=1)


def test_the_command_prints_a_working_token_once(client, bob, capsys):
    call_command("create_api_token", "bob", "--name", "pipeline")
    raw = capsys.readouterr().out.strip()
    assert raw.startswith("upk_")
    assert _get_me(client, raw).status_code == 200


def test_revoking_twice_is_harmless(bob):
    token, _ = create_token(bob, "ci")
    assert revoke_token(token) is True
    assert revoke_token(token) is False


def test_the_profile_page_shows_a_new_token_once(login, bob):
    client = login(bob)
    response = client.post("/accounts/me/", {"name": "deploy"})
    raw = response.context["new_token"]
    assert raw in response.content.decode()
    assert raw not in client.get("/accounts/me/").content.decode()


def test_a_duplicate_token_name_re_renders_with_an_error(login, bob):
    create_token(bob, "deploy")
    response = login(bob).post("/accounts/me/", {"name": "deploy"})
    assert response.status_code == 400
    assert "already have an active token" in response.content.decode()


def test_a_person_cannot_revoke_someone_elses_token(login, bob, dave):
    token, _ = create_token(bob, "ci")
    response = login(dave).post(f"/accounts/me/tokens/{token.pk}/revoke/")
    assert response.status_code == 404
    assert ApiToken.objects.get(pk=token.pk).revoked_at is None
