"""The Conviva JS SDK's heartbeat (protocol 2.8) -> internal events. Pure: the receive time and the
client-id generator are passed in. The mapping, field by field: ``docs/ingest-conviva.md``.

A heartbeat carries the events since the previous one (``evs``, each with its own client time) and
a snapshot of the player (state, bitrate, playhead, frame rate, CDN, metadata). The SDK never
retries, so every heartbeat yields, besides its events, a ``RepeatedStart`` (the metadata, which
opens the session if its first heartbeat was lost) and a ``Snapshot`` (which corrects the session
where events were lost). Internal sequence numbers derive from the heartbeat's own ``seq``: a
heartbeat delivered twice yields the same events with the same numbers, which are then duplicates.

Ad sessions (``ad`` true: the SDK's AdAnalytics, one session per ad) become Reelsight ad sessions:
the same events, plus the ad's ``c3.ad.*`` keys and its content session (the ``c3.csid`` tag the
SDK adds) as selected dimensions in the metadata of every start, and the ad's end, skip and errors
as ``AdEnd``, ``AdSkip`` and ``AdError``.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any

import msgspec

from reelsight.errors import InvalidBatch
from reelsight.ingest.decoded import DecodedBatch, decode_body
from reelsight.ingest.events import (
    AD_POSITION_NAMES,
    MAX_METADATA_KEY_CHARS,
    MAX_METADATA_KEYS,
    MAX_METADATA_VALUE_CHARS,
    MAX_TEXT_CHARS,
    AdEnd,
    AdError,
    AdSkip,
    Bitrate,
    CdnUpdate,
    Content,
    Device,
    End,
    Event,
    MetadataUpdate,
    PlayerError,
    PlayerState,
    RepeatedStart,
    SeekEnd,
    SeekStart,
    Snapshot,
    Start,
    StateChange,
)
from reelsight.ingest.native import MAX_EVENT_AGE_MS, MAX_EVENT_FUTURE_MS
from reelsight.sessions.document import CONTENT_SESSION_ID_KEY, is_valid_client_id, is_valid_session_id
from reelsight.sessions.seqs import SeqClaim

PATH = "/0/wsg"
UNKNOWN_CLIENT_ID = "0"
CONTENT_SESSION_FLAGS = 7  # `sf`: 0 marks the SDK's own IPv4/IPv6 probe sessions
# Internal seq = heartbeat seq * SLOTS + slot. Slot 0 is the snapshot of the lost heartbeat before
# this one (when there was one), the events take slots 1..SLOTS-3, the start and the snapshot the
# last two: a snapshot sorts after its own events and before any later heartbeat's (``Snapshot``).
# Heartbeat 0 has no heartbeat before it to lose: its start takes slot 0, before events of the same
# ms (an ad that fails at once sends its start, error and end all at st 0).
SLOTS = 512
_LOST_SNAPSHOT_SLOT = 0
_FIRST_EVENT_SLOT = 1
MAX_EVENTS_PER_HEARTBEAT = SLOTS - 3
_START_SLOT = SLOTS - 2
_SNAPSHOT_SLOT = SLOTS - 1
MAX_HEARTBEAT_SEQ = (2**31 - 1) // SLOTS - 1
_MAX_EPOCH_MS = 2**53

# Player state codes (`ps`) -> internal states. 100 (UNKNOWN) is the state before the app reports
# one, and after an ad break until it does: not measured time once a state was known.
STATES = {1: PlayerState.STOPPED, 3: PlayerState.PLAYING, 6: PlayerState.BUFFERING, 12: PlayerState.PAUSED}
NOT_MONITORED_CODES = frozenset({98, 100})
UNKNOWN_STATE = 100

# `pm.dvt` -> device_hardware_type (the SDK's DeviceType values).
HARDWARE_TYPES = {
    "desktop": "Desktop",
    "console": "Game Console",
    "settop": "Set-top Box",
    "mobile": "Mobile Phone",
    "tablet": "Tablet",
    "smarttv": "Smart TV",
    "vehicle": "Vehicle",
    "other": "Other",
}
# `pm.os`, which the SDK upper-cases -> the names Reelsight's device fields use elsewhere.
OS_NAMES = {
    "ANDROID": "Android",
    "IOS": "iOS",
    "IPADOS": "iPadOS",
    "TVOS": "tvOS",
    "MAC": "macOS",
    "MACOS": "macOS",
    "MAC OS X": "macOS",
    "WINDOWS": "Windows",
    "LINUX": "Linux",
    "CHROME OS": "Chrome OS",
    "CHROMEOS": "Chrome OS",
    "TIZEN": "Tizen",
    "WEBOS": "webOS",
    "ROKU": "Roku OS",
    "FIRE OS": "Fire OS",
    "FIREOS": "Fire OS",
    "PLAYSTATION": "PlayStation",
    "XBOX": "Xbox",
}
# Keys of `tags` (the app's custom metadata) that fill a standard dimension instead of a custom tag.
TAG_DIMENSIONS = {"c3.app.version": "app_version"}

# The kinds whose events the gateway stores: an "ad" heartbeat that names no content session has none.
STORED_KINDS = frozenset({"content", "ad"})
# Ad sessions: the SDK adds the content session's `sid` (decimal) to the ad's tags as `c3.csid`, and
# the app's ad info carries Conviva's documented `c3.ad.*` keys.
CONTENT_SESSION_TAG = "c3.csid"
AD_TAG_DIMENSIONS = {
    "c3.ad.id": "ad_id",
    "c3.ad.creativeId": "ad_creative_id",
    "c3.ad.system": "ad_system",
    "c3.ad.technology": "ad_technology",
    "c3.ad.position": "ad_position",
    "c3.ad.sequence": "ad_sequence",
    "c3.ad.mediaFileApiFramework": "ad_media_file_api_framework",
}
# Neither may reach a content session's tags: a content session never names a content session.
_CONTENT_SESSION_KEYS = frozenset({CONTENT_SESSION_TAG, CONTENT_SESSION_ID_KEY})
# `reportAdSkipped()` sends this custom event, then the same end as `reportAdEnded()`.
AD_SKIPPED_EVENT = "Conviva.AdSkipped"


def gateway_prefix(prefix: str) -> str:
    """The path part of ``gatewayUrl`` for a configured prefix: one leading slash, none trailing
    ("conviva/" -> "/conviva"); the SDK appends :data:`PATH` to it."""
    stripped = prefix.strip("/")
    return "/" + stripped if stripped else ""


class _DeviceMetadata(msgspec.Struct, frozen=True):  # hashable: equal devices share one decoding
    dvb: str = ""
    dvma: str = ""
    dvm: str = ""
    dvt: str = ""
    dvv: str = ""
    os: str = ""
    osv: str = ""
    br: str = ""
    brv: str = ""
    fw: str = ""
    fwv: str = ""


class _HeartbeatInfo(msgspec.Struct):
    """The SDK's note on an earlier heartbeat: ``err`` "ok", "pending", or why it failed."""

    seq: int = -1
    err: str = "ok"


class Heartbeat(msgspec.Struct):
    """The fields Reelsight reads; the SDK sends more, and unknown fields are ignored."""

    cid: str
    sid: int
    seq: int
    sst: int
    st: int
    clid: str = UNKNOWN_CLIENT_ID
    sf: int = CONTENT_SESSION_FLAGS
    ad: bool = False
    ps: int | None = None
    an: str | None = None
    url: str | None = None
    vid: str | None = None
    pn: str | None = None
    rs: str | None = None
    lv: bool | None = None
    cl: float | None = None
    br: float | None = None
    pht: float | None = None
    afps: float | None = None
    csi: str | None = None
    hbinfos: list[_HeartbeatInfo] = []
    tags: dict[str, Any] | None = None
    pm: _DeviceMetadata | None = None
    evs: list[msgspec.Raw] = []


class _Event(msgspec.Struct):
    t: str
    st: int
    seq: int = 0
    new: dict[str, Any] | None = None
    old: dict[str, Any] | None = None
    err: str = ""
    ft: bool = False
    act: str = ""
    name: str = ""
    attr: dict[str, Any] | None = None


_HEARTBEAT = msgspec.json.Decoder(Heartbeat)
_EVENT = msgspec.json.Decoder(_Event)


@dataclasses.dataclass
class DecodedHeartbeat:
    customer_key: str
    # "content", "probe" (the SDK's own IPv4/IPv6 sessions) or "ad" (ad analytics sessions); the
    # batch of a kind in STORED_KINDS is the intake's (empty for an ad that names no content session)
    kind: str
    client_id: str  # the client id the session's events carry
    assigned_client_id: str | None  # set when the heartbeat said "0" and the collector assigned one
    batch: DecodedBatch


def decode_heartbeat(body: bytes) -> Heartbeat:
    """Parse the body; :class:`InvalidBatch` when it is not a heartbeat at all."""
    heartbeat = decode_body(_HEARTBEAT, body, what="a Conviva heartbeat")
    if not -(2**31) <= heartbeat.sid < 2**31:
        raise InvalidBatch("sid must be a signed 32-bit integer", "sid")
    if not 0 <= heartbeat.seq <= MAX_HEARTBEAT_SEQ:
        raise InvalidBatch(f"seq must be from 0 to {MAX_HEARTBEAT_SEQ}", "seq")
    if not 0 < heartbeat.sst < _MAX_EPOCH_MS or not -(2**31) <= heartbeat.st < 2**31:
        raise InvalidBatch("sst must be the session start in Unix milliseconds and st a 32-bit offset", "sst")
    return heartbeat


def _text(value: object, limit: int = MAX_TEXT_CHARS) -> str:
    text = value if isinstance(value, str) else "" if value is None else msgspec.json.encode(value).decode()
    return text[:limit]


def _content(an: object, url: object, lv: object, cl: object) -> Content:
    length_ms = round(cl * 1000) if isinstance(cl, int | float) and 0 < cl <= 10**8 else 0
    return Content(
        asset=_text(an) if an is not None else "",
        stream_url=_text(url) if url is not None else "",
        is_live=lv if isinstance(lv, bool) else None,
        length_ms=length_ms,
    )


def _squash(text: str) -> str:
    return "".join(c for c in text.lower() if c.isalnum())


# "Pre-roll", "PREROLL", "preroll", "pre_roll", "pre" ... -> the stored names.
_AD_POSITIONS = {_squash(name): name for name in AD_POSITION_NAMES.values()} | {
    position.value: name for position, name in AD_POSITION_NAMES.items()
}


def _ad_value(dimension: str, text: str) -> str:
    """An ad dimension as stored: the position by its name, the sequence in decimal; anything
    else, and values that are neither, as sent."""
    if dimension == "ad_position":
        return _AD_POSITIONS.get(_squash(text), text)
    if dimension == "ad_sequence" and text.strip().isdecimal():
        return str(int(text.strip()))
    return text


def _planned_duration(cl: object) -> str:
    """`cl` (`Conviva.duration`, seconds) as ``ad_planned_duration``: whole seconds, "" if unknown."""
    if isinstance(cl, bool) or not isinstance(cl, int | float) or not 0 < cl <= 10**8:
        return ""
    return str(round(cl)) if round(cl) > 0 else ""


def _metadata(pn: object, tags: object, *, ad: bool = False, derived: dict[str, str] | None = None) -> dict[str, str]:
    """Player name and tags as selected dimensions and custom tags. In an ad session the ``c3.ad.*``
    keys fill the ad dimensions; ``c3.csid`` is dropped everywhere (an ad session's start names its
    content session from the heartbeat's own, checked, value: :func:`_content_session_id`).
    ``derived`` (dimensions the decoder computed) has room kept for it and wins over tags."""
    derived = derived or {}
    metadata: dict[str, str] = {}
    if pn:
        metadata["player_name"] = _text(pn, MAX_METADATA_VALUE_CHARS)
    if isinstance(tags, dict):
        room = MAX_METADATA_KEYS - len(derived)
        for key, value in tags.items():
            if len(metadata) >= room:
                break
            if not isinstance(key, str) or not key or len(key) > MAX_METADATA_KEY_CHARS:
                continue
            if "\x1e" in key or "\x1f" in key or key in _CONTENT_SESSION_KEYS:
                continue
            if isinstance(value, str):
                text = value[:MAX_METADATA_VALUE_CHARS]
            else:
                text = _text(value, MAX_METADATA_VALUE_CHARS)
            if "\x1e" in text or "\x1f" in text:
                text = text.replace("\x1e", "").replace("\x1f", "")
            if ad and key in AD_TAG_DIMENSIONS:
                metadata[AD_TAG_DIMENSIONS[key]] = _ad_value(AD_TAG_DIMENSIONS[key], text)
            else:
                metadata[TAG_DIMENSIONS.get(key, key)] = text
    metadata.update(derived)
    return metadata


def _ad_dimensions(cl: object, content_session_id: str | None = None) -> dict[str, str]:
    """What an ad session's metadata gets besides its tags: its content session, its planned duration."""
    derived = {CONTENT_SESSION_ID_KEY: content_session_id} if content_session_id is not None else {}
    if planned := _planned_duration(cl):
        derived["ad_planned_duration"] = planned
    return derived


def _content_session_id(heartbeat: Heartbeat) -> str | None:
    """An ad heartbeat's content session: ``c3.csid`` as the read API serves that session's id (a
    signed 32-bit decimal, not the ad's own ``sid``); None when it names none."""
    csid = (heartbeat.tags or {}).get(CONTENT_SESSION_TAG)
    if not isinstance(csid, str) or not is_valid_session_id(csid) or csid == str(heartbeat.sid):
        return None
    return csid


@functools.lru_cache(maxsize=1024)  # a few hundred device models report; a Device is immutable
def _device(pm: _DeviceMetadata | None) -> Device:
    if pm is None:
        return Device()
    os_name = OS_NAMES.get(pm.os.strip().upper(), pm.os.strip().title()) if pm.os.strip() else ""
    brand = (pm.dvb or pm.dvma).strip()
    model = pm.dvm.strip()
    return Device(
        hardware_type=HARDWARE_TYPES.get(pm.dvt.strip().lower(), pm.dvt.strip()[:256]),
        manufacturer=(pm.dvma or pm.dvb).strip()[:256],
        model=model[:256],  # no marketing name: enrichment makes it "manufacturer model" (enrichment.md)
        name=f"{brand} {model}".strip()[:256],
        os=os_name[:256],
        os_family=os_name[:256],
        os_version=pm.osv.strip()[:256],
        browser_name=pm.br.strip()[:256],
        browser_version=pm.brv.strip()[:256],
    )


def _state(code: object, *, had_state: bool) -> PlayerState | None:
    if isinstance(code, bool) or not isinstance(code, int):
        return None
    if code in NOT_MONITORED_CODES:
        # 100 before any known state is the time before the app reports one: still starting.
        return PlayerState.NOT_MONITORED if (code != UNKNOWN_STATE or had_state) else None
    return STATES.get(code)


def _kbps_to_bps(value: object) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return max(0, min(round(value * 1000), 10**10))


# The state-change fields that make a MetadataUpdate.
_CONTENT_FIELDS = frozenset({"an", "url", "lv", "cl", "vid", "pn", "tags"})


def _changes(ev: _Event, ids: dict[str, Any], *, ad: bool) -> list[Event]:
    """The internal events of one SDK event (a state change may carry several fields); ``ad``: of an
    ad session."""
    out: list[Event] = []
    match ev.t:
        case "CwsStateChangeEvent":
            new = ev.new or {}
            old = ev.old or {}
            if "ps" in new:
                state = _state(new["ps"], had_state=old.get("ps", UNKNOWN_STATE) != UNKNOWN_STATE)
                if state is not None:
                    out.append(StateChange(**ids, state=state))
            if "br" in new and (bps := _kbps_to_bps(new["br"])) is not None:
                out.append(Bitrate(**ids, bitrate_bps=bps))
            if "rs" in new or "csi" in new:
                cdn = _text(new["rs"], 256) if "rs" in new else None
                edge = _text(new["csi"], 256) if "csi" in new else None
                out.append(CdnUpdate(**ids, cdn=cdn, edge_server=edge))
            if not _CONTENT_FIELDS.isdisjoint(new):
                lv = False if ad else new.get("lv")
                content = _content(new.get("an"), new.get("url"), lv, new.get("cl"))
                derived = _ad_dimensions(new.get("cl")) if ad else None
                metadata = _metadata(new.get("pn"), new.get("tags"), ad=ad, derived=derived)
                vid = new.get("vid")
                out.append(
                    MetadataUpdate(
                        **ids,
                        content=content,
                        viewer_id=_text(vid, 256) if vid is not None else None,
                        metadata=metadata,
                    )
                )
        case "CwsErrorEvent":
            error_kind = AdError if ad else PlayerError
            out.append(error_kind(**ids, message=_text(ev.err), fatal=bool(ev.ft)))
        case "CwsCustomEvent" if ad and ev.name == AD_SKIPPED_EVENT:
            # The skip ends the ad where the viewer skipped; the SDK's own end that follows (same
            # time, in this heartbeat or a later one) is then an event after the end, ignored.
            out.append(AdSkip(**ids))
        case "CwsSeekEvent":
            if ev.act == "pss":
                out.append(SeekStart(**ids))
            elif ev.act == "pse":
                out.append(SeekEnd(**ids))
        case "CwsSessionEndEvent":
            # An ad session's end is the ad's: played out (`reportAdEnded`) or failed (after its
            # fatal error, `reportAdFailed`), the SDK sends the same end for both.
            out.append(AdEnd(**ids) if ad else End(**ids))
    # Other custom events (including the ad pods' Conviva.PodStart/PodEnd: their time is the
    # NOT_MONITORED state the SDK reports with them, and the ads' quartiles) and unknown kinds carry
    # nothing the session document keeps.
    return out


def previous_was_lost(heartbeat: Heartbeat) -> bool:
    """The SDK reports (in ``hbinfos``) that the heartbeat before this one failed: its events and its
    snapshot never arrived."""
    return any(info.seq == heartbeat.seq - 1 and info.err not in ("ok", "pending") for info in heartbeat.hbinfos)


def _before_first_change(heartbeat: Heartbeat, events: list[_Event]) -> tuple[PlayerState | None, int | None]:
    """The player state and bitrate in force before this heartbeat's first change of each: the
    ``old`` value of that change, or the snapshot's when nothing changed."""
    state = _state(heartbeat.ps, had_state=False)
    bitrate = _kbps_to_bps(heartbeat.br)
    for field in ("ps", "br"):
        first = next((ev for ev in events if ev.t == "CwsStateChangeEvent" and field in (ev.new or {})), None)
        if first is None:
            continue
        old = (first.old or {}).get(field)
        if field == "ps":
            state = _state(old, had_state=False) if old is not None else None
        else:
            bitrate = _kbps_to_bps(old) if old is not None else None
    return state, bitrate


def decode_events(
    heartbeat: Heartbeat, *, receive_ms: int, new_client_id: Callable[[Heartbeat], str], interval_ms: int
) -> DecodedHeartbeat:
    """The heartbeat's internal events on the server timeline (``receive_ms`` - the heartbeat's own
    age, as the native protocol corrects skew); an event index is its position in ``evs``, and the
    heartbeat's own start and snapshots take the indexes after them.

    When the SDK says the previous heartbeat failed, a snapshot of what was in force when that one
    was built (``interval_ms``, the interval the gateway hands out, before this one, and before this
    heartbeat's first event) corrects the session there: a change lost with it then costs at most
    one interval of attribution."""
    kind = "probe" if heartbeat.sf == 0 else "ad" if heartbeat.ad else "content"
    ad = kind == "ad"
    content_session_id = _content_session_id(heartbeat) if ad else None
    batch = DecodedBatch([], {}, {})
    if ad and (content_session_id is None or heartbeat.clid == UNKNOWN_CLIENT_ID):
        # Dropped: an ad session must name its content session, by that session's client id too.
        # An id assigned to the ad's own "0" would not be it, and answering one would make the SDK
        # re-key the content session's later heartbeats with it.
        return DecodedHeartbeat(heartbeat.cid, kind, heartbeat.clid, None, batch)
    assigned: str | None = None
    client_id = heartbeat.clid
    if client_id == UNKNOWN_CLIENT_ID:
        client_id = assigned = new_client_id(heartbeat)
    if kind == "probe":
        return DecodedHeartbeat(heartbeat.cid, kind, client_id, assigned, batch)
    if not is_valid_client_id(client_id):
        raise InvalidBatch("clid must be four unsigned 32-bit integers joined by dots", "clid")
    session_id = str(heartbeat.sid)
    offset_ms = receive_ms - (heartbeat.sst + heartbeat.st)
    base_seq = heartbeat.seq * SLOTS
    batch.claims.append(SeqClaim(client_id, session_id, base_seq, base_seq + SLOTS))
    slot = _FIRST_EVENT_SLOT
    decoded_events: list[_Event] = []
    ended = False

    def place(st: int) -> int | None:
        t_ms = heartbeat.sst + st + offset_ms
        return t_ms if receive_ms - MAX_EVENT_AGE_MS <= t_ms <= receive_ms + MAX_EVENT_FUTURE_MS else None

    for index, raw in enumerate(heartbeat.evs):
        if index >= MAX_EVENTS_PER_HEARTBEAT:
            batch.rejected[index] = f"a heartbeat may carry at most {MAX_EVENTS_PER_HEARTBEAT} events"
            continue
        try:
            ev = _EVENT.decode(raw)
        except RecursionError:
            batch.rejected[index] = "the event is nested too deeply"
            continue
        except msgspec.DecodeError as exc:  # ValidationError included
            batch.rejected[index] = str(exc)
            continue
        t_ms = place(ev.st) if -(2**31) <= ev.st < 2**31 else None
        if t_ms is None:
            batch.rejected[index] = "st places the event more than 24 hours before or 5 minutes after its receipt"
            continue
        decoded_events.append(ev)
        for event in _changes(ev, {"client_id": client_id, "session_id": session_id, "seq": 0, "t_ms": t_ms}, ad=ad):
            if slot > MAX_EVENTS_PER_HEARTBEAT:
                break
            event.seq = base_seq + slot
            slot += 1
            batch.events.append((index, event))
            ended = ended or isinstance(event, End)

    ids = {"client_id": client_id, "session_id": session_id}
    if heartbeat.seq > 0 and previous_was_lost(heartbeat):
        first_ms = min((event.t_ms for _index, event in batch.events), default=receive_ms)
        lost_ms = min(receive_ms - interval_ms, first_ms - 1)
        state, bitrate = _before_first_change(heartbeat, decoded_events)
        if lost_ms >= receive_ms - MAX_EVENT_AGE_MS:
            lost = Snapshot(
                client_id=client_id,
                session_id=session_id,
                seq=base_seq + _LOST_SNAPSHOT_SLOT,
                t_ms=lost_ms,
                state=state,
                bitrate_bps=bitrate,
            )
            batch.events.insert(0, (len(heartbeat.evs) + 2, lost))
    start_ms = place(0)
    if start_ms is not None:
        first = heartbeat.seq == 0
        start_kind = Start if first else RepeatedStart
        # In every start, not only the first: a RepeatedStart that opens the session (its first
        # heartbeat lost) makes it an ad session all the same.
        derived = _ad_dimensions(heartbeat.cl, content_session_id) if ad else None
        start = start_kind(
            **ids,
            seq=base_seq + (_LOST_SNAPSHOT_SLOT if first else _START_SLOT),
            t_ms=start_ms,
            # An ad is a clip of its own length: the SDK copies the content's stream type into it.
            content=_content(heartbeat.an, heartbeat.url, False if ad else heartbeat.lv, heartbeat.cl),
            device=_device(heartbeat.pm),
            viewer_id=_text(heartbeat.vid, 256),
            metadata=_metadata(heartbeat.pn, heartbeat.tags, ad=ad, derived=derived),
        )
        batch.events.append((len(heartbeat.evs), start))
    if assigned is not None:
        batch.assigned_client_ids[session_id] = assigned
    if ended:
        # The session ended in this heartbeat: a snapshot at its receipt would only be a late event.
        return DecodedHeartbeat(heartbeat.cid, kind, client_id, assigned, batch)
    fps = heartbeat.afps
    snapshot = Snapshot(
        **ids,
        seq=base_seq + _SNAPSHOT_SLOT,
        t_ms=receive_ms,
        state=_state(heartbeat.ps, had_state=False),  # 100 says nothing about what is in force
        bitrate_bps=_kbps_to_bps(heartbeat.br),
        playhead_ms=round(heartbeat.pht) if heartbeat.pht is not None and 0 <= heartbeat.pht <= 10**11 else None,
        fps=float(fps) if fps is not None and 0 < fps <= 1000 else None,
        cdn=_text(heartbeat.rs, 256) if heartbeat.rs is not None else None,
        edge_server=_text(heartbeat.csi, 256) if heartbeat.csi is not None else None,
    )
    batch.events.append((len(heartbeat.evs) + 1, snapshot))
    return DecodedHeartbeat(heartbeat.cid, kind, client_id, assigned, batch)
