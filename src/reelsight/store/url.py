"""Store URLs: which backend holds the accounts and the ended sessions, and how to reach it.

- ``sqlite:///path/to/file.db`` (the default, from ``--db``): the embedded store;
- ``clickhouse://user:password@host:8123/database`` (``clickhouses://`` or ``https://`` for TLS): a
  ClickHouse server through its HTTP interface;
- ``chdb:///path/to/dir`` (``?database=name``, default ``reelsight``): the same engine in-process
  through clickhouse-connect's chDB client (tests, a single-node columnar store; one path per process).

The ClickHouse backends need the extra ``reelsight[clickhouse]``. :func:`redacted` is the form that
may appear in messages and logs: never the password.
"""

from __future__ import annotations

import dataclasses
import re
import urllib.parse
from typing import Any

from reelsight.errors import BadStoreUrl, StorageFailure
from reelsight.store.base import Store

SCHEMES = ("sqlite", "clickhouse", "clickhouses", "https", "chdb")
_DATABASE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
DEFAULT_DATABASE = "reelsight"


@dataclasses.dataclass(frozen=True)
class StoreUrl:
    scheme: str
    path: str = ""  # sqlite file or chdb directory
    host: str = ""
    port: int = 8123
    username: str = "default"
    password: str = dataclasses.field(default="", repr=False)
    database: str = DEFAULT_DATABASE
    cluster: str | None = None  # clickhouse://...?cluster=NAME: a sharded, replicated database

    @property
    def is_sqlite(self) -> bool:
        return self.scheme == "sqlite"


def sqlite_url(path: str) -> str:
    return "sqlite:///" + path.removeprefix("/") if path.startswith("/") else "sqlite:" + path


def parse_store_url(url: str) -> StoreUrl:
    """The parts of a store URL, or :class:`BadStoreUrl` saying what is wrong (without the password)."""
    parts = urllib.parse.urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise BadStoreUrl(f"a store URL starts with one of {', '.join(s + '://' for s in SCHEMES)}: {redacted(url)}")
    query = dict(urllib.parse.parse_qsl(parts.query))
    if scheme == "sqlite":
        path = parts.path if parts.netloc == "" else parts.netloc + parts.path
        path = path[1:] if path.startswith("//") else path
        if not path:
            raise BadStoreUrl("sqlite:///PATH names the database file")
        return StoreUrl("sqlite", path=path)
    if scheme == "chdb":
        database = query.get("database", DEFAULT_DATABASE)
        if not parts.path:
            raise BadStoreUrl("chdb:///PATH names the directory of the in-process engine")
        return StoreUrl("chdb", path=parts.path, database=_check_database(database))
    if not parts.hostname:
        raise BadStoreUrl(f"a ClickHouse URL names a host: {redacted(url)}")
    try:
        port = parts.port or (8443 if scheme != "clickhouse" else 8123)
    except ValueError:
        raise BadStoreUrl(f"the port is not a number: {redacted(url)}") from None
    return StoreUrl(
        "https" if scheme in ("https", "clickhouses") else "http",
        host=parts.hostname,
        port=port,
        username=urllib.parse.unquote(parts.username or "default"),
        password=urllib.parse.unquote(parts.password or ""),
        database=_check_database(parts.path.strip("/") or DEFAULT_DATABASE),
        cluster=_check_database(query["cluster"]) if "cluster" in query else None,
    )


def _check_database(name: str) -> str:
    """A database or cluster name: an identifier (it is written into DDL)."""
    if not _DATABASE.fullmatch(name):
        raise BadStoreUrl(f"a database or cluster name is letters, digits and _ (at most 64), not {name!r}")
    return name


def redacted(url: str) -> str:
    """The URL with any password replaced by ``***``."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(":" + parts.password + "@", ":***@", 1)
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


def open_clickhouse(url: StoreUrl, *, read_timeout_s: float, retention_days: int) -> Store:
    """A ClickHouse store (server or chDB), its database created if missing and migrated."""
    try:
        import clickhouse_connect  # an optional extra
        from clickhouse_connect.driver.exceptions import ClickHouseError

        from reelsight.store.clickhouse.store import ClickHouseStore
    except ImportError:
        raise BadStoreUrl("the ClickHouse store needs the extra: pip install 'reelsight[clickhouse]'") from None

    def client(database: str | None) -> Any:
        if url.scheme == "chdb":
            return clickhouse_connect.get_client(interface="chdb", path=url.path, database=database)
        return clickhouse_connect.get_client(
            interface=url.scheme,
            host=url.host,
            port=url.port,
            username=url.username,
            password=url.password,
            database=database,
            connect_timeout=10,
            send_receive_timeout=max(30, int(read_timeout_s) + 5),
            autogenerate_session_id=False,
        )

    where = f"chdb:{url.path}" if url.scheme == "chdb" else f"{url.scheme}://{url.host}:{url.port}"
    describe = f"ClickHouse at {where}, database {url.database}"
    try:
        if url.cluster is None:  # a cluster's database comes with its DDL
            client(None).command(f"CREATE DATABASE IF NOT EXISTS {url.database}")  # a checked identifier
        store_client = client(url.database)
    except ClickHouseError as exc:
        raise StorageFailure(f"{describe} could not be opened: {exc}") from exc
    return ClickHouseStore(
        store_client,
        describe=describe,
        read_timeout_s=read_timeout_s,
        retention_days=retention_days,
        cluster=url.cluster,
    )


def store_url_of(store: str, db: str) -> str:
    """The store URL in force: the ``store`` setting, or the SQLite file ``db``."""
    return store or sqlite_url(db)
