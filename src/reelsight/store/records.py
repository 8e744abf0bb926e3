"""The stored record of a session, and the one conversion from the API document to it.

The record carries the typed, filterable columns and the response document pre-serialized
*without* ``viewer_id``; ``viewer_split`` is the byte offset where ``"viewer_id"`` is spliced in for
accounts with the viewer module (right after ``session_id``, as in the reference example).
"""

from __future__ import annotations

import dataclasses
import hashlib
import ipaddress

import msgspec

from reelsight.aggregates.inputs import FACT_FIELDS, facts
from reelsight.query.dimensions import SCALAR_DIMENSIONS
from reelsight.query.parse import FLAG_PARAMS
from reelsight.sessions.document import CONTENT_SESSION_ID_KEY, SessionDocument

BUCKET_MS = 15 * 60 * 1000  # sessions are clustered by 15-minute end-time buckets, then sample key
TAG_SEPARATOR = "\x1f"  # between tags, and around the whole list
TAG_KEY_END = "\x1e"  # between a tag's key and its value
_ENCODER = msgspec.json.Encoder()


def sample_key(conviva_session_id: str) -> int:
    """Stable 64-bit hash of the id (BLAKE2b, 8 bytes, big-endian), shifted into SQLite's signed range.

    Shifting by 2**63 keeps the order of the unsigned hash, so "smallest sample key" means the same
    in Python and in SQL.
    """
    digest = hashlib.blake2b(conviva_session_id.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") - 2**63


@dataclasses.dataclass(frozen=True, slots=True)
class SessionRecord:
    conviva_session_id: str
    session_id: str
    client_id: str
    start_ms: int
    end_ms: int
    end_bucket: int
    sample_key: int
    is_ended: bool
    flags: tuple[bool, ...]  # in FLAG_PARAMS order
    dimensions: tuple[str, ...]  # in SCALAR_DIMENSIONS order
    cdns: tuple[str, ...]
    custom_tags: tuple[tuple[str, str], ...]
    viewer_id: str
    doc: bytes  # the response document without viewer_id
    viewer_split: int
    is_ad: bool = False  # an ad session (``is_ad_session``): stored and read apart from content sessions
    ips: tuple[str, ...] = ()  # the client addresses (IPv4, IPv6) in canonical form, for the viewer lookup
    timeline: bytes | None = None  # the sessionizer's timeline (``sessions/timeline_codec.py``); None: imported
    facts: tuple[int, ...] = (0,) * len(FACT_FIELDS)  # the aggregate inputs (``aggregates/inputs.py``)


def encode_tags(tags: tuple[tuple[str, str], ...]) -> str:
    """``\x1fkey\x1evalue\x1fkey\x1evalue\x1f``, so that one tag is matched with a single ``instr``.

    Keys and values never contain the two separators (documents and events with them are refused).
    """
    if not tags:
        return ""
    return TAG_SEPARATOR + TAG_SEPARATOR.join(f"{k}{TAG_KEY_END}{v}" for k, v in tags) + TAG_SEPARATOR


def is_ad_session(doc: SessionDocument) -> bool:
    """An ad session names the content session it played in (``tags.selected_dimensions.content_session_id``);
    every other session is a content session."""
    content_session_id: str = getattr(doc.tags.selected_dimensions, CONTENT_SESSION_ID_KEY)
    return bool(content_session_id)


def canonical_addresses(*texts: str) -> tuple[str, ...]:
    """Client addresses as the viewer lookup compares them (``ipaddress``'s text form); a value that
    is not an address, or empty, is left out."""
    found: list[str] = []
    for text in texts:
        try:
            found.append(str(ipaddress.ip_address(text)))
        except ValueError:
            continue
    return tuple(dict.fromkeys(found))


def viewer_lookups(viewer_id: str, ips: tuple[str, ...]) -> list[str]:
    """The viewer lookup keys of a content session: ``v:`` + its viewer id, ``i:`` + each address."""
    return ([f"v:{viewer_id}"] if viewer_id else []) + [f"i:{ip}" for ip in ips]


def lookup_key(kind: str, value: str) -> str:
    """The key a viewer lookup (``kind`` "viewer_id" or "ip") reads."""
    return ("v:" if kind == "viewer_id" else "i:") + value


def canonical_ips(doc: SessionDocument) -> tuple[str, ...]:
    return canonical_addresses(doc.network_info.ip, doc.network_info.ipv6)


def viewer_split_offset(doc: SessionDocument) -> int:
    prefix = (
        b'{"conviva_session_id":'
        + _ENCODER.encode(doc.conviva_session_id)
        + b',"client_id":'
        + _ENCODER.encode(doc.client_id)
        + b',"session_id":'
        + _ENCODER.encode(doc.session_id)
    )
    return len(prefix)


def to_record(doc: SessionDocument, timeline: bytes | None = None) -> SessionRecord:
    viewer_id = doc.viewer_id if isinstance(doc.viewer_id, str) else ""
    body = _ENCODER.encode(msgspec.structs.replace(doc, viewer_id=msgspec.UNSET))
    status = doc.status_info
    return SessionRecord(
        conviva_session_id=doc.conviva_session_id,
        session_id=doc.session_id,
        client_id=doc.client_id,
        start_ms=doc.timestamps.start.epoch_ms,
        end_ms=doc.timestamps.end.epoch_ms,
        end_bucket=doc.timestamps.end.epoch_ms // BUCKET_MS,
        sample_key=sample_key(doc.conviva_session_id),
        is_ended=status.is_ended,
        flags=tuple(bool(getattr(status, name)) for name in FLAG_PARAMS),
        dimensions=tuple(d.extract(doc) for d in SCALAR_DIMENSIONS),
        cdns=tuple(doc.network_info.cdn),
        custom_tags=tuple(sorted(doc.tags.custom_tags.items())),
        viewer_id=viewer_id,
        doc=body,
        viewer_split=viewer_split_offset(doc),
        is_ad=is_ad_session(doc),
        ips=canonical_ips(doc),
        timeline=timeline,
        facts=facts(doc),
    )


def with_viewer_id(doc: bytes, viewer_split: int, viewer_id: str) -> bytes:
    """The stored document with ``"viewer_id"`` spliced in after ``session_id``."""
    return doc[:viewer_split] + b',"viewer_id":' + _ENCODER.encode(viewer_id) + doc[viewer_split:]
