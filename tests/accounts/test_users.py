import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from accounts.roles import ADMIN, OPERATOR, role_of
from audit.models import ChangeRequest


def test_the_command_creates_a_person_with_a_role(db, capsys):
    call_command("create_user", "olga", "--role", "operator", "--password", "long enough pw 1")
    user = get_user_model().objects.get(username="olga")
    assert role_of(user) == OPERATOR
    assert user.check_password("long enough pw 1")


def test_the_command_prints_a_generated_password(db, capsys):
    call_command("create_user", "olga", "--role", "viewer")
    out = capsys.readouterr().out
    password = out.split("password: ")[1].strip()
    assert get_user_model().objects.get(username="olga").check_password(password)


def test_the_command_refuses_a_taken_username(dave):
    with pytest.raises(CommandError):
        call_command("create_user", "dave", "--role", "viewer")


def test_an_admin_changes_a_role_directly(login, alice, dave):
    login(alice).post(f"/accounts/users/{dave.pk}/role/", {"role": "operator"})
    assert role_of(dave) == OPERATOR


def test_making_someone_admin_waits_for_a_second_admin(login, alice, dave):
    login(alice).post(f"/accounts/users/{dave.pk}/role/", {"role": "admin"})
    cr = ChangeRequest.objects.get(kind="accounts.grant_admin")
    assert cr.status == "pending" and cr.requested_by == alice
    assert role_of(dave) != ADMIN


def test_an_admin_cannot_change_their_own_role(login, alice):
    login(alice).post(f"/accounts/users/{alice.pk}/role/", {"role": "viewer"})
    assert role_of(alice) == ADMIN


def test_creating_a_person_with_a_weak_password_re_renders(login, alice):
    response = login(alice).post(
        "/accounts/users/", {"username": "newbie", "role": "viewer", "password": "123"}
    )
    assert response.status_code == 400
    assert not get_user_model().objects.filter(username="newbie").exists()


def test_a_deactivated_person_cannot_sign_in(login, alice, dave, client):
    login(alice).post(f"/accounts/users/{dave.pk}/active/", {"active": "0"})
    dave.refresh_from_db()
    assert dave.is_active is False


def test_deactivating_a_person_revokes_their_tokens(login, alice, bob):
    from accounts.tokens import create_token

    token, _ = create_token(bob, "ci")
    login(alice).post(f"/accounts/users/{bob.pk}/active/", {"active": "0"})
    token.refresh_from_db()
    assert token.revoked_at is not None
