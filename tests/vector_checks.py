"""What every hand-computed vector test checks, whatever the vector feeds in (internal events in
``tests/vectors/``, CMCD report lines in ``tests/vectors/cmcd/``): that the vector states every field
of the sections it is about, and that a session document has the vector's expected fields."""

from __future__ import annotations

from typing import Any

import msgspec

from reelsight.sessions.document import LifetimeMetrics, SessionDocument, StatusInfo, validate

# Every vector states these, as whole sections or leaf by leaf.
REQUIRED_SECTIONS = ("status_info", "lifetime_metrics", "timestamps", "content_info")
REQUIRED_PATHS = ("network_info.cdn", "network_info.last_cdn_edge_server", "network_info.last_cdn_group_id")


def resolve(document: dict[str, Any], path: str) -> Any:
    value: Any = document
    for part in path.split("."):
        assert isinstance(value, dict), f"{path}: {part!r} is not inside an object"
        assert part in value, f"{path}: no field {part!r}"
        value = value[part]
    return value


def differences(path: str, got: Any, want: Any) -> list[str]:
    """One line per differing leaf (objects are compared key by key, lists as a whole)."""
    if isinstance(got, dict) and isinstance(want, dict):
        lines = [f"{path}.{key}: missing" for key in want.keys() - got.keys()]
        lines += [f"{path}.{key}: unexpected" for key in got.keys() - want.keys()]
        for key in want.keys() & got.keys():
            lines += differences(f"{path}.{key}", got[key], want[key])
        return sorted(lines)
    return [] if got == want else [f"{path}: got {got!r}, expected {want!r}"]


def assert_expected_is_complete(expected: dict[str, Any]) -> None:
    """The expected fields cover every field of the sections a vector is about, so no formula goes
    unchecked: ``status_info`` and ``lifetime_metrics`` whole or leaf by leaf, and the required rest."""
    for section, struct in (("status_info", StatusInfo), ("lifetime_metrics", LifetimeMetrics)):
        if section in expected:
            stated, fields = set(expected[section]), set(struct.__struct_fields__)
            assert stated == fields, f"{section}: {sorted(stated ^ fields)}"
        else:
            missing = [f for f in struct.__struct_fields__ if f"{section}.{f}" not in expected]
            assert not missing, f"{section}: {missing}"
    for section in REQUIRED_SECTIONS[2:]:
        assert section in expected, section
    for key in REQUIRED_PATHS:
        assert key in expected or key.split(".")[0] in expected, key


def mismatches(document: SessionDocument, expected: dict[str, Any]) -> list[str]:
    """One line per expected field (a dotted path or a whole section) the document does not have."""
    served = msgspec.to_builtins(document)
    return [line for key, want in expected.items() for line in differences(key, resolve(served, key), want)]


def assert_document_matches(document: SessionDocument, expected: dict[str, Any]) -> None:
    """The document is valid, has every expected field, and its ratios and means are floats and its
    times and counts integers, whatever the JSON spelling of the vector."""
    assert validate(document) == document, "the document is not what validate() normalizes it to"
    lines = mismatches(document, expected)
    assert not lines, "\n".join(lines)
    for field in msgspec.structs.fields(LifetimeMetrics):
        assert type(getattr(document.lifetime_metrics, field.name)) is field.type, field.name
