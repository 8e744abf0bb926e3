"""``serve`` with several HTTP processes (``http_processes`` = 2) as real processes: ingest over every
protocol reaches the one coordinator (sessions ended once, counters of every process together), the
read budgets are shared, a killed HTTP process is replaced, SIGTERM keeps the live sessions for a
restart, the setting's bounds, and health when the store file is lost."""

from __future__ import annotations

import concurrent.futures
import contextlib
import glob
import os
import signal
import socket
import sqlite3
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from reelsight.ingest import cmcd
from reelsight.processes import wire
from reelsight.store.sqlite import SqliteStore
from tests.conftest import PATH, Credentials, add_account
from tests.test_cli import CLI, free_port, run
from tests.test_conviva_gateway import CLID, change, hb

PROCESSES = 2
INGEST = "/ingest/v1/events"
GATEWAY = "/0/wsg"
ENV = {
    "REELSIGHT_GEOIP_CITY_DB": "",
    "REELSIGHT_GEOIP_ASN_DB": "",
    "REELSIGHT_HTTP_PROCESSES": str(PROCESSES),
    "REELSIGHT_HTTP_KEEP_ALIVE_S": "60",  # the tests' connections stay with the process that accepted them
}


# -- the server and its processes --------------------------------------------------------------


class Server:
    """``reelsight serve`` with ``PROCESSES`` HTTP processes; its log goes to a file."""

    def __init__(self, db: str, log: Path, *, port: int | None = None, env: dict[str, str] | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log
        self._log = log.open("ab")
        self.clients: list[httpx.Client] = []  # closed with the server
        self.proc = subprocess.Popen(
            [*CLI, "--db", db, "serve", "--port", str(self.port)],
            env={**os.environ, **ENV, **(env or {})},
            stdout=subprocess.DEVNULL,
            stderr=self._log,
        )

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_up(self, deadline_s: float = 60) -> Server:
        """Healthy, with all its HTTP processes started."""
        deadline = time.monotonic() + deadline_s
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"the server exited with {self.proc.returncode}:\n{self.log}"
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(self.url + "/healthz", timeout=2).status_code == 200 and len(self.children()) == PROCESSES:
                    return self
            time.sleep(0.1)
        raise AssertionError(f"the server did not come up:\n{self.log}")

    def children(self) -> list[int]:
        """The pids of the HTTP processes (not multiprocessing's resource tracker)."""
        return http_children(self.proc.pid)

    def owner(self, response: httpx.Response) -> int | None:
        """The pid of the HTTP process holding the connection ``response`` came over."""
        client_port = response.extensions["network_stream"].get_extra_info("client_addr")[1]
        return next((pid for pid in self.children() if client_port in client_ports(pid, self.port)), None)

    def client(self) -> httpx.Client:
        client = httpx.Client(base_url=self.url, timeout=30)
        self.clients.append(client)
        return client

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 20) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout_s)
        self._log.close()
        for client in self.clients:
            client.close()
        return self.proc.returncode


@contextlib.contextmanager
def serving(db: str, log: Path, **kwargs: Any) -> Iterator[Server]:
    server = Server(db, log, **kwargs)
    children: list[int] = []
    try:
        server.wait_up()
        children = server.children()
        yield server
    finally:
        if server.proc.poll() is None:
            children += server.children()
        server.stop(signal.SIGKILL)
        wait_for(lambda: not any(alive(pid) for pid in children), 10, "the HTTP processes stop with their coordinator")


def http_children(pid: int) -> list[int]:
    found: list[int] = []
    for children in glob.glob(f"/proc/{pid}/task/*/children"):
        with contextlib.suppress(OSError), open(children) as f:
            found += [int(child) for child in f.read().split()]
    return sorted(child for child in found if b"spawn_main" in _cmdline(child))


def _cmdline(pid: int) -> bytes:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read()
    except OSError:
        return b""


def alive(pid: int) -> bool:
    """Running (a zombie, dead but not yet reaped by its parent, is not)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    for fd in glob.glob(f"/proc/{pid}/fd/*"):
        with contextlib.suppress(OSError):
            link = os.readlink(fd)
            if link.startswith("socket:["):
                inodes.add(link[len("socket:[") : -1])
    return inodes


def client_ports(pid: int, port: int) -> set[int]:
    """The client ports of the established connections to ``port`` that process ``pid`` holds."""
    inodes = _socket_inodes(pid)
    ports = set()
    with contextlib.suppress(OSError), open(f"/proc/{pid}/net/tcp") as f:
        for line in f.read().splitlines()[1:]:
            fields = line.split()
            local, remote, state, inode = fields[1], fields[2], fields[3], fields[9]
            if state == "01" and int(local.split(":")[1], 16) == port and inode in inodes:
                ports.add(int(remote.split(":")[1], 16))
    return ports


def clients_on_every_process(
    server: Server, per_process: int, timeout_s: float = 30.0
) -> list[tuple[httpx.Client, int]]:
    """Kept-alive connections (one ``httpx.Client`` each), ``per_process`` on every HTTP process, with
    the pid that holds each. The kernel hands each new connection to whichever process accepts first,
    and one that is still starting accepts none: a connection to a process that already has its share
    is closed, and the next one tried a moment later, until ``timeout_s``."""
    kept: list[tuple[httpx.Client, int]] = []
    owners: list[int] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        client = server.client()
        owner = server.owner(client.get("/healthz"))
        assert owner is not None
        owners.append(owner)
        if sum(1 for _c, o in kept if o == owner) < per_process:
            kept.append((client, owner))
        else:
            client.close()
            time.sleep(0.05)
        held = [sum(1 for _c, o in kept if o == pid) for pid in server.children()]
        if len(held) == PROCESSES and min(held) >= per_process:
            return kept
    raise AssertionError(f"the kernel gave connections to one HTTP process only: {owners[-32:]}")


def now_ms() -> int:
    return int(time.time() * 1000)


def wait_for(predicate: Callable[[], object], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, f"not within {timeout_s} s: {what}"
        time.sleep(0.05)


def metrics(url: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    text = httpx.get(url + "/metrics").text
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def metric(name: str, **labels: str) -> tuple[str, frozenset[tuple[str, str]]]:
    return (name, frozenset(labels.items()))


def eventually_metrics(url: str, expected: dict[tuple[str, frozenset[tuple[str, str]]], float]) -> None:
    """The counters reach ``expected`` (another HTTP process's counts arrive up to 50 ms late)."""
    seen: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}

    def reached() -> bool:
        nonlocal seen
        current = metrics(url)
        seen = {key: current.get(key, 0.0) for key in expected}
        return seen == expected

    deadline = time.monotonic() + 5
    while not reached():
        assert time.monotonic() < deadline, f"metrics {seen} != {expected}"
        time.sleep(0.05)


def sqlite_counts(db: str) -> tuple[int, int]:
    with sqlite3.connect(db) as conn:
        return (
            conn.execute("SELECT count(*) FROM sessions").fetchone()[0],
            conn.execute("SELECT count(*) FROM live_sessions").fetchone()[0],
        )


@pytest.fixture
def acme(db_path: str) -> Credentials:
    store = SqliteStore(db_path)
    try:
        return add_account(store, "acme", viewer_module=True)
    finally:
        store.close()


# -- native ingest ------------------------------------------------------------------------------


def native_batch(creds: Credentials, session: int, batch: int, t0: int, *, end_at: int) -> dict[str, Any]:
    """Batch ``batch`` of ``session``: a start or heartbeat, a state change and a marker error; the
    end in batch ``end_at``."""
    ids = {"client_id": "7.7.7.7", "session_id": str(session)}
    t = t0 + batch * 1000
    seq = batch * 4
    first: dict[str, Any] = {"type": "heartbeat"}
    if batch == 0:
        first = {"type": "start", "content": {"asset": "A", "is_live": False}}
    events: list[dict[str, Any]] = [
        {**first, **ids, "seq": seq, "t_ms": t},
        {"type": "state", **ids, "seq": seq + 1, "t_ms": t + 10, "state": "playing" if batch % 2 else "buffering"},
        {"type": "error", **ids, "seq": seq + 2, "t_ms": t + 20, "message": f"mark-{batch}", "fatal": False},
    ]
    if batch == end_at:
        events.append({"type": "end", **ids, "seq": seq + 3, "t_ms": t + 30})
    return {"v": 1, "ingest_key": creds.account.ingest_key, "sent_at_ms": now_ms(), "events": events}


def post_native(client: httpx.Client, body: dict[str, Any]) -> list[str]:
    body["sent_at_ms"] = now_ms()
    r = client.post(INGEST, json=body)
    assert r.status_code == 202, r.text
    return [result["status"] for result in r.json()["results"]]


def served(url: str, creds: Credentials, **params: str) -> list[dict[str, Any]]:
    r = httpx.get(url + PATH, auth=creds.auth, params={"limit": "1500", **params})
    assert r.status_code == 200, r.text
    sessions: list[dict[str, Any]] = r.json()["sessions"]
    return sessions


def marks(session: dict[str, Any]) -> list[str]:
    return [e["message"] for e in session["status_info"]["errors"]]


SESSIONS = 40
BATCHES = 4


def test_native_ingest_over_connections_to_every_process_ends_each_session_once(
    db_path: str, tmp_path: Path, acme: Credentials
) -> None:
    with serving(db_path, tmp_path / "server.log") as server:
        clients = clients_on_every_process(server, 4)
        t0 = now_ms() - 30_000
        mine = {i: [s for s in range(SESSIONS) if s % len(clients) == i] for i in range(len(clients))}

        def send(i: int, batches: range) -> list[str]:
            client = clients[i][0]
            return [
                status
                for batch in batches
                for s in mine[i]
                for status in post_native(client, native_batch(acme, s, batch, t0, end_at=BATCHES - 1))
            ]

        with concurrent.futures.ThreadPoolExecutor(len(clients)) as pool:
            first = list(pool.map(send, mine, [range(2)] * len(mine)))
            assert [status for part in first for status in part] == ["accepted"] * SESSIONS * 2 * 3
            # every session's first batch again, over a connection of the other process where there is one
            for s in range(SESSIONS):
                owner = clients[s % len(clients)][1]
                other = next((c for c, o in clients if o != owner), clients[0][0])
                assert post_native(other, native_batch(acme, s, 0, t0, end_at=BATCHES - 1)) == ["duplicate"] * 3
            statuses = list(pool.map(send, mine, [range(2, BATCHES)] * len(mine)))
        assert [status for part in statuses for status in part] == ["accepted"] * SESSIONS * (2 * 3 + 1)

        sessions = served(server.url, acme)
        assert len(sessions) == SESSIONS
        assert sorted(int(s["session_id"]) for s in sessions) == list(range(SESSIONS))  # each exactly once
        for session in sessions:
            assert marks(session) == [f"mark-{b}" for b in range(BATCHES)], session["session_id"]
            assert session["status_info"]["ended_status"] == "By Player"
        eventually_metrics(
            server.url,
            {
                metric("reelsight_ingest_events_total", outcome="accepted"): SESSIONS * (BATCHES * 3 + 1),
                metric("reelsight_ingest_events_total", outcome="duplicate"): SESSIONS * 3,
                metric("reelsight_ingest_events_total", outcome="late"): 0,
                metric("reelsight_ingest_events_total", outcome="rejected"): 0,
                metric("reelsight_sessions_ended_total", ended_status="By Player"): SESSIONS,
                metric("reelsight_sessions_ended_total", ended_status="By Expiration"): 0,
                metric("reelsight_live_sessions"): 0,
            },
        )
        assert sqlite_counts(db_path) == (SESSIONS, 0)
    assert "Traceback" not in server.log


# -- the Conviva gateway and the CMCD collector -------------------------------------------------


def heartbeat(creds: Credentials, seq: int, sst: int, evs: list[dict[str, Any]], **fields: Any) -> dict[str, Any]:
    """A heartbeat built now: its ``st`` is the time since ``sst`` on this machine's clock."""
    return hb(creds, seq, now_ms() - sst, evs, sst=sst, **fields)


def conviva_heartbeat(creds: Credentials, n: int, sst: int) -> dict[str, Any]:
    """Heartbeat ``n`` of a session (client id ``CLID``, started at ``sst``): its start and first
    frame, a 200 ms stall, a bitrate switch and the end. The timed changes of each are in one
    heartbeat, so the metrics are exact whatever the delays between heartbeats.

    The gateway places a heartbeat's events by its own age (``st``), and the session starts at the
    earliest start placed: the later heartbeats say they were built 2 s before they are sent, so
    their repeated starts fall after the first one's, whatever its delay."""
    if n == 0:
        evs = [change(0, 1, an="Film"), change(1, 10, ps=6), change(2, 15, br=1500), change(3, 1000, ps=3)]
        return heartbeat(creds, 0, sst, evs, ps=3, br=1500)
    st_ms = now_ms() - sst - 2000
    if n == 1:
        evs = [change(4, st_ms - 300, ps=6), change(5, st_ms - 100, ps=3)]
        return hb(creds, 1, st_ms, evs, sst=sst, ps=3, br=1500)
    end = {"t": "CwsSessionEndEvent", "st": st_ms - 100, "seq": 8}
    return hb(creds, 2, st_ms, [change(6, st_ms - 300, br=3000), change(7, st_ms - 100, ps=1), end], sst=sst, ps=1)


def cmcd_session(sid: str, t0: int) -> list[str]:
    """hls.js-like (as ``test_cmcd.a_session``, at ``t0``): start, startup buffering, playing, a
    rendition change, a pause, a stall, the end, and one line after it."""
    base = f'cid="film",sid="{sid}",st=v,v=2'
    return [
        f"{base},e=ps,sn=0,sta=s,ts={t0}",
        f"{base},br=(800),e=ps,sn=1,sta=r,ts={t0 + 300}",
        f"{base},br=(800),e=ps,sn=2,sta=p,ts={t0 + 1200}",
        f"{base},br=(2002),e=bc,sn=3,sta=p,ts={t0 + 3000}",
        f"{base},e=ps,sn=4,sta=a,ts={t0 + 4000}",
        f"{base},e=ps,sn=5,sta=p,ts={t0 + 6000}",
        f"{base},e=ps,sn=6,sta=r,ts={t0 + 7000}",
        f"{base},e=ps,sn=7,sta=p,ts={t0 + 8500}",
        f"{base},e=ps,sn=8,sta=e,ts={t0 + 9500}",
        f"{base},e=t,sn=9,sta=e,ts={t0 + 9600}",
    ]


def test_conviva_and_cmcd_sessions_reported_through_both_processes(
    db_path: str, tmp_path: Path, acme: Credentials
) -> None:
    with serving(db_path, tmp_path / "server.log") as server:
        clients = clients_on_every_process(server, 1)
        by_process = [next(c for c, o in clients if o == pid) for pid in server.children()]

        def over(n: int) -> httpx.Client:
            """The connection of process ``n % PROCESSES``: consecutive reports alternate processes."""
            return by_process[n % PROCESSES]

        # A probe with client id "0" gets the same id from either process.
        sst = now_ms() - 2000
        probes = [over(n).post(GATEWAY, json=heartbeat(acme, 0, sst, [], clid="0", sid=7, sf=0)) for n in range(2)]
        assert [r.status_code for r in probes] == [200, 200]
        assert probes[0].json()["clid"] == probes[1].json()["clid"] != "0"

        # Three heartbeats of one session, alternating processes.
        for n in range(3):
            if n:
                time.sleep(0.6)  # each heartbeat's changes come after the previous one's receipt
            r = over(n).post(GATEWAY, json=conviva_heartbeat(acme, n, sst))
            assert r.status_code == 200, r.text
            assert r.json() == {"err": "ok", "cfg": {"hbi": 20}}

        # A CMCD session, one line per post, out of order, alternating processes.
        sid = str(uuid.uuid4())
        t0 = now_ms() - 20_000
        lines = cmcd_session(sid, t0)
        for n, i in enumerate([1, 0, 3, 2, 4, 6, 5, 7, 8, 9]):
            r = over(n).post(
                f"/ingest/cmcd/v2?key={acme.account.ingest_key}",
                content=(lines[i] + "\n").encode(),
                headers={"content-type": "application/cmcd"},
            )
            assert r.status_code == 204, r.text

        (conviva_session,) = served(server.url, acme, client_id=CLID)
        assert conviva_session["session_id"] == "42"
        assert conviva_session["viewer_id"] == "viewer-1"
        assert conviva_session["status_info"]["ended_status"] == "By Player"
        assert conviva_session["network_info"]["cdn"] == ["AKAMAI"]
        assert conviva_session["tags"]["custom_tags"] == {"tier": "gold"}
        conviva_metrics = conviva_session["lifetime_metrics"]
        assert conviva_metrics["video_start_time_ms"] == 1000
        assert conviva_metrics["rebuffering_time_ms"] == 200
        assert conviva_metrics["bitrate_switches_count"] == 1

        (cmcd_one,) = served(server.url, acme, client_id=cmcd.session_identity(sid)[0])
        assert cmcd_one["status_info"]["ended_status"] == "By Player"
        assert cmcd_one["content_info"]["asset"] == "film"
        m = cmcd_one["lifetime_metrics"]
        assert m["video_start_time_ms"] == 1200
        assert m["playing_time_ms"] == (4000 - 1200) + (7000 - 6000) + (9500 - 8500)
        assert m["paused_time_ms"] == 2000
        assert m["rebuffering_time_ms"] == 1500
        assert m["bitrate_switches_count"] == 1
        assert cmcd_one["timestamps"]["end"]["epoch_ms"] == t0 + 9500

        assert len(served(server.url, acme)) == 2  # the probe stored nothing
        eventually_metrics(
            server.url,
            {
                metric("reelsight_ingest_requests_total", protocol="conviva", outcome="probe"): 2,
                metric("reelsight_ingest_requests_total", protocol="conviva", outcome="content"): 3,
                metric("reelsight_ingest_requests_total", protocol="cmcd", outcome="stored"): 10,
                metric("reelsight_sessions_ended_total", ended_status="By Player"): 2,
                metric("reelsight_live_sessions"): 0,
            },
        )
    assert "Traceback" not in server.log


# -- the read budgets, kept by the coordinator for every process ---------------------------------


def alternating(clients: list[tuple[httpx.Client, int]], pids: list[int]) -> list[httpx.Client]:
    """The connections in turn of process: one of the first, one of the second, ..."""
    queues = [[c for c, o in clients if o == pid] for pid in pids]
    return [c for round_ in zip(*queues, strict=False) for c in round_]


def assert_rate_limited(r: httpx.Response, message: str) -> None:
    assert r.status_code == 429, r.text
    assert r.json() == {"message": message, "code": "rate_limited"}


LIMIT = 5


def test_the_per_ip_window_is_one_budget_for_every_process(db_path: str, tmp_path: Path, acme: Credentials) -> None:
    env = {"REELSIGHT_RATE_LIMIT_IP_REQUESTS": str(LIMIT), "REELSIGHT_RATE_LIMIT_IP_WINDOW_S": "300"}
    with serving(db_path, tmp_path / "server.log", env=env) as server:
        clients = clients_on_every_process(server, 4)
        turns = alternating(clients, server.children())[: LIMIT + 3]
        answers = [c.get(PATH, auth=acme.auth) for c in turns]  # processes A, B, A, B, A: the limit; then B, A, B
        assert [r.status_code for r in answers] == [200] * LIMIT + [429] * 3
        for r in answers[LIMIT:]:
            assert_rate_limited(r, f"more than {LIMIT} requests in 300 s from this address")
            assert 0 < int(r.headers["retry-after"]) <= 300
        # a fresh connection (to whichever process) is limited too; health is not a read
        with httpx.Client(base_url=server.url) as fresh:
            assert fresh.get(PATH, auth=acme.auth).status_code == 429
            assert fresh.get("/healthz").status_code == 200
    assert "Traceback" not in server.log


def coordinator_link(pid: int) -> str:
    """The path of the Unix socket coordinator ``pid`` listens on for its HTTP processes."""
    inodes = _socket_inodes(pid)
    with open("/proc/net/unix") as f:
        for line in f.read().splitlines()[1:]:
            fields = line.split()
            if len(fields) == 8 and fields[6] in inodes and fields[7].endswith("/coordinator.sock"):
                return fields[7]
    raise AssertionError(f"coordinator {pid} listens on no coordinator.sock")


class FakeHttpProcess:
    """One more link to the coordinator, as an HTTP process has it: here it holds read slots."""

    def __init__(self, path: str) -> None:
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.settimeout(10)
        self._sock.connect(path)
        self._splitter = wire.FrameSplitter()
        self._next_id = 0

    def enter(self, account_id: int) -> wire.ToHttp:
        self._next_id += 1
        self._sock.sendall(wire.frame(wire.Enter(self._next_id, account_id)))
        while True:
            data = self._sock.recv(65536)
            assert data, "the coordinator closed the link"
            bodies = self._splitter.feed(data)
            if bodies:
                (body,) = bodies
                answer: wire.ToHttp = wire.to_http.decode(body)
                assert answer.id == self._next_id
                return answer

    def leave(self, account_id: int) -> None:
        self._sock.sendall(wire.frame(wire.Leave(account_id)))

    def close(self) -> None:
        self._sock.close()


def test_the_account_in_flight_cap_is_one_budget_for_every_process(
    db_path: str, tmp_path: Path, acme: Credentials
) -> None:
    store = SqliteStore(db_path)
    other = add_account(store, "other")
    store.close()
    with serving(db_path, tmp_path / "server.log", env={"REELSIGHT_RATE_LIMIT_ACCOUNT_IN_FLIGHT": "1"}) as server:
        clients = clients_on_every_process(server, 1)
        by_process = [next(c for c, o in clients if o == pid) for pid in server.children()]
        # Reads one after another, alternating processes: each one's slot is given back.
        assert [by_process[n % PROCESSES].get(PATH, auth=acme.auth).status_code for n in range(6)] == [200] * 6

        with contextlib.closing(FakeHttpProcess(coordinator_link(server.proc.pid))) as holder:
            assert holder.enter(acme.account.id) == wire.Done(1)  # the one slot, taken by a third "process"
            assert holder.enter(acme.account.id) == wire.Limited(2, "more than 1 requests of this account in flight", 1)
            for client in by_process:  # every HTTP process refuses the account's next read
                r = client.get(PATH, auth=acme.auth)
                assert_rate_limited(r, "more than 1 requests of this account in flight")
                assert r.headers["retry-after"] == "1"
                assert client.get(PATH, auth=other.auth).status_code == 200  # other accounts are not affected
            holder.leave(acme.account.id)
            wait_for(lambda: by_process[0].get(PATH, auth=acme.auth).status_code == 200, 5, "the slot is given back")
            assert by_process[1].get(PATH, auth=acme.auth).status_code == 200

            # An HTTP process gives a slot back just after its answer leaves (a frame of its own), so
            # the holder may ask a moment before that frame arrives: it gets the slot within the moment.
            wait_for(lambda: isinstance(holder.enter(acme.account.id), wire.Done), 5, "the holder takes the slot")
            assert by_process[1].get(PATH, auth=acme.auth).status_code == 429
            holder.close()  # a link that closes gives back the slots it held
            wait_for(lambda: by_process[1].get(PATH, auth=acme.auth).status_code == 200, 5, "the link's slot is freed")
            assert by_process[0].get(PATH, auth=acme.auth).status_code == 200
    assert "Traceback" not in server.log


# -- a dead HTTP process, SIGTERM and a restart ---------------------------------------------------


def test_a_killed_http_process_is_replaced_and_the_server_keeps_answering(
    db_path: str, tmp_path: Path, acme: Credentials
) -> None:
    with serving(db_path, tmp_path / "server.log") as server:
        t0 = now_ms() - 10_000
        victim, survivor = server.children()
        clients = clients_on_every_process(server, 1)
        on_victim = next(c for c, o in clients if o == victim)
        assert post_native(on_victim, native_batch(acme, 1, 0, t0, end_at=2)) == ["accepted"] * 3
        os.kill(victim, signal.SIGKILL)
        killed = time.monotonic()
        wait_for(lambda: not alive(victim), 5, "the victim dies")
        # meanwhile the other process answers everything
        for _ in range(5):
            assert httpx.get(server.url + "/healthz").json() == {"status": "ok"}
        with httpx.Client(base_url=server.url) as meanwhile:
            assert post_native(meanwhile, native_batch(acme, 1, 1, t0, end_at=2)) == ["accepted"] * 3
        wait_for(lambda: len(server.children()) == PROCESSES and victim not in server.children(), 5, "a new process")
        took = time.monotonic() - killed
        (replacement,) = set(server.children()) - {survivor}
        # the replacement serves on the shared socket: connections reach it, and ingest through it works
        on_replacement: httpx.Client | None = None
        for _ in range(64):
            candidate = server.client()
            r = candidate.get("/healthz")
            if r.status_code == 200 and server.owner(r) == replacement:
                on_replacement = candidate
                break
        assert on_replacement is not None, "no connection reached the replacement process"
        assert post_native(on_replacement, native_batch(acme, 1, 2, t0, end_at=2)) == ["accepted"] * 4
        assert on_replacement.get(PATH, auth=acme.auth).status_code == 200
        (session,) = served(server.url, acme)
        assert marks(session) == ["mark-0", "mark-1", "mark-2"]
        assert session["status_info"]["ended_status"] == "By Player"
        assert sqlite_counts(db_path) == (1, 0)
        log = server.log
    assert took < 5
    assert f"(pid {victim}) exited with -9; starting another" in log
    assert "Traceback" not in log


GRACE_S = 2


def test_sigterm_stops_every_process_and_a_restart_continues_the_live_sessions(
    db_path: str, tmp_path: Path, acme: Credentials
) -> None:
    env = {"REELSIGHT_SHUTDOWN_GRACE_S": str(GRACE_S)}
    t0 = now_ms() - 10_000
    live = 6
    server = Server(db_path, tmp_path / "first.log", env=env).wait_up()
    try:
        children = server.children()
        clients = clients_on_every_process(server, 2)
        for s in range(live):
            client = clients[s % len(clients)][0]
            for batch in range(2):
                assert post_native(client, native_batch(acme, s, batch, t0, end_at=2)) == ["accepted"] * 3
        started = time.monotonic()
        returncode = server.stop(signal.SIGTERM, timeout_s=GRACE_S + 10)  # kept-alive idle connections open
        took = time.monotonic() - started
    finally:
        server.stop(signal.SIGKILL)
    assert returncode == -signal.SIGTERM, server.log  # a clean stop, then the signal re-raised, as in one process
    assert took < GRACE_S + 5
    assert not any(alive(pid) for pid in children)
    assert sqlite_counts(db_path) == (0, live)  # the live sessions are in the log, none was ended
    assert "Traceback" not in server.log

    with serving(db_path, tmp_path / "second.log", port=server.port, env=env) as again:
        for s in range(live):
            with httpx.Client(base_url=again.url) as client:  # new connections: either process
                assert post_native(client, native_batch(acme, s, 2, t0, end_at=2)) == ["accepted"] * 4
        sessions = served(again.url, acme)
        assert sorted(int(s["session_id"]) for s in sessions) == list(range(live))
        for session in sessions:
            assert marks(session) == ["mark-0", "mark-1", "mark-2"], session["session_id"]
            assert session["status_info"]["ended_status"] == "By Player"
        eventually_metrics(
            again.url,
            {
                metric("reelsight_ingest_events_total", outcome="accepted"): live * 4,
                metric("reelsight_sessions_ended_total", ended_status="By Player"): live,
                metric("reelsight_live_sessions"): 0,
            },
        )
        assert sqlite_counts(db_path) == (live, 0)
    assert "Traceback" not in again.log


SLOW_START_S = 3
SLOW_START = f"""import sys, time
if sys.argv[:1] == ["-c"]:  # multiprocessing's fresh interpreters, not the CLI (-m)
    time.sleep({SLOW_START_S})
"""


def test_recovered_sessions_get_their_timeout_from_when_the_http_processes_serve(
    db_path: str, tmp_path: Path, acme: Credentials
) -> None:
    """A restart gives every live session a full timeout to be heard again, counted from when its
    players can reach the server, not from when the coordinator read the log: here the HTTP
    processes take longer than the timeout to start, as on a busy machine."""
    env = {"REELSIGHT_SESSION_TIMEOUT_S": "2"}
    t0 = now_ms()
    with serving(db_path, tmp_path / "first.log", env=env) as first, httpx.Client(base_url=first.url) as c:
        assert post_native(c, native_batch(acme, 1, 0, t0, end_at=1)) == ["accepted"] * 3
    assert sqlite_counts(db_path) == (0, 1)
    slow = tmp_path / "slow"
    slow.mkdir()
    (slow / "sitecustomize.py").write_text(SLOW_START)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(slow), os.environ.get("PYTHONPATH")) if p)
    with serving(db_path, tmp_path / "second.log", env=env) as second, httpx.Client(base_url=second.url) as c:
        assert post_native(c, native_batch(acme, 1, 1, t0, end_at=1)) == ["accepted"] * 4
        (session,) = served(second.url, acme)
        assert marks(session) == ["mark-0", "mark-1"]
        assert session["status_info"]["ended_status"] == "By Player"


# -- the setting's bounds, and health -------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "args", "env", "message"),
    [
        ("serve", ["--http-processes", "0"], {}, "http_processes must be 1 to 64, got 0"),
        ("serve", [], {"REELSIGHT_HTTP_PROCESSES": "65"}, "http_processes must be 1 to 64, got 65"),
        ("demo", ["--http-processes", "65"], {}, "http_processes must be 1 to 64, got 65"),
        ("serve", ["--store", "chdb://{tmp}/chdb"], {}, "http_processes > 1 needs a store every process can open"),
    ],
    ids=["zero", "65-from-env", "65-demo", "chdb"],
)
def test_http_processes_out_of_range_or_with_chdb_is_a_usage_error(
    tmp_path: Path, command: str, args: list[str], env: dict[str, str], message: str
) -> None:
    db = str(tmp_path / "r.db")
    port = free_port()
    args = [arg.replace("{tmp}", str(tmp_path)) for arg in args]
    r = run(*args, "--db", db, command, "--port", str(port), env={**ENV, **env})  # ENV: 2 processes
    assert r.returncode == 2, r.stderr
    assert f"Error: {message}" in r.stderr
    assert "Traceback" not in r.stderr
    assert not os.path.exists(db)  # refused before anything was opened
    assert not os.path.exists(tmp_path / "chdb")
    with socket.create_server(("127.0.0.1", port)):  # and nothing listens
        pass


def test_health_is_503_on_every_process_once_the_store_file_is_deleted(
    db_path: str, tmp_path: Path, acme: Credentials
) -> None:
    with serving(db_path, tmp_path / "server.log") as server:
        clients = clients_on_every_process(server, 1)
        for client, _owner in clients:
            r = client.get("/healthz")
            assert (r.status_code, r.json()) == (200, {"status": "ok"})
        with httpx.Client(base_url=server.url) as c:
            assert post_native(c, native_batch(acme, 1, 0, now_ms(), end_at=1)) == ["accepted"] * 3
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(db_path + suffix)
        wait_for(lambda: httpx.get(server.url + "/healthz").status_code == 503, 5, "the lost file is noticed")
        for client, _owner in clients:  # every process answers from the coordinator's verdict
            r = client.get("/healthz")
            assert r.status_code == 503
            assert r.json()["code"] == "unavailable"
            assert f"{db_path} was deleted" in r.json()["message"]
            answer = client.post(INGEST, json=native_batch(acme, 1, 1, now_ms(), end_at=1))
            assert answer.status_code == 503
            assert answer.json()["code"] == "unavailable"
        log = server.log
    assert f"{db_path} was deleted" in log
    assert "Traceback" not in log
