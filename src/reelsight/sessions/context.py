"""What a session knows besides its events: enrichment (decided once, at start) and account rules.

``Enrichment`` is persisted with the live session, so a restart does not enrich again (and an
address the account's privacy setting drops is never needed again).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import msgspec

from reelsight.sessions.document import Asn, Country, GeoInfo, State

REGEX_PREFIX = "re:"


class DeviceFields(msgspec.Struct, kw_only=True, gc=False):
    """Device as served: ``device_info`` and the device keys of ``tags.selected_dimensions``."""

    hardware_type: str = ""
    manufacturer: str = ""
    model: str = ""
    marketing_name: str = ""
    name: str = ""
    os: str = ""
    os_family: str = ""
    os_version: str = ""
    browser_name: str = ""
    browser_version: str = ""


def empty_geo() -> GeoInfo:
    return GeoInfo(
        city="", state=State(name="", code=""), country=Country(name="", code=""), continent="", postal_code="", dma=""
    )


class Enrichment(msgspec.Struct, kw_only=True, gc=False):
    device: DeviceFields = msgspec.field(default_factory=DeviceFields)
    geo: GeoInfo = msgspec.field(default_factory=empty_geo)
    asn: Asn = msgspec.field(default_factory=lambda: Asn(value="", description=""))
    isp: str = ""
    ip: str = ""  # IPv4 as stored under the account's privacy setting ("" when dropped)
    ipv6: str = ""


class BusinessRules:
    """An account's business-error patterns: case-insensitive substrings, or ``re:`` + a regex."""

    def __init__(self, patterns: Sequence[str]) -> None:
        self.patterns = tuple(patterns)
        self._substrings = tuple(p.casefold() for p in patterns if not p.startswith(REGEX_PREFIX))
        self._regexes = tuple(
            re.compile(p[len(REGEX_PREFIX) :], re.IGNORECASE) for p in patterns if p.startswith(REGEX_PREFIX)
        )

    def is_business(self, message: str) -> bool:
        folded = message.casefold()
        return any(s in folded for s in self._substrings) or any(r.search(message) for r in self._regexes)


def check_pattern(pattern: str) -> str | None:
    """Why a business-error pattern is unusable, or ``None`` when it is fine."""
    if not pattern or pattern == REGEX_PREFIX:
        return "a business-error pattern must not be empty"
    if pattern.startswith(REGEX_PREFIX):
        try:
            re.compile(pattern[len(REGEX_PREFIX) :])
        except re.error as exc:
            return f"invalid regular expression {pattern!r}: {exc}"
    return None
