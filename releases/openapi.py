"""The OpenAPI 3.1 document of the releases API, written by hand (served at /api/v1/openapi.json).

tests/releases/test_openapi.py checks that every documented path and method is routed and that
every route in releases/api_urls.py is documented.
"""

from __future__ import annotations

import functools
import json


def _error(description: str) -> dict:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def _json(ref: str, description: str) -> dict:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}},
    }


SLUG = {"name": "slug", "in": "path", "required": True, "schema": {"type": "string"}}
PK = {"name": "pk", "in": "path", "required": True, "schema": {"type": "integer"}}
NAME = {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}
AUTH_ERRORS = {
    "401": _error("No or bad token"),
    "403": _error("The token's owner lacks the permission"),
}
GATE = {
    "enum": ["rollout", "immediate"],
    "default": "rollout",
    "description": (
        "rollout: new releases reach clients only through a rollout; until one starts they are "
        "served to testers only. immediate: a published release is available to everyone at once."
    ),
}

DOCUMENT: dict = {
    "openapi": "3.1.0",
    "info": {
        "title": "Upkeep releases API",
        "version": "1.0.0",
        "description": "CI publishing (Bearer token) and the public client endpoints. "
        'Errors are {"error": code, "detail": text}. See releases/API.md.',
    },
    "servers": [{"url": "/api/v1"}],
    "components": {
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        "schemas": {
            "Error": {
                "type": "object",
                "required": ["error", "detail"],
                "properties": {
                    "error": {"type": "string"},
                    "detail": {},
                    "field": {"type": "string"},
                },
            },
            "Channel": {
                "type": "object",
                "properties": {
                    "name": {"type": "string"},
                    "client_key": {"type": "string"},
                    "previous_key_valid_until": {"type": ["string", "null"], "format": "date-time"},
                    "upload_policy": {"enum": ["reject", "supersede"]},
                    "is_production": {"type": "boolean"},
                    "release_gate": GATE,
                    "testers": {"type": "integer"},
                },
            },
            "App": {
                "type": "object",
                "properties": {
                    "slug": {"type": "string"},
                    "name": {"type": "string"},
                    "created_at": {"type": "string", "format": "date-time"},
                    "budgets": {"type": "object"},
                    "channels": {
                        "type": "array",
                        "items": {"$ref": "#/components/schemas/Channel"},
                    },
                },
            },
            "Release": {
                "type": "object",
                "properties": {
                    "version": {"type": "string"},
                    "sha256": {"type": "string"},
                    "size": {"type": "integer"},
                    "url": {"type": "string"},
                    "channel": {"type": ["string", "null"]},
                    "released_at": {"type": "string", "format": "date-time"},
                    "author": {"type": ["string", "null"]},
                    "previous": {"type": ["string", "null"]},
                    "changes": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {
                                "type": {
                                    "enum": [
                                        "feature",
                                        "fix",
                                        "security",
                                        "breaking",
                                        "deprecation",
                                    ]
                                },
                                "text": {"type": "string"},
                            },
                        },
                    },
                    "notes": {"type": "string"},
                    "compatibility": {"enum": ["backward_compatible", "migration_required"]},
                    "deprecated": {"type": "array", "items": {"type": "string"}},
                    "runtime": {"type": "string"},
                    "mandatory": {"type": "boolean"},
                    "rollback_target": {"type": ["string", "null"]},
                    "disabled": {"type": "boolean"},
                    "budget": {"type": "object"},
                    "analysis": {
                        "type": "object",
                        "description": "totals, by_type, packages, "
                        "largest, duplicates, diff (see releases/README.md)",
                    },
                },
            },
            "ReleasePage": {
                "type": "object",
                "properties": {
                    "results": {"type": "array", "items": {"$ref": "#/components/schemas/Release"}},
                    "page": {"type": "integer"},
                    "per_page": {"type": "integer"},
                    "total": {"type": "integer"},
                    "next": {"type": ["string", "null"]},
                },
            },
            "Rollout": {
                "type": "object",
                "required": ["id", "state", "phase", "percent", "metrics", "events"],
                "properties": {
                    "id": {"type": "integer"},
                    "app": {"type": "string"},
                    "channel": {"type": "string"},
                    "version": {"type": "string"},
                    "stable_version": {"type": ["string", "null"]},
                    "strategy": {"enum": ["canary", "blue_green"]},
                    "state": {
                        "enum": [
                            "running",
                            "awaiting_approval",
                            "paused",
                            "completed",
                            "aborted",
                            "rolled_back",
                            "superseded",
                        ]
                    },
                    "attempt": {
                        "type": "integer",
                        "minimum": 1,
                        "description": "which run of the rollout this is: 1, then one more on "
                        "each restart (approvals and switch checks count per attempt)",
                    },
                    "step": {
                        "enum": [
                            "hold",
                            "analyzing",
                            "staged",
                            "checking",
                            "check_failed",
                            None,
                        ],
                        "description": "staged / checking / check_failed: a blue-green before "
                        "its switch",
                    },
                    "phase": {"type": "integer", "description": "index into phases"},
                    "percent": {"type": "number"},
                    "phases": {"type": "array", "items": {"$ref": "#/components/schemas/Phase"}},
                    "hold_seconds_left": {"type": ["integer", "null"]},
                    "salt": {"type": "string"},
                    "row_version": {"type": "integer"},
                    "started_by": {"type": ["string", "null"]},
                    "started_at": {"type": "string", "format": "date-time"},
                    "ended_at": {"type": ["string", "null"], "format": "date-time"},
                    "reason": {"type": "string"},
                    "metrics": {"type": "array", "items": {"type": "object"}},
                    "blue_green": {"$ref": "#/components/schemas/BlueGreen"},
                    "events": {"type": "array", "items": {"type": "object"}},
                },
            },
            "BlueGreen": {
                "type": "object",
                "description": "Only on a blue-green rollout: its options, which slot is live, "
                "and the last five pre-switch health checks",
                "properties": {
                    "probes": {"type": "array", "items": {"type": "string", "format": "uri"}},
                    "probe_timeout": {"type": "number"},
                    "window_seconds": {"type": "integer"},
                    "restore_seconds": {"type": "integer"},
                    "requires_approval": {"type": "boolean"},
                    "live": {"enum": ["blue", "green"]},
                    "blue": {"type": ["string", "null"], "description": "the previous release"},
                    "green": {"type": "string", "description": "this rollout's release"},
                    "restore_until": {"type": ["string", "null"], "format": "date-time"},
                    "can_flip_back": {"type": "boolean"},
                    "checks": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {
                                "id": {"type": "integer"},
                                "attempt": {"type": "integer"},
                                "started_at": {"type": "string", "format": "date-time"},
                                "finished_at": {"type": ["string", "null"], "format": "date-time"},
                                "passed": {
                                    "type": ["boolean", "null"],
                                    "description": "null: running, or abandoned",
                                },
                                "summary": {"type": "string"},
                                "bundle": {"type": "object"},
                                "probes": {
                                    "type": "array",
                                    "items": {
                                        "type": "object",
                                        "properties": {
                                            "url": {"type": "string"},
                                            "ok": {"type": "boolean"},
                                            "status": {"type": ["integer", "null"]},
                                            "latency_ms": {"type": ["number", "null"]},
                                            "error": {"type": "string"},
                                        },
                                    },
                                },
                            },
                        },
                    },
                },
            },
            "Phase": {
                "type": "object",
                "required": ["percent"],
                "properties": {
                    "percent": {"type": "number", "exclusiveMinimum": 0, "maximum": 100},
                    "hold_seconds": {"type": "integer", "minimum": 0},
                    "requires_approval": {"type": "boolean"},
                    "max_hold_seconds": {"type": "integer"},
                },
            },
            "MetricSpec": {
                "type": "object",
                "required": ["metric"],
                "properties": {
                    "metric": {
                        "enum": [
                            "crash_rate",
                            "error_rate",
                            "install_failure_rate",
                            "lcp_p75",
                            "inp_p75",
                            "api_error_rate",
                        ]
                    },
                    "threshold": {"type": "number", "minimum": 0},
                    "relative": {"type": "boolean"},
                    "min_samples": {"type": "integer", "minimum": 1},
                    "interval_seconds": {"type": "integer", "minimum": 10},
                    "window_seconds": {"type": "integer", "minimum": 60},
                    "failure_limit": {"type": "integer", "minimum": 0},
                    "quorum": {"type": "integer", "minimum": 1},
                    "alpha": {"type": "number"},
                    "dry_run": {"type": "boolean"},
                },
            },
            "UpdateAnswer": {
                "type": "object",
                "required": ["version", "url", "sha256", "size", "mandatory", "reason", "bucket"],
                "properties": {
                    "version": {
                        "type": ["string", "null"],
                        "description": "null: keep running the embedded bundle",
                    },
                    "url": {"type": ["string", "null"]},
                    "sha256": {"type": ["string", "null"]},
                    "size": {"type": ["integer", "null"]},
                    "mandatory": {"type": "boolean"},
                    "reason": {
                        "enum": [
                            "UPDATE_AVAILABLE",
                            "MANDATORY",
                            "TESTER",
                            "ROLLOUT_MATCH",
                            "ROLLOUT_EXCLUDED",
                            "TESTERS_ONLY",
                            "AWAITING_ROLLOUT",
                            "UP_TO_DATE",
                            "NO_COMPATIBLE",
                            "NO_RELEASE",
                            "ROLLED_BACK",
                        ]
                    },
                    "bucket": {"type": ["integer", "null"], "minimum": 0, "maximum": 9999},
                    "flags": {
                        "type": "object",
                        "description": "Feature flags that are on for this install: key → "
                        "variant (flags that are off, killed or unknown are left out)",
                        "additionalProperties": {"type": "string"},
                    },
                },
            },
        },
    },
    "paths": {
        "/apps": {
            "post": {
                "summary": "Create an app",
                "security": [{"bearer": []}],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["slug", "name"],
                                "properties": {
                                    "slug": {"type": "string"},
                                    "name": {"type": "string"},
                                },
                            }
                        }
                    },
                },
                "responses": {
                    "201": _json("App", "Created"),
                    "400": _error("Bad slug or name"),
                    **AUTH_ERRORS,
                    "409": _error("The slug exists"),
                },
            }
        },
        "/apps/{slug}": {
            "get": {
                "summary": "An app and its channels",
                "security": [{"bearer": []}],
                "parameters": [SLUG],
                "responses": {
                    "200": _json("App", "The app"),
                    **AUTH_ERRORS,
                    "404": _error("No such app"),
                },
            }
        },
        "/apps/{slug}/channels": {
            "post": {
                "summary": "Create a channel",
                "security": [{"bearer": []}],
                "parameters": [SLUG],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["name"],
                                "properties": {
                                    "name": {"type": "string"},
                                    "upload_policy": {"enum": ["reject", "supersede"]},
                                    "is_production": {"type": "boolean"},
                                    "release_gate": GATE,
                                },
                            }
                        }
                    },
                },
                "responses": {
                    "201": _json("Channel", "Created, with its client key"),
                    "400": _error("Bad name, upload policy or release gate"),
                    **AUTH_ERRORS,
                    "404": _error("No such app"),
                    "409": _error("The channel exists"),
                },
            }
        },
        "/apps/{slug}/channels/{name}": {
            "patch": {
                "summary": "Change a channel's release gate",
                "description": "Audited; update answers change at once. Opening the gate "
                "(rollout → immediate) makes every published release that waits for its "
                "rollout available to everyone at once. Refused while a rollout is active on "
                "the channel.",
                "security": [{"bearer": []}],
                "parameters": [SLUG, NAME],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["release_gate"],
                                "additionalProperties": False,
                                "properties": {
                                    "release_gate": {
                                        k: v for k, v in GATE.items() if k != "default"
                                    },
                                    "reason": {
                                        "type": "string",
                                        "description": "kept in the audit trail",
                                    },
                                },
                            }
                        }
                    },
                },
                "responses": {
                    "200": _json("Channel", "The channel as it is now"),
                    "400": _error("Missing or unknown release gate, or an unknown field"),
                    **AUTH_ERRORS,
                    "404": _error("No such app or channel"),
                    "409": _error("A rollout is active on the channel (rollout_active)"),
                },
            }
        },
        "/apps/{slug}/releases": {
            "post": {
                "summary": "Publish a release",
                "security": [{"bearer": []}],
                "parameters": [SLUG],
                "requestBody": {
                    "required": True,
                    "content": {
                        "multipart/form-data": {
                            "schema": {
                                "type": "object",
                                "required": ["version", "bundle"],
                                "properties": {
                                    "version": {"type": "string", "description": "strict semver"},
                                    "bundle": {
                                        "type": "string",
                                        "contentMediaType": "application/zip",
                                    },
                                    "notes": {"type": "string"},
                                    "changes": {
                                        "type": "string",
                                        "description": "JSON [{type, text}] or 'type: text' lines",
                                    },
                                    "mandatory": {"type": "boolean"},
                                    "runtime": {"type": "string", "description": "semver range"},
                                    "channel": {
                                        "type": "string",
                                        "description": "only this channel",
                                    },
                                    "rollback_target": {"type": "string"},
                                },
                            }
                        }
                    },
                },
                "responses": {
                    "201": _json("Release", "Published, with its analysis"),
                    "400": _error("Bad semver, bad zip or bad field"),
                    **AUTH_ERRORS,
                    "404": _error("No such app"),
                    "409": _error(
                        "Duplicate version, version not greater than the latest, or "
                        "byte-identical bundle"
                    ),
                },
            },
            "get": {
                "summary": "Releases, newest first",
                "security": [{"bearer": []}],
                "parameters": [
                    SLUG,
                    {"name": "page", "in": "query", "schema": {"type": "integer"}},
                    {
                        "name": "per_page",
                        "in": "query",
                        "schema": {"type": "integer", "maximum": 100},
                    },
                ],
                "responses": {
                    "200": _json("ReleasePage", "A page of releases"),
                    "400": _error("Bad page"),
                    **AUTH_ERRORS,
                    "404": _error("No such app"),
                },
            },
        },
        "/apps/{slug}/channels/{name}/rollouts": {
            "post": {
                "summary": "Start a canary or blue-green rollout of a release on a channel",
                "security": [{"bearer": []}],
                "parameters": [
                    SLUG,
                    NAME,
                ],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["version"],
                                "properties": {
                                    "version": {"type": "string"},
                                    "strategy": {"enum": ["canary", "blue_green"]},
                                    "phases": {
                                        "type": "array",
                                        "items": {"$ref": "#/components/schemas/Phase"},
                                        "description": "canary only; default 5%/10 min, "
                                        "25%/30 min, 50%/1 h, 100%",
                                    },
                                    "probes": {
                                        "type": "array",
                                        "maxItems": 10,
                                        "items": {"type": "string", "format": "uri"},
                                        "description": "blue_green only: backend URLs that "
                                        "must answer 2xx (redirects not followed) before the "
                                        "switch",
                                    },
                                    "window_seconds": {
                                        "type": "integer",
                                        "minimum": 60,
                                        "maximum": 604800,
                                        "default": 300,
                                        "description": "blue_green only: the monitoring "
                                        "window after the switch",
                                    },
                                    "probe_timeout": {
                                        "type": "number",
                                        "minimum": 0.1,
                                        "maximum": 30,
                                        "default": 5,
                                    },
                                    "restore_seconds": {
                                        "type": "integer",
                                        "minimum": 0,
                                        "maximum": 2592000,
                                        "default": 86400,
                                        "description": "blue_green only: how long after "
                                        "completion the flip back stays available",
                                    },
                                    "requires_approval": {
                                        "type": "boolean",
                                        "default": False,
                                        "description": "blue_green only: the switch needs "
                                        "the channel's approvers",
                                    },
                                    "metrics": {
                                        "type": "array",
                                        "items": {"$ref": "#/components/schemas/MetricSpec"},
                                    },
                                },
                            }
                        }
                    },
                },
                "responses": {
                    "201": _json("Rollout", "Started"),
                    "400": _error(
                        "Bad phases, metrics, strategy, probes or field (blue-green options "
                        "on a canary)"
                    ),
                    **AUTH_ERRORS,
                    "404": _error("No such channel or release"),
                    "409": _error(
                        "An active rollout on the channel, release disabled, over budget "
                        "without an override, already completed, or (blue-green) no earlier "
                        "release live on the channel to keep as the blue slot"
                    ),
                },
            }
        },
        "/rollouts/{pk}": {
            "get": {
                "summary": "A rollout: state, phase, percent, metrics, last 20 events",
                "security": [{"bearer": []}],
                "parameters": [PK],
                "responses": {
                    "200": _json("Rollout", "The rollout"),
                    **AUTH_ERRORS,
                    "404": _error("No such rollout"),
                },
            }
        },
        "/rollouts/{pk}/abort": {
            "post": {
                "summary": "Abort a rollout (its cohort goes to 0 % at once)",
                "security": [{"bearer": []}],
                "parameters": [PK],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["reason"],
                                "properties": {"reason": {"type": "string"}},
                            }
                        }
                    },
                },
                "responses": {
                    "200": _json("Rollout", "Aborted"),
                    "400": _error("No reason"),
                    **AUTH_ERRORS,
                    "404": _error("No such rollout"),
                    "409": _error("Not active, or changed meanwhile"),
                },
            }
        },
        "/rollouts/{pk}/switch": {
            "post": {
                "summary": "Blue-green: health-check, then switch all traffic to the new release",
                "description": "Runs every probe and re-hashes the bundle (about one probe "
                "timeout), then switches. When the switch needs approval and the channel's "
                "approvers have not given it for this attempt, the rollout waits for them "
                "(202) and the checks run when the last one approves. No body, or {}.",
                "security": [{"bearer": []}],
                "parameters": [PK],
                "responses": {
                    "200": _json("Rollout", "Checks passed: all traffic is on the new release"),
                    "202": _json("Rollout", "Awaiting approval before the checks and switch"),
                    "400": _error("Not a blue-green rollout (not_blue_green), or a body field"),
                    **AUTH_ERRORS,
                    "404": _error("No such rollout"),
                    "409": _error(
                        "check_failed (traffic untouched; detail lists each failure, `check` "
                        "holds the stored check and `rollout` the rollout), not_staged, "
                        "awaiting_approval, check_running, stale"
                    ),
                },
            }
        },
        "/rollouts/{pk}/flip-back": {
            "post": {
                "summary": "Blue-green: all traffic back to the previous release (blue)",
                "description": "During the monitoring window it aborts the rollout (event "
                "flipped_back, restartable); after completion, within restore_seconds, the "
                "rollout becomes rolled_back. Green's clients get blue, ROLLED_BACK, mandatory.",
                "security": [{"bearer": []}],
                "parameters": [PK],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["reason"],
                                "properties": {"reason": {"type": "string"}},
                            }
                        }
                    },
                },
                "responses": {
                    "200": _json("Rollout", "Flipped back"),
                    "400": _error("No reason (reason_required), not blue-green, unknown field"),
                    **AUTH_ERRORS,
                    "404": _error("No such rollout"),
                    "409": _error(
                        "not_switched, not_live, restore_expired, newer_rollout, "
                        "no_blue_slot, stale"
                    ),
                },
            }
        },
        "/update": {
            "get": {
                "summary": "Which version should this client run? (public)",
                "security": [],
                "parameters": [
                    {"name": "key", "in": "query", "required": True, "schema": {"type": "string"}},
                    {
                        "name": "current",
                        "in": "query",
                        "required": True,
                        "schema": {"type": "string"},
                        "description": "the version the client runs",
                    },
                    {
                        "name": "runtime",
                        "in": "query",
                        "required": True,
                        "schema": {"type": "string"},
                        "description": "host/base library version",
                    },
                    {
                        "name": "install_id",
                        "in": "query",
                        "schema": {"type": "string"},
                        "description": "without it the client is never in a cohort",
                    },
                ],
                "responses": {
                    "200": _json("UpdateAnswer", "The answer"),
                    "400": _error("Missing or malformed parameter"),
                    "404": _error("Unknown client key"),
                },
            }
        },
        "/bundles/{sha256}.zip": {
            "get": {
                "summary": "Bundle bytes by content hash (public, immutable, Range)",
                "security": [],
                "parameters": [
                    {
                        "name": "sha256",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
                    },
                    {"name": "Range", "in": "header", "schema": {"type": "string"}},
                ],
                "responses": {
                    "200": {"description": "The whole bundle"},
                    "206": {"description": "The requested byte range"},
                    "304": {"description": "If-None-Match matched the ETag"},
                    "404": _error("No such bundle"),
                    "416": {"description": "Range not satisfiable"},
                },
            }
        },
        "/openapi.json": {
            "get": {
                "summary": "This document (public)",
                "security": [],
                "responses": {"200": {"description": "OpenAPI 3.1"}},
            }
        },
    },
}


@functools.cache
def document_bytes() -> bytes:
    return json.dumps(DOCUMENT, separators=(",", ":")).encode()
