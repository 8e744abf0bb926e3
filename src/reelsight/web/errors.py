"""The one error envelope, produced in one place for every error the service itself answers.

The same bytes serve the app's handlers and the HTTP protocol layer (``http_protocol.py``), which
answers requests that never reach the app (a head too large, too slow, not HTTP at all).
"""

from __future__ import annotations

import logging

import msgspec
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from reelsight.errors import (
    ApiError,
    InvalidBatch,
    MethodNotAllowed,
    NotFound,
    RateLimited,
    StorageFailure,
    Unauthorized,
    Unavailable,
)

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


def response_for(exc: Exception) -> Response | None:
    """The answer to an error the service raises on purpose (``None`` for anything else: a bug)."""
    if isinstance(exc, ApiError):
        return error_response(exc)
    if isinstance(exc, StorageFailure):
        return error_response(Unavailable(f"the store is unavailable; nothing was stored, send it again later ({exc})"))
    return None


# A script that handles a 401 itself says so with this header (any value): its 401 then carries no
# Basic challenge, so the browser shows no login prompt of its own (the explorer page's sign-in).
SCRIPT_CLIENT_HEADER = "x-requested-with"


async def handle_api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    response = error_response(exc)
    if isinstance(exc, Unauthorized) and SCRIPT_CLIENT_HEADER in request.headers:
        del response.headers["www-authenticate"]
    return response


async def handle_http_exception(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 405:
        allow = (exc.headers or {}).get("Allow", "GET, HEAD")
        return error_response(MethodNotAllowed(f"this endpoint answers only {allow}", allow))
    return error_response(NotFound("no such endpoint"))


async def handle_storage_failure(_request: Request, exc: Exception) -> Response:
    """The store refused a write or lost its file: 503, nothing was acknowledged, try again later."""
    assert isinstance(exc, StorageFailure)
    response = response_for(exc)
    assert response is not None
    return response


async def handle_client_disconnect(_request: Request, _exc: Exception) -> Response:
    """The client went away mid-request: nobody is there to answer, and it is not worth a log line."""
    return Response(status_code=400)


INTERNAL_ERROR_BODY = b'{"message":"internal error","code":"internal_error"}'


async def handle_unexpected(_request: Request, _exc: Exception) -> Response:
    """A bug: the envelope with 500. Not logged here: Starlette re-raises the exception after this
    answer and the HTTP server logs it, once, with its traceback."""
    return Response(INTERNAL_ERROR_BODY, status_code=500, media_type="application/json")
