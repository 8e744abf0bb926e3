"""The demo: an account with fresh credentials and realistic sessions of the last 31 days."""

from __future__ import annotations

import collections
import time
import urllib.parse
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from reelsight import credentials
from reelsight.clock import SystemClock
from reelsight.errors import NotFoundInStore
from reelsight.generate.sessions import generate_sessions
from reelsight.ingest import conviva
from reelsight.sessions.document import SessionDocument
from reelsight.settings import Settings
from reelsight.store.base import Store
from reelsight.store.records import SessionRecord, is_ad_session, to_record
from reelsight.store.url import redacted, store_url_of
from reelsight.web import explore_route, viewer_route
from reelsight.web.sessions_route import AD_PATH, PATH

if TYPE_CHECKING:
    from reelsight.simulate.background import BackgroundSimulation

DEMO_ACCOUNT = "demo"


def prepare_demo(
    store: Store, settings: Settings, *, count: int, seed: int, echo: Callable[[str], None]
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
            ad_insights=True,
        )
    if not (account.viewer_module and account.ad_insights):  # a demo account from before ad insights
        account = store.set_permissions(account.id, viewer_module=True, ad_insights=True)
    key_id, secret = credentials.new_key_id(), credentials.new_secret()
    store.add_api_key(account.id, key_id, credentials.hash_secret(secret))
    started = time.monotonic()
    now_ms = SystemClock().now_ms()
    docs = generate_sessions(count, seed=seed, end_ms=now_ms, span_ms=settings.retention_days * 86_400_000)
    viewers: collections.Counter[str] = collections.Counter()
    ads = collections.Counter[bool]()

    def records(docs: Iterator[SessionDocument]) -> Iterator[SessionRecord]:
        for doc in docs:
            ads[is_ad_session(doc)] += 1
            if isinstance(doc.viewer_id, str) and doc.viewer_id and not is_ad_session(doc):
                viewers[doc.viewer_id] += 1
            yield to_record(doc)

    written = store.write_sessions(account.id, records(iter(docs)))
    echo(
        f"Loaded {written} sessions of the last {settings.retention_days} days into"
        f" {redacted(store_url_of(settings.store, settings.db))} "
        f"in {time.monotonic() - started:.1f} s."
    )
    echo(f"  ({ads[False]} content sessions, {ads[True]} ad sessions played in them)")
    echo(f"Account {DEMO_ACCOUNT!r} (viewer module and ad insights on)\n  API key id: {key_id}\n  secret:     {secret}")
    echo("Geo and network data: IP Geolocation by DB-IP (https://db-ip.com), CC BY 4.0.")
    base = f"http://{settings.host}:{settings.port}"
    echo(f"Look at it in a browser: {base}{explore_route.PATH} (sign in with the key id and secret above)")
    echo("Try it (sessions that ended in the last 3 hours):")
    echo(f"  curl -u '{key_id}:{secret}' '{base}{PATH}?limit=5'")
    echo(f"  curl -u '{key_id}:{secret}' '{base}{AD_PATH}?limit=5'            # the ads played in them")
    if viewers:
        viewer, seen = viewers.most_common(1)[0]
        lookup = f"{base}{viewer_route.PATH}?viewer_id={urllib.parse.quote(viewer)}"
        echo(f"  curl -u '{key_id}:{secret}' '{lookup}'  # one viewer's {seen} sessions")
    gateway = f"http://{settings.host}:{settings.port}{conviva.gateway_prefix(settings.conviva_path_prefix)}"
    echo(
        f"Players with the Conviva JS SDK report here with gatewayUrl {gateway!r} and customer key "
        f"{account.ingest_key!r} (docs/ingest-conviva.md)."
    )
    return key_id, secret


def start_demo_traffic(
    store: Store, settings: Settings, *, viewers: int = 20, seed: int = 1, echo: Callable[[str], None]
) -> BackgroundSimulation:
    """Start simulated players posting live events to this server's native ingest endpoint as the
    demo account: a background thread that waits until the server answers. Call ``.stop()`` on the
    result when serving ends."""
    from reelsight.simulate.background import BackgroundSimulation

    account = store.get_account(DEMO_ACCOUNT)
    host = "127.0.0.1" if settings.host in ("", "0.0.0.0", "::") else settings.host  # noqa: S104
    url = f"http://{f'[{host}]' if ':' in host else host}:{settings.port}"
    traffic = BackgroundSimulation(url, account.ingest_key, viewers=viewers, seed=seed).start()
    echo(
        f"Simulating {viewers} viewers posting live events to {url}: their sessions are served as they "
        f"end (vanished players after session_timeout_s = {settings.session_timeout_s} s)."
    )
    return traffic
