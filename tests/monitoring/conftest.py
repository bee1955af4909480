from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from releases.models import App, Channel


@pytest.fixture
def channel(db):
    app = App.objects.create(slug="shop", name="Shop")
    return Channel.objects.create(app=app, name="production", is_production=True)


@pytest.fixture
def post_batch(client):
    """post_batch(key, payload) posts a telemetry batch and returns the response."""

    def _post(key, payload, **extra):
        body = payload if isinstance(payload, (bytes, str)) else json.dumps(payload)
        return client.post(
            f"/api/v1/telemetry?key={key}", body, content_type="application/json", **extra
        )

    return _post


def iso(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat()
