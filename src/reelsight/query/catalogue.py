"""Every filter parameter of the sessions endpoints, described: derived from the flag, id and
dimension tables, for the OpenAPI document and the dimensions reference (nothing here is typed twice)."""

from __future__ import annotations

import dataclasses
from typing import Literal

from reelsight.query.dimensions import DIMENSIONS
from reelsight.query.parse import FLAG_PARAMS, ID_PARAMS, TAG_PREFIX

FilterKind = Literal["dimension", "flag", "id", "custom_tag"]
# "exact": the field equals a value; "any_element": an element of the list field does; "boolean": true/false
MatchKind = Literal["exact", "any_element", "boolean"]


@dataclasses.dataclass(frozen=True)
class Filter:
    name: str  # the query parameter
    kind: FilterKind
    field: str  # the session field it is compared with
    match: MatchKind
    description: str


_ID_NOTES = {"client_id": " (the player device id)"}


def _static() -> tuple[Filter, ...]:
    rows = [
        Filter(d.param, "dimension", d.field, "any_element" if d.multi else "exact", d.description) for d in DIMENSIONS
    ]
    rows += [
        Filter(
            flag,
            "flag",
            f"status_info.{flag}",
            "boolean",
            f"Only sessions whose status_info.{flag} is this value (true/false, any case).",
        )
        for flag in FLAG_PARAMS
    ]
    rows += [
        Filter(name, "id", name, "exact", f"Exact match on {name}{_ID_NOTES.get(name, '')}.") for name in ID_PARAMS
    ]
    return tuple(rows)


FILTERS: tuple[Filter, ...] = _static()
FILTERS_BY_NAME: dict[str, Filter] = {f.name: f for f in FILTERS}


def tag_filter(key: str) -> Filter:
    """The filter on custom tag ``key``: ``tag_<key>``."""
    return Filter(
        TAG_PREFIX + key,
        "custom_tag",
        f"tags.custom_tags.{key}",
        "exact",
        f'Exact match on custom tag {key}; a session without the tag has the value "".',
    )
