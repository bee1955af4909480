"""The admin shows performance records read-only."""

from __future__ import annotations

import pytest

from performance import baselines, resources

pytestmark = pytest.mark.django_db


def test_the_admin_lists_records_without_add_or_change(login, alice, channel, release):
    baselines.take(channel, "1.0.0", source="manual")
    resources.measure(release)
    client = login(alice)
    for model in ("baseline", "bundlereport", "candidate"):
        page = client.get(f"/admin/performance/{model}/")
        assert page.status_code == 200
        assert f"/admin/performance/{model}/add/" not in page.content.decode()
