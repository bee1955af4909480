"""The admin shows telemetry read-only."""

from __future__ import annotations

from django.utils import timezone

from monitoring.ingest import store, validate


def test_the_admin_lists_telemetry_records_without_an_add_button(login, alice, channel):
    now = timezone.now()
    events = [{"type": "launch"}, {"type": "vital", "name": "CLS", "value": 0.1, "id": "v1"}]
    payload = {"install_id": "i-1", "version": "1.0.0", "events": events}
    store(channel, validate(payload, now=now), now=now)
    client = login(alice)
    for model in ("event", "install", "rollup", "rollupbucket", "vitallast"):
        page = client.get(f"/admin/monitoring/{model}/")
        assert page.status_code == 200
        assert f"/admin/monitoring/{model}/add/" not in page.content.decode()
