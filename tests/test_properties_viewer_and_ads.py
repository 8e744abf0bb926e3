"""Properties of the ad sessions and viewer endpoints, over real HTTP against both stores.

The oracle is the naive Python filter of ``test_properties.py``: whatever the documents, the ad
endpoint answers the contract over the ad sessions alone and the content endpoint over the content
sessions alone; a viewer lookup answers exactly the account's own ended content sessions of that
viewer id or address in the window, newest first; and another account's viewer id or address never
finds anything, whatever the parameters.
"""

from __future__ import annotations

import ipaddress
from collections import Counter
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reelsight.sessions.document import iso_from_epoch_ms
from reelsight.store.base import Store
from reelsight.web.sessions_route import AD_PATH
from reelsight.web.viewer_route import PATH as VIEWER_PATH
from tests import test_properties
from tests.conftest import NOW_MS, PATH, Credentials
from tests.test_properties import (
    HOUR_MS,
    HYPOTHESIS,
    assert_answers,
    csid,
    doc_lists,
    end_ms,
    examples,
    import_docs,
    naive_sample,
    new_account,
    only_filters,
    queries,
)

pytestmark = pytest.mark.all_backends

# the same fixtures: an unlimited per-IP budget, and a new connection per request
app_settings = test_properties.app_settings
http = test_properties.http
DAY_MS = 24 * HOUR_MS
VIEWERS = ("viewer-1", "viewer-2", "viewer-3", "")
IPV4 = ("203.0.113.7", "203.0.113.8", "")
IPV6 = ("2001:db8::1", "2001:db8:0:0::2", "")  # one stored in a longer spelling


def _as_ad(doc: dict[str, Any], content_session_id: str, position: str) -> dict[str, Any]:
    doc["tags"]["selected_dimensions"]["content_session_id"] = content_session_id
    doc["tags"]["selected_dimensions"]["ad_position"] = position
    return doc


@st.composite
def mixed_docs(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Content and ad sessions (an ad names a content session id), with viewers and addresses."""
    docs = draw(doc_lists(max_size=40))
    for doc in docs:
        if draw(st.integers(0, 2)) == 0:
            _as_ad(doc, draw(st.sampled_from(["1", "2", "77"])), draw(st.sampled_from(["Preroll", "Midroll"])))
        viewer = draw(st.sampled_from(VIEWERS))
        if viewer:
            doc["viewer_id"] = viewer
        else:
            doc.pop("viewer_id", None)
        doc["network_info"]["ip"] = draw(st.sampled_from(IPV4))
        doc["network_info"]["ipv6"] = draw(st.sampled_from(IPV6))
        # the viewer window is days long: spread the ends over a month and a bit
        shift = draw(st.sampled_from([0, 0, DAY_MS, 5 * DAY_MS + 17, 30 * DAY_MS, 32 * DAY_MS]))
        for bound in ("start", "end"):
            doc["timestamps"][bound]["epoch_ms"] -= shift
        for bound in ("start", "end"):
            doc["timestamps"][bound]["iso_date"] = iso_from_epoch_ms(doc["timestamps"][bound]["epoch_ms"])
    return docs


def is_ad(doc: dict[str, Any]) -> bool:
    return bool(doc["tags"]["selected_dimensions"]["content_session_id"])


def get(http: httpx.Client, path: str, creds: Credentials, params: list[tuple[str, str]]) -> httpx.Response:
    response = http.get(path, params=params, auth=creds.auth)
    assert response.status_code == 200, (path, params, response.text)
    return response


def test_the_ad_and_content_endpoints_answer_over_their_own_sessions(store: Store, http: httpx.Client) -> None:
    seen: Counter[str] = Counter()

    @settings(HYPOTHESIS, max_examples=examples(store, 150))
    @given(data=st.data(), docs=mixed_docs())
    def check(data: st.DataObject, docs: list[dict[str, Any]]) -> None:
        viewer_module = data.draw(st.booleans(), label="viewer_module")
        creds = new_account(store, viewer_module=viewer_module, ad_insights=True)
        import_docs(store, creds, docs)
        ads = [d for d in docs if is_ad(d)]
        content = [d for d in docs if not is_ad(d)]
        for _ in range(3):
            params, start, end, limit = data.draw(queries(docs), label="query")
            for path, subset in ((AD_PATH, ads), (PATH, content)):
                expected = naive_sample(subset, only_filters(params), start, end, limit)
                assert_answers(get(http, path, creds, params), expected, viewer_module=viewer_module)
                seen[f"non-empty {path}"] += bool(expected)

    check()
    # the generated queries reach non-empty answers on both paths (fewer examples run on chDB)
    assert seen[f"non-empty {AD_PATH}"] >= examples(store, 10), seen
    assert seen[f"non-empty {PATH}"] >= examples(store, 10), seen


@st.composite
def viewer_queries(draw: st.DrawFn) -> tuple[list[tuple[str, str]], int, int, int, str, str]:
    """(params, start, end, limit, kind, value): a lookup by viewer id or address, over ``days`` or a
    start/end window, with or without a limit."""
    kind = draw(st.sampled_from(["viewer_id", "ip"]))
    if kind == "viewer_id":
        value = draw(st.sampled_from([v for v in VIEWERS if v] + ["viewer-9"]))
        shown = value
    else:
        value = draw(st.sampled_from([a for a in IPV4 + IPV6 if a]))
        shown = draw(st.sampled_from([value, ipaddress.ip_address(value).exploded]))  # any spelling
    params = [(kind, shown)]
    window = draw(st.sampled_from(["default", "days", "range"]))
    if window == "days":
        days = draw(st.integers(1, 31))
        params.append(("days", str(days)))
        start, end = NOW_MS - days * DAY_MS, NOW_MS
    elif window == "range":
        start = NOW_MS - draw(st.integers(0, 31 * DAY_MS))
        end = draw(st.integers(start + 1, min(start + 31 * DAY_MS, NOW_MS + DAY_MS)))
        params += [("start_epoch_ms", str(start)), ("end_epoch_ms", str(end))]
    else:
        start, end = NOW_MS - 31 * DAY_MS, NOW_MS
    limit = draw(st.sampled_from([50, 1, 2, 3, 1500]))
    if limit != 50 or draw(st.booleans()):
        params.append(("limit", str(limit)))
    return params, start, end, limit, kind, str(ipaddress.ip_address(value)) if kind == "ip" else value


def naive_viewer(
    docs: list[dict[str, Any]], kind: str, value: str, start: int, end: int, limit: int
) -> list[dict[str, Any]]:
    def matches(doc: dict[str, Any]) -> bool:
        if kind == "viewer_id":
            return bool(doc.get("viewer_id", "") == value)
        stored = [doc["network_info"]["ip"], doc["network_info"]["ipv6"]]
        return any(s and ipaddress.ip_address(s) == ipaddress.ip_address(value) for s in stored)

    found = [
        d for d in docs if not is_ad(d) and d["status_info"]["is_ended"] and start <= end_ms(d) < end and matches(d)
    ]
    found.sort(key=lambda d: (-end_ms(d), csid(d)))
    return found[:limit]


def test_a_viewer_lookup_answers_exactly_the_accounts_own_sessions(store: Store, http: httpx.Client) -> None:
    seen: Counter[str] = Counter()

    @settings(HYPOTHESIS, max_examples=examples(store, 150))
    @given(data=st.data(), both=st.tuples(mixed_docs(), mixed_docs()))
    def check(data: st.DataObject, both: tuple[list[dict[str, Any]], list[dict[str, Any]]]) -> None:
        accounts = [new_account(store, viewer_module=True) for _ in both]
        for creds, docs in zip(accounts, both, strict=True):
            import_docs(store, creds, docs)
        for _ in range(4):
            params, start, end, limit, kind, value = data.draw(viewer_queries(), label="lookup")
            for creds, docs in zip(accounts, both, strict=True):
                expected = naive_viewer(docs, kind, value, start, end, limit)
                assert_answers(get(http, VIEWER_PATH, creds, params), expected, viewer_module=True)
                seen["non-empty"] += bool(expected)
                theirs = naive_viewer(both[1] if creds is accounts[0] else both[0], kind, value, start, end, 1500)
                seen["the other account has some"] += bool(theirs)

    check()
    assert seen["non-empty"] >= 20, seen
    assert seen["the other account has some"] >= 20, seen


def test_documents_strategy_makes_both_kinds() -> None:
    """The strategies above are not vacuous: they draw ads, content, viewers and addresses."""
    seen: Counter[str] = Counter()

    @settings(max_examples=50, deadline=None)
    @given(docs=mixed_docs())
    def check(docs: list[dict[str, Any]]) -> None:
        seen["ad"] += sum(map(is_ad, docs))
        seen["content"] += sum(not is_ad(d) for d in docs)
        seen["v6"] += sum(bool(d["network_info"]["ipv6"]) for d in docs)

    check()
    assert min(seen.values()) >= 10, seen
