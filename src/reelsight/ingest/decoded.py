"""The one output type of every protocol decoder: internal events, the refused ones, assigned ids."""

from __future__ import annotations

import dataclasses
from typing import TypeVar

import msgspec

from reelsight.errors import InvalidBatch
from reelsight.ingest.events import Event
from reelsight.sessions.seqs import SeqClaim

T = TypeVar("T")


@dataclasses.dataclass
class DecodedBatch:
    """The events on the server timeline, keyed by their index in the request (each protocol says
    what an index is), the refused ones with their reason, the client ids the collector assigned
    (session id -> client id), and the sequence blocks the batch claims."""

    events: list[tuple[int, Event]]
    rejected: dict[int, str]
    assigned_client_ids: dict[str, str] = dataclasses.field(default_factory=dict)
    claims: list[SeqClaim] = dataclasses.field(default_factory=list)


def decode_body(decoder: msgspec.json.Decoder[T], body: bytes, *, what: str) -> T:
    """Decode a request body, or :class:`InvalidBatch` saying why not: the one way every protocol
    parses its JSON, so that no decoding error (nesting included) is ever a 500."""
    try:
        return decoder.decode(body)
    except RecursionError:
        raise InvalidBatch(f"the body is nested too deeply to be {what}") from None
    except msgspec.ValidationError as exc:
        raise InvalidBatch(f"the body is not {what}: {exc}") from None
    except msgspec.DecodeError as exc:
        raise InvalidBatch(f"the body is not valid JSON: {exc}") from None
