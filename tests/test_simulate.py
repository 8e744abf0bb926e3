"""The traffic simulator: deterministic scripts, its own account of them, and the real ingest path
agreeing with that account end to end over HTTP (real clock, vanished players expiring)."""

from __future__ import annotations

import asyncio
import itertools
import os
import random
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import msgspec
import pytest

from reelsight import credentials
from reelsight.clock import FakeClock, SystemClock
from reelsight.demo import prepare_demo, start_demo_traffic
from reelsight.generate.catalogue import DEVICES, NATIVE_APP
from reelsight.ingest.events import AdBreakEnd, AdBreakStart, AdEnd, AdPosition, AdStart, Device, End, Event, Heartbeat
from reelsight.ingest.native import decode_batch, decode_envelope
from reelsight.sessions.context import BusinessRules, Enrichment
from reelsight.sessions.enrich.device import UserAgentParser
from reelsight.sessions.summary import summarize
from reelsight.sessions.timeline import apply, new_state
from reelsight.settings import Settings
from reelsight.simulate import BUSINESS_ERROR_PATTERNS, Expectation, Pacing, Scenario, run_simulation
from reelsight.simulate.expect import fold
from reelsight.simulate.identity import browser_user_agent, new_viewers
from reelsight.simulate.player import player_rng, session_plan
from reelsight.simulate.scenarios import SCENARIO_WEIGHTS, ScenarioMix
from reelsight.simulate.script import Ending, Script, Step, blank
from reelsight.simulate.transport import Counters, RetryPolicy, SimulationAborted, Transport
from reelsight.store.sqlite import SqliteStore
from tests.conftest import PATH, Credentials, LiveServer

AD_PATH = "/insights/3.0/sessions/ad"

T0_MS = 1_795_176_000_000
EQUAL_MIX = dict.fromkeys(Scenario, 1.0)


def scripts(seed: int, count: int, *, viewers: int = 6, pacing: Pacing | None = None) -> Iterator[Script]:
    """``count`` scripts over a few viewers, as their players would play them."""
    _population, people = new_viewers(random.Random(seed), viewers, assigned_share=0.3)
    plans = [session_plan(player_rng(seed, i), v, pacing or Pacing(), ScenarioMix()) for i, v in enumerate(people)]
    for plan in itertools.islice(itertools.cycle(plans), count):
        yield next(plan)[0]


def served_by_sessionizer(steps: list[Step]) -> dict[str, Any]:
    """The server's pure fold and summary over ``steps`` at their exact scripted times."""
    state = new_state()
    for seq, step in enumerate(steps):
        apply(
            state,
            msgspec.structs.replace(step.event, client_id="1.2.3.4", session_id="5", seq=seq, t_ms=T0_MS + step.at_ms),
        )
    vanished = not isinstance(steps[-1].event, End)
    doc = summarize(
        state,
        client_id="1.2.3.4",
        session_id="5",
        enrichment=Enrichment(),
        rules=BusinessRules(BUSINESS_ERROR_PATTERNS),
        ended_status="By Expiration" if vanished else "By Player",
        end_ms=T0_MS + steps[-1].at_ms,
    )
    served: dict[str, Any] = msgspec.to_builtins(doc)
    return served


# -- scripting ----------------------------------------------------------------------------------


def test_scripts_are_deterministic_for_a_seed() -> None:
    first = list(scripts(7, 60))
    assert first == list(scripts(7, 60))
    assert first != list(scripts(8, 60))


def test_every_scenario_appears_in_about_its_share() -> None:
    counts = Counter(s.scenario for s in scripts(3, 3000))
    total = sum(SCENARIO_WEIGHTS.values())
    for scenario, weight in SCENARIO_WEIGHTS.items():
        assert abs(counts[scenario] / 3000 - weight / total) < 0.025, (scenario, counts)


def test_each_scenario_scripts_what_it_says() -> None:
    seen: Counter[str] = Counter()
    for script in scripts(11, 1500):
        o = fold(list(script.content_steps))
        kind = script.scenario
        assert (script.ending is Ending.VANISH) == (kind is Scenario.VANISH)
        assert o.ended_by_player == (kind is not Scenario.VANISH)
        assert o.start_failure == (kind is Scenario.START_FAILURE)
        assert o.playback_failure == (kind is Scenario.PLAYBACK_FAILURE)
        if kind is Scenario.EXIT_BEFORE_START:
            assert o.exit_before_start
        if kind not in (Scenario.START_FAILURE, Scenario.EXIT_BEFORE_START, Scenario.VANISH):
            assert o.joined
            assert o.playing_ms > 0
            assert o.startup_ms > 0
        seen.update(
            name
            for name, flag in {
                "rebuffering": o.connection_induced_rebuffering_ms > 0,
                "seek": o.seeks > 0 and o.seek_rebuffering_ms > 0,
                "pause": o.paused_ms > 0,
                "switch": o.bitrate_switches > 0,
                "preroll": o.ad_ms > 0 and o.joined,
                "business": o.business,
                "tech failure": (o.start_failure or o.playback_failure) and not o.business,
                "vanished before joining": not o.ended_by_player and not o.joined,
                "vanished after joining": not o.ended_by_player and o.joined,
                "warning": any(not fatal for _message, fatal in o.errors),
                "cdn switch": len(o.cdns) > 1,
                "playhead": o.last_playhead_ms >= 0,
                "live": script.content.is_live is True,
            }.items()
            if flag
        )
        assert (kind is Scenario.SEEKS) == (o.seeks > 0)
        assert (kind is Scenario.PAUSES) == (o.paused_ms > 0)
    assert len(seen) == 13, seen


def test_an_open_session_is_never_silent_longer_than_the_heartbeat() -> None:
    pacing = Pacing.quick()
    for script in scripts(5, 800, pacing=pacing):
        gaps = [b.at_ms - a.at_ms for a, b in itertools.pairwise(script.content_steps)]
        assert max(gaps, default=0) <= pacing.heartbeat_s * 1000
        ad_gaps = [b.at_ms - a.at_ms for a, b in itertools.pairwise(script.ad_steps)]
        assert max(ad_gaps, default=0) <= pacing.ad_s[1] * 1000  # an ad is shorter than the timeout
        assert script.steps[0].at_ms == 0


def test_the_simulators_account_equals_the_sessionizers_at_exact_times() -> None:
    """With no scheduling jitter, what the simulator expects is exactly what the server computes,
    for whole scripts and for scripts cut short by the end of a run."""
    rng = random.Random(1)
    for script in scripts(21, 1500):
        steps = list(script.content_steps)
        cases = [steps]
        if len(steps) > 2:
            cut = rng.randrange(1, len(steps) - 1)
            cases.append([*steps[:cut], Step(steps[cut - 1].at_ms + rng.randrange(500), blank(End))])
        for played in cases:
            o, doc = fold(played), served_by_sessionizer(played)
            status, m = doc["status_info"], doc["lifetime_metrics"]
            assert status["ended_status"] == o.ended_status
            assert status["is_video_start_failure"] == o.start_failure
            assert status["is_video_start_failure_business"] == (o.start_failure and o.business)
            assert status["is_exit_before_video_start"] == o.exit_before_start
            assert status["is_video_playback_failure"] == o.playback_failure
            assert status["is_video_playback_failure_business"] == (o.playback_failure and o.business)
            assert [(e["message"], e["is_fatal"]) for e in status["errors"]] == list(o.errors)
            assert m["video_start_time_ms"] == o.startup_ms
            assert m["playing_time_ms"] == o.playing_ms
            assert m["rebuffering_time_ms"] == o.rebuffering_ms
            assert m["connection_induced_rebuffering_time_ms"] == o.connection_induced_rebuffering_ms
            assert m["paused_time_ms"] == o.paused_ms
            assert m["video_restart_time_ms"] == o.restart_ms
            assert m["bitrate_switches_count"] == o.bitrate_switches
            assert m["average_peak_bitrate_bps"] == o.average_bitrate_bps
            assert m["average_framerate_fps"] == o.average_fps
            assert m["last_play_head_time_ms"] == o.last_playhead_ms
            assert doc["timestamps"]["end"]["epoch_ms"] - doc["timestamps"]["start"]["epoch_ms"] == o.duration_ms
            assert (doc["network_info"]["cdn"], doc["network_info"]["last_cdn_edge_server"]) == (
                list(o.cdns),
                o.last_edge_server,
            )


def ad_event(event: Event, *, content_session_id: str, **ids: Any) -> Event:
    if isinstance(event, AdStart):
        event = msgspec.structs.replace(event, content_session_id=content_session_id)
    return msgspec.structs.replace(event, client_id="1.2.3.4", **ids)


def test_a_preroll_is_an_ad_break_holding_one_ad_session() -> None:
    """The content session's pre-roll is an ad break; inside it, the ad session starts, plays and
    ends (or ends with the content when the viewer leaves during it), as the sessionizer computes."""
    with_ads = 0
    for script in scripts(13, 600):
        ad_steps = script.ad_steps
        kinds = [type(step.event) for step in script.content_steps]
        if not ad_steps:
            assert AdBreakStart not in kinds
            continue
        with_ads += 1
        assert kinds.count(AdBreakStart) == 1
        first, last = ad_steps[0], ad_steps[-1]
        assert isinstance(first.event, AdStart)
        assert first.event.ad.position is AdPosition.PRE
        assert isinstance(last.event, End)
        ad_events = [ad_event(s.event, content_session_id="7", session_id="8", seq=i, t_ms=T0_MS + s.at_ms)
                     for i, s in enumerate(ad_steps)]  # fmt: skip
        state = new_state()
        for event in ad_events:
            apply(state, event)
        assert state.metadata["content_session_id"] == "7"
        assert state.metadata["ad_position"] == "Pre-roll"
        if isinstance(last.event, AdEnd):
            assert state.joined
            assert AdBreakEnd in kinds
    assert with_ads > 50


def test_scripted_events_are_valid_protocol_events() -> None:
    events = [
        msgspec.structs.replace(step.event, client_id="1.2.3.4", session_id=str(n), seq=i, t_ms=T0_MS + step.at_ms)
        for n, script in enumerate(scripts(9, 300))
        for i, step in enumerate(script.content_steps)
    ]
    events += [
        ad_event(step.event, session_id=str(10_000 + n), content_session_id=str(n), seq=i, t_ms=T0_MS + step.at_ms)
        for n, script in enumerate(scripts(9, 300))
        for i, step in enumerate(script.ad_steps)
    ]
    body = msgspec.json.encode({"v": 1, "ingest_key": "ik_x", "sent_at_ms": T0_MS, "events": events})
    decoded = decode_batch(
        decode_envelope(body, max_events=len(events)), receive_ms=T0_MS, new_client_id=lambda: "9.9.9.9"
    )
    assert decoded.rejected == {}
    assert len(decoded.events) == len(events)
    assert any(isinstance(e, Heartbeat) for e in events)


# -- end to end over HTTP -----------------------------------------------------------------------


def add_sim_account(store: SqliteStore) -> Credentials:
    """Like ``conftest.add_account(store, "sim", viewer_module=True)``, with the business-error
    patterns the simulator's business messages match (the demo account has the same)."""
    account = store.create_account(
        "sim",
        viewer_module=True,
        ad_insights=True,
        business_error_patterns=BUSINESS_ERROR_PATTERNS,
        ingest_key=credentials.new_ingest_key(),
    )
    key_id, secret = credentials.new_key_id(), credentials.new_secret()
    store.add_api_key(account.id, key_id, credentials.hash_secret(secret))
    return Credentials(account, key_id, secret)


def wait_for_all(
    client: httpx.Client, creds: Credentials, ids: set[str], timeout_s: float, path: str = PATH
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        r = client.get(path, auth=creds.auth, params={"limit": 1500})
        assert r.status_code == 200, r.text
        served = {s["conviva_session_id"]: s for s in r.json()["sessions"]}
        if ids <= served.keys() or time.monotonic() > deadline:
            return served
        time.sleep(0.2)


def close_to(served: int | float, expected: int | float, *, fraction: float = 0.1, slack: float = 300) -> bool:
    """Within scheduling jitter: ``fraction`` of the expected value or ``slack`` absolute."""
    return abs(served - expected) <= max(slack, fraction * abs(expected))


def check_session(served: dict[str, Any], e: Expectation) -> None:
    o = e.outcome
    # Scheduling jitter: the simulator's own lateness and the batches' transit (clock-skew correction).
    slack = 300 + e.schedule_slip_ms + e.transport_delay_ms
    status, m = served["status_info"], served["lifetime_metrics"]
    assert status["ended_status"] == o.ended_status
    assert status["is_exit_before_video_start"] == o.exit_before_start
    assert status["is_video_start_failure"] == o.start_failure
    assert status["is_video_start_failure_business"] == (o.start_failure and o.business)
    assert status["is_video_start_failure_tech"] == (o.start_failure and not o.business)
    assert status["is_video_playback_failure"] == o.playback_failure
    assert status["is_video_playback_failure_business"] == (o.playback_failure and o.business)
    assert status["is_video_playback_failure_tech"] == (o.playback_failure and not o.business)
    assert [(x["message"], x["is_fatal"]) for x in status["errors"]] == list(o.errors)
    if o.joined:
        assert close_to(m["video_start_time_ms"], o.startup_ms, slack=slack)
    else:
        assert m["video_start_time_ms"] == -3000
    for field, expected in (
        ("playing_time_ms", o.playing_ms),
        ("rebuffering_time_ms", o.rebuffering_ms),
        ("connection_induced_rebuffering_time_ms", o.connection_induced_rebuffering_ms),
        ("paused_time_ms", o.paused_ms),
        ("video_restart_time_ms", o.restart_ms),
    ):
        assert close_to(m[field], expected, slack=slack), (field, m[field], expected)
    duration_ms = served["timestamps"]["end"]["epoch_ms"] - served["timestamps"]["start"]["epoch_ms"]
    assert close_to(duration_ms, o.duration_ms, slack=slack)
    assert m["bitrate_switches_count"] == o.bitrate_switches
    # Playing-time-weighted means: the same 300 ms of jitter weighs more in a short session.
    fraction = max(0.05, slack / o.playing_ms) if o.playing_ms else 0.0
    assert close_to(m["average_peak_bitrate_bps"], o.average_bitrate_bps, fraction=fraction, slack=0)
    assert close_to(m["average_framerate_fps"], o.average_fps, fraction=fraction, slack=0)
    assert m["last_play_head_time_ms"] == o.last_playhead_ms
    net = served["network_info"]
    assert (net["cdn"], net["last_cdn_edge_server"], net["last_cdn_group_id"]) == (
        list(o.cdns),
        o.last_edge_server,
        o.last_group_id,
    )
    content = served["content_info"]
    assert (content["asset"], content["length_ms"], content["stream_url"]) == (
        e.content.asset,
        e.content.length_ms,
        e.content.stream_url,
    )
    assert content["category"] == ("Live" if e.content.is_live else "VoD")
    assert served["viewer_id"] == e.viewer_id
    assert served["tags"]["custom_tags"] == e.custom_tags
    dims = served["tags"]["selected_dimensions"]
    assert {k: dims[k] for k in e.dimensions} == e.dimensions
    check_device(served, e)


def check_device(served: dict[str, Any], e: Expectation) -> None:
    info, dims = served["device_info"], served["tags"]["selected_dimensions"]
    d = e.actual_device
    assert info == {
        "browser": {"name": d.browser_name or "Native App", "version": d.browser_version or "Native App"},
        "name": d.name,
        "os": d.os,
        "os_family": d.os_family,
        "os_version": d.os_version,
    }
    if e.user_agent:  # a browser: the server parsed the User-Agent, which does not name the model
        assert e.device == Device()
        return
    assert e.device == d
    assert (dims["device_hardware_type"], dims["device_manufacturer"], dims["device_model"]) == (
        d.hardware_type,
        d.manufacturer,
        d.model,
    )
    assert dims["device_marketing_name"] == d.marketing_name


def test_served_sessions_agree_with_what_the_simulator_did(db_path: str, store: SqliteStore) -> None:
    creds = add_sim_account(store)
    pacing = Pacing.quick()
    # Four heartbeats: on a loaded machine a batch can arrive over a second late, and a session that
    # expired before its last report would be served without it.
    settings = Settings(db=db_path, session_timeout_s=round(4 * pacing.heartbeat_s))
    with LiveServer(settings, store, SystemClock()) as live, httpx.Client(base_url=live.url, timeout=10) as client:
        report = asyncio.run(
            run_simulation(
                live.url,
                creds.account.ingest_key,
                viewers=10,
                duration_s=8,
                seed=4,
                pacing=pacing,
                mix=EQUAL_MIX,
                max_connections=8,
            )
        )
        expected = {e.conviva_session_id: e for e in report.expectations}
        served = wait_for_all(client, creds, set(expected), timeout_s=25)
        ads = {e.ad_session_id: e for e in report.expectations if e.ad_session_id}
        ad_ids = {f"{e.client_id}.{a}" for a, e in ads.items()}
        served_ads = wait_for_all(client, creds, ad_ids, 15, AD_PATH)
    assert ads, "no pre-roll in the run"
    assert served_ads.keys() == ad_ids  # every ad session ended and is served, none on the content path
    for ad in served_ads.values():
        content = ads[ad["session_id"]]
        assert ad["tags"]["selected_dimensions"]["content_session_id"] == content.session_id
        assert ad["tags"]["selected_dimensions"]["ad_position"] == "Pre-roll"
        assert ad["client_id"] == content.client_id
    assert len(expected) == report.sessions == len(report.expectations)
    assert served.keys() == expected.keys()
    for session_id, expectation in expected.items():
        check_session(served[session_id], expectation)
    outcomes = report.outcomes
    for kind in ("vanished", "start failure", "exit before start", "playback failure", "joined"):
        assert outcomes[kind] >= 1, (kind, outcomes)
    assert outcomes["client id assigned by the server"] >= 1
    assert any(e.outcome.business for e in expected.values())
    assert any(not e.user_agent for e in expected.values())
    assert any(e.user_agent for e in expected.values())
    counters = report.counters
    assert counters.failed_batches == counters.retries == 0
    assert counters.statuses.keys() == {"accepted"}
    assert counters.events == sum(e.events + e.ad_events for e in expected.values())


def test_a_refused_ingest_key_aborts_the_run(db_path: str, store: SqliteStore) -> None:

    with LiveServer(Settings(db=db_path), store, SystemClock()) as live, pytest.raises(SimulationAborted):
        asyncio.run(run_simulation(live.url, "ik_nope", viewers=2, duration_s=2, pacing=Pacing.quick()))


def test_the_cli_runs_and_prints_its_summary(db_path: str, store: SqliteStore) -> None:
    creds = add_sim_account(store)
    with LiveServer(Settings(db=db_path), store, SystemClock()) as live:
        args = ["--url", live.url, "--ingest-key", creds.account.ingest_key, "--viewers", "4", "--duration", "3"]
        r = subprocess.run(
            [sys.executable, "-m", "reelsight.cli", "simulate", *args, "--seed", "2", "--playback-s", "1", "2"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            env=os.environ.copy(),
        )
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "Simulated 4 viewers for 3." in out
    assert "sessions: " in out
    assert all(s.value in out for s in Scenario)
    assert "batches: " in out
    assert " 0 failed" in out
    assert "events/s" in out


def test_demo_traffic_runs_in_the_background_until_stopped(db_path: str, store: SqliteStore) -> None:

    lines: list[str] = []
    with LiveServer(Settings(db=db_path), store, SystemClock()) as live:
        settings = Settings(db=db_path, host="127.0.0.1", port=live.port)
        key_id, secret = prepare_demo(store, settings, count=5, seed=1, echo=lines.append)
        traffic = start_demo_traffic(store, settings, viewers=3, seed=2, echo=lines.append)
        time.sleep(2)
        traffic.stop(timeout_s=20)
        assert traffic.error is None
        report = traffic.report
        assert report is not None
        ended = report.outcomes["ended by player"]
        assert ended >= 3
        with httpx.Client(base_url=live.url) as client:
            deadline = time.monotonic() + 10
            while True:
                sessions = client.get(PATH, auth=(key_id, secret), params={"limit": 1500}).json()["sessions"]
                simulated = [s for s in sessions if "sim_scenario" in s["tags"]["custom_tags"]]
                if len(simulated) >= ended or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
    assert len(simulated) == ended
    assert report.expectations == []  # a long-running demo keeps no per-session records
    assert any(live.url in line for line in lines)


def test_browser_user_agents_parse_to_the_browser_they_claim() -> None:

    parser = UserAgentParser()
    for profile in (p for p in DEVICES if p.browser != NATIVE_APP):
        for version, _weight in profile.browser_versions:
            fields = parser.device_fields(Device(), browser_user_agent(profile.browser, version))
            assert (fields.browser_name, fields.browser_version) == (profile.browser, version)
            assert (fields.name, fields.os, fields.os_family) == (profile.name, profile.os, profile.os_family)
            assert fields.os_version == profile.os_versions[0][0]


def test_a_replayed_seed_plays_the_same_devices_under_fresh_client_ids() -> None:
    _p, first = new_viewers(random.Random(5), 8, assigned_share=0.3)
    _p, again = new_viewers(random.Random(5), 8, assigned_share=0.3)
    assert [v.actual_device for v in first] == [v.actual_device for v in again]
    assert [v.reports_client_id for v in first] == [v.reports_client_id for v in again]
    assert not {v.client.client_id for v in first} & {v.client.client_id for v in again}


def test_a_batch_is_retried_with_its_seqs_and_a_fresh_send_time() -> None:

    clock = FakeClock(T0_MS)
    bodies: list[dict[str, Any]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        bodies.append(msgspec.json.decode(request.content))
        clock.advance(1)
        if len(bodies) == 1:
            raise httpx.ConnectError("refused", request=request)
        if len(bodies) == 2:
            return httpx.Response(503, json={"code": "unavailable"})
        results = [{"index": i, "status": "accepted"} for i in range(2)]
        return httpx.Response(202, json={"results": results, "client_ids": {"7": "1.2.3.4"}})

    async def send() -> dict[str, str] | None:
        async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as client:
            transport = Transport(client, "http://sim", "ik_x", clock, counters, RetryPolicy(backoff_s=0.001))
            events: list[Event] = [
                Heartbeat(client_id="1.2.3.4", session_id="7", seq=0, t_ms=T0_MS - 100),
                End(client_id="1.2.3.4", session_id="7", seq=1, t_ms=T0_MS - 100),
            ]
            return await transport.send(events)

    counters = Counters()
    assert asyncio.run(send()) == {"7": "1.2.3.4"}
    assert len(bodies) == 3
    assert all(b["events"] == bodies[0]["events"] for b in bodies)
    assert [b["sent_at_ms"] for b in bodies] == [T0_MS, T0_MS + 1000, T0_MS + 2000]
    assert (counters.retries, counters.batches, counters.events, counters.failed_batches) == (2, 1, 2, 0)
    assert counters.http_errors == {"ConnectError": 1, "503": 1}
    assert counters.statuses == {"accepted": 2}
