"""The native event protocol, version 1: a JSON batch -> validated, skew-corrected internal events.

Pure: the receive time and the client-id generator are passed in. Each event is decoded and checked
on its own, so one bad event never rejects another session's events; see ``docs/ingest.md``.
"""

from __future__ import annotations

from collections.abc import Callable

import msgspec

from reelsight.errors import InvalidBatch, PayloadTooLarge
from reelsight.ingest.decoded import DecodedBatch, decode_body
from reelsight.ingest.events import (
    MAX_ID_CHARS,
    MAX_METADATA_KEY_CHARS,
    MAX_METADATA_KEYS,
    MAX_METADATA_VALUE_CHARS,
    MAX_TEXT_CHARS,
    AdStart,
    Bitrate,
    CdnChange,
    Event,
    Framerate,
    MetadataUpdate,
    NativeEvent,
    PlayerError,
    Playhead,
    Start,
)
from reelsight.sessions.document import CONTENT_SESSION_ID_KEY, is_valid_client_id, is_valid_session_id

PROTOCOL_VERSION = 1
MAX_EVENT_AGE_MS = 24 * 3_600_000  # a corrected event time older than this is refused
MAX_EVENT_FUTURE_MS = 5 * 60_000  # ... and one further in the future than this
MAX_SEQ = 2**31 - 1
_MAX_EPOCH_MS = 2**53


class NativeBatch(msgspec.Struct, forbid_unknown_fields=True):
    v: int
    ingest_key: str
    sent_at_ms: int
    events: list[msgspec.Raw]


class NativeBatchSchema(msgspec.Struct, forbid_unknown_fields=True):
    """The same batch with its events typed: the source of the published JSON Schema."""

    v: int
    ingest_key: str
    sent_at_ms: int
    events: list[NativeEvent]


def json_schema() -> dict[str, object]:
    schema = msgspec.json.schema(NativeBatchSchema)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = f"Reelsight native ingest batch, protocol version {PROTOCOL_VERSION}"
    return schema


_ENVELOPE = msgspec.json.Decoder(NativeBatch)
_EVENT = msgspec.json.Decoder(NativeEvent)  # the wire's kinds only: internal kinds are refused


def decode_envelope(body: bytes, *, max_events: int) -> NativeBatch:
    batch = decode_body(_ENVELOPE, body, what=f"a batch of protocol version {PROTOCOL_VERSION}")
    if batch.v != PROTOCOL_VERSION:
        raise InvalidBatch(f"unsupported protocol version {batch.v}; this server speaks {PROTOCOL_VERSION}", "v")
    if not 0 < batch.sent_at_ms < _MAX_EPOCH_MS:
        raise InvalidBatch("sent_at_ms must be the client's send time in Unix milliseconds", "sent_at_ms")
    if len(batch.events) > max_events:
        raise PayloadTooLarge(f"a batch may hold at most {max_events} events", "events")
    return batch


def _text(name: str, value: str, limit: int = MAX_TEXT_CHARS) -> None:
    if len(value) > limit:
        raise ValueError(f"{name} is longer than {limit} characters")


def _metadata(metadata: dict[str, str]) -> None:
    if len(metadata) > MAX_METADATA_KEYS:
        raise ValueError(f"metadata has more than {MAX_METADATA_KEYS} keys")
    for key, value in metadata.items():
        if not key or len(key) > MAX_METADATA_KEY_CHARS:
            raise ValueError(f"metadata keys must be 1 to {MAX_METADATA_KEY_CHARS} characters")
        if any(c in key or c in value for c in "\x1e\x1f"):
            raise ValueError("metadata keys and values must not contain the characters U+001E or U+001F")
        _text(f"metadata[{key!r}]", value, MAX_METADATA_VALUE_CHARS)
    if CONTENT_SESSION_ID_KEY in metadata:
        raise ValueError(
            f"metadata must not set {CONTENT_SESSION_ID_KEY!r}: an ad_start event names its content session"
        )


def _ad(event: AdStart) -> None:
    if not is_valid_session_id(event.content_session_id):
        raise ValueError("content_session_id must be the content session's session_id (a signed 32-bit integer)")
    if event.content_session_id == event.session_id:
        raise ValueError("an ad session's session_id must differ from its content_session_id")
    ad = event.ad
    for name in ("ad_id", "creative_id", "system", "technology", "api_framework"):
        _text(f"ad.{name}", getattr(ad, name), 256)
    if not 0 <= ad.sequence <= 1000:
        raise ValueError("ad.sequence must be from 0 (unknown) to 1000")
    if not 0 <= ad.planned_duration_ms <= 86_400_000:
        raise ValueError("ad.planned_duration_ms must be from 0 (unknown) to 24 hours")


def check_event(event: Event) -> None:
    """Raise ``ValueError`` naming what is wrong with one decoded event (ids aside)."""
    if not 0 <= event.seq <= MAX_SEQ:
        raise ValueError(f"seq must be from 0 to {MAX_SEQ}")
    if isinstance(event, Start):
        for name in ("asset", "stream_url"):
            _text(f"content.{name}", getattr(event.content, name))
        if not 0 <= event.content.length_ms <= 10**11:
            raise ValueError("content.length_ms must be from 0 to 10^11")
        for field in event.device.__struct_fields__:
            _text(f"device.{field}", getattr(event.device, field), 256)
        _text("user_agent", event.user_agent)
        _text("viewer_id", event.viewer_id, 256)
        _metadata(event.metadata)
        if isinstance(event, AdStart):
            _ad(event)
    elif isinstance(event, MetadataUpdate):
        if event.content is not None:
            _text("content.asset", event.content.asset)
            _text("content.stream_url", event.content.stream_url)
            if not 0 <= event.content.length_ms <= 10**11:
                raise ValueError("content.length_ms must be from 0 to 10^11")
        if event.viewer_id is not None:
            _text("viewer_id", event.viewer_id, 256)
        _metadata(event.metadata)
    elif isinstance(event, Bitrate) and not 0 <= event.bitrate_bps <= 10**10:
        raise ValueError("bitrate_bps must be from 0 to 10^10")
    elif isinstance(event, Framerate) and not 0 <= event.fps <= 1000:
        raise ValueError("fps must be from 0 to 1000")
    elif isinstance(event, Playhead) and not 0 <= event.playhead_ms <= 10**11:
        raise ValueError("playhead_ms must be from 0 to 10^11")
    elif isinstance(event, PlayerError):
        _text("message", event.message)
    elif isinstance(event, CdnChange):
        for name in ("cdn", "edge_server", "group_id"):
            _text(name, getattr(event, name), 256)


def decode_batch(batch: NativeBatch, *, receive_ms: int, new_client_id: Callable[[Start], str]) -> DecodedBatch:
    """Decode each event, check it, move it onto the server timeline and fill in assigned client ids.

    ``new_client_id`` gets the start event as the client sent it (client time): it must give the
    same id for a retry of the same start, so that retrying a batch never forks a session.
    """
    offset_ms = receive_ms - batch.sent_at_ms
    decoded: list[tuple[int, Event]] = []
    rejected: dict[int, str] = {}
    assigned: dict[str, str] = {}
    for index, raw in enumerate(batch.events):
        try:
            event = _EVENT.decode(raw)
            check_event(event)
        except RecursionError:
            rejected[index] = "the event is nested too deeply"
            continue
        except msgspec.ValidationError as exc:
            rejected[index] = str(exc)
            continue
        except msgspec.DecodeError as exc:  # pragma: no cover - the envelope already parsed it
            rejected[index] = f"malformed JSON: {exc}"
            continue
        except ValueError as exc:
            rejected[index] = str(exc)
            continue
        if len(event.session_id) > MAX_ID_CHARS or not is_valid_session_id(event.session_id):
            rejected[index] = "session_id must be a signed 32-bit integer written in decimal"
            continue
        if event.client_id and (len(event.client_id) > MAX_ID_CHARS or not is_valid_client_id(event.client_id)):
            rejected[index] = "client_id must be four unsigned 32-bit integers joined by dots"
            continue
        corrected = event.t_ms + offset_ms
        if not receive_ms - MAX_EVENT_AGE_MS <= corrected <= receive_ms + MAX_EVENT_FUTURE_MS:
            rejected[index] = "t_ms is more than 24 hours before or 5 minutes after the batch's send time"
            continue
        # A session that starts without a client id gets one; its other events in the batch share it.
        # An ad session shares its content session's (assigned below, if that started in this batch).
        if (
            isinstance(event, Start)
            and not isinstance(event, AdStart)
            and not event.client_id
            and event.session_id not in assigned
        ):
            assigned[event.session_id] = new_client_id(event)
        event.t_ms = corrected
        decoded.append((index, event))
    for _index, event in decoded:
        if isinstance(event, AdStart) and not event.client_id and event.session_id not in assigned:
            content_client_id = assigned.get(event.content_session_id)
            if content_client_id is not None:
                assigned[event.session_id] = content_client_id

    kept: list[tuple[int, Event]] = []
    for index, event in decoded:
        if not event.client_id:
            if event.session_id not in assigned:
                rejected[index] = (
                    "client_id is required (only a start event may omit it, to be assigned one; an ad_start "
                    "may omit it when its content session starts in the same batch)"
                )
                continue
            event.client_id = assigned[event.session_id]
        kept.append((index, event))
    return DecodedBatch(kept, rejected, assigned)
