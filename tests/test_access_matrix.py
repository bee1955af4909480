"""Every view, every role: anonymous → sign-in redirect, wrong role → 403, right role → 2xx/3xx.

The completeness test fails when a new named URL is added without a row here, so no page can
ship without its access rules being tested.
"""

from __future__ import annotations

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone

from audit.models import ChangeRequest
from tests.access import PERSONAS, assert_role_access, assert_sent_to_sign_in

EVERYONE_WITH_A_ROLE = {"dave", "carol", "bob", "alice"}
SIGNED_IN = EVERYONE_WITH_A_ROLE | {"erin"}
ADMIN = {"alice"}

# url name -> (method, path template, who may)
MATRIX: dict[str, tuple[str, str, set[str]]] = {
    "console:dashboard": ("GET", "/", EVERYONE_WITH_A_ROLE),
    "console:liveness": ("GET", "/liveness/", EVERYONE_WITH_A_ROLE),
    "accounts:profile": ("GET", "/accounts/me/", EVERYONE_WITH_A_ROLE),
    "accounts:revoke_token": ("POST", "/accounts/me/tokens/{token}/revoke/", EVERYONE_WITH_A_ROLE),
    "accounts:password_change": ("GET", "/accounts/password/", SIGNED_IN),
    "accounts:logout": ("POST", "/accounts/logout/", SIGNED_IN),
    "accounts:users": ("GET", "/accounts/users/", ADMIN),
    "accounts:set_role": ("POST", "/accounts/users/{user}/role/", ADMIN),
    "accounts:set_active": ("POST", "/accounts/users/{user}/active/", ADMIN),
    "audit:log": ("GET", "/audit/log/", EVERYONE_WITH_A_ROLE),
    "audit:history": ("GET", "/audit/history/audit.changerequest/{cr}/", EVERYONE_WITH_A_ROLE),
    "audit:approvals": ("GET", "/audit/approvals/", EVERYONE_WITH_A_ROLE),
    "audit:approval": ("GET", "/audit/approvals/{cr}/", EVERYONE_WITH_A_ROLE),
    # The change request is alex's "make dave an Admin": deciding it needs the admin-changes
    # permission, cancelling it the requester or an admin, editing it the requester only.
    "audit:approve": ("POST", "/audit/approvals/{cr}/approve/", ADMIN),
    "audit:deny": ("POST", "/audit/approvals/{cr}/deny/", ADMIN),
    "audit:apply": ("POST", "/audit/approvals/{cr}/apply/", ADMIN),
    "audit:cancel": ("POST", "/audit/approvals/{cr}/cancel/", ADMIN),
    "audit:edit": ("POST", "/audit/approvals/{cr}/edit/", set()),
    "notifications:deliveries": ("GET", "/notifications/", EVERYONE_WITH_A_ROLE),
    "notifications:preferences": ("GET", "/notifications/preferences/", EVERYONE_WITH_A_ROLE),
    "notifications:webhooks": ("GET", "/notifications/webhooks/", ADMIN),
    "notifications:webhook_enabled": ("POST", "/notifications/webhooks/{hook}/enabled/", ADMIN),
    "notifications:webhook_delete": ("POST", "/notifications/webhooks/{hook}/delete/", ADMIN),
    "notifications:webhook_test": ("POST", "/notifications/webhooks/{hook}/test/", ADMIN),
    "notifications:webhook_rotate": ("POST", "/notifications/webhooks/{hook}/rotate/", ADMIN),
}
# Views that deliberately need no sign-in, and the token-authenticated API (tested apart).
PUBLIC = {"accounts:login", "console:healthz"}
API_NAMESPACES = {"api"}


def _named_urls(resolver=None, prefix="") -> set[str]:
    names = set()
    for entry in (resolver or get_resolver()).url_patterns:
        if isinstance(entry, URLResolver):
            ns = entry.namespace
            if ns in {"admin"} | API_NAMESPACES or (ns or "").startswith("api"):
                continue
            names |= _named_urls(entry, f"{prefix}{ns}:" if ns else prefix)
        elif isinstance(entry, URLPattern) and entry.name:
            names.add(prefix + entry.name)
    return names


# Each area keeps its own rows in tests/<area>/access_matrix.py (MATRIX and PUBLIC dicts/sets
# of the same shape, tested by that area's own test_access.py); all of them must cover every
# named view together.
AREAS = [
    "releases",
    "monitoring",
    "backups",
    "maintenance",
    "security",
    "performance",
    "dbhealth",
    "fleet",
    "flags",
]


def _area_rows() -> tuple[set[str], set[str]]:
    import importlib

    names, public = set(), set()
    for area in AREAS:
        try:
            module = importlib.import_module(f"tests.{area}.access_matrix")
        except ModuleNotFoundError:
            continue
        names |= set(module.MATRIX)
        public |= set(getattr(module, "PUBLIC", set()))
    return names, public


def test_every_named_view_has_a_row_in_a_matrix():
    area_names, area_public = _area_rows()
    assert _named_urls() - PUBLIC - area_public == set(MATRIX) | area_names


@pytest.fixture
def objects(db, alice, alex, bob, carol, dave, erin):
    from accounts.tokens import create_token
    from notifications.models import WebhookEndpoint

    cr = ChangeRequest.objects.create(
        kind="accounts.grant_admin",
        title="t",
        payload={"user_id": dave.pk},
        payload_hash="h",
        requested_by=alex,
        created_at=timezone.now(),
        expires_at=timezone.now(),
    )
    hook = WebhookEndpoint.objects.create(name="hook", url="http://127.0.0.1:9/", secret="s")
    people = {"erin": erin, "dave": dave, "carol": carol, "bob": bob, "alice": alice}
    tokens = {name: create_token(user, "t")[0].pk for name, user in people.items()}
    return {"cr": cr.pk, "hook": hook.pk, "user": dave.pk, "tokens": tokens, "people": people}


def _path(template: str, objects: dict, persona: str) -> str:
    return template.format(
        cr=objects["cr"],
        hook=objects["hook"],
        user=objects["user"],
        token=objects["tokens"].get(persona, 1),
    )


@pytest.mark.parametrize("name", sorted(MATRIX))
def test_anonymous_visitors_are_sent_to_sign_in(client, objects, name):
    method, template, _ = MATRIX[name]
    assert_sent_to_sign_in(client, method, _path(template, objects, "anon"))


@pytest.mark.parametrize("name", sorted(MATRIX))
@pytest.mark.parametrize("persona", PERSONAS)
def test_each_role_gets_what_it_may_and_403_otherwise(client, objects, name, persona):
    method, template, allowed = MATRIX[name]
    user = objects["people"][persona]
    assert_role_access(client, user, method, _path(template, objects, persona), persona in allowed)
