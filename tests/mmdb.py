"""Small MaxMind DB files for the enrichment tests, written with mmdb-writer in the GeoIP2 schemas
(City, ASN, ISP) that real GeoLite2 / GeoIP2 / DB-IP databases use. Made-up data on real ranges.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mmdb_writer import MMDBWriter
from netaddr import IPSet

CHICAGO_V4 = "73.44.0.0/16"
CHICAGO_V6 = "2601:240::/32"
LONDON_V4 = "81.2.69.0/24"
SINGAPORE_V4 = "103.6.84.0/22"  # a city without a subdivision
COUNTRY_ONLY_V4 = "5.39.0.0/17"  # a record with a country and nothing finer
PRIVATE_V4 = "10.0.0.0/8"  # present in the file, but private: never looked up
NOT_FOUND_V4 = "1.0.0.1"
NOT_FOUND_V6 = "2a00:1450::1"


def _names(name: str) -> dict[str, Any]:
    return {"names": {"en": name, "de": name + " (de)"}}


def city_record(
    *,
    city: str = "",
    state: str = "",
    state_code: str = "",
    country: str = "",
    country_code: str = "",
    continent: str = "",
    postal: str = "",
    metro_code: int | None = None,
) -> dict[str, Any]:
    """A GeoIP2 City record (only the parts given)."""
    record: dict[str, Any] = {}
    if city:
        record["city"] = _names(city)
    if state:
        record["subdivisions"] = [{"iso_code": state_code, **_names(state)}] if state_code else [_names(state)]
    if country:
        record["country"] = {"iso_code": country_code, **_names(country)}
    if continent:
        record["continent"] = {"code": continent[:2].upper(), **_names(continent)}
    if postal:
        record["postal"] = {"code": postal}
    record["location"] = {"latitude": 41.8, "longitude": -87.6, "accuracy_radius": 20}
    if metro_code is not None:
        record["location"]["metro_code"] = metro_code
    return record


CHICAGO = city_record(
    city="Chicago",
    state="Illinois",
    state_code="IL",
    country="United States",
    country_code="US",
    continent="North America",
    postal="60609",
    metro_code=602,
)
LONDON = city_record(
    city="London",
    state="England",
    state_code="ENG",
    country="United Kingdom",
    country_code="GB",
    continent="Europe",
    postal="EC1A",
    metro_code=602,  # a metro code outside the US must not give a DMA
)
SINGAPORE = city_record(city="Singapore", country="Singapore", country_code="SG", continent="Asia")
FRANCE = city_record(country="France", country_code="FR", continent="Europe")

CITY_RECORDS: dict[str, dict[str, Any]] = {
    CHICAGO_V4: CHICAGO,
    CHICAGO_V6: CHICAGO,
    LONDON_V4: LONDON,
    SINGAPORE_V4: SINGAPORE,
    COUNTRY_ONLY_V4: FRANCE,
    PRIVATE_V4: CHICAGO,
}

COMCAST = {"autonomous_system_number": 33491, "autonomous_system_organization": "Comcast Cable Communications, LLC"}
ANDREWS = {"autonomous_system_number": 20712, "autonomous_system_organization": "Andrews & Arnold Ltd"}
ASN_RECORDS: dict[str, dict[str, Any]] = {
    CHICAGO_V4: COMCAST,
    CHICAGO_V6: COMCAST,
    LONDON_V4: ANDREWS,
    PRIVATE_V4: COMCAST,
}
# A GeoIP2 ISP record: an ISP name besides the AS organization.
ISP_RECORDS: dict[str, dict[str, Any]] = {
    CHICAGO_V4: {**COMCAST, "isp": "Comcast", "organization": "Comcast Cable"},
}


def write_database(
    path: Path,
    records: Mapping[str, Mapping[str, Any]],
    *,
    database_type: str,
    ip_version: int = 6,
) -> Path:
    """Write ``records`` (CIDR -> record) as a MaxMind DB file; IPv4 networks also go into an IPv6
    file, where readers look them up (the ::/96 subtree)."""
    writer = MMDBWriter(
        ip_version=ip_version,
        database_type=database_type,
        languages=["en", "de"],
        description=f"Reelsight test {database_type}",
        ipv4_compatible=ip_version == 6,
    )
    for network, record in records.items():
        writer.insert_network(IPSet([network]), dict(record))
    writer.to_db_file(str(path))
    return path


def write_city_db(path: Path, records: Mapping[str, Mapping[str, Any]] = CITY_RECORDS, **kwargs: Any) -> Path:
    return write_database(path, records, database_type=kwargs.pop("database_type", "GeoIP2-City"), **kwargs)


def write_asn_db(path: Path, records: Mapping[str, Mapping[str, Any]] = ASN_RECORDS, **kwargs: Any) -> Path:
    return write_database(path, records, database_type=kwargs.pop("database_type", "GeoLite2-ASN"), **kwargs)
