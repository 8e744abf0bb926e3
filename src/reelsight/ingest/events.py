"""The one internal event type every protocol is decoded into, and the sessionizer consumes.

An event belongs to one session (``client_id``, ``session_id``) of one account, carries a
per-session sequence number ``seq`` (duplicates are recognised by it) and a time ``t_ms``. On the
wire ``t_ms`` is the client's clock; after decoding it is on the server's corrected timeline. Each
event kind is a msgspec struct tagged by ``type``; the live-session log persists them as they are.

:data:`NativeEvent` is the part the native protocol accepts on the wire (its public schema,
``docs/ingest-v1.schema.json``). The kinds after it exist only inside the server, for protocols
that report differently (the Conviva SDK reports CDN and edge separately, repeats its metadata and a
snapshot of the player in every heartbeat): they never enter the native protocol's schema.
"""

from __future__ import annotations

from enum import StrEnum

import msgspec

# Limits of one event (the protocol's per-event limits; batch limits are settings).
MAX_ID_CHARS = 64
MAX_TEXT_CHARS = 2048
MAX_METADATA_KEYS = 128
MAX_METADATA_KEY_CHARS = 128
MAX_METADATA_VALUE_CHARS = 1024


class PlayerState(StrEnum):
    PLAYING = "playing"
    PAUSED = "paused"
    BUFFERING = "buffering"
    STOPPED = "stopped"
    NOT_MONITORED = "not_monitored"


class _Event(msgspec.Struct, tag_field="type", forbid_unknown_fields=True, kw_only=True):
    client_id: str = ""  # "" on a start event: the collector assigns one
    session_id: str
    seq: int
    t_ms: int


class Content(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    asset: str = ""
    stream_url: str = ""
    is_live: bool | None = None  # None: unknown
    length_ms: int = 0  # 0: unknown


class Device(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    """Device metadata a native player reports; empty fields are filled from the User-Agent if any."""

    hardware_type: str = ""  # "Mobile Phone", "Tablet", "Smart TV", "Desktop", "Set-top Box", ...
    manufacturer: str = ""
    model: str = ""
    marketing_name: str = ""
    name: str = ""  # e.g. "Apple iPhone"
    os: str = ""
    os_family: str = ""
    os_version: str = ""
    browser_name: str = ""  # "" for native apps: reported as "Native App"
    browser_version: str = ""


class Start(_Event, tag="start"):
    """Play intent: opens the session. ``metadata`` keys that are standard dimensions
    (``player_name``, ``app_version``, ``content_meta_channel``, ...) fill ``tags.selected_dimensions``;
    every other key becomes a custom tag."""

    content: Content = Content()
    device: Device = Device()
    user_agent: str = ""  # a browser player's User-Agent; the request's header is used when empty
    viewer_id: str = ""
    metadata: dict[str, str] = {}


class StateChange(_Event, tag="state"):
    state: PlayerState


class Bitrate(_Event, tag="bitrate"):
    bitrate_bps: int


class Framerate(_Event, tag="framerate"):
    fps: float


class Playhead(_Event, tag="playhead"):
    playhead_ms: int


class SeekStart(_Event, tag="seek_start"):
    pass


class SeekEnd(_Event, tag="seek_end"):
    pass


class CdnChange(_Event, tag="cdn"):
    cdn: str
    edge_server: str = ""
    group_id: str = ""


class PlayerError(_Event, tag="error"):
    message: str
    fatal: bool


class MetadataUpdate(_Event, tag="metadata"):
    """Changes to content or custom metadata after start (a key with value "" clears a tag)."""

    content: Content | None = None
    viewer_id: str | None = None
    metadata: dict[str, str] = {}


class Heartbeat(_Event, tag="heartbeat"):
    """ "Still here": nothing changed. Keeps a quiet session (steady playback) from expiring."""


class End(_Event, tag="end"):
    pass


class RepeatedStart(Start, tag="repeated_start"):
    """Internal: the start as a protocol repeats it in every report. It opens the session if no
    start has arrived yet (the first report was lost) and is otherwise dropped as a duplicate."""


class CdnUpdate(_Event, tag="cdn_update"):
    """Internal: a partial CDN change; ``None`` leaves that field as it is."""

    cdn: str | None = None
    edge_server: str | None = None


class Snapshot(_Event, tag="snapshot"):
    """Internal: what a report says is in force at its time. It corrects the fold only where it
    differs (events lost in transit), so a complete event stream makes it a no-op."""

    state: PlayerState | None = None
    bitrate_bps: int | None = None
    playhead_ms: int | None = None
    fps: float | None = None
    cdn: str | None = None
    edge_server: str | None = None


NativeEvent = (
    Start
    | StateChange
    | Bitrate
    | Framerate
    | Playhead
    | SeekStart
    | SeekEnd
    | CdnChange
    | PlayerError
    | MetadataUpdate
    | Heartbeat
    | End
)
Event = NativeEvent | RepeatedStart | CdnUpdate | Snapshot
EVENT_TYPES: tuple[type[_Event], ...] = (
    Start,
    StateChange,
    Bitrate,
    Framerate,
    Playhead,
    SeekStart,
    SeekEnd,
    CdnChange,
    PlayerError,
    MetadataUpdate,
    Heartbeat,
    End,
    RepeatedStart,
    CdnUpdate,
    Snapshot,
)


def event_sort_key(event: Event) -> tuple[int, int]:
    """Events are applied in time order; ``seq`` orders events with the same time."""
    return (event.t_ms, event.seq)
