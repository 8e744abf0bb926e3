"""The narrow store interface every backend implements, and the records it hands out.

Reads of sessions take an ``account_id`` and refuse anything that is not one real account id
(:class:`~reelsight.errors.UnscopedRead`): there is no way to ask for "all accounts".
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from typing import Protocol

from reelsight.aggregates.inputs import Sums
from reelsight.errors import UnscopedRead
from reelsight.query.aggregates import AggregateQuery
from reelsight.query.selection import Selection, SessionKind
from reelsight.query.viewer import ViewerQuery
from reelsight.store.records import SessionRecord


@dataclasses.dataclass(frozen=True)
class Account:
    id: int
    name: str
    viewer_module: bool
    business_error_patterns: tuple[str, ...]
    ingest_key: str
    created_ms: int
    ip_privacy: str = "full"  # "full", "truncate" or "drop": how the client address is stored
    ad_insights: bool = False  # may read ad sessions (``GET /insights/3.0/sessions/ad``)


IP_PRIVACY_MODES = ("full", "truncate", "drop")


@dataclasses.dataclass(frozen=True)
class ApiKey:
    key_id: str
    account_id: int
    secret_hash: str
    disabled: bool
    created_ms: int


@dataclasses.dataclass(frozen=True, slots=True)
class StoredSession:
    """One sampled session as the store returns it: enough to answer without rebuilding JSON."""

    conviva_session_id: str
    end_ms: int
    doc: bytes
    viewer_split: int
    viewer_id: str


@dataclasses.dataclass(frozen=True, slots=True)
class AggregateRow:
    """The sums of one bucket (its index from the query's origin) and group (``""`` without a group-by)."""

    bucket: int
    group: str
    sums: Sums  # in ``aggregates.inputs.SUM_FIELDS`` order


@dataclasses.dataclass(frozen=True, slots=True)
class StoredTimeline:
    """One ended session's stored timeline, with its document (without ``viewer_id``): the timeline
    refers to the document's error messages and CDN names. ``timeline`` is None for a session stored
    without one (imported, or written before timelines were kept)."""

    conviva_session_id: str
    doc: bytes
    timeline: bytes | None


class AccountStore(Protocol):
    """Accounts, API keys and ingest keys: read on every request (a disabled key stops at once)."""

    def create_account(
        self,
        name: str,
        *,
        viewer_module: bool,
        business_error_patterns: Sequence[str],
        ingest_key: str,
        ip_privacy: str = "full",
        ad_insights: bool = False,
    ) -> Account: ...
    def set_permissions(
        self, account_id: int, *, viewer_module: bool | None = None, ad_insights: bool | None = None
    ) -> Account:
        """Grant or revoke an account's permissions (``None`` leaves one as it is); effective at once on
        every node (accounts are read on every request). ``NotFoundInStore`` for an unknown id."""
        ...

    def find_account_by_ingest_key(self, ingest_key: str) -> Account | None: ...
    def get_account(self, name: str) -> Account: ...
    def get_account_by_id(self, account_id: int) -> Account: ...
    def list_accounts(self) -> list[Account]: ...
    def add_api_key(self, account_id: int, key_id: str, secret_hash: str) -> ApiKey: ...
    def find_api_key(self, key_id: str) -> tuple[ApiKey, Account] | None: ...
    def list_api_keys(self, account_id: int) -> list[ApiKey]: ...
    def disable_api_key(self, key_id: str) -> None: ...


class SessionStore(Protocol):
    """Ended sessions: written idempotently (a session replaces the account's session with the same
    ``conviva_session_id``), sampled from a backend-neutral :class:`Selection`."""

    def write_sessions(self, account_id: int, records: Iterable[SessionRecord]) -> int: ...
    def sample_sessions(self, account_id: int, query: Selection) -> list[StoredSession]:
        """The ``limit`` matching sessions of ``query.kind`` (content or ad) with the smallest sample
        keys, newest end first."""
        ...

    def viewer_sessions(self, account_id: int, query: ViewerQuery) -> list[StoredSession]:
        """The ``limit`` newest ended content sessions of one viewer id or client address in the window.
        Fast whatever the window holds: read from a lookup kept up at write time."""
        ...

    def tag_keys(self, account_id: int, since_ms: int, limit: int) -> list[str]:
        """The custom tag keys of the account's sessions that ended at or after ``since_ms``: the
        ``limit`` alphabetically first, sorted. A key stays listed while such a session had it, even if
        that session was later rewritten without it. Cheap: read from a small per-account key table
        kept up at write time, never from the sessions."""
        ...

    def aggregate(self, account_id: int, query: AggregateQuery) -> list[AggregateRow]:
        """The sums of the ended content sessions the query selects, one row per non-empty bucket and
        group (in no particular order). Never a pass over documents: from integer inputs kept at write time."""
        ...

    def session_timeline(self, account_id: int, kind: SessionKind, conviva_session_id: str) -> StoredTimeline | None:
        """The ended session of ``kind`` (content or ad) with this id in this account, with its timeline;
        None when the account has no such ended session. One primary-key lookup."""
        ...

    def purge_ended_before(self, cutoff_ms: int) -> int: ...


class Store(AccountStore, SessionStore, Protocol):
    """What one store URL opens: both roles, and its health."""

    def check(self) -> None:
        """Raise ``StorageFailure`` when the store can no longer be trusted to keep what it is given."""
        ...

    def close(self) -> None: ...


def require_account_scope(account_id: object) -> int:
    """The account id a session read is scoped to, or :class:`UnscopedRead`."""
    if type(account_id) is not int or account_id <= 0:
        raise UnscopedRead(f"session reads must be scoped to one account id, got {account_id!r}")
    return account_id
