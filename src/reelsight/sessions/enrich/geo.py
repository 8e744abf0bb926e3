"""Geo and network enrichment: GeoIP2-schema records from MaxMind-format databases (city, ASN) mapped
to ``geo_info``, ``network_info.asn`` and ``isp``. Records are untrusted data: every field is checked.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import maxminddb

from reelsight.errors import ReelsightError
from reelsight.sessions.context import empty_geo
from reelsight.sessions.document import Asn, Country, GeoInfo, State
from reelsight.sessions.enrich.network import Address, is_public

LANGUAGE = "en"

# Nielsen DMA names of the largest US markets, by the metro code GeoIP2 City databases carry in
# ``location.metro_code`` (DB-IP Lite has none). A code not listed gives dma "".
DMA_NAMES: dict[int, str] = {
    501: "New York",
    504: "Philadelphia",
    505: "Detroit",
    506: "Boston (Manchester)",
    508: "Pittsburgh",
    510: "Cleveland-Akron (Canton)",
    511: "Washington, DC (Hagerstown)",
    512: "Baltimore",
    515: "Cincinnati",
    517: "Charlotte",
    524: "Atlanta",
    527: "Indianapolis",
    528: "Miami-Ft. Lauderdale",
    533: "Hartford & New Haven",
    534: "Orlando-Daytona Beach-Melbourne",
    535: "Columbus, OH",
    539: "Tampa-St. Petersburg (Sarasota)",
    548: "West Palm Beach-Ft. Pierce",
    560: "Raleigh-Durham (Fayetteville)",
    602: "Chicago",
    609: "St. Louis",
    613: "Minneapolis-St. Paul",
    616: "Kansas City",
    617: "Milwaukee",
    618: "Houston",
    623: "Dallas-Ft. Worth",
    635: "Austin",
    641: "San Antonio",
    659: "Nashville",
    751: "Denver",
    753: "Phoenix (Prescott)",
    770: "Salt Lake City",
    803: "Los Angeles",
    807: "San Francisco-Oakland-San Jose",
    819: "Seattle-Tacoma",
    820: "Portland, OR",
    825: "San Diego",
    839: "Las Vegas",
    862: "Sacramento-Stockton-Modesto",
}


class EnrichmentSetupError(ReelsightError):
    """A GeoIP database setting names a file that cannot be used (raised at start-up, never per session)."""


@dataclass(frozen=True)
class NetworkFields:
    asn: Asn
    isp: str


def empty_network() -> NetworkFields:
    return NetworkFields(asn=Asn(value="", description=""), isp="")


def open_database(path: str, *, kind: str, setting: str) -> maxminddb.Reader:
    """Open the MaxMind DB file at ``path`` once, or raise :class:`EnrichmentSetupError` saying why not.

    ``kind`` is ``"city"`` or ``"asn"``; an ASN database given as the city database (or the other
    way round) is refused, since every lookup would silently come back empty.
    """
    if not Path(path).is_file():
        raise EnrichmentSetupError(f"{setting}: no database file at {path!r}")
    try:
        reader = maxminddb.open_database(path)
    except (OSError, ValueError, maxminddb.InvalidDatabaseError) as exc:
        raise EnrichmentSetupError(f"{setting}: {path!r} is not a readable MaxMind DB file ({exc})") from None
    database_type = reader.metadata().database_type
    wrong = "asn" if kind == "city" else "city"
    if wrong in database_type.casefold():
        reader.close()
        expected = "a city" if kind == "city" else "an ASN"
        raise EnrichmentSetupError(f"{setting}: {path!r} is a {database_type} database, not {expected} database")
    return reader


def lookup(reader: maxminddb.Reader | None, address: Address | None) -> Mapping[str, object] | None:
    """The record for a public ``address``, or ``None`` (no database, not public, not found, unreadable)."""
    if reader is None or address is None or not is_public(address):
        return None
    try:
        record = reader.get(address)
    except (ValueError, maxminddb.InvalidDatabaseError):  # IPv6 in an IPv4-only file, closed, corrupt
        return None
    return record if isinstance(record, dict) else None


def _child(record: Mapping[str, object] | None, key: str) -> Mapping[str, object] | None:
    value = record.get(key) if record is not None else None
    return value if isinstance(value, dict) else None


def _text(record: Mapping[str, object] | None, key: str) -> str:
    value = record.get(key) if record is not None else None
    return value.strip() if isinstance(value, str) else ""


def _name(record: Mapping[str, object] | None) -> str:
    return _text(_child(record, "names"), LANGUAGE)


def _joined(*parts: str) -> str:
    return ", ".join(part for part in parts if part)


def geo_from_record(record: Mapping[str, object] | None) -> GeoInfo:
    """``geo_info`` from a GeoIP2 City (or Country) record: ``city`` is "City, State, Country" and
    ``state.name`` "State, Country" (parts that are unknown are left out; an unknown city or state is
    ""). The state is the first, largest subdivision. ``dma`` is filled for US metro codes only."""
    if record is None:
        return empty_geo()
    country = _child(record, "country")
    country_name = _name(country)
    country_code = _text(country, "iso_code")
    subdivisions = record.get("subdivisions")
    first = subdivisions[0] if isinstance(subdivisions, list) and subdivisions else None
    state = first if isinstance(first, dict) else None
    state_name = _name(state)
    city_name = _name(_child(record, "city"))
    metro_code = (_child(record, "location") or {}).get("metro_code")
    dma = DMA_NAMES.get(metro_code, "") if country_code == "US" and isinstance(metro_code, int) else ""
    return GeoInfo(
        city=_joined(city_name, state_name, country_name) if city_name else "",
        state=State(name=_joined(state_name, country_name) if state_name else "", code=_text(state, "iso_code")),
        country=Country(name=country_name, code=country_code),
        continent=_name(_child(record, "continent")),
        postal_code=_text(_child(record, "postal"), "code"),
        dma=dma,
    )


def network_from_record(record: Mapping[str, object] | None) -> NetworkFields:
    """``asn`` and ``isp`` from a GeoLite2/DB-IP ASN or GeoIP2 ISP record, or the ``traits`` of a
    GeoIP2 Enterprise city record: ``asn.value`` is the AS number in decimal, ``asn.description``
    the AS organization, and ``isp`` the ISP name when the database has one, else the organization."""
    if record is None:
        return empty_network()
    number = record.get("autonomous_system_number")
    if not isinstance(number, int) or isinstance(number, bool) or number <= 0:
        return empty_network()
    organization = _text(record, "autonomous_system_organization")
    return NetworkFields(asn=Asn(value=str(number), description=organization), isp=_text(record, "isp") or organization)


def network_from_city_record(record: Mapping[str, object] | None) -> NetworkFields:
    """The network fields some city databases (GeoIP2 Enterprise) carry under ``traits``."""
    return network_from_record(_child(record, "traits"))
