"""The hand-computed aggregate vectors (``tests/vectors/aggregates/``), each over HTTP on both stores.

A vector holds sessions (changes to the reference document, end times as offsets from the window's
start), requests and their expected answers, with the arithmetic in its ``description``
(``docs/metrics.md``, "Aggregates"). Timestamps in the expected answers are offsets too.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from reelsight.sessions.document import decode_document, iso_from_epoch_ms
from reelsight.store.base import Store
from reelsight.store.records import to_record
from tests.conftest import NOW_MS, Credentials
from tests.factories import make_doc_dict

pytestmark = pytest.mark.all_backends
VECTORS = sorted((Path(__file__).parent / "vectors" / "aggregates").glob("*.json"))


def _timestamps(value: Any, origin_ms: int) -> Any:
    """The expected answer with each ``timestamp`` offset made the full object."""
    if isinstance(value, list):
        return [_timestamps(v, origin_ms) for v in value]
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if key == "timestamp":
                ms = origin_ms + item
                out[key] = {"epoch_ms": ms, "iso_date": iso_from_epoch_ms(ms)}
            else:
                out[key] = _timestamps(item, origin_ms)
        return out
    return value


@pytest.mark.parametrize("path", VECTORS, ids=lambda p: p.stem)
def test_vector(path: Path, client: httpx.Client, store: Store, acme: Credentials) -> None:
    vector = json.loads(path.read_text())
    origin = NOW_MS + vector["window_start_offset_ms"]
    docs = [
        make_doc_dict("7.7.7.7", s["id"], end_ms=origin + s["end_offset_ms"], duration_ms=0, set_paths=s["set"])
        for s in vector["sessions"]
    ]
    store.write_sessions(acme.account.id, [to_record(decode_document(json.dumps(d))) for d in docs])
    for request in vector["requests"]:
        params = [
            (name.replace("_offset_ms", "_epoch_ms"), str(origin + int(v)))
            if name.endswith("_offset_ms")
            else (name, v)
            for name, v in request["params"]
        ]
        response = client.get(request["path"], params=params, auth=acme.auth)
        assert response.status_code == 200, response.text
        got, want = response.json(), _timestamps(request["expected"], origin)
        for part in ("time_series", "total"):
            assert json.dumps(got[part], indent=1).splitlines() == json.dumps(want[part], indent=1).splitlines()


def test_mean_times_round_the_whole_millisecond_mean_halves_up() -> None:
    """1956 ms and 1957 ms: the mean 1956.5 ms is 1957 ms, so 1.957 s, whatever float division would
    make of 3913 / 2 / 1000 (the case the oracle property once found: 1.956 against 1.957)."""
    from reelsight.aggregates.metrics import mean_seconds

    assert mean_seconds(1956 + 1957, 2) == 1.957
    assert mean_seconds(3 * 1001, 3) == 1.001
    assert mean_seconds(1, 3) == 0.0
    assert mean_seconds(2, 3) == 0.001
    assert mean_seconds(0, 0) == 0.0
