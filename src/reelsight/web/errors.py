"""The one error envelope, produced in one place for every error the service itself answers."""

from __future__ import annotations

import logging

import msgspec
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from reelsight.errors import ApiError, InvalidBatch, MethodNotAllowed, NotFound, RateLimited, Unauthorized

log = logging.getLogger("reelsight.web")


def error_body(error: ApiError) -> bytes:
    if isinstance(error, Unauthorized):
        return b'{"message":"Unauthorized"}'  # exactly this, for compatibility
    body: dict[str, object] = {"message": error.message, "code": error.code}
    if error.parameter is not None:
        body["parameter"] = error.parameter
    if isinstance(error, InvalidBatch) and error.results is not None:
        body["results"] = error.results
    return msgspec.json.encode(body)


def error_response(error: ApiError) -> Response:
    headers: dict[str, str] = {}
    if isinstance(error, Unauthorized):
        headers["WWW-Authenticate"] = 'Basic realm="insights"'
    if isinstance(error, RateLimited):
        headers["Retry-After"] = str(error.retry_after_s)
    if isinstance(error, MethodNotAllowed):
        headers["Allow"] = error.allow
    return Response(error_body(error), status_code=error.status, headers=headers, media_type="application/json")


async def handle_api_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(exc)


async def handle_http_exception(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 405:
        allow = (exc.headers or {}).get("Allow", "GET, HEAD")
        return error_response(MethodNotAllowed(f"this endpoint answers only {allow}", allow))
    return error_response(NotFound("no such endpoint"))


async def handle_unexpected(_request: Request, exc: Exception) -> Response:
    log.exception("unexpected error", exc_info=exc)
    body = b'{"message":"internal error","code":"internal_error"}'
    return Response(body, status_code=500, media_type="application/json")
