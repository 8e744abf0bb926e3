"""Shared fixtures: a real SQLite file, a real uvicorn server on loopback, accounts with credentials."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import clickhouse_connect
import httpx
import pytest
import uvicorn
from hypothesis import settings as hypothesis_settings

from reelsight import credentials
from reelsight.clock import Clock, FakeClock
from reelsight.sessions.enrich import Enricher
from reelsight.settings import Settings
from reelsight.store.base import Account, Store
from reelsight.store.clickhouse.store import ClickHouseStore
from reelsight.store.sqlite import SqliteStore
from reelsight.store.sqlite.live_log import SqliteLiveLog
from reelsight.store.sqlite.outbox import Outbox
from reelsight.store.url import StoreUrl, open_clickhouse
from reelsight.web.app import create_app
from reelsight.web.server import server_config

# CI runs the property tests derandomized, so a red build is reproducible and never luck; local runs
# keep exploring new examples (and hypothesis remembers the failing ones).
hypothesis_settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    hypothesis_settings.load_profile("ci")

# 2026-11-20T12:00:00Z: a fixed "now" for the served API.
NOW_MS = 1_795_176_000_000
PATH = "/insights/3.0/sessions/content"


@dataclasses.dataclass
class Credentials:
    account: Account
    key_id: str
    secret: str

    @property
    def auth(self) -> tuple[str, str]:
        return (self.key_id, self.secret)


def add_account(store: Store, name: str, *, viewer_module: bool = False, ad_insights: bool = False) -> Credentials:
    account = store.create_account(
        name,
        viewer_module=viewer_module,
        business_error_patterns=(),
        ingest_key=credentials.new_ingest_key(),
        ad_insights=ad_insights,
    )
    key_id, secret = credentials.new_key_id(), credentials.new_secret()
    store.add_api_key(account.id, key_id, credentials.hash_secret(secret))
    return Credentials(account, key_id, secret)


class LiveServer:
    """The real app served by uvicorn on 127.0.0.1 in a background thread. On a store that is not
    SQLite, the live log is the SQLite file ``settings.db`` with its outbox, as ``reelsight serve`` has it."""

    def __init__(self, settings: Settings, store: Store, clock: Clock, enricher: Enricher | None = None) -> None:
        self.local: SqliteStore | None = None
        if isinstance(store, SqliteStore):
            live_log = SqliteLiveLog(store)
        else:
            self.local = SqliteStore(settings.db, readers=2)
            live_log = SqliteLiveLog(self.local, Outbox(self.local, store))
        self.app = create_app(settings, store, live_log, enricher or Enricher("", ""), clock, live_log.outbox)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)  # so asyncio sets TCP_NODELAY
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        self._sock = sock
        self._server = uvicorn.Server(server_config(self.app, settings, log_level="warning"))
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.run(self._server.serve(sockets=[self._sock]))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> LiveServer:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *_exc: object) -> None:
        self._server.should_exit = True
        self._thread.join(10)
        self._sock.close()
        if self.local is not None:
            self.local.close()


@pytest.fixture
def db_path(tmp_path: Path) -> str:
    return str(tmp_path / "reelsight.db")


BACKENDS = ("sqlite", "chdb")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A test marked ``all_backends`` that uses the store runs once per backend."""
    if metafunc.definition.get_closest_marker("all_backends") and "store" in metafunc.fixturenames:
        metafunc.parametrize("store", BACKENDS, indirect=True)


CLUSTER = "reelsight"  # the cluster the engine's configuration names (tests/test_clickhouse_cluster.py)
# chDB listens on no port, but a replica at the default TCP port of this host is this process: the
# cluster's one shard is local, so Distributed tables read and write this engine's own tables.
_ENGINE_CONFIG = f"""<clickhouse>
  <tcp_port>9000</tcp_port>
  <remote_servers>
    <{CLUSTER}><shard><replica><host>127.0.0.1</host><port>9000</port></replica></shard></{CLUSTER}>
  </remote_servers>
</clickhouse>
"""


@pytest.fixture(scope="session")
def chdb_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The in-process ClickHouse engine's directory: chDB allows one per process, so every test's
    store is a database of its own in it. The engine starts with a configuration that defines a
    one-node :data:`CLUSTER`; later clients on the directory share the running engine."""
    base = tmp_path_factory.mktemp("chdb")
    config = base / "config.xml"
    config.write_text(_ENGINE_CONFIG)
    path = str(base / "engine")
    engine = clickhouse_connect.get_client(interface="chdb", path=path, chdb_options={"config-file": str(config)})
    yield path
    engine.close()


def open_chdb_store(chdb_dir: str) -> ClickHouseStore:
    url = StoreUrl("chdb", path=chdb_dir, database="t" + uuid.uuid4().hex[:16])
    # The tests' clock is fixed in the past and ClickHouse's TTL runs on the real clock: a retention
    # of ten years keeps the TTL from removing their sessions (the purge itself is tested by its call).
    opened = open_clickhouse(url, read_timeout_s=10, retention_days=3650)
    assert isinstance(opened, ClickHouseStore)
    return opened


@pytest.fixture(scope="session")
def shared_chdb_store(chdb_dir: str) -> Iterator[ClickHouseStore]:
    """One migrated ClickHouse database for the run (creating one costs ~2 s): emptied per test."""
    s = open_chdb_store(chdb_dir)
    yield s
    s.close()


@pytest.fixture
def store(request: pytest.FixtureRequest, db_path: str) -> Iterator[Store]:
    """The SQLite store (the default), or ClickHouse through chDB for tests marked ``all_backends``."""
    if getattr(request, "param", "sqlite") == "sqlite":
        s = SqliteStore(db_path, readers=2)
        yield s
        s.close()
    else:
        shared: ClickHouseStore = request.getfixturevalue("shared_chdb_store")
        shared.truncate()
        yield shared


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW_MS)


@pytest.fixture
def settings(db_path: str) -> Settings:
    return Settings(db=db_path)


@pytest.fixture
def server(settings: Settings, store: Store, clock: FakeClock) -> Iterator[LiveServer]:
    with LiveServer(settings, store, clock) as live:
        yield live


@pytest.fixture
def client(server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as c:
        yield c


@pytest.fixture
def acme(store: Store) -> Credentials:
    return add_account(store, "acme")
