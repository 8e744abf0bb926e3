"""Fuzzing the sessions endpoint over real HTTP: no input may cause a 5xx or an undocumented answer.

Schemathesis generates requests from the served ``/openapi.json`` and checks every response against
it; hypothesis throws raw query strings and Authorization headers at it and checks the envelope.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import sqlite3
import urllib.parse
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import msgspec
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode, checks

from reelsight.sessions.document import decode_document
from reelsight.sessions.timeline_codec import StateSpan, Timeline, encode_timeline
from reelsight.settings import Settings as AppSettings
from reelsight.store.records import to_record
from reelsight.store.sqlite import SqliteStore
from reelsight.web import discovery_route
from reelsight.web.openapi import build_openapi
from reelsight.web.sessions_route import AD_PATH
from reelsight.web.timeline_route import AD_PATH as AD_TIMELINE_PATH
from reelsight.web.timeline_route import CONTENT_PATH as CONTENT_TIMELINE_PATH
from reelsight.web.viewer_route import PATH as VIEWER_PATH
from tests.conftest import NOW_MS, PATH, Credentials, LiveServer, add_account
from tests.factories import make_doc_dict

HOUR_MS = 3_600_000
DOCUMENTED_PARAMS: tuple[str, ...] = tuple(p["name"] for p in build_openapi()["paths"][PATH]["get"]["parameters"])
FLAGS = tuple(p for p in DOCUMENTED_PARAMS if p.startswith("is_"))
ERROR_CODES_BY_STATUS: dict[int, frozenset[str]] = {
    400: frozenset({"invalid_parameter", "unknown_parameter", "conflicting_parameters"}),
    422: frozenset({"time_range_out_of_bounds"}),
}
UNAUTHORIZED_BODY = b'{"message":"Unauthorized"}'
# uvicorn refuses request lines of about 64 KiB and more itself, with a text/plain 400, before the
# app sees them; the app's own limit (max_query_string_bytes, 16 KiB) is what the fuzzers test.
MAX_URL_CHARS = 60_000


@pytest.fixture(name="settings")
def app_settings(db_path: str) -> AppSettings:
    return AppSettings(db=db_path, rate_limit_ip_requests=1_000_000)


@pytest.fixture
def http(server: LiveServer) -> Iterator[httpx.Client]:
    # a new connection per request: LiveServer's kept-alive connections lack TCP_NODELAY and wait
    # ~40 ms per response for a delayed ACK (see the http fixture in test_properties.py)
    with httpx.Client(base_url=server.url, timeout=30, limits=httpx.Limits(max_keepalive_connections=0)) as c:
        yield c


def seed_docs() -> list[dict[str, Any]]:
    """A few ended sessions in the default window, with values worth matching against."""
    docs = []
    for i in range(8):
        docs.append(
            make_doc_dict(
                "10.0.0.1" if i % 2 else "1.2.3.4",
                str(i - 3),
                end_ms=NOW_MS - (i + 1) * 11 * 60_000,
                set_paths={
                    "device_info.os": ["iOS", "Android"][i % 2],
                    "content_info.asset": ["Café ✓", "a=b&c", "plain"][i % 3],
                    "status_info.is_exit_before_video_start": i % 3 == 0,
                },
                custom_tags={"genre": ["drama", ""][i % 2]} if i % 4 else {},
                cdn=[["AKAMAI"], [], ["FASTLY", "AKAMAI"]][i % 3],
                viewer_id=None if i == 5 else f"viewer-{i}",
            )
        )
    return docs


@pytest.fixture
def accounts(store: SqliteStore) -> list[tuple[Credentials, list[dict[str, Any]]]]:
    """Two accounts (without, and with the viewer module and ad insights), each with its own content
    sessions and as many ad sessions."""
    out = []
    for name, permitted in (("plain", False), ("viewer", True)):
        creds = add_account(store, name, viewer_module=permitted, ad_insights=permitted)
        docs = seed_docs()
        ads = seed_docs()
        for doc in docs + ads:
            doc["tags"]["custom_tags"]["owner"] = name
        for ad in ads:
            ad["session_id"] = str(int(ad["session_id"]) + 100)
            ad["conviva_session_id"] = f"{ad['client_id']}.{ad['session_id']}"
            ad["tags"]["selected_dimensions"]["content_session_id"] = "1"
        written = [to_record(decode_document(json.dumps(d))) for d in docs + ads]
        store.write_sessions(creds.account.id, written)
        out.append((creds, docs))
    return out


def snapshot(db_path: str) -> list[str]:
    """Every row of the database file, as SQL."""
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        return list(conn.iterdump())
    finally:
        conn.close()


def assert_error_envelope(response: httpx.Response) -> None:
    assert response.headers["content-type"] == "application/json", response.text
    body = response.json()
    assert isinstance(body, dict), body
    assert {"message", "code"} <= set(body) <= {"message", "code", "parameter"}, body
    assert isinstance(body["message"], str), body
    assert body["message"], body
    assert body["code"] in ERROR_CODES_BY_STATUS.get(response.status_code, frozenset()), body
    assert isinstance(body.get("parameter", ""), str), body


# -- schemathesis -----------------------------------------------------------------------------

SCHEMA_CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_headers_conformance,
    checks.response_schema_conformance,
    checks.ignored_auth,
]


@pytest.mark.parametrize(("path", "examples"), [(PATH, 250), (AD_PATH, 120)])
def test_every_response_conforms_to_the_served_openapi_document(
    server: LiveServer, accounts: list[tuple[Credentials, list[dict[str, Any]]]], path: str, examples: int
) -> None:
    schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
    operation = schema[path]["GET"]
    seen: Counter[int | str] = Counter()
    session = requests.Session()
    session.headers["Connection"] = "close"  # a new connection per request: see the http fixture
    # both accounts, an unknown key, and no credentials at all (401 must conform too); on the ad endpoint
    # first the account with ad insights (the other one's answers are all 403)
    auths = [*(creds.auth for creds, _docs in accounts), ("rk_unknown", "secret"), None]
    if path == AD_PATH:  # hypothesis favours the first element
        auths = [accounts[1][0].auth, *auths[1:], accounts[0][0].auth]

    @settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
    )
    @given(
        case=operation.as_strategy(GenerationMode.POSITIVE) | operation.as_strategy(GenerationMode.NEGATIVE),
        auth=st.sampled_from(auths),
    )
    def check(case: schemathesis.Case, auth: tuple[str, str] | None) -> None:
        sent = case.as_transport_kwargs(base_url=server.url)
        url = requests.Request("GET", sent["url"], params=sent.get("params")).prepare().url
        assume(url is not None and len(url) < MAX_URL_CHARS)
        call_and_count(case, session, auth, seen)

    with session:
        check()
    # the generated requests reach the interesting answers, not only errors
    scale = examples / 250
    assert seen[200] >= 25 * scale, seen
    assert seen["sessions"] >= 5 * scale, seen
    assert seen[400] >= 10 * scale, seen
    assert seen[401] >= 10 * scale, seen
    if path == AD_PATH:
        # the account without ad insights: reached (how often varies: 3 of 120 in one local run)
        assert seen[403] >= 1, seen


def call_and_count(
    case: schemathesis.Case, session: requests.Session, auth: tuple[str, str] | None, seen: Counter[int | str]
) -> None:
    """Call one generated case, validate the answer against the schema, count its status and (for a
    sessions answer) whether it held sessions; never a 5xx."""
    response = case.call_and_validate(session=session, checks=SCHEMA_CHECKS, auth=auth)
    seen[response.status_code] += 1
    if response.status_code == 200 and "sessions" in (body := response.json()):
        seen["sessions"] += bool(body["sessions"])
    assert response.status_code < 500


def test_viewer_answers_conform_to_the_served_openapi_document(
    server: LiveServer, accounts: list[tuple[Credentials, list[dict[str, Any]]]]
) -> None:
    schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
    operation = schema[VIEWER_PATH]["GET"]
    seen: Counter[int | str] = Counter()
    session = requests.Session()
    session.headers["Connection"] = "close"
    # the account with the viewer module first (hypothesis favours it), then the one without (403)
    auths = [accounts[1][0].auth, ("rk_unknown", "secret"), None, accounts[0][0].auth]
    # a known viewer id or address now and then, so that some lookups find sessions
    known = st.sampled_from([{"viewer_id": "viewer-1"}, {"viewer_id": "viewer-2"}, {"ip": "203.0.113.7"}, {}])

    @settings(
        max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]
    )
    @given(
        case=operation.as_strategy(GenerationMode.POSITIVE) | operation.as_strategy(GenerationMode.NEGATIVE),
        auth=st.sampled_from(auths),
        lookup=known,
    )
    def check(case: schemathesis.Case, auth: tuple[str, str] | None, lookup: dict[str, str]) -> None:
        if lookup and case.query is not None:
            case.query = {k: v for k, v in case.query.items() if k not in ("viewer_id", "ip", "days")} | lookup
        call_and_count(case, session, auth, seen)

    with session:
        check()
    assert seen[200] >= 10, seen
    assert seen["sessions"] >= 3, seen
    assert seen[400] >= 10, seen
    assert seen[401] >= 10, seen
    assert seen[403] >= 5, seen


@pytest.mark.parametrize("path", [discovery_route.PATH, discovery_route.DIMENSIONS_PATH])
def test_the_discovery_and_dimensions_answers_conform_to_the_served_openapi_document(
    server: LiveServer, accounts: list[tuple[Credentials, list[dict[str, Any]]]], path: str
) -> None:
    schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
    operation = schema[path]["GET"]
    seen: Counter[int] = Counter()
    session = requests.Session()
    session.headers["Connection"] = "close"
    auths = [*(creds.auth for creds, _docs in accounts), ("rk_unknown", "secret"), None]
    # the operation takes no parameters: some generated queries add one anyway (a 400 that must conform)
    extra = st.one_of(st.none(), st.tuples(st.text(URL_SAFE, min_size=1, max_size=12), st.text(max_size=12)))

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(case=operation.as_strategy(GenerationMode.POSITIVE), auth=st.sampled_from(auths), extra=extra)
    def check(case: schemathesis.Case, auth: tuple[str, str] | None, extra: tuple[str, str] | None) -> None:
        if extra is not None:
            case.query = {extra[0]: extra[1]}
        call_and_count(case, session, auth, seen)

    with session:
        check()
    assert seen[200] >= 5, seen
    assert seen[400] >= 5, seen
    assert seen[401] >= 5, seen


METRIC_PATHS = (
    "/insights/3.0/metrics/{metric}",
    "/insights/3.0/metrics/{metric}/group-by/{dimension}",
    "/insights/3.0/metrics/{metric}/group-by/dimension-tag/{custom_tag}",
)


@pytest.mark.parametrize("path", METRIC_PATHS)
def test_the_metrics_answers_conform_to_the_served_openapi_document(
    server: LiveServer, accounts: list[tuple[Credentials, list[dict[str, Any]]]], path: str
) -> None:
    """Generated metric, group-by and parameter combinations (valid and not): every answer is the
    documented figures or the error envelope, never a 5xx; some reach real figures."""
    schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
    operation = schema[path]["GET"]
    seen: Counter[int | str] = Counter()
    session = requests.Session()
    session.headers["Connection"] = "close"
    auths = [*(creds.auth for creds, _docs in accounts), ("rk_unknown", "secret"), None]
    # a plausible path now and then, so that generated parameters meet a metric that exists
    known = st.sampled_from(
        [None, {"metric": "plays"}, {"metric": "rebuffering-ratio"}, {"metric": "custom-selection"}]
    )

    @settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(
        case=operation.as_strategy(GenerationMode.POSITIVE) | operation.as_strategy(GenerationMode.NEGATIVE),
        auth=st.sampled_from(auths),
        metric=known,
    )
    def check(case: schemathesis.Case, auth: tuple[str, str] | None, metric: dict[str, str] | None) -> None:
        if metric is not None and case.path_parameters is not None:
            case.path_parameters = {**case.path_parameters, **metric}
        call_and_count(case, session, auth, seen)

    with session:
        check()
    assert seen[200] >= 3, seen
    assert seen[400] >= 5, seen
    assert seen[401] >= 5, seen


@pytest.mark.parametrize("path", [CONTENT_TIMELINE_PATH, AD_TIMELINE_PATH])
def test_the_timeline_answers_conform_to_the_served_openapi_document(
    server: LiveServer, store: SqliteStore, accounts: list[tuple[Credentials, list[dict[str, Any]]]], path: str
) -> None:
    schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
    operation = schema[path]["GET"]
    seen: Counter[int] = Counter()
    session = requests.Session()
    session.headers["Connection"] = "close"
    # the account with ad insights first (hypothesis favours it), then the one without (403 on the ad path)
    creds = accounts[1][0]
    auths = [creds.auth, ("rk_unknown", "secret"), None, accounts[0][0].auth]
    # one content and one ad session of that account get a timeline; the other seeded ones have none (404)
    docs = [decode_document(json.dumps(d)) for d in seed_docs()[:1]]
    ad = decode_document(json.dumps(seed_docs()[1]))
    ad_id = str(int(ad.session_id) + 100)
    ad = msgspec.structs.replace(ad, session_id=ad_id, conviva_session_id=f"{ad.client_id}.{ad_id}")
    ad.tags.selected_dimensions.content_session_id = "1"
    for doc in [*docs, ad]:
        start, end = doc.timestamps.start.epoch_ms, doc.timestamps.end.epoch_ms
        states = [StateSpan(start, end, "playing")] if end > start else []
        timeline = Timeline(
            start_ms=start, end_ms=end, truncated_ms=None, states=states,
            bitrates=[], cdns=[], seeks=[], ad_breaks=[], errors=[],
        )  # fmt: skip
        store.write_sessions(creds.account.id, [to_record(doc, encode_timeline(timeline))])
    known = st.sampled_from([docs[0].conviva_session_id, ad.conviva_session_id, "1.2.3.4.-2", None])

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(
        case=operation.as_strategy(GenerationMode.POSITIVE) | operation.as_strategy(GenerationMode.NEGATIVE),
        auth=st.sampled_from(auths),
        session_id=known,
    )
    def check(case: schemathesis.Case, auth: tuple[str, str] | None, session_id: str | None) -> None:
        if session_id is not None:
            case.path_parameters = {"conviva_session_id": session_id}
        call_and_count(case, session, auth, seen)

    with session:
        check()
        # A 200 needs the right account, a known id and a valid case at once: random draws (local runs
        # are not derandomized) can miss it, so one known request is checked against the schema too.
        for known_id in (docs[0].conviva_session_id, ad.conviva_session_id):
            call_and_count(operation.Case(path_parameters={"conviva_session_id": known_id}), session, creds.auth, seen)
    # every kind of answer is reached (the counts vary run to run: a quarter of the auths is each account)
    assert seen[200] >= 1, seen
    assert seen[404] >= 5, seen
    assert seen[401] >= 5, seen
    if path == AD_TIMELINE_PATH:
        assert seen[403] >= 1, seen


# -- raw query strings ------------------------------------------------------------------------

URL_SAFE = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~!$'()*+,;=:@/?%[]{}|\\^`"
SPECIAL_VALUES = (
    "",
    "%",
    "%f",
    "%ff",
    "%zz",
    "%e2%82",
    "%c0%af",
    "%ed%a0%80",
    "%00",
    "%0A",
    "+",
    "%2B",
    "true",
    "TRUE",
    "tRuE",
    "false",
    "yes",
    "0",
    "1",
    "50",
    "1500",
    "1501",
    "-1",
    "9" * 40,
    "-" + "9" * 40,
    "1e3",
    "1.5",
    "NaN",
    "Infinity",
    "0x10",
    "2026-11-20",
    "2026-11-20T10:00:00Z",
    "2026-11-20T10:00:00.123456789+05:30",
    "2026-02-30",
    "2026-11-20T24:00:00",
    "9999-12-31T23:59:59-23:59",
    "0001-01-01T00:00:00+23:59",
    "0000-01-01",
    str(NOW_MS),
    str(NOW_MS - HOUR_MS),
    str(NOW_MS // 1000),
    f"{NOW_MS // 1000 - 3600}.5",
    "' OR 1=1 --",
    "%27%20OR%201%3D1%20--",
    "1.2.3.4",
    "-3",
    "iOS",
    "AKAMAI",
)


def encode(text: str) -> str:
    return urllib.parse.quote(text, safe="")


def iso_utc(ms: int) -> str:
    moment = dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(milliseconds=ms)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


NEAR_NOW_MS = st.integers(NOW_MS - 40 * 24 * HOUR_MS, NOW_MS + 4 * HOUR_MS)
# Fields a real client might send: documented names with plausible values, so that fuzzed queries
# also get past the first check and reach the time rules, the filters and the store.
plausible_fields = st.one_of(
    st.tuples(st.sampled_from(["start_epoch_ms", "end_epoch_ms"]), NEAR_NOW_MS.map(str)),
    st.tuples(st.sampled_from(["start_epoch", "end_epoch"]), NEAR_NOW_MS.map(lambda ms: f"{ms // 1000}.{ms % 1000}")),
    st.tuples(st.sampled_from(["start_date", "end_date"]), NEAR_NOW_MS.map(iso_utc)),
    st.tuples(st.just("limit"), st.integers(-5, 2000).map(str)),
    st.tuples(st.sampled_from(FLAGS), st.sampled_from(["true", "false", "TRUE", "False"])),
    st.tuples(
        st.sampled_from(["device_os", "asset", "cdn", "session_id", "client_id", "tag_genre", "tag_owner"]),
        st.sampled_from(["iOS", "Android", "Café ✓", "a=b&c", "AKAMAI", "FASTLY", "1", "-3", "10.0.0.1", "drama", ""]),
    ),
).map(lambda field: (field[0], encode(field[1])))


names = st.one_of(
    st.sampled_from(DOCUMENTED_PARAMS),
    st.sampled_from(["tag_genre", "tag_owner", "tag_", "tag_%ff", "LIMIT", "Limit", "lim%69t", "limit%00", "cdn[]"]),
    st.text(max_size=12).map(lambda t: "tag_" + encode(t)),
    st.text(max_size=12).map(encode),
    st.text(URL_SAFE, max_size=12),
)
values = st.one_of(
    st.sampled_from(SPECIAL_VALUES),
    st.text(max_size=20).map(encode),
    st.text(max_size=20).map(urllib.parse.quote_plus),
    st.text(URL_SAFE, max_size=20),
    st.integers(-(10**30), 10**30).map(str),
    st.integers(NOW_MS - 40 * 24 * HOUR_MS, NOW_MS + HOUR_MS).map(str),
    st.text(max_size=3000, alphabet="ab").map(lambda t: t * 2),  # near and over the value length limit
)


@st.composite
def raw_queries(draw: st.DrawFn) -> str:
    fields = draw(
        st.lists(
            st.one_of(st.tuples(names, values, st.integers(0, 9)), plausible_fields.map(lambda f: (*f, 9))),
            max_size=12,
        )
    )
    parts = []
    for name, value, shape in fields:
        if shape == 0:
            parts.append(name)  # no "=" at all
        elif shape == 1:
            parts.append(f"{name}=")
        else:
            parts.append(f"{name}={value}")
    separators = draw(st.lists(st.sampled_from(["&", "&", "&", "&&", ";"]), min_size=len(parts), max_size=len(parts)))
    query = "".join(sep + part for sep, part in zip(separators, parts, strict=True))[1:]
    return draw(st.sampled_from([query, query, query + "&", "&" + query]))


def matches(doc: dict[str, Any], name: str, value: str) -> bool | None:
    """Whether ``doc`` matches filter ``name=value``; ``None`` when this oracle does not know the name."""
    if name in FLAGS:
        return bool(doc["status_info"][name]) == (value.lower() == "true")
    if name in ("session_id", "client_id"):
        return bool(doc[name] == value)
    if name.startswith("tag_"):
        return bool(doc["tags"]["custom_tags"].get(name[len("tag_") :], "") == value)
    fields = {
        "device_os": lambda d: [d["device_info"]["os"]],
        "asset": lambda d: [d["content_info"]["asset"]],
        "cdn": lambda d: d["network_info"]["cdn"],
    }
    if name in fields:
        return value in fields[name](doc)
    return None


def assert_sound_answer(response: httpx.Response, raw: str, docs: list[dict[str, Any]], *, viewer_module: bool) -> None:
    """A 200 holds only the account's own sessions, each matching every filter this oracle understands."""
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert list(body) == ["sessions"], body
    by_id = {d["conviva_session_id"]: d for d in docs}
    filters: dict[str, list[str]] = {}
    for name, value in urllib.parse.parse_qsl(raw, keep_blank_values=True):
        filters.setdefault(name, []).append(value)
    returned = [s["conviva_session_id"] for s in body["sessions"]]
    assert len(set(returned)) == len(returned)
    for session in body["sessions"]:
        doc = by_id[session["conviva_session_id"]]
        want = {k: v for k, v in doc.items() if k != "viewer_id"}
        if viewer_module:
            want["viewer_id"] = doc.get("viewer_id", "")
        assert session == want
        for name, wanted in filters.items():
            verdicts = [matches(doc, name, v) for v in wanted]
            assert None in verdicts or any(verdicts), (name, wanted, session["conviva_session_id"])


def test_raw_query_strings_get_sessions_or_the_error_envelope(
    server: LiveServer,
    http: httpx.Client,
    db_path: str,
    accounts: list[tuple[Credentials, list[dict[str, Any]]]],
) -> None:
    before = snapshot(db_path)
    seen: Counter[int | str] = Counter()

    @settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(raw=raw_queries(), which=st.sampled_from(range(len(accounts))))
    def check(raw: str, which: int) -> None:
        creds, docs = accounts[which]
        assume(len(PATH) + len(raw) < MAX_URL_CHARS)
        response = http.get(httpx.URL(f"{server.url}{PATH}", query=raw.encode("ascii")), auth=creds.auth)
        seen[response.status_code] += 1
        assert response.status_code < 500, (raw, response.text)
        if response.status_code == 200:
            assert_sound_answer(response, raw, docs, viewer_module=creds.account.viewer_module)
            seen["sessions"] += bool(response.json()["sessions"])
        else:
            assert_error_envelope(response)

    check()
    assert snapshot(db_path) == before
    # the fuzzed queries reach every stage: parsing, the time rules, and sessions returned
    assert seen[200] >= 30, seen
    assert seen["sessions"] >= 5, seen
    assert seen[400] >= 100, seen
    assert seen[422] >= 10, seen


# -- numbers and dates --------------------------------------------------------------------------

# decimal digits of other scripts: Arabic-Indic, fullwidth, Devanagari
OTHER_DIGITS = tuple("".join(chr(zero + i) for i in range(10)) for zero in (0x0660, 0xFF10, 0x0966))


VALID_SINGLE_VALUES: dict[str, str] = {
    "limit": "10",
    "start_epoch_ms": str(NOW_MS - 2 * HOUR_MS),
    "end_epoch_ms": str(NOW_MS - HOUR_MS),
    "start_epoch": f"{(NOW_MS - 2 * HOUR_MS) // 1000}.250",
    "end_epoch": str((NOW_MS - HOUR_MS) // 1000),
    "start_date": iso_utc(NOW_MS - 2 * HOUR_MS),
    "end_date": iso_utc(NOW_MS - HOUR_MS),
}


@st.composite
def not_ascii_forms(draw: st.DrawFn, valid: str) -> str:
    """``valid`` made invalid: a trailing newline or space, or some digits from another script."""
    how = draw(st.sampled_from(["newline", "space", "digits"]))
    if how == "newline":
        return valid + "\n"
    if how == "space":
        return valid + " "
    script = draw(st.sampled_from(OTHER_DIGITS))
    positions = [i for i, c in enumerate(valid) if c.isdigit()]
    chosen = draw(st.sets(st.sampled_from(positions), min_size=1))
    return "".join(script[int(c)] if i in chosen else c for i, c in enumerate(valid))


def test_numbers_and_dates_are_ascii_only(
    http: httpx.Client, accounts: list[tuple[Credentials, list[dict[str, Any]]]]
) -> None:
    """Limit, epochs and dates are ASCII digits exactly; anything else is a 400 naming the parameter."""
    creds = accounts[0][0]
    for name, valid in VALID_SINGLE_VALUES.items():
        assert http.get(PATH, params={name: valid}, auth=creds.auth).status_code == 200, name

    @settings(max_examples=100, deadline=None)
    @given(data=st.data(), name=st.sampled_from(sorted(VALID_SINGLE_VALUES)))
    def check(data: st.DataObject, name: str) -> None:
        value = data.draw(not_ascii_forms(VALID_SINGLE_VALUES[name]), label="value")
        response = http.get(PATH, params={name: value}, auth=creds.auth)
        assert response.status_code == 400, (name, value, response.text)
        assert_error_envelope(response)
        assert response.json()["parameter"] == name

    check()


# -- Authorization headers ----------------------------------------------------------------------

HEADER_BYTES = bytes(range(0x21, 0x7F)) + bytes(range(0x80, 0x100))


def b64(raw: bytes) -> bytes:
    return base64.b64encode(raw)


@st.composite
def authorization_headers(draw: st.DrawFn, creds: Credentials) -> tuple[bytes, bool]:
    """An Authorization header value, and whether it carries the valid credentials."""
    scheme = draw(st.sampled_from([b"Basic", b"basic", b"BASIC", b"Bearer", b"Digest", b""]))
    key, secret = creds.key_id.encode(), creds.secret.encode()
    kind = draw(st.sampled_from(["valid", "wrong secret", "random", "garbage", "raw bytes", "not utf-8"]))
    if kind == "valid":
        spaces = b" " * draw(st.integers(1, 3))
        return (scheme + spaces + b64(key + b":" + secret)).lstrip(), scheme.lower() == b"basic"
    if kind == "wrong secret":
        other = draw(st.sampled_from([secret[:-1], secret + b"x", secret.upper(), b"", b":" + secret]))
        return (scheme + b" " + b64(key + b":" + other)).lstrip(), False
    if kind == "random":
        user = draw(st.text(max_size=20)).encode()
        password = draw(st.text(max_size=20)).encode()
        sep = draw(st.sampled_from([b":", b"", b"::"]))
        return (scheme + b" " + b64(user + sep + password)).lstrip(), False
    if kind == "not utf-8":
        return (scheme + b" " + b64(draw(st.binary(max_size=30)) + b":\xff\xfe")).lstrip(), False
    if kind == "raw bytes":
        # header values may carry obs-text (bytes 0x80-0xff); a server must not choke on them
        raw = draw(st.lists(st.sampled_from(HEADER_BYTES), min_size=1, max_size=40).map(bytes))
        return (scheme + b" " + raw).lstrip(), False
    garbage = draw(st.text(alphabet="".join(map(chr, range(0x21, 0x7F))), min_size=1, max_size=60)).encode()
    return garbage, False


def test_authorization_is_all_or_nothing(
    http: httpx.Client, db_path: str, accounts: list[tuple[Credentials, list[dict[str, Any]]]]
) -> None:
    """Valid Basic credentials (any scheme case) get 200; any other header gets exactly the 401."""
    creds = accounts[1][0]
    before = snapshot(db_path)

    @settings(max_examples=150, deadline=None)
    @given(header=authorization_headers(creds), query=st.sampled_from(["", "limit=1", "nope=1", "limit=0"]))
    def check(header: tuple[bytes, bool], query: str) -> None:
        value, valid = header
        # Leading/trailing whitespace is not part of a header value (RFC 9110), and h11 refuses to send it.
        value = value.strip(b" \t")
        assume(value)
        response = http.get(httpx.URL(f"{PATH}", query=query.encode()), headers={"Authorization": value})
        if valid:
            assert response.status_code != 401, value
            return
        assert response.status_code == 401, (value, response.text)
        assert response.content == UNAUTHORIZED_BODY
        assert response.headers["www-authenticate"] == 'Basic realm="insights"'
        assert response.headers["content-type"] == "application/json"

    check()
    assert snapshot(db_path) == before
    # a request without the header at all
    response = http.get(PATH)
    assert (response.status_code, response.content) == (401, UNAUTHORIZED_BODY)
    assert response.headers["www-authenticate"] == 'Basic realm="insights"'
