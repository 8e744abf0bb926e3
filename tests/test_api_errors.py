"""The error envelope on every path, rate limits with Retry-After, time limits, and the OpenAPI document."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import httpx
import msgspec
import pytest

from reelsight.errors import (
    API_ERRORS,
    ApiError,
    IngestKeyGone,
    InvalidIngestKey,
    MethodNotAllowed,
    RateLimited,
    Unauthorized,
)
from reelsight.query.selection import Selection
from reelsight.settings import Settings
from reelsight.store.base import StoredSession
from reelsight.store.records import to_record
from reelsight.store.sqlite import SqliteStore
from reelsight.web.errors import error_response
from tests.conftest import NOW_MS, PATH, Credentials, LiveServer, add_account
from tests.factories import make_doc

CODES = {
    "InvalidRequest": (400, "invalid_request"),
    "Unauthorized": (401, "unauthorized"),
    "InvalidIngestKey": (401, "unauthorized"),
    "IngestKeyGone": (410, "unknown_ingest_key"),
    "RequestTimeout": (408, "request_timeout"),
    "UriTooLong": (414, "uri_too_long"),
    "HeaderTooLarge": (431, "request_header_too_large"),
    "InternalError": (500, "internal_error"),
    "InvalidParameter": (400, "invalid_parameter"),
    "InvalidBatch": (400, "invalid_batch"),
    "PayloadTooLarge": (413, "payload_too_large"),
    "UnknownParameter": (400, "unknown_parameter"),
    "ConflictingParameters": (400, "conflicting_parameters"),
    "Forbidden": (403, "forbidden"),
    "NotFound": (404, "not_found"),
    "MethodNotAllowed": (405, "method_not_allowed"),
    "TimeRangeOutOfBounds": (422, "time_range_out_of_bounds"),
    "RateLimited": (429, "rate_limited"),
    "Unavailable": (503, "unavailable"),
}


@pytest.mark.parametrize("error_type", API_ERRORS, ids=lambda e: e.__name__)
def test_every_error_maps_to_its_status_and_envelope(error_type: type[ApiError]) -> None:
    if error_type is Unauthorized:
        error: ApiError = Unauthorized()
    elif error_type in (InvalidIngestKey, IngestKeyGone):
        error = error_type()  # type: ignore[call-arg]
    elif error_type is RateLimited:
        error = RateLimited("slow down", 7)
    elif error_type is MethodNotAllowed:
        error = MethodNotAllowed("only POST", "POST")
    else:
        error = error_type("something is wrong", "limit")
    response = error_response(error)
    status, code = CODES[error_type.__name__]
    assert response.status_code == status
    body = msgspec.json.decode(bytes(response.body))
    if error_type is Unauthorized:
        assert body == {"message": "Unauthorized"}
    elif error_type is IngestKeyGone:
        assert body == {"message": "unknown ingest key: stop reporting to this URL", "code": code}
    elif error_type is InvalidIngestKey:
        assert body == {"message": "unknown ingest key", "code": code}
        assert "www-authenticate" not in response.headers
    elif error_type is RateLimited:
        assert body == {"message": "slow down", "code": code}
        assert response.headers["retry-after"] == "7"
    elif error_type is MethodNotAllowed:
        assert body == {"message": "only POST", "code": code}
        assert response.headers["allow"] == "POST"
    else:
        assert body == {"message": "something is wrong", "code": code, "parameter": "limit"}


def test_unknown_path_is_404_envelope(client: httpx.Client) -> None:
    r = client.get("/insights/3.0/sessions/contents")
    assert r.status_code == 404
    assert r.json() == {"message": "no such endpoint", "code": "not_found"}


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
def test_other_methods_are_405_envelope(client: httpx.Client, acme: Credentials, method: str) -> None:
    r = client.request(method, PATH, auth=acme.auth)
    assert r.status_code == 405
    assert r.json()["code"] == "method_not_allowed"
    assert "GET" in r.headers["allow"]


def test_ip_rate_limit_is_429_with_retry_after(settings: Settings, store: SqliteStore, clock: object) -> None:
    from reelsight.clock import FakeClock

    assert isinstance(clock, FakeClock)
    creds = add_account(store, "busy")
    limited = settings.replace(rate_limit_ip_requests=3, rate_limit_ip_window_s=300)
    with LiveServer(limited, store, clock) as live, httpx.Client(base_url=live.url) as c:
        for _ in range(3):
            assert c.get(PATH, auth=creds.auth).status_code == 200
        r = c.get(PATH, auth=creds.auth)
        assert r.status_code == 429
        assert r.json()["code"] == "rate_limited"
        assert r.headers["retry-after"] == "300"
        clock.advance(299)
        assert c.get(PATH, auth=creds.auth).headers["retry-after"] == "1"
        clock.advance(1)
        assert c.get(PATH, auth=creds.auth).status_code == 200  # a new window


class _GatedStore(SqliteStore):
    """The real store, whose session reads wait until the test opens the gate."""

    gate = threading.Event()
    entered = threading.Event()

    def sample_sessions(self, account_id: int, query: Selection) -> list[StoredSession]:
        self.entered.set()
        self.gate.wait(10)
        return super().sample_sessions(account_id, query)


@pytest.fixture
def gated_store(db_path: str) -> Iterator[_GatedStore]:
    s = _GatedStore(db_path, readers=2)
    yield s
    s.gate.set()
    s.close()


def test_account_in_flight_limit_is_429(settings: Settings, gated_store: _GatedStore, clock: object) -> None:
    from reelsight.clock import FakeClock

    assert isinstance(clock, FakeClock)
    creds = add_account(gated_store, "parallel")
    other = add_account(gated_store, "other")
    limited = settings.replace(rate_limit_account_in_flight=1)
    with LiveServer(limited, gated_store, clock) as live, httpx.Client(base_url=live.url, timeout=20) as c:
        first: dict[str, int] = {}
        t = threading.Thread(target=lambda: first.update(status=c.get(PATH, auth=creds.auth).status_code))
        t.start()
        assert gated_store.entered.wait(10)
        second = c.get(PATH, auth=creds.auth)
        assert second.status_code == 429
        assert second.json()["code"] == "rate_limited"
        assert second.headers["retry-after"] == "1"
        gated_store.gate.set()
        assert c.get(PATH, auth=other.auth).status_code == 200  # other accounts are not affected
        t.join(10)
        assert first["status"] == 200
        assert c.get(PATH, auth=creds.auth).status_code == 200


def test_a_read_past_the_time_limit_is_503(db_path: str, settings: Settings, clock: object) -> None:
    from reelsight.clock import FakeClock

    assert isinstance(clock, FakeClock)
    slow = SqliteStore(db_path, readers=1, read_timeout_s=0.0)
    creds = add_account(slow, "slow")
    slow.write_sessions(
        creds.account.id, [to_record(make_doc("7.7.7.7", str(i), end_ms=NOW_MS - 1000 - i)) for i in range(300)]
    )
    with LiveServer(settings, slow, clock) as live, httpx.Client(base_url=live.url) as c:
        r = c.get(PATH, auth=creds.auth, params={"limit": 1500})
    slow.close()
    assert r.status_code == 503
    assert r.json()["code"] == "unavailable"


def test_query_string_size_limit_is_400(settings: Settings, store: SqliteStore, clock: object) -> None:
    from reelsight.clock import FakeClock

    assert isinstance(clock, FakeClock)
    creds = add_account(store, "big")
    small = settings.replace(max_query_string_bytes=100, max_query_params=3)
    with LiveServer(small, store, clock) as live, httpx.Client(base_url=live.url) as c:
        r = c.get(PATH, auth=creds.auth, params={"device_os": "x" * 200})
        assert r.status_code == 400
        assert r.json()["code"] == "invalid_parameter"
        r = c.get(PATH, auth=creds.auth, params=[("cdn", "a")] * 4)
        assert r.status_code == 400
        assert r.json()["code"] == "invalid_parameter"
        assert c.get(PATH, auth=creds.auth, params=[("cdn", "a")] * 3).status_code == 200


def test_invalid_percent_encoding_is_400(client: httpx.Client, acme: Credentials) -> None:
    r = client.get(PATH + "?device_os=%ff%fe", auth=acme.auth)
    assert r.status_code == 400
    assert r.json()["code"] == "invalid_parameter"


def test_openapi_document_describes_the_endpoint(client: httpx.Client) -> None:
    r = client.get("/openapi.json")
    assert r.status_code == 200
    doc = r.json()
    op = doc["paths"][PATH]["get"]
    names = {p["name"] for p in op["parameters"]}
    from reelsight.query.dimensions import DIMENSIONS
    from reelsight.query.parse import FLAG_PARAMS

    assert {d.param for d in DIMENSIONS} | set(FLAG_PARAMS) | {"limit", "session_id", "client_id"} <= names
    assert set(op["responses"]) == {"200", "400", "401", "408", "414", "422", "429", "431", "503"}
    limit = next(p for p in op["parameters"] if p["name"] == "limit")
    assert (limit["schema"]["minimum"], limit["schema"]["maximum"]) == (1, 1500)
