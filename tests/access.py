"""The access check every area's matrix uses: anonymous → sign-in, wrong role → 403, right → ok.

Each area keeps its rows in ``tests/<area>/access_matrix.py`` (url name → method, path template,
personas allowed) and its own fixture for the objects the paths name.
"""

from __future__ import annotations

PERSONAS = ["erin", "dave", "carol", "bob", "alice"]
# An allowed action may still refuse on its own business rules (400 for an incomplete form, 409
# for a state that moved on), but never with 403.
ALLOWED_POST = {200, 302, 400, 409}


def request(client, method: str, path: str):
    return getattr(client, method.lower())(path)


def assert_sent_to_sign_in(client, method: str, path: str) -> None:
    response = request(client, method, path)
    assert response.status_code == 302, (path, response.status_code)
    assert response["Location"].startswith("/accounts/login/")


def assert_role_access(client, user, method: str, path: str, allowed: bool, *, ok=None) -> None:
    client.force_login(user)
    response = request(client, method, path)
    if allowed:
        expected = ok or ({200} if method == "GET" else ALLOWED_POST)
        assert response.status_code in expected, (path, response.status_code)
    else:
        assert response.status_code == 403, (path, response.status_code)
