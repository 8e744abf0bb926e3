"""Bulk import: JSON Lines of session documents -> validated records -> the store.

Each line is decoded and validated on its own; a bad line is reported with its number and reason
and skipped, the rest is written. Writing a session that exists (same account and
conviva_session_id) replaces it, so re-running an import never duplicates.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from typing import BinaryIO

from reelsight.errors import DocumentError
from reelsight.sessions.document import decode_document
from reelsight.store.base import Store
from reelsight.store.records import SessionRecord, to_record


@dataclasses.dataclass
class ImportReport:
    imported: int = 0
    rejected: int = 0
    blank: int = 0


def read_lines(stream: BinaryIO, max_line_bytes: int) -> Iterator[tuple[int, bytes | None]]:
    """(line number, line) pairs; the line is ``None`` when it is longer than ``max_line_bytes``."""
    number = 0
    while True:
        line = stream.readline(max_line_bytes + 1)
        if not line:
            return
        number += 1
        if len(line) > max_line_bytes and not line.endswith(b"\n"):
            while line and not line.endswith(b"\n"):  # skip the rest of the oversized line
                line = stream.readline(1 << 20)
            yield number, None
            continue
        yield number, line


def import_jsonl(
    store: Store,
    account_id: int,
    stream: BinaryIO,
    *,
    max_line_bytes: int,
    on_error: Callable[[int, str], None],
) -> ImportReport:
    report = ImportReport()

    def records() -> Iterator[SessionRecord]:
        for number, line in read_lines(stream, max_line_bytes):
            if line is None:
                report.rejected += 1
                on_error(number, f"line is longer than {max_line_bytes} bytes")
                continue
            if not line.strip():
                report.blank += 1
                continue
            try:
                record = to_record(decode_document(line))
            except DocumentError as exc:
                report.rejected += 1
                on_error(number, str(exc))
                continue
            yield record

    report.imported = store.write_sessions(account_id, records())
    return report
