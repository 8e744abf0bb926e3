"""``reelsight store check``: the contract's smoke checks against any store, for operators.

Each check prints one line; the first failure stops the run. The write checks use an account of
their own (``PROBE_ACCOUNT``, created on first use, never shown data of another): they write one
probe session, read it back by its id, write it again and check that it replaced itself. The
probe session ends now and leaves with the retention like any other.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from reelsight import credentials
from reelsight.errors import NotFoundInStore
from reelsight.ingest.events import Start
from reelsight.query.parse import SessionQuery
from reelsight.query.selection import selection
from reelsight.sessions.context import BusinessRules, Enrichment
from reelsight.sessions.summary import summarize
from reelsight.sessions.timeline import apply, new_state
from reelsight.store.base import Account, Store
from reelsight.store.records import to_record

PROBE_ACCOUNT = "_reelsight_store_check"
PROBE_CLIENT_ID = "0.0.0.1"


class CheckFailed(Exception):
    """A smoke check found the store not doing what the contract says."""


def _probe_account(store: Store) -> Account:
    try:
        return store.get_account(PROBE_ACCOUNT)
    except NotFoundInStore:
        return store.create_account(
            PROBE_ACCOUNT, viewer_module=False, business_error_patterns=(), ingest_key=credentials.new_ingest_key()
        )


def run_checks(store: Store, *, retention_days: int, write: bool, echo: Callable[[str], None]) -> None:
    def timed(what: str, action: Callable[[], str]) -> None:
        t0 = time.perf_counter()
        detail = action()
        echo(f"ok  {what}: {detail} ({(time.perf_counter() - t0) * 1000:.1f} ms)")

    now_ms = time.time_ns() // 1_000_000
    window = selection(SessionQuery(start_ms=now_ms - retention_days * 86_400_000, end_ms=now_ms + 1, limit=1))

    def health() -> str:
        store.check()
        return "answers"

    def accounts() -> str:
        found = store.list_accounts()
        for account in found[:5]:
            store.sample_sessions(account.id, window)
        return f"{len(found)} accounts; a sample read of {min(5, len(found))} of them"

    timed("health", health)
    timed("accounts and sample reads", accounts)
    if not write:
        return
    account = _probe_account(store)
    session_id = str(now_ms)
    state = new_state()
    apply(state, Start(client_id=PROBE_CLIENT_ID, session_id=session_id, seq=0, t_ms=now_ms))
    doc = summarize(
        state,
        client_id=PROBE_CLIENT_ID,
        session_id=session_id,
        enrichment=Enrichment(),
        rules=BusinessRules(()),
        ended_status="By Player",
        end_ms=now_ms,
    )
    record = to_record(doc)
    by_id = selection(SessionQuery(start_ms=window.start_ms, end_ms=window.end_ms, limit=10, session_ids=(session_id,)))

    def write_and_read() -> str:
        store.write_sessions(account.id, [record])
        found = store.sample_sessions(account.id, by_id)
        if [s.doc for s in found] != [record.doc]:
            raise CheckFailed(f"the probe session read back as {len(found)} sessions, not the one written")
        return f"probe session {doc.conviva_session_id} in account {PROBE_ACCOUNT}"

    def replace() -> str:
        store.write_sessions(account.id, [record])
        found = store.sample_sessions(account.id, by_id)
        if len(found) != 1:
            raise CheckFailed(f"writing the probe session again left {len(found)} copies, not 1")
        return "written again, still one session"

    timed("write and read back", write_and_read)
    timed("replace on rewrite", replace)
