"""One end of a link between an HTTP process and its coordinator: frames out, coalesced into one
write per turn of the event loop; whole decoded messages in. A peer that sends an unreadable frame
is broken: its link is closed and logged."""

from __future__ import annotations

import asyncio
import logging
from typing import Generic, TypeVar, cast

import msgspec

from reelsight.processes import wire

log = logging.getLogger("reelsight.processes")
In = TypeVar("In")


class FramedLink(asyncio.Protocol, Generic[In]):
    def __init__(self, decoder: msgspec.msgpack.Decoder[In], peer: str) -> None:
        self._decoder = decoder
        self._peer = peer
        self._loop: asyncio.AbstractEventLoop | None = None
        self._transport: asyncio.Transport | None = None
        self._splitter = wire.FrameSplitter()
        self._out: list[bytes] = []
        self._flush_scheduled = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._loop = asyncio.get_running_loop()
        self._transport = cast(asyncio.Transport, transport)  # uvloop's transports are not subclasses

    def data_received(self, data: bytes) -> None:
        try:
            messages = [self._decoder.decode(body) for body in self._splitter.feed(data)]
        except (wire.FrameTooLarge, msgspec.DecodeError) as exc:
            log.error("%s sent an unreadable frame (%s); closing the link", self._peer, exc)
            if self._transport is not None:
                self._transport.close()
            return
        for message in messages:
            self.received(message)

    def received(self, message: In) -> None:
        raise NotImplementedError

    def send_frame(self, data: bytes) -> None:
        """Queue a frame; every frame queued in this turn of the loop leaves in one write."""
        self._out.append(data)
        if not self._flush_scheduled and self._loop is not None:
            self._flush_scheduled = True
            self._loop.call_soon(self.flush)

    def flush(self) -> None:
        self._flush_scheduled = False
        if self._out and self._transport is not None and not self._transport.is_closing():
            self._transport.write(b"".join(self._out))
        self._out.clear()
