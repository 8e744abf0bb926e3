"""The exception tree. Domain code raises these; the web edge maps each to its status and envelope.

ReelsightError
 +-- ApiError                    (carries code, status, message, parameter)
 |    +-- InvalidRequest         400 invalid_request: the bytes are not a valid HTTP/1.1 request
 |    +-- InvalidParameter       400 invalid_parameter
 |    +-- InvalidBatch           400 invalid_batch: an ingest body that does not decode (with per-event results)
 |    +-- UnknownParameter       400 unknown_parameter
 |    +-- ConflictingParameters  400 conflicting_parameters
 |    +-- Unauthorized           401 unauthorized: read API credentials (body exactly {"message":"Unauthorized"})
 |    +-- InvalidIngestKey       401 unauthorized: an unknown ingest key (the full envelope)
 |    +-- Forbidden              403 forbidden
 |    +-- NotFound               404 not_found
 |    +-- MethodNotAllowed       405 method_not_allowed
 |    +-- RequestTimeout         408 request_timeout: the request head or body arrived too slowly
 |    +-- IngestKeyGone          410 unknown_ingest_key: a CMCD collector URL's key (the code players read as "stop")
 |    +-- PayloadTooLarge        413 payload_too_large
 |    +-- UriTooLong             414 uri_too_long: the request line is over max_request_line_bytes
 |    +-- TimeRangeOutOfBounds   422 time_range_out_of_bounds
 |    +-- RateLimited            429 rate_limited (with retry_after_s)
 |    +-- HeaderTooLarge         431 request_header_too_large: one header or all of them over their limit
 |    +-- InternalError          500 internal_error: a bug, already logged with its traceback where it happened
 |    +-- Unavailable            503 unavailable
 +-- StoreError
 |    +-- UnscopedRead           a read not scoped to exactly one account
 |    +-- NotFoundInStore        an account or key that does not exist
 |    +-- AlreadyExists          an account name that is taken
 |    +-- ReadTimeout            a read ran past the time limit and was cancelled (503)
 |    +-- StoreInUse             another process owns the store file (a second server is refused at start)
 |    +-- StorageFailure         the store could not durably write: disk full, I/O error, locked too long (503)
 |         +-- StoreFileLost     the store's path no longer names the file the process has open (503 until restart)
 |         +-- CoordinatorGone   an HTTP process lost its link to the coordinator that owns the live log (503)
 +-- DocumentError               an imported session document is invalid (with the reason)

Only ``StorageFailure`` and capacity limits are answered 503 (retry later); a bug is a 500.
"""

from __future__ import annotations


class ReelsightError(Exception):
    """Base of every error Reelsight raises on purpose."""


class ApiError(ReelsightError):
    status: int = 500
    code: str = "internal_error"

    def __init__(self, message: str, parameter: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.parameter = parameter


class Unauthorized(ApiError):
    status = 401
    code = "unauthorized"

    def __init__(self) -> None:
        super().__init__("Unauthorized")


class InvalidIngestKey(ApiError):
    status = 401
    code = "unauthorized"

    def __init__(self) -> None:
        super().__init__("unknown ingest key")


class IngestKeyGone(ApiError):
    status = 410
    code = "unknown_ingest_key"

    def __init__(self) -> None:
        super().__init__("unknown ingest key: stop reporting to this URL")


class InvalidRequest(ApiError):
    status = 400
    code = "invalid_request"


class RequestTimeout(ApiError):
    status = 408
    code = "request_timeout"


class UriTooLong(ApiError):
    status = 414
    code = "uri_too_long"


class HeaderTooLarge(ApiError):
    status = 431
    code = "request_header_too_large"


class InternalError(ApiError):
    status = 500
    code = "internal_error"


class InvalidParameter(ApiError):
    status = 400
    code = "invalid_parameter"


class InvalidBatch(ApiError):
    status = 400
    code = "invalid_batch"

    def __init__(self, message: str, parameter: str | None = None, results: list[dict[str, object]] | None = None):
        super().__init__(message, parameter)
        self.results = results


class PayloadTooLarge(ApiError):
    status = 413
    code = "payload_too_large"


class UnknownParameter(ApiError):
    status = 400
    code = "unknown_parameter"


class ConflictingParameters(ApiError):
    status = 400
    code = "conflicting_parameters"


class Forbidden(ApiError):
    status = 403
    code = "forbidden"


class NotFound(ApiError):
    status = 404
    code = "not_found"


class MethodNotAllowed(ApiError):
    status = 405
    code = "method_not_allowed"

    def __init__(self, message: str, allow: str = "GET, HEAD") -> None:
        super().__init__(message)
        self.allow = allow


class TimeRangeOutOfBounds(ApiError):
    status = 422
    code = "time_range_out_of_bounds"


class RateLimited(ApiError):
    status = 429
    code = "rate_limited"

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = max(1, retry_after_s)


class Unavailable(ApiError):
    status = 503
    code = "unavailable"


API_ERRORS: tuple[type[ApiError], ...] = (
    InvalidRequest,
    Unauthorized,
    InvalidIngestKey,
    IngestKeyGone,
    RequestTimeout,
    UriTooLong,
    HeaderTooLarge,
    InternalError,
    InvalidParameter,
    InvalidBatch,
    PayloadTooLarge,
    UnknownParameter,
    ConflictingParameters,
    Forbidden,
    NotFound,
    MethodNotAllowed,
    TimeRangeOutOfBounds,
    RateLimited,
    Unavailable,
)


class StoreError(ReelsightError):
    pass


class UnscopedRead(StoreError):
    """The store refuses any read of sessions that is not scoped to exactly one account."""


class NotFoundInStore(StoreError):
    pass


class AlreadyExists(StoreError):
    pass


class ReadTimeout(StoreError):
    """A read ran past the store's time limit and was cancelled."""


class BadStoreUrl(StoreError):
    """A store URL that names no supported backend, or a backend whose extra is not installed."""


class StoreInUse(StoreError):
    """Another process owns the store file for serving; the message names the file and the holder."""


class StorageFailure(StoreError):
    """The store could not durably write (disk full, I/O error, locked for too long): nothing was
    acknowledged, and the same request may succeed later."""


class StoreFileLost(StorageFailure):
    """The store's path no longer names the file the process has open (deleted or replaced): every
    write is refused until the process is restarted on the file now at the path."""


class CoordinatorGone(StorageFailure):
    """An HTTP process of several (``http_processes``) lost its link to the coordinator process that
    owns the live log: nothing more can be made durable through it."""


class DocumentError(ReelsightError):
    """A session document failed validation; the message says which field and why."""
