"""The Conviva heartbeat decoder against hand-computed vectors (heartbeats as the SDK sent them, from
``shared/reference/conviva-sdk-protocol.md``), and its refusals."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest

from reelsight.errors import InvalidBatch
from reelsight.ingest import conviva
from reelsight.ingest.events import (
    Bitrate,
    CdnUpdate,
    Content,
    Device,
    End,
    Event,
    MetadataUpdate,
    PlayerError,
    PlayerState,
    RepeatedStart,
    SeekEnd,
    Snapshot,
    Start,
    StateChange,
)

SST = 1796156657135
RECEIVE = 1796156700000  # server receive time of every heartbeat below
INTERVAL = 20_000  # the heartbeat interval the gateway hands out
CLID = "1576798714.971952420.2143643190.1395192873"
SID = -266054978
IDS = {"client_id": CLID, "session_id": str(SID)}
PM = {"sch": "sdk.js.1", "dvb": "Acme", "dvma": "AcmeCorp", "dvm": "Box 3", "dvt": "Settop", "dvv": "3.1",
      "os": "LINUX", "osv": "6.1", "cat": "STB", "sw": 1920, "sh": 1080, "scf": 1}  # fmt: skip
TAGS = {"c3.app.version": "9.9.1", "scenario": "vod_full", "subscription_tier": "premium"}
META = {"vid": "viewer-vod_full", "tags": TAGS, "an": "acc-vod_full", "pn": "AccPlayer", "lv": False, "cl": 600,
        "rs": "AKAMAI", "efps": 30, "url": "https://cdn.example/vod_full/master.m3u8"}  # fmt: skip
CONTENT = Content(asset="acc-vod_full", stream_url="https://cdn.example/vod_full/master.m3u8", is_live=False,
                  length_ms=600_000)  # fmt: skip
DEVICE = Device(hardware_type="Set-top Box", manufacturer="AcmeCorp", model="Box 3", marketing_name="",
                name="Acme Box 3", os="Linux", os_family="Linux", os_version="6.1")  # fmt: skip
METADATA = {"player_name": "AccPlayer", "app_version": "9.9.1", "scenario": "vod_full", "subscription_tier": "premium"}


def heartbeat(seq: int, st: int, evs: list[dict[str, Any]] | None = None, **fields: Any) -> bytes:
    body = {"t": "CwsSessionHb", "cid": "ik_test123", "clid": CLID, "sid": SID, "seq": seq, "pver": "2.8",
            "clv": "4.8.0", "iid": 2528514974, "caps": 0, "pm": PM, "sf": 7, "sdk": True, "sst": SST, "st": st,
            **META, **fields}  # fmt: skip
    if evs is not None:
        body["evs"] = evs
    return json.dumps(body).encode()


def decode(body: bytes, clid: str = "9.9.9.9") -> conviva.DecodedHeartbeat:
    return conviva.decode_events(
        conviva.decode_heartbeat(body), receive_ms=RECEIVE, new_client_id=lambda _hb: clid, interval_ms=INTERVAL
    )


def events_of(decoded: conviva.DecodedHeartbeat) -> list[Event]:
    return [event for _index, event in decoded.batch.events]


def at(st: int, hb_st: int) -> int:
    """Where an event at client offset ``st`` lands: receive time minus its age within the heartbeat."""
    return RECEIVE - (hb_st - st)


def test_first_heartbeat_opens_the_session_with_its_metadata_and_device() -> None:
    body = heartbeat(0, 2, [{"new": {**META}, "t": "CwsStateChangeEvent", "st": 1, "seq": 0}], ps=100, pj=False)
    decoded = decode(body)
    assert decoded.kind == "content"
    assert decoded.assigned_client_id is None
    assert events_of(decoded) == [
        CdnUpdate(**IDS, seq=1, t_ms=at(1, 2), cdn="AKAMAI"),  # the first change carries rs too
        MetadataUpdate(**IDS, seq=2, t_ms=at(1, 2), content=CONTENT, viewer_id="viewer-vod_full", metadata=METADATA),
        Start(
            **IDS,
            seq=0,  # heartbeat 0 has no lost predecessor: its start takes slot 0, before any event
            t_ms=at(0, 2),
            content=CONTENT,
            device=DEVICE,
            viewer_id="viewer-vod_full",
            metadata=METADATA,
        ),
        Snapshot(**IDS, seq=511, t_ms=RECEIVE, state=None, cdn="AKAMAI"),  # ps 100 says nothing
    ]


def test_urgent_heartbeat_after_the_first_frame() -> None:
    evs = [
        {"new": {"ps": 6}, "old": {"ps": 100}, "t": "CwsStateChangeEvent", "st": 11, "seq": 1},
        {"new": {"br": 1500}, "t": "CwsStateChangeEvent", "st": 16, "seq": 2},
        {"new": {"ps": 3}, "old": {"ps": 6}, "t": "CwsStateChangeEvent", "st": 999, "seq": 3, "pht": 0},
    ]
    body = heartbeat(1, 1208, evs, ps=3, br=1500, pht=0, afps=30, hbinfos=[{"seq": 0, "rtt": 20, "err": "ok"}])
    got = events_of(decode(body))
    assert got == [
        StateChange(**IDS, seq=513, t_ms=RECEIVE - 1197, state=PlayerState.BUFFERING),
        Bitrate(**IDS, seq=514, t_ms=RECEIVE - 1192, bitrate_bps=1_500_000),
        StateChange(**IDS, seq=515, t_ms=RECEIVE - 209, state=PlayerState.PLAYING),
        RepeatedStart(
            **IDS,
            seq=1022,
            t_ms=RECEIVE - 1208,
            content=CONTENT,
            device=DEVICE,
            viewer_id="viewer-vod_full",
            metadata=METADATA,
        ),
        Snapshot(
            **IDS,
            seq=1023,
            t_ms=RECEIVE,
            state=PlayerState.PLAYING,
            bitrate_bps=1_500_000,
            playhead_ms=0,
            fps=30.0,
            cdn="AKAMAI",
        ),
    ]


def test_seek_end_edge_ip_and_cdn_change_arrive_as_partial_updates() -> None:
    evs = [
        {"act": "pse", "t": "CwsSeekEvent", "st": 13499, "seq": 12, "pht": 2000},
        {"new": {"ps": 3}, "old": {"ps": 6}, "t": "CwsStateChangeEvent", "st": 13999, "seq": 13, "pht": 2000},
        {"new": {"csi": "203.0.113.7"}, "t": "CwsStateChangeEvent", "st": 14500, "seq": 14, "pht": 2000},
        {"new": {"rs": "FASTLY"}, "old": {"rs": "AKAMAI"}, "t": "CwsStateChangeEvent", "st": 14501, "seq": 15},
    ]
    body = heartbeat(8, 15214, evs, csi="203.0.113.7", ps=3, br=3000, pht=2000, rs="FASTLY")
    got = events_of(decode(body))
    base = 8 * conviva.SLOTS
    assert got[:4] == [
        SeekEnd(**IDS, seq=base + 1, t_ms=at(13499, 15214)),
        StateChange(**IDS, seq=base + 2, t_ms=at(13999, 15214), state=PlayerState.PLAYING),
        CdnUpdate(**IDS, seq=base + 3, t_ms=at(14500, 15214), cdn=None, edge_server="203.0.113.7"),
        CdnUpdate(**IDS, seq=base + 4, t_ms=at(14501, 15214), cdn="FASTLY", edge_server=None),
    ]
    assert got[-1] == Snapshot(**IDS, seq=base + 511, t_ms=RECEIVE, state=PlayerState.PLAYING, bitrate_bps=3_000_000,
                               playhead_ms=2000, cdn="FASTLY", edge_server="203.0.113.7")  # fmt: skip


def test_an_ad_break_is_not_monitored_time_and_its_pod_events_carry_nothing() -> None:
    evs = [
        {
            "name": "Conviva.PodStart",
            "attr": {"podPosition": "Mid-roll", "podIndex": "1", "podDuration": "30", "adType": "Client Side"},
            "t": "CwsCustomEvent",
            "st": 3000,
            "seq": 4,
        },
        {"new": {"pj": True}, "old": {"pj": False}, "t": "CwsStateChangeEvent", "st": 3000, "seq": 5},
        {"new": {"ps": 98}, "old": {"ps": 3}, "t": "CwsStateChangeEvent", "st": 3000, "seq": 6},
        {"new": {"ps": 100}, "old": {"ps": 98}, "t": "CwsStateChangeEvent", "st": 4000, "seq": 7},
    ]
    got = events_of(decode(heartbeat(2, 4434, evs, ps=100, br=2500, lv=True)))
    base = 2 * conviva.SLOTS
    assert got[:2] == [
        StateChange(**IDS, seq=base + 1, t_ms=at(3000, 4434), state=PlayerState.NOT_MONITORED),
        StateChange(**IDS, seq=base + 2, t_ms=at(4000, 4434), state=PlayerState.NOT_MONITORED),
    ]
    assert got[-1].seq == base + 511
    assert isinstance(got[-1], Snapshot)
    assert got[-1].state is None  # 100: the snapshot says nothing about the state


def test_a_start_failure_ends_in_one_heartbeat() -> None:
    evs = [
        {"new": {"ps": 6}, "old": {"ps": 100}, "t": "CwsStateChangeEvent", "st": 5, "seq": 1},
        {"err": "ENTITLEMENT_DENIED: subscription required", "ft": True, "t": "CwsErrorEvent", "st": 1500, "seq": 2},
        {"new": {"ps": 1}, "old": {"ps": 6}, "t": "CwsStateChangeEvent", "st": 1500, "seq": 3},
        {"seq": 4, "st": 1500, "t": "CwsSessionEndEvent"},
    ]
    got = events_of(decode(heartbeat(1, 1500, evs, ps=1)))
    assert not isinstance(got[-1], Snapshot)  # after the end it would only be a late event
    assert got[:4] == [
        StateChange(**IDS, seq=513, t_ms=RECEIVE - 1495, state=PlayerState.BUFFERING),
        PlayerError(**IDS, seq=514, t_ms=RECEIVE, message="ENTITLEMENT_DENIED: subscription required", fatal=True),
        StateChange(**IDS, seq=515, t_ms=RECEIVE, state=PlayerState.STOPPED),
        End(**IDS, seq=516, t_ms=RECEIVE),
    ]


def test_client_id_zero_is_assigned_and_the_events_carry_it() -> None:
    decoded = decode(heartbeat(0, 2, [], clid="0", ps=100), clid="11.22.33.44")
    assert decoded.assigned_client_id == "11.22.33.44"
    assert {event.client_id for event in events_of(decoded)} == {"11.22.33.44"}
    assert decoded.batch.assigned_client_ids == {str(SID): "11.22.33.44"}


@pytest.mark.parametrize(
    ("fields", "kind"), [({"sf": 0, "tags": {"c3.IPV4IPV6GlobalSession": "T"}}, "probe"), ({"ad": True}, "ad")]
)
def test_probe_and_ad_sessions_yield_no_content_events(fields: dict[str, Any], kind: str) -> None:
    decoded = decode(heartbeat(0, 2, [{"new": {"ps": 3}, "t": "CwsStateChangeEvent", "st": 1, "seq": 0}], **fields))
    assert decoded.kind == kind
    assert decoded.batch.events == []


def test_the_same_heartbeat_decodes_to_the_same_events() -> None:
    body = heartbeat(3, 9000, [{"new": {"ps": 12}, "old": {"ps": 3}, "t": "CwsStateChangeEvent", "st": 8000, "seq": 9}])
    assert events_of(decode(body)) == events_of(decode(body))


def test_a_bad_event_is_rejected_alone() -> None:
    evs = [
        {"t": "CwsStateChangeEvent", "st": "soon", "seq": 1},
        {"t": "CwsStateChangeEvent", "st": 10**12, "seq": 2, "new": {"ps": 3}},
        {"new": {"ps": 3}, "t": "CwsStateChangeEvent", "st": 100, "seq": 3},
        {"t": "CwsBrandNewEvent", "st": 200, "seq": 4},
    ]
    decoded = decode(heartbeat(1, 1000, evs, ps=3))
    assert set(decoded.batch.rejected) == {0, 1}
    assert [type(e) for e in events_of(decoded)] == [StateChange, RepeatedStart, Snapshot]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"not json", "the body is not valid JSON"),
        (b"[1, 2]", "not a Conviva heartbeat"),
        (b'{"cid": "k"}', "not a Conviva heartbeat"),
        (heartbeat(0, 2)[:-1] + b', "sid": "x"}', "not a Conviva heartbeat"),
        (json.dumps({"cid": "k", "sid": 2**40, "seq": 0, "sst": SST, "st": 0}).encode(), "sid must be"),
        (json.dumps({"cid": "k", "sid": 1, "seq": -1, "sst": SST, "st": 0}).encode(), "seq must be"),
        (json.dumps({"cid": "k", "sid": 1, "seq": 0, "sst": -5, "st": 0}).encode(), "sst must be"),
        (b'{"cid": "k", "tags": {"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}}", "nested too deeply"),
    ],
    ids=["not-json", "array", "missing-fields", "sid-type", "sid-range", "seq", "sst", "nested"],
)
def test_what_is_not_a_heartbeat_is_refused(body: bytes, message: str) -> None:
    with pytest.raises(InvalidBatch) as refused:
        conviva.decode_heartbeat(body)
    assert message in refused.value.message


def test_a_bad_client_id_is_refused() -> None:
    with pytest.raises(InvalidBatch, match="clid"):
        decode(heartbeat(0, 2, [], clid="not-an-id"))


def test_internal_events_round_trip_through_the_live_log_encoding() -> None:
    """The live log stores internal events as JSON: the Conviva kinds must decode back identically."""
    decoded = decode(heartbeat(8, 15214, [{"act": "pss", "t": "CwsSeekEvent", "st": 1, "seq": 1}], csi="1.1.1.1"))
    log = msgspec.json.Decoder(Event)
    for event in events_of(decoded):
        assert log.decode(msgspec.json.encode(event)) == event


def test_after_a_lost_heartbeat_a_snapshot_corrects_the_session_where_it_was_built() -> None:
    """The SDK says heartbeat 2 failed: what was in force when it was built (about one interval
    before this one, and before this heartbeat's first event) is the ``old`` side of this
    heartbeat's first changes: playing at 3000 kbps."""
    evs = [
        {"new": {"ps": 12}, "old": {"ps": 3}, "t": "CwsStateChangeEvent", "st": 70_000, "seq": 9},
        {"new": {"br": 1500}, "old": {"br": 3000}, "t": "CwsStateChangeEvent", "st": 71_000, "seq": 10},
    ]
    info = [{"seq": 1, "rtt": 20, "err": "ok"}, {"seq": 2, "rtt": 10000, "err": "HTTP error 500"}]
    got = events_of(decode(heartbeat(3, 75_000, evs, hbinfos=info, ps=12, br=1500)))
    assert got[0] == Snapshot(**IDS, seq=3 * conviva.SLOTS, t_ms=RECEIVE - INTERVAL, state=PlayerState.PLAYING,
                              bitrate_bps=3_000_000)  # fmt: skip
    assert got[1] == StateChange(**IDS, seq=3 * conviva.SLOTS + 1, t_ms=at(70_000, 75_000), state=PlayerState.PAUSED)
    # no earlier than its first event: an interval estimate past it is clamped there
    early = events_of(decode(heartbeat(3, 75_000, [{**evs[0], "st": 50_000}], hbinfos=info, ps=12)))
    assert early[0].t_ms == at(50_000, 75_000) - 1
    # a heartbeat whose predecessor arrived ("ok") or is still in flight ("pending") yields none
    for err in ("ok", "pending"):
        fine = events_of(decode(heartbeat(3, 75_000, evs, hbinfos=[{"seq": 2, "rtt": 5, "err": err}], ps=12)))
        assert fine[0].seq == 3 * conviva.SLOTS + 1
