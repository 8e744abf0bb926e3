"""The metrics endpoints equal a plain-Python oracle over the same sessions, on both stores.

The oracle reads the documents as dicts and applies the formulas as ``docs/metrics.md`` ("Aggregates")
states them: which sessions count, the bucket of each (its end), the ratio of sums, the group-by and
its order. It shares no code with ``reelsight.aggregates``.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reelsight.store.base import Store
from tests.conftest import NOW_MS, LiveServer
from tests.test_properties import (
    DIMENSION_FIELDS,
    HYPOTHESIS,
    WINDOW_START_MS,
    Params,
    app_settings,  # noqa: F401 - the fixture "settings": the same high per-IP limit as the sessions properties
    doc_lists,
    examples,
    filter_params,
    import_docs,
    matches_value,
    new_account,
    only_filters,
)

pytestmark = pytest.mark.all_backends
MINUTE = 60_000
METRIC_NAMES = (
    "plays", "attempts", "ended-plays", "video-start-time", "rebuffering-ratio", "connection-induced-rebuffering-ratio",
    "bitrate", "framerate", "percentage-complete", "minutes-played", "pause-ratio", "exits-before-video-start",
    "video-start-failures", "video-start-failures-business", "video-start-failures-tech", "video-playback-failures",
    "video-playback-failures-business", "video-playback-failures-tech", "video-restart-time",
)  # fmt: skip
GRANULARITIES = {"PT1M": MINUTE, "PT15M": 15 * MINUTE, "PT1H": 60 * MINUTE, "PT7H": 7 * 60 * MINUTE, "ALL": None}


@st.composite
def metric_docs(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Documents of the sessions properties, with random metrics consistent with their outcome."""
    docs = draw(doc_lists(min_size=3, max_size=40))
    for d in docs:
        status, m = d["status_info"], d["lifetime_metrics"]
        joined = not status["is_exit_before_video_start"] and not status["is_video_start_failure"]
        playing = draw(st.integers(0, 3_600_000)) if joined else 0
        m["playing_time_ms"] = playing
        m["rebuffering_time_ms"] = rebuffering = draw(st.integers(0, 120_000)) if joined else 0
        m["connection_induced_rebuffering_time_ms"] = draw(st.integers(0, rebuffering))
        m["paused_time_ms"] = draw(st.integers(0, 300_000)) if joined else 0
        m["video_start_time_ms"] = draw(st.integers(0, 20_000)) if joined else -3000
        m["video_restart_time_ms"] = draw(st.sampled_from([0, 0, 1, 1234, 5001]))
        m["average_peak_bitrate_bps"] = draw(st.sampled_from([0.0, 250_000.0, 1_234_567.89, 6_000_000.5]))
        m["average_framerate_fps"] = draw(st.sampled_from([0.0, 23.98, 25.0, 59.94]))
        d["content_info"]["length_ms"] = draw(st.sampled_from([0, 600_000, 2_700_000]))
    return docs


def oracle(
    docs: Sequence[dict[str, Any]], params: Params, start: int, end: int, bucket_ms: int | None
) -> dict[tuple[int, str], list[dict[str, Any]]]:
    """The counting sessions per (bucket start, group) - the groups filled in by the caller."""
    by_name: dict[str, list[str]] = {}
    for name, value in only_filters(params):
        if name not in ("granularity", "metric", "limit", "sort_by", "order"):
            by_name.setdefault(name, []).append(value)
    cells: dict[tuple[int, str], list[dict[str, Any]]] = {}
    for d in docs:
        e = d["timestamps"]["end"]["epoch_ms"]
        if not d["status_info"]["is_ended"] or not start <= e < end:
            continue
        if not all(any(matches_value(d, n, v) for v in vs) for n, vs in by_name.items()):
            continue
        bucket = start if bucket_ms is None else e // bucket_ms * bucket_ms
        cells.setdefault((bucket, ""), []).append(d)
    return cells


def figures(name: str, sessions: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """One metric's value object over sessions, as docs/metrics.md defines it."""

    def pct(a: float, b: float) -> float:
        return round(100 * a / b, 2) if b else 0.0

    s = [d["status_info"] for d in sessions]
    m = [d["lifetime_metrics"] for d in sessions]
    joined = [not x["is_exit_before_video_start"] and not x["is_video_start_failure"] for x in s]
    plays = sum(joined)
    playing = sum(x["playing_time_ms"] for x in m)
    rebuffering = sum(x["rebuffering_time_ms"] for x in m)
    if name in ("plays", "ended-plays"):
        return {"count": plays}
    if name == "attempts":
        return {"count": len(sessions)}
    if name == "video-start-time":
        total = sum(x["video_start_time_ms"] for x, j in zip(m, joined, strict=True) if j)
        return {"value": ((2 * total + plays) // (2 * plays)) / 1000 if plays else 0.0}  # whole ms, halves up
    if name == "rebuffering-ratio":
        return {"ratio": pct(rebuffering, playing + rebuffering)}
    if name == "connection-induced-rebuffering-ratio":
        return {"ratio": pct(sum(x["connection_induced_rebuffering_time_ms"] for x in m), playing + rebuffering)}
    if name in ("bitrate", "framerate"):
        field, scale = ("average_peak_bitrate_bps", 1000) if name == "bitrate" else ("average_framerate_fps", 1)
        known = [x for x in m if x[field] > 0]
        weight = sum(x["playing_time_ms"] for x in known)
        weighted = sum(math.floor(x[field] * x["playing_time_ms"] / scale) for x in known)
        key = "bps" if name == "bitrate" else "fps"
        return {key: round(weighted * scale / weight, 2) if weight else 0.0}
    if name == "percentage-complete":
        vod = [
            (x["playing_time_ms"], d["content_info"]["length_ms"])
            for d, x, j in zip(sessions, m, joined, strict=True)
            if j and d["content_info"]["category"] == "VoD" and d["content_info"]["length_ms"] > 0
        ]
        return {"percentage": pct(sum(min(p, length) for p, length in vod), sum(length for _p, length in vod))}
    if name == "minutes-played":
        return {
            "value": round(playing / 60_000, 2),
            "per_ended_play": round(playing / 60_000 / plays, 2) if plays else 0.0,
        }
    if name == "pause-ratio":
        paused = sum(x["paused_time_ms"] for x in m)
        return {"ratio": pct(paused, playing + rebuffering + paused)}
    if name == "video-restart-time":
        restarts = [x["video_restart_time_ms"] for x in m if x["video_restart_time_ms"] > 0]
        n = len(restarts)
        return {"value": ((2 * sum(restarts) + n) // (2 * n)) / 1000 if restarts else 0.0}  # whole ms, halves up
    flag = {
        "exits-before-video-start": "is_exit_before_video_start",
        "video-start-failures": "is_video_start_failure",
        "video-start-failures-business": "is_video_start_failure_business",
        "video-start-failures-tech": "is_video_start_failure_tech",
        "video-playback-failures": "is_video_playback_failure",
        "video-playback-failures-business": "is_video_playback_failure_business",
        "video-playback-failures-tech": "is_video_playback_failure_tech",
    }[name]
    count = sum(bool(x[flag]) for x in s)
    return {"count": count, "percentage": pct(count, plays if "playback" in name else len(sessions))}


def group_values(d: dict[str, Any], group: str) -> list[str]:
    if group.startswith("tag_"):
        return [d["tags"]["custom_tags"].get(group[4:], "")]
    values = list(dict.fromkeys(DIMENSION_FIELDS[group](d)))
    return values or [""]


def test_metrics_equal_the_oracle(store: Store, server: LiveServer) -> None:
    seen: Counter[str] = Counter()
    http = httpx.Client(base_url=server.url, timeout=30, limits=httpx.Limits(max_keepalive_connections=0))

    @settings(HYPOTHESIS, max_examples=examples(store, 60))
    @given(data=st.data(), docs=metric_docs())
    def check(data: st.DataObject, docs: list[dict[str, Any]]) -> None:
        creds = new_account(store, viewer_module=False)
        import_docs(store, creds, docs)
        for _ in range(3):
            # often the whole span of the documents' ends, else any part of it (bounds on no minute edge)
            start = data.draw(
                st.one_of(
                    st.just(WINDOW_START_MS - 15 * MINUTE), st.integers(WINDOW_START_MS - 20 * MINUTE, NOW_MS - 1)
                ),
                label="start",
            )
            end = data.draw(
                st.one_of(st.just(NOW_MS + 15 * MINUTE), st.integers(start + 1, NOW_MS + 20 * MINUTE)), label="end"
            )
            granularity = data.draw(st.sampled_from(sorted(GRANULARITIES)), label="granularity")
            bucket_ms = GRANULARITIES[granularity]
            names = data.draw(st.lists(st.sampled_from(METRIC_NAMES), min_size=1, max_size=4, unique=True))
            filters = data.draw(filter_params(docs, max_filters=2), label="filters")
            group = data.draw(st.one_of(st.none(), st.sampled_from([*sorted(DIMENSION_FIELDS), "tag_genre"])))
            params: Params = [("start_epoch_ms", str(start)), ("end_epoch_ms", str(end)), ("granularity", granularity)]
            params += filters + [("metric", n) for n in names]
            path = "/insights/3.0/metrics/custom-selection"
            if group is not None:
                path += "/group-by/" + ("dimension-tag/genre" if group == "tag_genre" else group.replace("_", "-"))
                params += [
                    ("limit", "100"),
                    ("sort_by", "dimension"),
                    ("order", "asc"),
                ]  # every group (pools are small)
            response = http.get(path, params=params, auth=creds.auth)
            assert response.status_code == 200, (params, response.text)
            got = response.json()
            cells = oracle(docs, filters, start, end, bucket_ms)
            first = start if bucket_ms is None else start // bucket_ms * bucket_ms
            stamps = [first] if bucket_ms is None else list(range(first, end, bucket_ms))
            assert [e["timestamp"]["epoch_ms"] for e in got["time_series"]] == stamps
            everything = [d for ds in cells.values() for d in ds]
            seen["queries"] += 1
            seen["non-empty"] += bool(everything)
            seen["grouped"] += group is not None and len(everything) > 1
            if group is None:
                for entry, stamp in zip(got["time_series"], stamps, strict=True):
                    for n in names:
                        assert entry[n.replace("-", "_")] == figures(n, cells.get((stamp, ""), [])), (n, stamp)
                for n in names:
                    assert got["total"][n.replace("-", "_")] == figures(n, everything), n
                continue
            groups = sorted({g for d in everything for g in group_values(d, group)})
            want_total = [
                {
                    "dimension": {"key": g, "value": g, "description": group},
                    "metrics": {
                        n.replace("-", "_"): figures(n, [d for d in everything if g in group_values(d, group)])
                        for n in names
                    },
                }
                for g in groups
            ]
            assert got["total"]["dimensional_data"] == want_total
            for entry, stamp in zip(got["time_series"], stamps, strict=True):
                in_bucket = cells.get((stamp, ""), [])
                assert [x["dimension"]["key"] for x in entry["dimensional_data"]] == groups
                for x in entry["dimensional_data"]:
                    members = [d for d in in_bucket if x["dimension"]["key"] in group_values(d, group)]
                    assert x["metrics"] == {n.replace("-", "_"): figures(n, members) for n in names}

    with http:
        check()
    # guard against a vacuous run: many answers must hold sessions, grouped ones too
    assert seen["non-empty"] >= seen["queries"] // 3, seen
    assert seen["grouped"] >= seen["queries"] // 20, seen
