"""``GET /insights/3.0/sessions/content``: the read guard, query parsing, the sample, JSON."""

from __future__ import annotations

import urllib.parse

from starlette.requests import Request
from starlette.responses import Response

from reelsight.clock import Clock
from reelsight.errors import InvalidParameter
from reelsight.query.parse import parse_query
from reelsight.query.selection import selection
from reelsight.settings import Settings
from reelsight.store.base import SessionStore, StoredSession
from reelsight.store.records import with_viewer_id
from reelsight.web.read_guard import ReadGuard

PATH = "/insights/3.0/sessions/content"


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


class SessionsEndpoint:
    def __init__(
        self,
        settings: Settings,
        store: SessionStore,
        clock: Clock,
        guard: ReadGuard,
    ) -> None:
        self._settings = settings
        self._store = store
        self._clock = clock
        self._guard = guard

    async def handle(self, request: Request) -> Response:
        async with self._guard.enter(request) as account:
            query = parse_query(query_items(request.scope["query_string"], self._settings), self._clock.now_ms())
            sessions = await self._guard.read(self._store.sample_sessions, account.id, selection(query))
        body = render_sessions(sessions, viewer_module=account.viewer_module)
        return Response(body, media_type="application/json")
