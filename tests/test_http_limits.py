"""The HTTP edge against the real uvicorn server: limits on the request head, read deadlines, and the
JSON envelope for requests that never reach the app (raw sockets, as an attacker would send them)."""

from __future__ import annotations

import base64
import contextlib
import json
import socket
import time
from collections.abc import Iterator

import pytest

from reelsight.clock import FakeClock
from reelsight.settings import Settings
from reelsight.store.sqlite import SqliteStore
from tests.conftest import PATH, Credentials, LiveServer

LIMITS = {
    "http_max_request_line_bytes": 4096,
    "http_max_header_bytes": 2048,
    "http_max_headers_bytes": 8192,
    "http_header_timeout_s": 1,
    "http_body_timeout_s": 1,
}


@pytest.fixture
def edge(settings: Settings, store: SqliteStore, clock: FakeClock) -> Iterator[LiveServer]:
    with LiveServer(settings.replace(**LIMITS), store, clock) as live:
        yield live


def connect(server: LiveServer) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    return sock


def read_all(sock: socket.socket, timeout_s: float = 10) -> bytes:
    """Everything the server sends until it closes the connection (fails if it never does)."""
    sock.settimeout(timeout_s)
    chunks = []
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def parse(raw: bytes) -> tuple[int, dict[str, str], object]:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return status, headers, json.loads(body)


def send_and_read(server: LiveServer, data: bytes) -> tuple[int, dict[str, str], object]:
    with connect(server) as sock:
        # the server may answer and close before taking everything: then read what it said
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(data)
        return parse(read_all(sock))


def get(target: str, headers: str = "") -> bytes:
    return f"GET {target} HTTP/1.1\r\nHost: x\r\n{headers}\r\n".encode("latin-1")


def test_one_huge_header_is_431_in_the_envelope(edge: LiveServer) -> None:
    status, headers, body = send_and_read(edge, get(PATH, "X-Big: " + "a" * 1_000_000 + "\r\n"))
    assert status == 431
    assert headers["content-type"] == "application/json"
    assert body == {"message": "the request head is larger than 13312 bytes", "code": "request_header_too_large"}


def test_a_header_over_its_own_limit_is_431(edge: LiveServer) -> None:
    status, _headers, body = send_and_read(edge, get(PATH, "X-Big: " + "a" * 3000 + "\r\n"))
    assert status == 431
    assert body == {"message": "a header is larger than 2048 bytes", "code": "request_header_too_large"}


def test_many_headers_over_the_total_are_431(edge: LiveServer) -> None:
    many = "".join(f"X-H{i}: {'v' * 100}\r\n" for i in range(100))  # ~10 KB of small headers
    status, _headers, body = send_and_read(edge, get(PATH, many))
    assert status == 431
    assert body == {"message": "the headers are larger than 8192 bytes", "code": "request_header_too_large"}


def test_an_unfinished_head_trickled_in_is_cut_off_at_the_limit(edge: LiveServer) -> None:
    """Headers that never end: the server stops buffering at the limit instead of growing."""
    with connect(edge) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Never-Ends: ")
        try:
            for _ in range(200):  # 200 x 8 KB, far more than the limit (the server discards the rest)
                sock.sendall(b"v" * 8192)
                time.sleep(0.001)
        except (BrokenPipeError, ConnectionResetError):
            pass
        status, _headers, body = parse(read_all(sock))
    assert status == 431
    assert body == {"message": "the request head is larger than 13312 bytes", "code": "request_header_too_large"}


def test_an_over_long_request_line_is_414_in_the_envelope(edge: LiveServer) -> None:
    status, _headers, body = send_and_read(edge, get(PATH + "?limit=5&" + "a=1&" * 10_000))
    assert status == 414
    assert body == {"message": "the request target is longer than 4096 bytes", "code": "uri_too_long"}


@pytest.mark.parametrize(
    "raw",
    [
        b"GET /\xff\xfe HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /\x00 HTTP/1.1\r\nHost: x\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",  # a TLS ClientHello sent to the plain-HTTP port
        b"GARBAGE\r\n\r\n",
        b"GET / HTTP/1.1\r\nBad Header\r\n\r\n",
    ],
    ids=["0xff", "NUL", "tls", "garbage", "header-without-colon"],
)
def test_bytes_that_are_not_http_get_the_envelope(edge: LiveServer, raw: bytes) -> None:
    status, headers, body = send_and_read(edge, raw)
    assert status == 400
    assert headers["content-type"] == "application/json"
    assert body == {"message": "the request is not valid HTTP/1.1", "code": "invalid_request"}


def test_many_repeated_parameters_within_the_line_limit_are_the_apps_400(edge: LiveServer, acme: Credentials) -> None:
    auth = "Authorization: Basic " + base64.b64encode(f"{acme.key_id}:{acme.secret}".encode()).decode() + "\r\n"
    status, _headers, body = send_and_read(edge, get(PATH + "?" + "&".join(["cdn=a"] * 600), auth))
    assert status == 400
    assert isinstance(body, dict)
    assert body["code"] == "invalid_parameter"


def test_a_head_sent_one_line_a_second_is_cut_off_with_408(edge: LiveServer) -> None:
    with connect(edge) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\n")
        started = time.monotonic()
        closed_after = None
        for i in range(20):
            time.sleep(0.3)
            try:
                sock.sendall(f"X-Slow-{i}: 1\r\n".encode())
            except (BrokenPipeError, ConnectionResetError):
                closed_after = time.monotonic() - started
                break
        status, _headers, body = parse(read_all(sock))
    assert closed_after is not None
    assert closed_after < 3
    assert status == 408
    assert body == {"message": "the request head did not arrive within 1 s", "code": "request_timeout"}


def test_a_body_that_stalls_is_cut_off_with_408(edge: LiveServer) -> None:
    with connect(edge) as sock:
        sock.sendall(b'POST /ingest/v1/events HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{"v":')
        started = time.monotonic()
        status, _headers, body = parse(read_all(sock))
    assert time.monotonic() - started < 3
    assert status == 408
    assert body == {"message": "the request body did not arrive within 1 s", "code": "request_timeout"}


def test_a_connection_that_sends_nothing_is_closed(edge: LiveServer) -> None:
    with connect(edge) as sock:
        started = time.monotonic()
        assert read_all(sock) == b""
    assert time.monotonic() - started < 3


def test_a_hundred_slow_clients_are_all_cut_off(edge: LiveServer) -> None:
    sockets = [connect(edge) for _ in range(100)]
    try:
        for sock in sockets:
            sock.sendall(b"GET / HTTP/1.1\r\nX-A: 1\r\n")
        deadline = time.monotonic() + 5
        closed = 0
        for sock in sockets:
            sock.settimeout(max(0.1, deadline - time.monotonic()))
            try:
                while sock.recv(65536):
                    pass
                closed += 1
            except TimeoutError:
                pass
        assert closed == 100
    finally:
        for sock in sockets:
            sock.close()


def test_kept_alive_requests_within_the_limits_still_work(edge: LiveServer) -> None:
    with connect(edge) as sock:
        for _ in range(3):
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Ok: " + b"a" * 1500 + b"\r\n\r\n")
            sock.settimeout(5)
            answer = b""
            while not answer.endswith(b'{"status":"ok"}'):
                chunk = sock.recv(65536)
                assert chunk, answer
                answer += chunk
            assert answer.startswith(b"HTTP/1.1 200 ")
