"""The shared intake: what every ingest protocol does with a decoded batch, whatever its wire format.

Each protocol's decoder (``native.py``, ``conviva.py``, ...) turns bytes into one
:class:`~reelsight.ingest.decoded.DecodedBatch` of internal events; its route asks
:meth:`Intake.account` for the account of the key the batch carried, then hands the batch to
:meth:`Intake.submit`, which counts what the decoder rejected, submits the rest to the sessionizer
(``ingest/sessionizer.py``: one durable commit per round, in this process or the coordinator's) and
returns every event's outcome. Routes stay thin: HTTP in, a decoder, the intake, the protocol's
answer out.
"""

from __future__ import annotations

import dataclasses
import hashlib
import time

import anyio.to_thread
import msgspec

from reelsight.ingest.decoded import DecodedBatch
from reelsight.ingest.sessionizer import Sessionizer
from reelsight.sessions.live import TAG_LIMIT_REASON, IncomingBatch, Status
from reelsight.store.base import Account, AccountStore

KEY_CACHE_S = 30.0  # a key's account is re-read this often (a new or changed account shows up then)
MAX_INGEST_KEY_CHARS = 128
_MAX_CACHED_KEYS = 10_000


@dataclasses.dataclass(frozen=True)
class Sender:
    """Who sent the request: the client address (after trusted proxies) and its User-Agent."""

    ip: str
    user_agent: str

    def key(self) -> str:
        return f"{self.ip} {self.user_agent}"


@dataclasses.dataclass(frozen=True)
class Outcome:
    index: int
    status: Status
    reason: str | None = None

    def as_json(self) -> dict[str, object]:
        out: dict[str, object] = {"index": self.index, "status": self.status}
        if self.reason is not None:
            out["reason"] = self.reason
        return out


def assigned_client_id(account_id: int, sender: Sender, session_id: str, *material: object) -> str:
    """The client id given to a session that reported none: a keyed hash of the account, the sender
    and what identifies the session's first report, so a retried report gets the same id and never
    forks the session. Four unsigned 32-bit integers joined by dots, like a player's own."""
    encoded = msgspec.json.encode([account_id, sender.key(), session_id, *material])
    digest = hashlib.blake2b(encoded, digest_size=16, key=b"reelsight-client-id").digest()
    return ".".join(str(int.from_bytes(digest[i : i + 4], "big")) for i in range(0, 16, 4))


class Intake:
    def __init__(self, store: AccountStore, sessionizer: Sessionizer) -> None:
        self._store = store
        self._sessionizer = sessionizer
        self._accounts: dict[str, tuple[Account, float]] = {}

    async def account(self, ingest_key: str) -> Account | None:
        """The account of an ingest key, or ``None`` for an unknown one (cached for ``KEY_CACHE_S``)."""
        cached = self._accounts.get(ingest_key)
        now = time.monotonic()
        if cached is not None and cached[1] > now:
            return cached[0]
        if not ingest_key or len(ingest_key) > MAX_INGEST_KEY_CHARS:
            return None
        account = await anyio.to_thread.run_sync(self._store.find_account_by_ingest_key, ingest_key)
        if account is None:
            return None
        if len(self._accounts) > _MAX_CACHED_KEYS:
            self._accounts.clear()
        self._accounts[ingest_key] = (account, now + KEY_CACHE_S)
        return account

    def count_request(self, protocol: str, outcome: str) -> None:
        """Count one request of ``protocol`` by outcome (``/metrics``: ``reelsight_ingest_requests``)."""
        self._sessionizer.count_request(protocol, outcome)

    def count_rejected(self, batch: DecodedBatch) -> None:
        """Count the events a decoder refused (``/metrics``), for a batch that is not submitted."""
        if batch.rejected:
            self._sessionizer.count_rejected(len(batch.rejected))

    async def submit(self, account: Account, batch: DecodedBatch, *, receive_ms: int, sender: Sender) -> list[Outcome]:
        """Count the rejected events, store and apply the rest durably; every event's outcome, in
        index order. Raises ``StorageFailure`` (nothing was stored) or ``InternalError`` (a bug)."""
        self.count_rejected(batch)
        outcomes = {i: Outcome(i, "rejected", reason) for i, reason in batch.rejected.items()}
        if batch.events:
            incoming = IncomingBatch(account, receive_ms, sender.ip, sender.user_agent, batch.events, batch.claims)
            for index, status in (await self._sessionizer.submit(incoming)).items():
                outcomes[index] = Outcome(index, status, TAG_LIMIT_REASON if status == "rejected" else None)
        return [outcomes[i] for i in sorted(outcomes)]
