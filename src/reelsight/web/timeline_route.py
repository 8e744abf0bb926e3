"""``GET /reelsight/v1/sessions/{content,ad}/{conviva_session_id}/timeline``: one ended session's timeline
(an extension of Reelsight, outside the hosted contract's paths), behind the read guard.

The stored timeline refers to its document's error messages and CDN names; this module resolves them
and renders the JSON (:class:`TimelineResponse`), the one conversion from the stored form to the API's.
"""

from __future__ import annotations

import re

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from reelsight.errors import NotFound, StorageFailure, UnknownParameter
from reelsight.query.selection import SessionKind
from reelsight.sessions.timeline_codec import Timeline, decode_timeline
from reelsight.settings import Settings
from reelsight.store.base import Account, SessionStore
from reelsight.web.read_guard import ReadGuard
from reelsight.web.sessions_route import query_items, require_ad_insights

CONTENT_PATH = "/reelsight/v1/sessions/content/{conviva_session_id}/timeline"
AD_PATH = "/reelsight/v1/sessions/ad/{conviva_session_id}/timeline"
# client_id (four unsigned 32-bit integers) "." session_id (a signed 32-bit integer): anything else names
# no session, and is answered 404 without a read
_SESSION_ID = re.compile(r"[0-9]{1,10}(\.[0-9]{1,10}){3}\.-?[0-9]{1,10}", re.ASCII)


class StateInterval(msgspec.Struct, frozen=True):
    start_ms: int
    end_ms: int
    state: str


class BitrateStep(msgspec.Struct, frozen=True):
    start_ms: int
    end_ms: int
    bitrate_bps: int


class CdnStep(msgspec.Struct, frozen=True):
    start_ms: int
    end_ms: int
    cdn: str


class SeekInterval(msgspec.Struct, frozen=True):
    start_ms: int
    end_ms: int
    closed: bool


class AdBreakInterval(msgspec.Struct, frozen=True):
    start_ms: int
    end_ms: int
    position: str | None
    closed: bool


class ErrorPoint(msgspec.Struct, frozen=True):
    at_ms: int
    is_fatal: bool
    message: str


class TimelineResponse(msgspec.Struct, frozen=True):
    """Times are Unix epoch milliseconds (the session's own ``timestamps``); every interval lies within
    ``[start_ms, truncated_at_ms or end_ms]``, and ``states`` tile it."""

    conviva_session_id: str
    start_ms: int
    end_ms: int
    truncated_at_ms: int | None
    states: list[StateInterval]
    bitrates: list[BitrateStep]
    cdns: list[CdnStep]
    seeks: list[SeekInterval]
    ad_breaks: list[AdBreakInterval]
    errors: list[ErrorPoint]


class _Error(msgspec.Struct):
    message: str


class _StatusInfo(msgspec.Struct):
    errors: list[_Error]


class _NetworkInfo(msgspec.Struct):
    cdn: list[str]


class _References(msgspec.Struct):
    """What a timeline refers to in its session's document (every other field is skipped)."""

    status_info: _StatusInfo
    network_info: _NetworkInfo


_REFERENCES = msgspec.json.Decoder(_References)
_ENCODER = msgspec.json.Encoder()


def render_timeline(conviva_session_id: str, timeline: Timeline, doc: bytes) -> TimelineResponse:
    refs = _REFERENCES.decode(doc)
    messages = [e.message for e in refs.status_info.errors]
    cdns = refs.network_info.cdn
    return TimelineResponse(
        conviva_session_id=conviva_session_id,
        start_ms=timeline.start_ms,
        end_ms=timeline.end_ms,
        truncated_at_ms=timeline.truncated_ms,
        states=[StateInterval(s.start_ms, s.end_ms, s.state) for s in timeline.states],
        bitrates=[BitrateStep(b.start_ms, b.end_ms, b.bitrate_bps) for b in timeline.bitrates],
        cdns=[
            CdnStep(c.start_ms, c.end_ms, cdns[c.cdn_index] if c.cdn_index < len(cdns) else "") for c in timeline.cdns
        ],
        seeks=[SeekInterval(s.start_ms, s.end_ms, s.closed) for s in timeline.seeks],
        ad_breaks=[AdBreakInterval(a.start_ms, a.end_ms, a.position, a.closed) for a in timeline.ad_breaks],
        errors=[
            ErrorPoint(e.at_ms, e.is_fatal, messages[e.index] if e.index < len(messages) else "")
            for e in timeline.errors
        ],
    )


def _everyone(_account: Account) -> None:
    return None


class TimelineEndpoint:
    """``kind``: the content sessions' path, or the ad sessions' (``403 forbidden`` without ad insights)."""

    def __init__(self, settings: Settings, store: SessionStore, guard: ReadGuard, kind: SessionKind) -> None:
        self._settings = settings
        self._store = store
        self._guard = guard
        self._kind: SessionKind = kind
        self._permitted = require_ad_insights if kind == "ad" else _everyone

    async def handle(self, request: Request) -> Response:
        conviva_session_id: str = request.path_params["conviva_session_id"]
        async with self._guard.enter(request) as account:
            self._permitted(account)
            for name, _value in query_items(request.scope["query_string"], self._settings):
                raise UnknownParameter(f"unknown parameter {name!r}: this endpoint takes none", name)
            if _SESSION_ID.fullmatch(conviva_session_id) is None:
                raise NotFound(f"no ended {self._kind} session {conviva_session_id!r} in this account")
            stored = await self._guard.read(self._store.session_timeline, account.id, self._kind, conviva_session_id)
        if stored is None:
            raise NotFound(f"no ended {self._kind} session {conviva_session_id!r} in this account")
        if stored.timeline is None:
            raise NotFound(
                f"session {conviva_session_id!r} has no timeline: it was imported, or stored before timelines were kept"
            )
        try:
            timeline = decode_timeline(stored.timeline)
        except ValueError as exc:
            raise StorageFailure(f"the stored timeline of session {conviva_session_id!r} is damaged: {exc}") from None
        body = _ENCODER.encode(render_timeline(conviva_session_id, timeline, stored.doc))
        return Response(body, media_type="application/json")
