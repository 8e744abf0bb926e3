"""The backend-neutral selection: what a session read matches, each filter saying *how* it matches.

``query/parse.py`` validates a query string into a :class:`~reelsight.query.parse.SessionQuery`;
:func:`selection` turns that into a :class:`Selection` built from the flag and dimension tables, so
that every store compiles the same semantics and none re-derives them:

- ``scalar``: the session's value of ``field`` is one of ``values`` (repeating a filter means OR);
- ``any_element``: some element of the list ``field`` is one of ``values`` (``cdn``);
- ``tag``: the custom tag ``key`` has one of ``values``; the value ``""`` also matches a session
  that has no tag ``key`` at all.

All matches must hold (AND), on sessions of ``kind`` that ended with ``start_ms <= end_ms < end_ms``. ``field``
is a fixed identifier from the tables below (never user input); a store maps it to its column.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

from reelsight.query.dimensions import DIMENSIONS_BY_PARAM
from reelsight.query.parse import SessionQuery

MatchKind = Literal["scalar", "any_element", "tag"]
SessionKind = Literal["content", "ad"]  # content sessions, or the ad sessions played inside them
ID_FIELDS = ("session_id", "client_id")


@dataclasses.dataclass(frozen=True, slots=True)
class Match:
    kind: MatchKind
    field: str  # the stored field: a flag name, session_id / client_id, a dimension column, or "tags"
    values: tuple[str, ...] | tuple[bool, ...]
    key: str = ""  # the tag key, for kind "tag"


@dataclasses.dataclass(frozen=True, slots=True)
class Selection:
    start_ms: int
    end_ms: int
    limit: int
    matches: tuple[Match, ...]
    kind: SessionKind = "content"

    @property
    def by_id(self) -> bool:
        """True when a session_id or client_id filter names the few candidates directly."""
        return any(m.kind == "scalar" and m.field in ID_FIELDS for m in self.matches)


def selection(query: SessionQuery, kind: SessionKind = "content") -> Selection:
    matches: list[Match] = [Match("scalar", name, values) for name, values in query.flags]
    for field, ids in (("session_id", query.session_ids), ("client_id", query.client_ids)):
        if ids:
            matches.append(Match("scalar", field, ids))
    for param, values in query.dimensions:
        dimension = DIMENSIONS_BY_PARAM[param]
        if dimension.multi:
            matches.append(Match("any_element", param, values))
        else:
            matches.append(Match("scalar", dimension.column, values))
    matches += [Match("tag", "tags", values, key) for key, values in query.tags]
    return Selection(query.start_ms, query.end_ms, query.limit, tuple(matches), kind)
