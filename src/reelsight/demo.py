"""The demo: an account with fresh credentials and realistic sessions of the last 31 days."""

from __future__ import annotations

import time
from collections.abc import Callable

from reelsight import credentials
from reelsight.clock import SystemClock
from reelsight.errors import NotFoundInStore
from reelsight.generate.sessions import generate_sessions
from reelsight.settings import Settings
from reelsight.store.base import SessionStore
from reelsight.store.records import to_record
from reelsight.web.sessions_route import PATH

DEMO_ACCOUNT = "demo"


def prepare_demo(
    store: SessionStore, settings: Settings, *, count: int, seed: int, echo: Callable[[str], None]
) -> tuple[str, str]:
    """Create (or reuse) the demo account, load ``count`` sessions, print credentials and a curl."""
    try:
        account = store.get_account(DEMO_ACCOUNT)
    except NotFoundInStore:
        account = store.create_account(
            DEMO_ACCOUNT,
            viewer_module=True,
            business_error_patterns=("geo-blocked", "entitlement", "concurrent stream"),
            ingest_key=credentials.new_ingest_key(),
        )
    key_id, secret = credentials.new_key_id(), credentials.new_secret()
    store.add_api_key(account.id, key_id, credentials.hash_secret(secret))
    started = time.monotonic()
    now_ms = SystemClock().now_ms()
    docs = generate_sessions(count, seed=seed, end_ms=now_ms, span_ms=settings.retention_days * 86_400_000)
    written = store.write_sessions(account.id, (to_record(d) for d in docs))
    echo(
        f"Loaded {written} sessions of the last {settings.retention_days} days into {settings.db} "
        f"in {time.monotonic() - started:.1f} s."
    )
    echo(f"Account {DEMO_ACCOUNT!r} (viewer module on)\n  API key id: {key_id}\n  secret:     {secret}")
    echo("Try it (sessions that ended in the last 3 hours):")
    echo(f"  curl -u '{key_id}:{secret}' 'http://{settings.host}:{settings.port}{PATH}?limit=5'")
    return key_id, secret
