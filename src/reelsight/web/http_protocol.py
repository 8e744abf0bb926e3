"""The HTTP/1.1 connection: uvicorn's httptools protocol with limits and deadlines on what a client sends.

httptools buffers a header until it is complete and uvicorn sets no limit on the request head and no
deadline on reading a request, so an unauthenticated client could grow the server's memory without
bound or hold connections forever. This protocol bounds the request target, each header and the
whole head; gives the head and the body a time to arrive; and answers what never reaches the app
(too large, too slow, not HTTP) in the service's JSON error envelope, without a log line.
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any, ClassVar

import httptools
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from reelsight.errors import ApiError, HeaderTooLarge, InvalidRequest, RequestTimeout, Unavailable, UriTooLong
from reelsight.settings import Settings
from reelsight.web.errors import error_body

# Room in the raw byte count of an unfinished head for the method, the version and the line ends.
_HEAD_SLACK_BYTES = 1024
# After refusing a request the connection lingers this long, discarding what the client still
# sends: closing with unread data makes the kernel send a reset, which can destroy the answer
# before the client reads it.
LINGER_S = 1.0


@dataclasses.dataclass(frozen=True)
class HttpLimits:
    max_request_line_bytes: int
    max_header_bytes: int
    max_headers_bytes: int
    header_timeout_s: float
    body_timeout_s: float

    @classmethod
    def from_settings(cls, settings: Settings) -> HttpLimits:
        return cls(
            max_request_line_bytes=settings.http_max_request_line_bytes,
            max_header_bytes=settings.http_max_header_bytes,
            max_headers_bytes=settings.http_max_headers_bytes,
            header_timeout_s=max(1, settings.http_header_timeout_s),
            body_timeout_s=max(1, settings.http_body_timeout_s),
        )


class _Refused(Exception):
    """Raised inside a parser callback to stop parsing; the reason is kept on the protocol."""


class GuardedHttpProtocol(HttpToolsProtocol):
    limits: ClassVar[HttpLimits]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._in_head = False  # between a request's first byte and the end of its headers
        self._head_bytes = 0  # raw bytes of the unfinished head (httptools buffers them)
        self._target_bytes = 0
        self._headers_bytes = 0
        self._refusal: ApiError | None = None
        self._deadline: asyncio.TimerHandle | None = None
        self._lingering = False

    # -- deadlines -------------------------------------------------------------------------------

    def _arm(self, seconds: float) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, self._deadline_passed)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _deadline_passed(self) -> None:
        self._deadline = None
        if self.transport.is_closing() or self._lingering:
            self.transport.close()
            return
        if self._in_head:
            self._refuse(RequestTimeout(f"the request head did not arrive within {self.limits.header_timeout_s:g} s"))
        elif self.cycle is not None and not self.cycle.response_complete and self.cycle.more_body:
            self._refuse(RequestTimeout(f"the request body did not arrive within {self.limits.body_timeout_s:g} s"))
        else:
            self.transport.close()  # a new connection that never sent a byte

    # -- answering what the app never sees ------------------------------------------------------

    def _refuse(self, error: ApiError) -> None:
        """Answer ``error`` in the envelope (when no response is under way) and close the connection,
        after lingering a moment so the answer is not lost to a reset."""
        self._disarm()
        if self._lingering or self.transport.is_closing():
            return
        cycle = self.cycle
        can_answer = cycle is None or cycle.response_complete or not cycle.response_started
        if cycle is not None and not cycle.response_complete:
            cycle.disconnected = True  # the app, if it is waiting for the body, sees a disconnect
            cycle.message_event.set()
        if can_answer:
            body = error_body(error)
            head = [STATUS_LINE[error.status]]
            for name, value in self.server_state.default_headers:
                head += [name, b": ", value, b"\r\n"]
            head.append(
                b"content-type: application/json\r\ncontent-length: %d\r\nconnection: close\r\n\r\n" % len(body)
            )
            self.transport.write(b"".join(head) + body)
        if not self.transport.can_write_eof():
            self.transport.close()
            return
        self.transport.write_eof()  # the answer, then our end of the connection
        self._lingering = True
        self.flow.resume_reading()
        self._arm(LINGER_S)

    def shutdown(self) -> None:
        """The server is stopping: a request still arriving is answered 503 now (its client sends it
        again to the next server) instead of holding the stop; one being answered gets the grace."""
        cycle = self.cycle
        if self._in_head or (cycle is not None and cycle.more_body and not cycle.response_started):
            self._refuse(Unavailable("the server is shutting down; send the request again"))
            return
        super().shutdown()

    def send_400_response(self, msg: str) -> None:
        self._refuse(self._refusal or InvalidRequest("the request is not valid HTTP/1.1"))

    # -- asyncio.Protocol ------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm(self.limits.header_timeout_s)  # a connection that sends nothing is closed

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def eof_received(self) -> None:
        if self._lingering:
            self.transport.close()  # the client has sent everything and read our answer

    def data_received(self, data: bytes) -> None:
        if self._lingering:
            return  # discarded: the request was already answered
        self._unset_keepalive_if_required()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            pass  # no protocol upgrades here: the request is served as plain HTTP/1.1
        except httptools.HttpParserError:
            self.send_400_response("")
            return
        if self._in_head:  # the head is still unfinished after this chunk: bound what httptools buffers
            self._head_bytes += len(data)
            limit = self.limits.max_request_line_bytes + self.limits.max_headers_bytes + _HEAD_SLACK_BYTES
            if self._head_bytes > limit:
                self._refuse(HeaderTooLarge(f"the request head is larger than {limit} bytes"))

    # -- parser callbacks ------------------------------------------------------------------------

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head = True
        self._head_bytes = self._target_bytes = self._headers_bytes = 0
        self._arm(self.limits.header_timeout_s)

    def on_url(self, url: bytes) -> None:
        self._target_bytes += len(url)
        if self._target_bytes > self.limits.max_request_line_bytes:
            self._refusal = UriTooLong(f"the request target is longer than {self.limits.max_request_line_bytes} bytes")
            raise _Refused
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        size = len(name) + len(value)
        self._headers_bytes += size
        if size > self.limits.max_header_bytes:
            self._refusal = HeaderTooLarge(f"a header is larger than {self.limits.max_header_bytes} bytes")
            raise _Refused
        if self._headers_bytes > self.limits.max_headers_bytes:
            self._refusal = HeaderTooLarge(f"the headers are larger than {self.limits.max_headers_bytes} bytes")
            raise _Refused
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._arm(self.limits.body_timeout_s)
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._disarm()
        super().on_message_complete()


def guarded_protocol(limits: HttpLimits) -> type[GuardedHttpProtocol]:
    """A protocol class bound to ``limits`` (uvicorn instantiates the class it is given)."""
    return type("ReelsightHttpProtocol", (GuardedHttpProtocol,), {"limits": limits})
