"""The dimension filters, declared as data: one row per filter parameter.

Parsing, SQL generation, the stored record, the OpenAPI document and ``docs/api.md`` all iterate
:data:`DIMENSIONS`. Every key of ``tags.selected_dimensions`` is a dimension of the same name; the
explicit rows below are added, and where a name exists in both (``device_os``, ``browser_name``,
``content_category``, ...) the explicit row decides which field it matches.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from reelsight.sessions.document import SELECTED_DIMENSION_KEYS, SessionDocument


@dataclasses.dataclass(frozen=True)
class Dimension:
    param: str
    field: str  # the response field it matches, as documented
    extract: Callable[[SessionDocument], str]
    multi: bool = False  # matches any element of a list field

    @property
    def matches(self) -> str:
        """What a value is compared with, in words (the docs' table, OpenAPI, the dimensions list)."""
        return f"any element of {self.field}" if self.multi else self.field

    @property
    def description(self) -> str:
        return f"Exact, case-sensitive match on {self.matches}."

    @property
    def column(self) -> str:
        """The store's column for this dimension (a fixed identifier, never user input)."""
        return "d_" + self.param


def _selected(key: str) -> Callable[[SessionDocument], str]:
    def extract(doc: SessionDocument) -> str:
        value: str = getattr(doc.tags.selected_dimensions, key)
        return value

    return extract


_EXPLICIT: tuple[Dimension, ...] = (
    Dimension("asset", "content_info.asset", lambda d: d.content_info.asset),
    Dimension("content_category", "content_info.category", lambda d: d.content_info.category),
    Dimension("stream_url", "content_info.stream_url", lambda d: d.content_info.stream_url),
    Dimension("device_name", "device_info.name", lambda d: d.device_info.name),
    Dimension("device_os", "device_info.os", lambda d: d.device_info.os),
    Dimension("device_os_family", "device_info.os_family", lambda d: d.device_info.os_family),
    Dimension("device_os_version", "device_info.os_version", lambda d: d.device_info.os_version),
    Dimension("browser_name", "device_info.browser.name", lambda d: d.device_info.browser.name),
    Dimension("browser_version", "device_info.browser.version", lambda d: d.device_info.browser.version),
    Dimension("geo_city_name", "geo_info.city", lambda d: d.geo_info.city),
    Dimension("geo_state_name", "geo_info.state.name", lambda d: d.geo_info.state.name),
    Dimension("geo_state_code", "geo_info.state.code", lambda d: d.geo_info.state.code),
    Dimension("geo_country_name", "geo_info.country.name", lambda d: d.geo_info.country.name),
    Dimension("geo_country_code", "geo_info.country.code", lambda d: d.geo_info.country.code),
    Dimension("geo_continent_name", "geo_info.continent", lambda d: d.geo_info.continent),
    Dimension("geo_postal_code", "geo_info.postal_code", lambda d: d.geo_info.postal_code),
    Dimension("geo_dma", "geo_info.dma", lambda d: d.geo_info.dma),
    Dimension("asn", "network_info.asn.value", lambda d: d.network_info.asn.value),
    Dimension("isp", "network_info.isp", lambda d: d.network_info.isp),
    Dimension("cdn", "network_info.cdn", lambda d: "", multi=True),
    Dimension("cdn_edge_server", "network_info.last_cdn_edge_server", lambda d: d.network_info.last_cdn_edge_server),
    Dimension("cdn_edge_group", "network_info.last_cdn_group_id", lambda d: d.network_info.last_cdn_group_id),
)


def _build() -> tuple[Dimension, ...]:
    explicit = {d.param: d for d in _EXPLICIT}
    rows = [
        explicit.get(key) or Dimension(key, f"tags.selected_dimensions.{key}", _selected(key))
        for key in SELECTED_DIMENSION_KEYS
    ]
    rows += [d for d in _EXPLICIT if d.param not in SELECTED_DIMENSION_KEYS]
    return tuple(sorted(rows, key=lambda d: d.param))


DIMENSIONS: tuple[Dimension, ...] = _build()
DIMENSIONS_BY_PARAM: dict[str, Dimension] = {d.param: d for d in DIMENSIONS}
SCALAR_DIMENSIONS: tuple[Dimension, ...] = tuple(d for d in DIMENSIONS if not d.multi)
