import hashlib
import hmac

import pytest

from audit.models import AuditEvent
from notifications import webhooks
from notifications.models import WebhookEndpoint


def test_the_signature_is_hmac_sha256_of_timestamp_dot_body():
    expected = hmac.new(b"s3cret", b"1700000000.{}", hashlib.sha256).hexdigest()
    assert webhooks.signature("s3cret", 1700000000, b"{}") == f"sha256={expected}"


def test_a_tampered_body_does_not_verify():
    header = webhooks.signature("s3cret", 1700000000, b'{"a":1}')
    assert webhooks.verify("s3cret", "1700000000", b'{"a":1}', header, now=1700000000)
    assert not webhooks.verify("s3cret", "1700000000", b'{"a":2}', header, now=1700000000)


def test_an_old_timestamp_does_not_verify():
    header = webhooks.signature("s3cret", 1700000000, b"{}")
    assert not webhooks.verify("s3cret", "1700000000", b"{}", header, now=1700000000 + 301)
    assert not webhooks.verify("s3cret", "not-a-number", b"{}", header)


@pytest.mark.django_db
def test_each_endpoint_gets_its_own_random_secret():
    a = webhooks.create_endpoint(name="a", url="https://a.example.test/", events=[])
    b = webhooks.create_endpoint(name="b", url="https://b.example.test/", events=[])
    assert a.secret != b.secret and len(a.secret) >= 40


@pytest.mark.django_db
def test_the_audit_row_never_contains_the_secret():
    endpoint = webhooks.create_endpoint(name="a", url="https://a.example.test/", events=[])
    webhooks.rotate_secret(endpoint)
    rows = AuditEvent.objects.filter(action__startswith="notifications.webhook")
    assert rows.count() == 2
    assert all(endpoint.secret not in str((r.before, r.after)) for r in rows)


@pytest.mark.django_db
def test_enabling_an_enabled_endpoint_changes_nothing():
    endpoint = webhooks.create_endpoint(name="a", url="https://a.example.test/", events=[])
    assert webhooks.set_enabled(endpoint, True) is False
    assert webhooks.set_enabled(endpoint, False) is True


def test_an_endpoint_matches_whole_areas_and_single_events():
    endpoint = WebhookEndpoint(events=["approvals.*", "system.liveness"])
    assert endpoint.wants("approvals.decided") and endpoint.wants("system.liveness")
    assert not endpoint.wants("backups.failed")
