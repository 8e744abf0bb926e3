"""The OpenAPI 3.1 document of the service, built from the same tables that parse and validate."""

from __future__ import annotations

from typing import Any

import msgspec

from reelsight.errors import API_ERRORS
from reelsight.query.catalogue import FILTERS_BY_NAME
from reelsight.query.dimensions import DIMENSIONS
from reelsight.query.parse import DEFAULT_LIMIT, FLAG_PARAMS, ID_PARAMS, MAX_LIMIT
from reelsight.query.viewer import MAX_DAYS
from reelsight.sessions.document import SessionDocument
from reelsight.web import discovery_route, timeline_route, viewer_route
from reelsight.web.openapi_metrics import metrics_paths
from reelsight.web.sessions_route import AD_PATH, PATH
from reelsight.web.timeline_route import TimelineResponse

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


def _window_parameters(limit: str) -> list[dict[str, Any]]:
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
            "description": limit,
            "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT},
        }
    )
    return params


def _viewer_parameters() -> list[dict[str, Any]]:
    def one(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
        return {"name": name, "in": "query", "required": False, "description": description, "schema": schema}

    return [
        one("viewer_id", "The viewer whose sessions to list (give viewer_id or ip).", {"type": "string"}),
        one(
            "ip",
            "A client address (IPv4 or IPv6, any spelling) whose sessions to list (give viewer_id or ip).",
            {"type": "string"},
        ),
        one(
            "days",
            f"The last DAYS days up to now (1-{MAX_DAYS}); instead of a start/end time. Without either, the last "
            f"{MAX_DAYS} days.",
            {"type": "integer", "minimum": 1, "maximum": MAX_DAYS},
        ),
        *_window_parameters("How many sessions to list, newest first."),
    ]


def _parameters() -> list[dict[str, Any]]:
    params = _window_parameters("How many sessions to sample.")
    for flag in FLAG_PARAMS:
        params.append(
            {
                "name": flag,
                "in": "query",
                "required": False,
                "description": FILTERS_BY_NAME[flag].description,
                "schema": {"type": "array", "items": {"type": "string", "enum": ["true", "false"]}},
                "style": "form",
                "explode": True,
            }
        )
    for name in ID_PARAMS:
        params.append(_repeatable(name, FILTERS_BY_NAME[name].description))
    for dim in DIMENSIONS:
        params.append(_repeatable(dim.param, FILTERS_BY_NAME[dim.param].description))
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


def _error_responses(error: dict[str, Any], *codes: tuple[str, str]) -> dict[str, Any]:
    """The 401 and the envelope's answers every read endpoint shares, then ``codes`` (status, description)."""
    responses: dict[str, Any] = {
        "401": {
            "description": "Missing, malformed, unknown, wrong or disabled credentials.",
            "headers": {"WWW-Authenticate": {"schema": {"type": "string"}}},
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Unauthorized"}}},
        },
    }
    for status, description in (
        *codes,
        ("408", "request_timeout: the request head or body arrived too slowly; the connection is closed."),
        ("414", "uri_too_long: the request target is longer than http_max_request_line_bytes."),
        ("429", "rate_limited: see Retry-After. The limits are shared by every read endpoint."),
        ("431", "request_header_too_large: a header, or all of them, over their limit."),
        ("503", "unavailable: the read took too long, or the store is unavailable."),
    ):
        responses[status] = {"description": description, "content": error}
    return dict(sorted(responses.items()))


_METRICS_ERRORS = (
    ("400", "invalid_parameter, unknown_parameter or conflicting_parameters (or invalid_request: not HTTP)."),
    ("422", "time_range_out_of_bounds: the range breaks one of its rules."),
)
_NO_PARAMETERS_400 = (
    "400",
    "unknown_parameter: this endpoint takes no parameters (invalid_parameter: a query string over its limits;"
    " invalid_request: not HTTP).",
)


def _catalogue_paths(error: dict[str, Any], discovery: Any, dimensions: Any) -> dict[str, Any]:
    def ok(description: str, schema: Any) -> dict[str, Any]:
        return {"200": {"description": description, "content": {"application/json": {"schema": schema}}}}

    return {
        discovery_route.PATH: {
            "get": {
                "operationId": "getSessionsResources",
                "summary": "The session endpoints this account may use",
                "description": (
                    "Only the entries the account is entitled to (the ad sessions with the ad insights permission, "
                    "the viewer endpoint with the viewer module). "
                    "Each path is an absolute URL of this server: the public_url setting, or the scheme and "
                    "Host of the request."
                ),
                "parameters": [],
                "responses": {
                    **ok("The account's session resources and references.", discovery),
                    **_error_responses(error, _NO_PARAMETERS_400),
                },
            }
        },
        discovery_route.DIMENSIONS_PATH: {
            "get": {
                "operationId": "getSessionsDimensions",
                "summary": "The filters of the session endpoints this account may use",
                "description": (
                    "Every dimension, flag and id filter, then tag_<key> for each custom tag key of the account's "
                    f"sessions within the retention window (the first {discovery_route.MAX_TAG_KEYS} in "
                    "alphabetical order; custom_tags_truncated says whether there were more)."
                ),
                "parameters": [],
                "responses": {
                    **ok("The account's filters.", dimensions),
                    **_error_responses(error, _NO_PARAMETERS_400),
                },
            }
        },
    }


def _timeline_paths(error: dict[str, Any], timeline: Any) -> dict[str, Any]:
    """The extension endpoints of one session's timeline (content, and ad with ad insights)."""
    session_id = {
        "name": "conviva_session_id",
        "in": "path",
        "required": True,
        "description": "The session's conviva_session_id (client_id + '.' + session_id).",
        "schema": {"type": "string"},
    }
    paths: dict[str, Any] = {}
    for path, kind, operation, extra in (
        (timeline_route.CONTENT_PATH, "content", "getReelsightContentSessionTimeline", ()),
        (
            timeline_route.AD_PATH,
            "ad",
            "getReelsightAdSessionTimeline",
            (("403", "forbidden: the account has no ad insights permission."),),
        ),
    ):
        paths[path] = {
            "get": {
                "operationId": operation,
                "summary": f"The timeline of one ended {kind} session (a Reelsight extension)",
                "description": (
                    f"State intervals, bitrate and CDN steps, seeks, ad breaks and errors of one ended {kind} "
                    "session computed by the sessionizer, in epoch ms. 404 for an id the account has no ended "
                    f"{kind} session with, and for a session without a timeline (imported, or stored before "
                    "timelines were kept)."
                ),
                "parameters": [session_id],
                "responses": {
                    "200": {
                        "description": "The session's timeline.",
                        "content": {"application/json": {"schema": timeline}},
                    },
                    **_error_responses(
                        error,
                        _NO_PARAMETERS_400,
                        ("404", "not_found: no such ended session in this account, or it has no timeline."),
                        *extra,
                    ),
                },
            }
        }
    return paths


def build_openapi() -> dict[str, Any]:
    (schema, discovery, dimensions, timeline), components = msgspec.json.schema_components(
        [SessionDocument, discovery_route.Discovery, discovery_route.DimensionsReference, TimelineResponse],
        ref_template="#/components/schemas/{name}",
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

    def sessions_responses(description: str, *extra: tuple[str, str]) -> dict[str, Any]:
        return {
            "200": {
                "description": description,
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
            **_error_responses(
                error,
                (
                    "400",
                    "invalid_parameter, unknown_parameter or conflicting_parameters (or invalid_request: not HTTP).",
                ),
                ("422", "time_range_out_of_bounds: the range breaks one of its rules."),
                *extra,
            ),
        }

    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Reelsight sessions API",
            "version": "3.0",
            "description": (
                "Sampled ended video sessions, wire-compatible with GET /insights/3.0/sessions/content, and the "
                "ad sessions, viewer history, discovery and dimensions endpoints of the Sessions V3 family. On the "
                "content and ad endpoints, besides the parameters listed, tag_{name} filters on custom tag {name} "
                '(exact match; a session without the tag has the value ""). Any other parameter is a 400 '
                "unknown_parameter."
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
                    "responses": sessions_responses("A sample of ended content sessions, newest end first."),
                }
            },
            AD_PATH: {
                "get": {
                    "operationId": "getSessionsAd",
                    "summary": "Retrieve sample ad sessions",
                    "description": (
                        "Ended ad sessions, each naming the content session it played in "
                        "(tags.selected_dimensions.content_session_id), with the content endpoint's filters, limits "
                        "and sample. Only for accounts with the ad insights permission."
                    ),
                    "parameters": _parameters(),
                    "responses": sessions_responses(
                        "A sample of ended ad sessions, newest end first.",
                        ("403", "forbidden: the account has no ad insights permission."),
                    ),
                }
            },
            viewer_route.PATH: {
                "get": {
                    "operationId": "getSessionsContentViewer",
                    "summary": "One viewer's content sessions",
                    "description": (
                        "The ended content sessions of one viewer id or one client address, newest first, within "
                        f"the last `days` days or a start/end window of up to {MAX_DAYS} days that starts at most "
                        f"{MAX_DAYS} days ago. No dimension, flag or tag filters. Only for accounts with the viewer "
                        "module."
                    ),
                    "parameters": _viewer_parameters(),
                    "responses": sessions_responses(
                        "The viewer's ended content sessions, newest end first.",
                        ("403", "forbidden: the account has no viewer module."),
                    ),
                }
            },
            **_catalogue_paths(error, discovery, dimensions),
            **metrics_paths(_parameters()[len(_TIME) + 1 :], _error_responses(error, *_METRICS_ERRORS)),
            **_timeline_paths(error, timeline),
        },
    }
