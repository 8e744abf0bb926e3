"""``GET /insights/3.0/sessions`` (which session endpoints this account may use) and
``GET /insights/3.0/sessions/_meta/references/dimensions`` (which filters it may use), behind the read guard."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from reelsight.clock import Clock
from reelsight.errors import UnknownParameter
from reelsight.query.catalogue import FILTERS, Filter, FilterKind, MatchKind, tag_filter
from reelsight.settings import Settings
from reelsight.store.base import Account, SessionStore
from reelsight.web import sessions_route, viewer_route
from reelsight.web.read_guard import ReadGuard
from reelsight.web.sessions_route import query_items

PATH = "/insights/3.0/sessions"
DIMENSIONS_PATH = "/insights/3.0/sessions/_meta/references/dimensions"
MAX_TAG_KEYS = 1000  # custom tag keys listed at most (alphabetically first); more sets custom_tags_truncated


@dataclasses.dataclass(frozen=True)
class Resource:
    name: str  # resource_name, as the hosted service names it
    path: str
    entitled: Callable[[Account], bool]
    reference: bool = False  # listed under "references", not "resources"


# One row per session resource, in the reference's order. A row is listed for an account it entitles,
# and only once the app routes its path (never a link that answers 404).
RESOURCES: tuple[Resource, ...] = (
    Resource("publisher content sessions", sessions_route.PATH, lambda _account: True),
    Resource("publisher ad sessions", sessions_route.AD_PATH, lambda account: account.ad_insights),
    Resource("viewer content sessions (viewer module)", viewer_route.PATH, lambda account: account.viewer_module),
    Resource("dimensions", DIMENSIONS_PATH, lambda _account: True, reference=True),
)


class Endpoint(msgspec.Struct, forbid_unknown_fields=True):
    methods: list[str]
    path: str  # an absolute URL of this server


class ResourceEntry(msgspec.Struct, forbid_unknown_fields=True):
    resource_name: str
    endpoints: list[Endpoint]


class Discovery(msgspec.Struct, forbid_unknown_fields=True):
    resources: list[ResourceEntry]
    references: list[ResourceEntry]


class FilterEntry(msgspec.Struct, forbid_unknown_fields=True):
    name: str  # the query parameter
    kind: FilterKind
    field: str  # the session field it is compared with
    match: MatchKind
    description: str


class DimensionsReference(msgspec.Struct, forbid_unknown_fields=True):
    dimensions: list[FilterEntry]
    custom_tags_truncated: bool  # more custom tag keys were seen than the MAX_TAG_KEYS listed


def discovery(account: Account, base_url: str, served: Collection[str]) -> Discovery:
    """The entries of :data:`RESOURCES` ``account`` may use and the app serves, as ``base_url`` + path."""
    out = Discovery(resources=[], references=[])
    for row in RESOURCES:
        if row.path in served and row.entitled(account):
            entry = ResourceEntry(row.name, [Endpoint(["GET"], base_url + row.path)])
            (out.references if row.reference else out.resources).append(entry)
    return out


def _entry(f: Filter) -> FilterEntry:
    return FilterEntry(f.name, f.kind, f.field, f.match, f.description)


_STATIC_ENTRIES = [_entry(f) for f in FILTERS]


def dimensions_reference(tag_keys: list[str]) -> DimensionsReference:
    """Every filter of the tables, then ``tag_<key>`` for the first :data:`MAX_TAG_KEYS` of ``tag_keys``."""
    tags = [_entry(tag_filter(key)) for key in tag_keys[:MAX_TAG_KEYS]]
    return DimensionsReference(_STATIC_ENTRIES + tags, len(tag_keys) > MAX_TAG_KEYS)


def _no_parameters(request: Request, settings: Settings) -> None:
    """These endpoints take no parameters: any is a 400 naming it, as a typo is on the content endpoint."""
    for name, _value in query_items(request.scope["query_string"], settings):
        raise UnknownParameter(f"unknown parameter {name!r}", name)


class DiscoveryEndpoints:
    def __init__(self, settings: Settings, store: SessionStore, clock: Clock, guard: ReadGuard) -> None:
        self._settings = settings
        self._store = store
        self._clock = clock
        self._guard = guard
        self.served: frozenset[str] = frozenset()  # the read paths the app routes (set by the app factory)
        self._encoder = msgspec.json.Encoder()

    def _base_url(self, request: Request) -> str:
        """``public_url`` when set; otherwise the scheme and Host the client reached this server with."""
        if self._settings.public_url:
            return self._settings.public_url.rstrip("/")
        return str(request.base_url).rstrip("/")

    async def discovery(self, request: Request) -> Response:
        async with self._guard.enter(request) as account:
            _no_parameters(request, self._settings)
            body = self._encoder.encode(discovery(account, self._base_url(request), self.served))
        return Response(body, media_type="application/json")

    async def dimensions(self, request: Request) -> Response:
        async with self._guard.enter(request) as account:
            _no_parameters(request, self._settings)
            since_ms = self._clock.now_ms() - self._settings.retention_days * 86_400_000
            keys = await self._guard.read(self._store.tag_keys, account.id, since_ms, MAX_TAG_KEYS + 1)
        return Response(self._encoder.encode(dimensions_reference(keys)), media_type="application/json")
