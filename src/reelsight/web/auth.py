"""HTTP Basic authentication of API credentials (key id : secret) against hashed secrets.

The slow hash is checked once per key and secret; afterwards a keyed fast digest of the secret is
remembered for ``auth_cache_s`` seconds, so requests do not pay scrypt each time. The key's row is
still read on every request, so disabling a key takes effect at once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

import anyio.to_thread

from reelsight.clock import Clock
from reelsight.credentials import verify_secret
from reelsight.errors import Unauthorized
from reelsight.store.base import Account, AccountStore

MAX_HEADER_CHARS = 1024


def parse_basic(header: str | None) -> tuple[str, str]:
    if not header or len(header) > MAX_HEADER_CHARS:
        raise Unauthorized()
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic" or not encoded:
        raise Unauthorized()
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except ValueError:  # binascii.Error, UnicodeDecodeError, and non-ASCII input are all ValueErrors
        raise Unauthorized() from None
    key_id, sep, secret = decoded.partition(":")
    if not sep or not key_id or not secret:
        raise Unauthorized()
    return key_id, secret


class Authenticator:
    def __init__(self, store: AccountStore, clock: Clock, cache_s: int) -> None:
        self._store = store
        self._clock = clock
        self._cache_s = cache_s
        self._pepper = secrets.token_bytes(32)
        # key_id -> (digest of the verified secret, the stored hash it was verified against, expiry)
        self._verified: dict[str, tuple[bytes, str, float]] = {}

    def _digest(self, secret: str) -> bytes:
        return hmac.new(self._pepper, secret.encode("utf-8"), hashlib.sha256).digest()

    async def authenticate(self, header: str | None) -> Account:
        key_id, secret = parse_basic(header)
        found = await anyio.to_thread.run_sync(self._store.find_api_key, key_id)
        if found is None or found[0].disabled:
            raise Unauthorized()
        key, account = found
        digest = self._digest(secret)
        cached = self._verified.get(key_id)
        now = self._clock.monotonic_s()
        fresh = cached is not None and cached[1] == key.secret_hash and cached[2] > now
        if not (fresh and cached is not None and hmac.compare_digest(cached[0], digest)):
            if not await anyio.to_thread.run_sync(verify_secret, secret, key.secret_hash):
                raise Unauthorized()
            self._verified[key_id] = (digest, key.secret_hash, now + self._cache_s)
        return account
