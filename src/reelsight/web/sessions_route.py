"""``GET /insights/3.0/sessions/content`` and ``GET /insights/3.0/sessions/ad``: the read guard, the
account's permission, query parsing, the sample, JSON. The two differ only in the sessions they read
(content, or the ad sessions played inside them) and who may read them."""

from __future__ import annotations

import urllib.parse

from starlette.requests import Request
from starlette.responses import Response

from reelsight.clock import Clock
from reelsight.errors import Forbidden, InvalidParameter
from reelsight.query.parse import parse_query
from reelsight.query.selection import SessionKind, selection
from reelsight.settings import Settings
from reelsight.store.base import Account, SessionStore, StoredSession
from reelsight.store.records import with_viewer_id
from reelsight.web.read_guard import ReadGuard

PATH = "/insights/3.0/sessions/content"
AD_PATH = "/insights/3.0/sessions/ad"


def render_sessions(sessions: list[StoredSession], *, viewer_module: bool) -> bytes:
    """The response body: stored documents joined, ``viewer_id`` spliced in only when permitted."""
    if not sessions:
        return b'{"sessions":[]}'
    if viewer_module:
        parts = [with_viewer_id(s.doc, s.viewer_split, s.viewer_id) for s in sessions]
    else:
        parts = [s.doc for s in sessions]
    # The envelope rides on the first and last parts: one join, no extra multi-megabyte copies.
    parts[0] = b'{"sessions":[' + parts[0]
    parts[-1] = parts[-1] + b"]}"
    return b",".join(parts)


def query_items(raw: bytes, settings: Settings) -> list[tuple[str, str]]:
    if len(raw) > settings.max_query_string_bytes:
        raise InvalidParameter(f"the query string is longer than {settings.max_query_string_bytes} bytes")
    try:
        return urllib.parse.parse_qsl(
            raw.decode("ascii"),
            keep_blank_values=True,
            strict_parsing=False,
            errors="strict",
            max_num_fields=settings.max_query_params,
        )
    except (UnicodeError, ValueError):
        raise InvalidParameter(
            f"the query string must be percent-encoded UTF-8 with at most {settings.max_query_params} parameters"
        ) from None


def require_ad_insights(account: Account) -> None:
    if not account.ad_insights:
        raise Forbidden("this account may not read ad sessions: it has no ad insights permission")


def require_viewer_module(account: Account) -> None:
    if not account.viewer_module:
        raise Forbidden("this account may not look up viewers: it has no viewer module")


def _everyone(_account: Account) -> None:
    return None


class SessionsEndpoint:
    """One sample endpoint: ``kind`` says which sessions it reads; an account the permission check
    refuses gets ``403 forbidden`` (after authentication, before the query is read)."""

    def __init__(
        self,
        settings: Settings,
        store: SessionStore,
        clock: Clock,
        guard: ReadGuard,
        kind: SessionKind = "content",
    ) -> None:
        self._settings = settings
        self._store = store
        self._clock = clock
        self._guard = guard
        self._kind: SessionKind = kind
        self._permitted = require_ad_insights if kind == "ad" else _everyone

    async def handle(self, request: Request) -> Response:
        async with self._guard.enter(request) as account:
            self._permitted(account)
            query = parse_query(query_items(request.scope["query_string"], self._settings), self._clock.now_ms())
            sessions = await self._guard.read(self._store.sample_sessions, account.id, selection(query, self._kind))
        body = render_sessions(sessions, viewer_module=account.viewer_module)
        return Response(body, media_type="application/json")
