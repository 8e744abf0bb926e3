"""The OpenAPI 3.1 document of the service, built from the same tables that parse and validate."""

from __future__ import annotations

from typing import Any

import msgspec

from reelsight.errors import API_ERRORS
from reelsight.query.dimensions import DIMENSIONS
from reelsight.query.parse import DEFAULT_LIMIT, FLAG_PARAMS, MAX_LIMIT
from reelsight.sessions.document import SessionDocument
from reelsight.web.sessions_route import PATH

_TIME = {
    "start_date": (
        "string",
        "Start (inclusive), ISO 8601: YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS[.fff][Z|+HH:MM].",
    ),
    "start_epoch": ("number", "Start (inclusive), Unix seconds; a decimal fraction is allowed."),
    "start_epoch_ms": ("integer", "Start (inclusive), Unix milliseconds."),
    "end_date": ("string", "End (exclusive), ISO 8601 as for start_date."),
    "end_epoch": ("number", "End (exclusive), Unix seconds; a decimal fraction is allowed."),
    "end_epoch_ms": ("integer", "End (exclusive), Unix milliseconds."),
}


def _repeatable(name: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description + " Repeat the parameter to match any of several values.",
        "schema": {"type": "array", "items": {"type": "string", "maxLength": 4096}},
        "style": "form",
        "explode": True,
    }


def _parameters() -> list[dict[str, Any]]:
    params: list[dict[str, Any]] = [
        {
            "name": name,
            "in": "query",
            "required": False,
            "description": description,
            "schema": {"type": kind},
        }
        for name, (kind, description) in _TIME.items()
    ]
    params.append(
        {
            "name": "limit",
            "in": "query",
            "required": False,
            "description": "How many sessions to sample.",
            "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT},
        }
    )
    for flag in FLAG_PARAMS:
        params.append(
            {
                "name": flag,
                "in": "query",
                "required": False,
                "description": f"Only sessions whose status_info.{flag} is this value (true/false, any case).",
                "schema": {"type": "array", "items": {"type": "string", "enum": ["true", "false"]}},
                "style": "form",
                "explode": True,
            }
        )
    params.append(_repeatable("session_id", "Exact match on session_id."))
    params.append(_repeatable("client_id", "Exact match on client_id (the player device id)."))
    for dim in DIMENSIONS:
        params.append(_repeatable(dim.param, f"Exact, case-sensitive match on {dim.field}."))
    return params


def _error_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["message", "code"],
        "properties": {
            "message": {"type": "string"},
            "code": {"type": "string", "enum": sorted({e.code for e in API_ERRORS} - {"unauthorized"})},
            "parameter": {"type": "string"},
        },
        "additionalProperties": False,
    }


def build_openapi() -> dict[str, Any]:
    (schema,), components = msgspec.json.schema_components(
        [SessionDocument], ref_template="#/components/schemas/{name}"
    )
    components["NetworkInfo"]["required"] = sorted({*components["NetworkInfo"]["required"], "ip", "ipv6"})
    components["Error"] = _error_schema()
    components["Unauthorized"] = {
        "type": "object",
        "required": ["message"],
        "properties": {"message": {"type": "string", "const": "Unauthorized"}},
        "additionalProperties": False,
    }
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    responses: dict[str, Any] = {
        "200": {
            "description": "A sample of ended sessions, newest end first.",
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "required": ["sessions"],
                        "properties": {"sessions": {"type": "array", "items": schema}},
                        "additionalProperties": False,
                    }
                }
            },
        },
        "401": {
            "description": "Missing, malformed, unknown, wrong or disabled credentials.",
            "headers": {"WWW-Authenticate": {"schema": {"type": "string"}}},
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Unauthorized"}}},
        },
    }
    for status, description in (
        ("400", "invalid_parameter, unknown_parameter or conflicting_parameters (or invalid_request: not HTTP)."),
        ("408", "request_timeout: the request head or body arrived too slowly; the connection is closed."),
        ("414", "uri_too_long: the request target is longer than http_max_request_line_bytes."),
        ("422", "time_range_out_of_bounds: the range breaks one of its rules."),
        ("429", "rate_limited: see Retry-After."),
        ("431", "request_header_too_large: a header, or all of them, over their limit."),
        ("503", "unavailable: the query took too long, or the store is unavailable."),
    ):
        responses[status] = {"description": description, "content": error}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Reelsight sessions API",
            "version": "3.0",
            "description": (
                "Sampled ended video sessions, wire-compatible with GET /insights/3.0/sessions/content. "
                "Besides the parameters listed, tag_{name} filters on custom tag {name} (exact match; a "
                'session without the tag has the value ""). Any other parameter is a 400 unknown_parameter.'
            ),
        },
        "components": {
            "schemas": components,
            "securitySchemes": {"basic": {"type": "http", "scheme": "basic"}},
        },
        "security": [{"basic": []}],
        "paths": {
            PATH: {
                "get": {
                    "operationId": "getSessionsContent",
                    "summary": "Retrieve sample video content sessions",
                    "parameters": _parameters(),
                    "responses": responses,
                }
            }
        },
    }
