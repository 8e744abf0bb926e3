"""The ingest worker assembled from the settings: the live registry over the live log, enrichment
and each account's business-error rules. One place, for a single process and for the coordinator."""

from __future__ import annotations

import time

from reelsight.clock import Clock
from reelsight.ingest.events import Device, Start
from reelsight.ingest.worker import IngestWorker
from reelsight.sessions.context import BusinessRules, Enrichment
from reelsight.sessions.enrich import Enricher
from reelsight.sessions.live import Enrich, LiveRegistry
from reelsight.sessions.live_log import LiveLog
from reelsight.settings import Settings
from reelsight.store.base import AccountStore

_RULES_CACHE_S = 30.0


class _AccountRules:
    """Business-error rules per account, re-read from the store at most every 30 s."""

    def __init__(self, store: AccountStore) -> None:
        self._store = store
        self._cache: dict[int, tuple[BusinessRules, float]] = {}

    def __call__(self, account_id: int) -> BusinessRules:
        cached = self._cache.get(account_id)
        now = time.monotonic()
        if cached is None or cached[1] < now:
            account = self._store.get_account_by_id(account_id)
            cached = (BusinessRules(account.business_error_patterns), now + _RULES_CACHE_S)
            self._cache[account_id] = cached
        return cached[0]


def _enrich_with(enricher: Enricher) -> Enrich:
    def enrich(*, start: Start | None, user_agent: str, ip: str, ip_privacy: str) -> Enrichment:
        device = start.device if start is not None else Device()
        agent = start.user_agent if start is not None and start.user_agent else user_agent
        return enricher.enrich(device=device, user_agent=agent, ip=ip, ip_privacy=ip_privacy)

    return enrich


def build_worker(
    settings: Settings, store: AccountStore, live_log: LiveLog, enricher: Enricher, clock: Clock
) -> IngestWorker:
    registry = LiveRegistry(
        live_log,
        _enrich_with(enricher),
        _AccountRules(store),
        timeout_ms=settings.session_timeout_s * 1000,
        max_tags=settings.ingest_max_tags_per_session,
    )
    return IngestWorker(registry, clock, live_log.check)
