"""Geo and network enrichment through real MaxMind DB files built by tests/mmdb.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from reelsight.ingest.events import Device
from reelsight.sessions.context import Enrichment, empty_geo
from reelsight.sessions.document import Asn, Country, GeoInfo, State
from reelsight.sessions.enrich import Enricher, EnrichmentSetupError
from tests import mmdb

CHICAGO_GEO = GeoInfo(
    city="Chicago, Illinois, United States",
    state=State(name="Illinois, United States", code="IL"),
    country=Country(name="United States", code="US"),
    continent="North America",
    postal_code="60609",
    dma="Chicago",
)
COMCAST = Asn(value="33491", description="Comcast Cable Communications, LLC")
NO_ASN = Asn(value="", description="")


@pytest.fixture(scope="module")
def databases(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    directory = tmp_path_factory.mktemp("mmdb")
    city = mmdb.write_city_db(directory / "city.mmdb")
    asn = mmdb.write_asn_db(directory / "asn.mmdb")
    return str(city), str(asn)


@pytest.fixture(scope="module")
def enricher(databases: tuple[str, str]) -> Iterator[Enricher]:
    with Enricher(*databases) as enricher:
        yield enricher


def enrich(enricher: Enricher, ip: str, ip_privacy: str = "full") -> Enrichment:
    return enricher.enrich(device=Device(), user_agent="", ip=ip, ip_privacy=ip_privacy)


@pytest.mark.parametrize("ip", ["73.44.1.1", "2601:240:c000::17", "::ffff:73.44.1.1", " 73.44.255.254 "])
def test_a_known_address_gives_geo_asn_and_isp(enricher: Enricher, ip: str) -> None:
    enrichment = enrich(enricher, ip)
    assert enrichment.geo == CHICAGO_GEO
    assert enrichment.asn == COMCAST
    assert enrichment.isp == "Comcast Cable Communications, LLC"


def test_outside_the_us_there_is_no_dma(enricher: Enricher) -> None:
    geo = enrich(enricher, "81.2.69.142").geo
    assert geo == GeoInfo(
        city="London, England, United Kingdom",
        state=State(name="England, United Kingdom", code="ENG"),
        country=Country(name="United Kingdom", code="GB"),
        continent="Europe",
        postal_code="EC1A",
        dma="",
    )


def test_unknown_parts_are_left_out_of_city_and_state(enricher: Enricher) -> None:
    singapore = enrich(enricher, "103.6.85.1").geo
    assert (singapore.city, singapore.state.name, singapore.state.code) == ("Singapore, Singapore", "", "")
    france = enrich(enricher, "5.39.1.1")
    assert france.geo.city == ""
    assert france.geo.state == State(name="", code="")
    assert (france.geo.country, france.geo.continent) == (Country(name="France", code="FR"), "Europe")
    assert (france.asn, france.isp) == (NO_ASN, "")  # not in the ASN database


@pytest.mark.parametrize(
    "ip",
    [
        mmdb.NOT_FOUND_V4,
        mmdb.NOT_FOUND_V6,
        "10.1.2.3",  # private: in the test file, but never looked up
        "192.168.1.1",
        "127.0.0.1",
        "::1",
        "fe80::1%eth0",
        "100.64.0.1",  # carrier-grade NAT
        "224.0.0.1",
        "",
        "not an ip",
        "73.44.1",
        "73.44.1.1.1",
        "2601:240::g",
        "073.044.001.001",
    ],
)
def test_unknown_private_or_malformed_addresses_leave_geo_and_network_empty(enricher: Enricher, ip: str) -> None:
    enrichment = enrich(enricher, ip)
    assert (enrichment.geo, enrichment.asn, enrichment.isp) == (empty_geo(), NO_ASN, "")


@pytest.mark.parametrize(
    ("ip", "mode", "stored"),
    [
        ("73.44.1.1", "full", ("73.44.1.1", "")),
        ("73.44.1.1", "truncate", ("73.44.1.0", "")),
        ("73.44.1.1", "drop", ("", "")),
        ("2601:240:c000:1234::17", "full", ("", "2601:240:c000:1234::17")),
        ("2601:240:c000:1234::17", "truncate", ("", "2601:240:c000::")),
        ("2601:240:c000:1234::17", "drop", ("", "")),
        ("::ffff:73.44.1.1", "full", ("73.44.1.1", "")),
    ],
)
def test_geo_uses_the_full_address_whatever_the_privacy_mode_stores(
    enricher: Enricher, ip: str, mode: str, stored: tuple[str, str]
) -> None:
    enrichment = enrich(enricher, ip, mode)
    assert (enrichment.ip, enrichment.ipv6) == stored
    assert enrichment.geo == CHICAGO_GEO


def test_disabled_databases_leave_fields_empty_but_store_the_address() -> None:
    with Enricher("", "") as enricher:
        enrichment = enrich(enricher, "73.44.1.1")
    assert (enrichment.geo, enrichment.asn, enrichment.isp, enrichment.ip) == (empty_geo(), NO_ASN, "", "73.44.1.1")


def test_each_database_works_alone(databases: tuple[str, str]) -> None:
    city, asn = databases
    with Enricher(city, "") as only_city:
        enrichment = enrich(only_city, "73.44.1.1")
        assert (enrichment.geo, enrichment.asn) == (CHICAGO_GEO, NO_ASN)
    with Enricher("", asn) as only_asn:
        enrichment = enrich(only_asn, "73.44.1.1")
        assert (enrichment.geo, enrichment.asn) == (empty_geo(), COMCAST)


def test_an_isp_database_names_the_isp(tmp_path: Path) -> None:
    isp = mmdb.write_asn_db(tmp_path / "isp.mmdb", mmdb.ISP_RECORDS, database_type="GeoIP2-ISP")
    with Enricher("", str(isp)) as enricher:
        enrichment = enrich(enricher, "73.44.1.1")
    assert (enrichment.asn, enrichment.isp) == (COMCAST, "Comcast")


def test_network_fields_fall_back_to_the_traits_of_an_enterprise_city_record(tmp_path: Path) -> None:
    record: dict[str, Any] = {**mmdb.CHICAGO, "traits": {**mmdb.COMCAST, "isp": "Comcast"}}
    city = mmdb.write_city_db(
        tmp_path / "enterprise.mmdb", {mmdb.CHICAGO_V4: record}, database_type="GeoIP2-Enterprise"
    )
    with Enricher(str(city), "") as enricher:
        enrichment = enrich(enricher, "73.44.1.1")
    assert (enrichment.geo, enrichment.asn, enrichment.isp) == (CHICAGO_GEO, COMCAST, "Comcast")


def test_an_ipv6_client_against_an_ipv4_only_database_is_not_an_error(tmp_path: Path) -> None:
    records = {mmdb.CHICAGO_V4: mmdb.CHICAGO}
    city = mmdb.write_city_db(tmp_path / "v4.mmdb", records, ip_version=4)
    with Enricher(str(city), "") as enricher:
        assert enrich(enricher, "73.44.1.1").geo == CHICAGO_GEO
        assert enrich(enricher, "2601:240::1").geo == empty_geo()


def test_records_of_unexpected_shape_give_empty_fields(tmp_path: Path) -> None:
    odd: dict[str, dict[str, Any]] = {
        mmdb.CHICAGO_V4: {"city": "Chicago", "country": {"names": {"en": 7}, "iso_code": ["US"]}, "subdivisions": {}},
        mmdb.LONDON_V4: {"location": {"metro_code": "602"}, "country": {"iso_code": "US"}},
    }
    odd_asn = {mmdb.CHICAGO_V4: {"autonomous_system_number": "33491"}, mmdb.LONDON_V4: {"isp": "x"}}
    city = mmdb.write_city_db(tmp_path / "odd.mmdb", odd)
    asn = mmdb.write_asn_db(tmp_path / "odd-asn.mmdb", odd_asn)
    with Enricher(str(city), str(asn)) as enricher:
        chicago = enrich(enricher, "73.44.1.1")
        london = enrich(enricher, "81.2.69.1")
    assert (chicago.geo, chicago.asn) == (empty_geo(), NO_ASN)
    assert (london.geo.country.code, london.geo.dma, london.asn) == ("US", "", NO_ASN)


def test_a_closed_enricher_still_never_raises(databases: tuple[str, str]) -> None:
    enricher = Enricher(*databases)
    enricher.close()
    enrichment = enrich(enricher, "73.44.1.1")
    assert (enrichment.geo, enrichment.asn, enrichment.ip) == (empty_geo(), NO_ASN, "73.44.1.1")


def test_a_missing_database_fails_at_start_up(tmp_path: Path, databases: tuple[str, str]) -> None:
    with pytest.raises(EnrichmentSetupError, match="geoip_city_db: no database file"):
        Enricher(str(tmp_path / "missing.mmdb"), "")
    with pytest.raises(EnrichmentSetupError, match="geoip_asn_db: no database file"):
        Enricher(databases[0], str(tmp_path))


@pytest.mark.parametrize("content", [b"", b"not a database", b"\xab\xcd\xefMaxMind.com" + b"\x00" * 16])
def test_a_corrupt_database_fails_at_start_up(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "corrupt.mmdb"
    path.write_bytes(content)
    with pytest.raises(EnrichmentSetupError, match="is not a readable MaxMind DB file"):
        Enricher(str(path), "")


def test_swapped_databases_fail_at_start_up(databases: tuple[str, str]) -> None:
    city, asn = databases
    with pytest.raises(EnrichmentSetupError, match="is a GeoLite2-ASN database, not a city database"):
        Enricher(asn, "")
    with pytest.raises(EnrichmentSetupError, match="is a GeoIP2-City database, not an ASN database"):
        Enricher("", city)
