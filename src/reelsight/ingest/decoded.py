"""The one output type of every protocol decoder: internal events, the refused ones, assigned ids."""

from __future__ import annotations

import dataclasses

from reelsight.ingest.events import Event


@dataclasses.dataclass
class DecodedBatch:
    """The events on the server timeline, keyed by their index in the request (each protocol says
    what an index is), the refused ones with their reason, and the client ids the collector
    assigned (session id -> client id)."""

    events: list[tuple[int, Event]]
    rejected: dict[int, str]
    assigned_client_ids: dict[str, str] = dataclasses.field(default_factory=dict)
