"""Opening the stores a command needs, from the settings: one place that knows the deployments.

- SQLite (the default): one file holds accounts, ended sessions and the live-session log; the log
  writes ended sessions straight into the sessions table, in the commit that ends them.
- ClickHouse (``store`` is a ``clickhouse://`` or ``chdb://`` URL): accounts, keys and ended sessions
  live there, shared by every node; the SQLite file ``db`` keeps only this node's live-session log
  and the outbox through which its ended sessions drain into ClickHouse.
"""

from __future__ import annotations

import dataclasses

from reelsight.settings import Settings
from reelsight.store.base import Store
from reelsight.store.sqlite import SqliteStore
from reelsight.store.sqlite.live_log import SqliteLiveLog
from reelsight.store.sqlite.outbox import Outbox
from reelsight.store.url import open_clickhouse, parse_store_url, store_url_of


@dataclasses.dataclass
class OpenStores:
    main: Store  # accounts, keys, ended sessions
    local: SqliteStore | None  # the live log's own file, when it is not ``main``

    def live_log(self) -> SqliteLiveLog:
        if self.local is None:
            assert isinstance(self.main, SqliteStore)
            return SqliteLiveLog(self.main)
        return SqliteLiveLog(self.local, Outbox(self.local, self.main))

    def close(self) -> None:
        if self.local is not None:
            self.local.close()
        self.main.close()


def open_stores(settings: Settings, *, owner: str | None = None, live_log: bool = False) -> OpenStores:
    """The main store of the settings; with ``live_log`` (serve, demo) also this node's log file,
    which ``owner`` claims for the process. Raises ``BadStoreUrl``, ``StoreInUse``, ``StorageFailure``."""
    url = parse_store_url(store_url_of(settings.store, settings.db))

    def sqlite(path: str, owner: str | None) -> SqliteStore:
        return SqliteStore(
            path,
            readers=settings.reader_threads,
            read_timeout_s=settings.query_timeout_ms / 1000,
            owner=owner,
            synchronous=settings.sqlite_synchronous,
        )

    if url.is_sqlite:
        return OpenStores(sqlite(url.path, owner), None)
    if settings.store_password:
        url = dataclasses.replace(url, password=settings.store_password)
    main = open_clickhouse(url, read_timeout_s=settings.query_timeout_ms / 1000, retention_days=settings.retention_days)
    if not live_log:
        return OpenStores(main, None)
    try:
        return OpenStores(main, sqlite(settings.db, owner))
    except BaseException:
        main.close()
        raise
