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


class AdPosition(StrEnum):
    PRE = "pre"
    MID = "mid"
    POST = "post"


class AdInfo(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    """What an ad session reports of its ad; each field fills one ``ad_*`` selected dimension."""

    ad_id: str = ""
    creative_id: str = ""
    system: str = ""  # the ad server, e.g. "Google Ad Manager"
    technology: str = ""  # "Client Side" or "Server Side"
    position: AdPosition | None = None
    sequence: int = 0  # 1-based place in its ad break; 0: unknown
    planned_duration_ms: int = 0  # 0: unknown
    api_framework: str = ""  # VPAID, SIMID, ...


class AdBreakStart(_Event, tag="ad_break_start"):
    """On a content session: an ad break begins; until ``ad_break_end`` its time is ad time."""

    position: AdPosition | None = None


class AdBreakEnd(_Event, tag="ad_break_end"):
    pass


class AdStart(Start, tag="ad_start"):
    """Opens an ad session: its own ``session_id``, its content session's ``client_id`` and
    ``content_session_id``. Then the usual events, and ``ad_end``, ``ad_skip`` or expiry."""

    content_session_id: str = ""  # required: the native decoder refuses an ad start without it
    ad: AdInfo = AdInfo()


class AdError(PlayerError, tag="ad_error"):
    """An error of the ad (a fatal one before its first frame is the ad's start failure)."""


class Heartbeat(_Event, tag="heartbeat"):
    """ "Still here": nothing changed. Keeps a quiet session (steady playback) from expiring."""


class End(_Event, tag="end"):
    pass


class AdEnd(End, tag="ad_end"):
    """The ad played to its end: the ad session ends."""


class AdSkip(End, tag="ad_skip"):
    """The viewer skipped the ad: the ad session ends, tagged ``ad_skipped``."""


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
    | AdBreakStart
    | AdBreakEnd
    | AdStart
    | AdError
    | AdEnd
    | AdSkip
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
    AdBreakStart,
    AdBreakEnd,
    AdStart,
    AdError,
    AdEnd,
    AdSkip,
    RepeatedStart,
    CdnUpdate,
    Snapshot,
)


# The ad positions as stored in ``ad_position`` (the Conviva SDK's own names).
AD_POSITION_NAMES: dict[AdPosition, str] = {
    AdPosition.PRE: "Pre-roll",
    AdPosition.MID: "Mid-roll",
    AdPosition.POST: "Post-roll",
}
# The custom tag an ``ad_skip`` sets on its ad session.
AD_SKIPPED_TAG = "ad_skipped"


def ad_metadata(event: AdStart) -> dict[str, str]:
    """An ad start's ad fields as the selected dimensions they fill (unknown ones left out)."""
    ad = event.ad
    fields = {
        "content_session_id": event.content_session_id,
        "ad_id": ad.ad_id,
        "ad_creative_id": ad.creative_id,
        "ad_system": ad.system,
        "ad_technology": ad.technology,
        "ad_position": AD_POSITION_NAMES[ad.position] if ad.position is not None else "",
        "ad_sequence": str(ad.sequence) if ad.sequence > 0 else "",
        "ad_planned_duration": str(round(ad.planned_duration_ms / 1000)) if ad.planned_duration_ms > 0 else "",
        "ad_media_file_api_framework": ad.api_framework,
    }
    return {key: value for key, value in fields.items() if value}


def event_sort_key(event: Event) -> tuple[int, int]:
    """Events are applied in time order; ``seq`` orders events with the same time."""
    return (event.t_ms, event.seq)
