"""The OpenAPI document and the URL patterns describe the same API."""

import re

from django.urls import get_resolver

from releases import api_urls, publishing
from releases.models import App, Channel
from releases.openapi import DOCUMENT
from releases.serializers import channel_json

SAMPLE = {"slug": "shop", "sha256": "a" * 64, "name": "production", "pk": "1"}


def _documented() -> set[tuple[str, str]]:
    return {(path, method) for path, ops in DOCUMENT["paths"].items() for method in ops}


def test_the_document_is_served_publicly(client, db):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    assert response.json()["openapi"] == "3.1.0"


def test_every_documented_path_resolves_to_a_releases_view(db):
    resolver = get_resolver()
    for path in DOCUMENT["paths"]:
        concrete = "/api/v1" + re.sub(r"\{(\w+)\}", lambda m: SAMPLE[m.group(1)], path)
        match = resolver.resolve(concrete)
        assert match.namespace == "api_releases", path


def test_every_documented_method_is_accepted_by_its_view(client, db):
    for path, method in _documented():
        concrete = "/api/v1" + re.sub(r"\{(\w+)\}", lambda m: SAMPLE[m.group(1)], path)
        response = getattr(client, method)(concrete)
        assert response.status_code != 405, (path, method)


def test_every_url_pattern_is_documented(db):
    documented_paths = set(DOCUMENT["paths"])
    for pattern in api_urls.urlpatterns:
        route = str(pattern.pattern)
        route = route.replace("^", "").replace("$", "").replace("\\.", ".")
        route = re.sub(r"\(\?P<(\w+)>[^)]*\)", r"{\1}", route)
        route = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route)
        assert "/" + route in documented_paths, route


def test_undocumented_methods_are_refused(client, db):
    assert client.delete("/api/v1/update").status_code == 405


def test_the_channel_schema_documents_exactly_what_the_api_answers(db):
    channel = publishing.create_channel(App.objects.create(slug="shop", name="S"), name="beta")
    documented = DOCUMENT["components"]["schemas"]["Channel"]["properties"]
    assert set(documented) == set(channel_json(channel))


def test_the_release_gate_is_documented_with_the_models_choices():
    gate = DOCUMENT["components"]["schemas"]["Channel"]["properties"]["release_gate"]
    create = DOCUMENT["paths"]["/apps/{slug}/channels"]["post"]["requestBody"]["content"]
    accepted = create["application/json"]["schema"]["properties"]["release_gate"]
    assert gate["enum"] == accepted["enum"] == Channel.ReleaseGate.values
    assert gate["default"] == Channel._meta.get_field("release_gate").default


def test_the_documented_reasons_are_those_api_md_lists():
    from pathlib import Path

    api_md = (Path(api_urls.__file__).parent / "API.md").read_text()
    listed = set(re.findall(r"^\| `([A-Z][A-Z_]+)` \|", api_md, re.MULTILINE))
    reasons = DOCUMENT["components"]["schemas"]["UpdateAnswer"]["properties"]["reason"]["enum"]
    assert set(reasons) == listed
    assert "AWAITING_ROLLOUT" in listed
