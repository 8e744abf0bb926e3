"""Baselines for ``bench_ingest.py``: servers that answer ``POST /ingest/v1/events`` without ingesting.

- ``--kind starlette`` (the floor): a minimal Starlette app served by uvicorn with the options
  ``reelsight serve`` uses. It reads the body, decodes it into the native envelope
  (``NativeBatch``), and answers 202 with a results body shaped like the real one. This is what the
  same framework costs before any ingest work.
- ``--kind raw``: a bare asyncio protocol (uvloop) that reads each request and writes a canned 202.
  It costs so little that a run against it measures the load generator's own ceiling.

The Starlette app also serves the Conviva SDK's ``POST /0/wsg`` (the floor of ``bench_conviva.py``):
it parses the heartbeat JSON with msgspec (``conviva.decode_heartbeat``, the gateway's own decoder of
the envelope) and answers a canned 200 ``{"err":"ok","cfg":{"hbi":20}}``. ``--kind raw --protocol
conviva`` makes the sink answer that canned 200 instead of the 202. ``--serve-config`` runs the app with
exactly the uvicorn configuration of ``reelsight serve`` today (``web.server.server_config``: its
guarded HTTP protocol, keep-alive and deadlines), as ``bench_conviva.py`` and ``bench_cmcd.py`` do.

It serves the CMCD collector's ``POST /ingest/cmcd/v2?key=...`` too (the floor of ``bench_cmcd.py``):
it reads the key from the query, parses the body's report lines with ``http-sf`` as the collector's
decoder does (``cmcd.parse_body``) and answers a canned 204 with the collector's CORS headers
(``Access-Control-Allow-Origin`` and ``Vary``). ``--kind raw --protocol cmcd`` makes the sink answer
that 204.

Run: ``.venv/bin/python bench/floor_app.py --kind starlette --port 8090``.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import signal
import socket
import threading
from collections.abc import Sequence
from typing import cast

import msgspec
import uvloop
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from reelsight.ingest import cmcd, conviva
from reelsight.ingest.native import NativeBatch
from reelsight.settings import Settings
from reelsight.web.ingest_common import with_cors

PATH = "/ingest/v1/events"
CONVIVA_PATH = conviva.PATH
CONVIVA_ANSWER = b'{"err":"ok","cfg":{"hbi":20}}'  # what the gateway answers with the default settings
CMCD_MAX_LINES = Settings().ingest_max_events
_ENVELOPE = msgspec.json.Decoder(NativeBatch)
_ENCODER = msgspec.json.Encoder()


def accepted_body(events: int) -> bytes:
    """A response body shaped like Reelsight's for a batch whose events were all accepted."""
    return _ENCODER.encode({"results": [{"index": i, "status": "accepted"} for i in range(events)], "client_ids": {}})


async def ingest(request: Request) -> Response:
    batch = _ENVELOPE.decode(await request.body())
    return Response(accepted_body(len(batch.events)), status_code=202, media_type="application/json")


async def conviva_heartbeat(request: Request) -> Response:
    conviva.decode_heartbeat(await request.body())
    return Response(CONVIVA_ANSWER, media_type="application/json")


async def cmcd_reports(request: Request) -> Response:
    request.query_params.get("key", "")  # the collector reads the ingest key from the query too
    cmcd.parse_body(await request.body(), request.headers.get("content-type", ""), max_lines=CMCD_MAX_LINES)
    return with_cors(request, Response(status_code=204))


def create_floor_app() -> Starlette:
    return Starlette(
        routes=[
            Route(PATH, ingest, methods=["POST"]),
            Route(CONVIVA_PATH, conviva_heartbeat, methods=["POST"]),
            Route(cmcd.PATH, cmcd_reports, methods=["POST"]),
        ]
    )


class _RawSink(asyncio.Protocol):
    """One connection: HTTP/1.1 requests with a Content-Length, one at a time, each answered at once."""

    def __init__(self, response: bytes) -> None:
        self._response = response
        self._buffer = bytearray()
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's transports are not subclasses

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        while True:
            head_end = buffer.find(b"\r\n\r\n")
            if head_end < 0:
                return
            at = buffer.find(b"Content-Length: ", 0, head_end)
            length = int(buffer[at + 16 : buffer.find(b"\r\n", at, head_end + 2)]) if at >= 0 else 0
            end = head_end + 4 + length
            if len(buffer) < end:
                return
            del buffer[:end]
            assert self._transport is not None
            self._transport.write(self._response)


async def serve_raw(host: str, port: int, events: int, protocol: str = "native") -> None:
    if protocol == "cmcd":  # no body: no Content-Length (as uvicorn answers a 204); the collector's CORS headers
        response = b"HTTP/1.1 204 No Content\r\naccess-control-allow-origin: *\r\nvary: Origin\r\n\r\n"
    else:
        if protocol == "conviva":
            body, status = CONVIVA_ANSWER, b"200 OK"
        else:
            body, status = accepted_body(events), b"202 Accepted"
        head = b"HTTP/1.1 %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n" % (status, len(body))
        response = head + body
    server = await asyncio.get_running_loop().create_server(lambda: _RawSink(response), host, port, backlog=1024)
    async with server:
        await server.serve_forever()


def _floor_process(settings: Settings, sock: socket.socket) -> None:
    import uvicorn

    from reelsight.web.server import server_config

    uvicorn.Server(server_config(create_floor_app(), settings)).run(sockets=[sock])


def serve_processes(settings: Settings, count: int) -> None:
    """The floor on ``count`` processes sharing one listening socket (``spawn``, as the server's HTTP
    processes are); SIGTERM or SIGINT stops them all."""
    from reelsight.processes.supervisor import bind

    sock = bind(settings)
    context = multiprocessing.get_context("spawn")
    children = [context.Process(target=_floor_process, args=(settings, sock)) for _ in range(count)]
    for child in children:
        child.start()
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    while not stop.wait(0.5) and all(child.is_alive() for child in children):
        pass
    for child in children:
        child.terminate()
    for child in children:
        child.join(10)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kind", choices=("starlette", "raw"), required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--events", type=int, default=20, help="events per batch the raw sink acknowledges [20]")
    parser.add_argument(
        "--protocol", choices=("native", "conviva", "cmcd"), default="native", help="what the raw sink answers [native]"
    )
    parser.add_argument("--serve-config", action="store_true", help="uvicorn configured as reelsight serve is")
    parser.add_argument(
        "--processes",
        type=int,
        default=1,
        help="with --serve-config: this many uvicorn processes on one shared socket, as `reelsight serve` with"
        " http_processes runs its HTTP side [1]",
    )
    args = parser.parse_args(argv)
    if args.kind == "raw":
        uvloop.run(serve_raw(args.host, args.port, args.events, args.protocol))
        return
    import uvicorn

    if args.serve_config:
        from reelsight.web.server import server_config

        settings = Settings(host=args.host, port=args.port)
        if args.processes > 1:
            serve_processes(settings, args.processes)
            return
        uvicorn.Server(server_config(create_floor_app(), settings)).run()
        return
    # The options of `reelsight serve` (cli._run_server); http and loop stay "auto": httptools and uvloop.
    uvicorn.run(
        create_floor_app(), host=args.host, port=args.port, access_log=False, log_level="info", proxy_headers=False
    )


if __name__ == "__main__":
    main()
