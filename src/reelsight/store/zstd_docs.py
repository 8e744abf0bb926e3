"""Session documents compressed with a zstd dictionary trained on the store's own documents: the parts
both backends share (pure: bytes in, bytes out). Each backend keeps its dictionaries in a table of its
own, names the dictionary in every document's row (``0`` or ``NULL``: stored as it is), and decides
when to train (``store/sqlite/documents.py``, ``store/clickhouse/documents.py``).

A session document is ~2.9 KB of JSON whose keys and most values repeat from session to session: a
112 KiB dictionary brings it to 230 to 260 bytes, decompressed in ~2 µs (``docs/benchmarks.md``,
"Store size" and "ClickHouse: documents compressed one by one").
"""

from __future__ import annotations

from collections.abc import Sequence

import zstandard

from reelsight.errors import StorageFailure

DICT_BYTES = 112 * 1024
TRAIN_AFTER_DOCS = 2000  # documents stored as they are before the writer trains the store's dictionary
TRAIN_SAMPLE_DOCS = 2000  # how many documents a dictionary is trained on
# zstd's fastCOVER parameters: its k/d search picks about these on session documents, and takes 60x
# longer (3.7 s against 0.06 s for 2,000 documents) for 2% smaller documents.
_TRAIN_PARAMS = {"k": 2048, "d": 6}
# A corrupt frame header may claim any size; no stored document comes near this.
MAX_DOC_BYTES = 64 * 1024 * 1024


def compressor(dictionary: bytes, level: int) -> zstandard.ZstdCompressor:
    """A compressor for new documents (one thread at a time: a zstd context is not shared)."""
    data = zstandard.ZstdCompressionDict(dictionary)
    data.precompute_compress(level=level)
    # The dictionary id is in the row, not in each frame; the checksum makes corruption an error.
    return zstandard.ZstdCompressor(level=level, dict_data=data, write_checksum=True, write_dict_id=False)


def decompressor(dictionary: bytes) -> zstandard.ZstdDecompressor:
    """A decompressor for the documents of one dictionary (one thread at a time)."""
    return zstandard.ZstdDecompressor(dict_data=zstandard.ZstdCompressionDict(dictionary))


def decompress(decompressor: zstandard.ZstdDecompressor, doc: bytes, *, what: str, dict_id: int) -> bytes:
    """The document's exact bytes; :class:`StorageFailure` naming ``what`` when its frame is damaged."""
    try:
        if zstandard.frame_content_size(doc) > MAX_DOC_BYTES:
            raise zstandard.ZstdError(f"the frame claims {zstandard.frame_content_size(doc)} bytes")
        return decompressor.decompress(doc, allow_extra_data=False)
    except zstandard.ZstdError as exc:
        raise StorageFailure(f"{what} is damaged: it does not decompress with dictionary {dict_id} ({exc})") from None


def train(samples: Sequence[bytes]) -> bytes:
    """A dictionary trained on ``samples``; ``zstandard.ZstdError`` when they are too few or too alike."""
    data: list[bytes | bytearray | memoryview] = list(samples)
    return zstandard.train_dictionary(DICT_BYTES, data, threads=1, **_TRAIN_PARAMS).as_bytes()
