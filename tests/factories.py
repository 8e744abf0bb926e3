"""Session documents for tests, built from the reference example with chosen fields changed."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from reelsight.sessions.document import SessionDocument, decode_document, iso_from_epoch_ms

REFERENCE: dict[str, Any] = json.loads((Path(__file__).parent / "data" / "reference_session.json").read_text())


def make_doc_dict(
    client_id: str = "1.2.3.4",
    session_id: str = "1",
    *,
    end_ms: int,
    duration_ms: int = 60_000,
    set_paths: dict[str, Any] | None = None,
    custom_tags: dict[str, str] | None = None,
    cdn: list[str] | None = None,
    viewer_id: str | None = "viewer-1",
) -> dict[str, Any]:
    """A valid document as a dict. ``set_paths`` maps dotted paths to values (``geo_info.city``)."""
    doc = copy.deepcopy(REFERENCE)
    doc["client_id"], doc["session_id"] = client_id, session_id
    doc["conviva_session_id"] = f"{client_id}.{session_id}"
    start_ms = end_ms - duration_ms
    doc["timestamps"] = {
        "start": {"epoch_ms": start_ms, "iso_date": iso_from_epoch_ms(start_ms)},
        "end": {"epoch_ms": end_ms, "iso_date": iso_from_epoch_ms(end_ms)},
    }
    if viewer_id is None:
        del doc["viewer_id"]
    else:
        doc["viewer_id"] = viewer_id
    if custom_tags is not None:
        doc["tags"]["custom_tags"] = custom_tags
    if cdn is not None:
        doc["network_info"]["cdn"] = cdn
    for path, value in (set_paths or {}).items():
        target = doc
        *parents, leaf = path.split(".")
        for part in parents:
            target = target[part]
        assert leaf in target, path
        target[leaf] = value
    return doc


def make_doc(client_id: str = "1.2.3.4", session_id: str = "1", *, end_ms: int, **kwargs: Any) -> SessionDocument:
    return decode_document(json.dumps(make_doc_dict(client_id, session_id, end_ms=end_ms, **kwargs)))
