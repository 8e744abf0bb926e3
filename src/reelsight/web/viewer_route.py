"""``GET /insights/3.0/sessions/content/viewer``: one viewer's content sessions, by viewer id or client
address, for accounts with the viewer module; behind the read guard like every read endpoint."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from reelsight.clock import Clock
from reelsight.query.viewer import parse_viewer_query
from reelsight.settings import Settings
from reelsight.store.base import SessionStore
from reelsight.web.read_guard import ReadGuard
from reelsight.web.sessions_route import query_items, render_sessions, require_viewer_module

PATH = "/insights/3.0/sessions/content/viewer"


class ViewerEndpoint:
    def __init__(self, settings: Settings, store: SessionStore, clock: Clock, guard: ReadGuard) -> None:
        self._settings = settings
        self._store = store
        self._clock = clock
        self._guard = guard

    async def handle(self, request: Request) -> Response:
        async with self._guard.enter(request) as account:
            require_viewer_module(account)
            query = parse_viewer_query(query_items(request.scope["query_string"], self._settings), self._clock.now_ms())
            sessions = await self._guard.read(self._store.viewer_sessions, account.id, query)
        return Response(render_sessions(sessions, viewer_module=True), media_type="application/json")
