"""The embedded store: one SQLite file in WAL mode, one writer, a pool of time-limited readers."""

from reelsight.store.sqlite.store import SqliteStore

__all__ = ["SqliteStore"]
