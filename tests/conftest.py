"""Shared personas and helpers.

alice: Admin · bob: Release manager · carol: Operator · dave: Viewer · erin: no role at all.
"""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from accounts.roles import ADMIN, OPERATOR, RELEASE_MANAGER, VIEWER, assign_role

PASSWORD = "correct horse battery staple"


@pytest.fixture(autouse=True)
def _test_settings(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # The manifest storage needs collectstatic; tests serve straight from the source folders.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


def make_user(username: str, role=None, **extra):
    user = get_user_model().objects.create_user(
        username=username, email=f"{username}@example.test", password=PASSWORD, **extra
    )
    if role is not None:
        assign_role(user, role)
    return user


@pytest.fixture
def alice(db):
    return make_user("alice", ADMIN)


@pytest.fixture
def alex(db):
    """A second admin, for four-eyes on admin changes."""
    return make_user("alex", ADMIN)


@pytest.fixture
def bob(db):
    return make_user("bob", RELEASE_MANAGER)


@pytest.fixture
def becky(db):
    """A second release manager."""
    return make_user("becky", RELEASE_MANAGER)


@pytest.fixture
def carol(db):
    return make_user("carol", OPERATOR)


@pytest.fixture
def dave(db):
    return make_user("dave", VIEWER)


@pytest.fixture
def erin(db):
    return make_user("erin")


@pytest.fixture
def login(client):
    """login(user) logs the test client in as ``user`` and returns the client."""

    def _login(user):
        client.force_login(user)
        return client

    return _login
