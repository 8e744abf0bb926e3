"""The exception tree. Domain code raises these; the web edge maps each to its status and envelope.

ReelsightError
 +-- ApiError                    (carries code, status, message, parameter)
 |    +-- Unauthorized           401 unauthorized
 |    +-- InvalidParameter       400 invalid_parameter
 |    +-- UnknownParameter       400 unknown_parameter
 |    +-- ConflictingParameters  400 conflicting_parameters
 |    +-- Forbidden              403 forbidden
 |    +-- NotFound               404 not_found
 |    +-- MethodNotAllowed       405 method_not_allowed
 |    +-- TimeRangeOutOfBounds   422 time_range_out_of_bounds
 |    +-- RateLimited            429 rate_limited (with retry_after_s)
 |    +-- Unavailable            503 unavailable
 +-- StoreError
 |    +-- UnscopedRead           a read not scoped to exactly one account
 |    +-- NotFoundInStore        an account or key that does not exist
 |    +-- AlreadyExists          an account name that is taken
 +-- DocumentError               an imported session document is invalid (with the reason)
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
    Unauthorized,
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


class DocumentError(ReelsightError):
    """A session document failed validation; the message says which field and why."""
