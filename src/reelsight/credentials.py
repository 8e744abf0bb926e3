"""API credentials and ingest keys: generation, slow salted hashing, constant-time verification.

Secrets are hashed with scrypt (stdlib ``hashlib``; n=2**14, r=8, p=1, 16-byte salt) and shown once.
The stored form is ``scrypt$n$r$p$<salt b64>$<hash b64>``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

KEY_ID_PREFIX = "rk_"
INGEST_KEY_PREFIX = "ik_"
_N, _R, _P = 2**14, 8, 1
_DKLEN = 32


def new_key_id() -> str:
    return KEY_ID_PREFIX + secrets.token_hex(10)


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def new_ingest_key() -> str:
    return INGEST_KEY_PREFIX + secrets.token_hex(16)


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def hash_secret(secret: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(secret.encode("utf-8"), salt=salt, n=_N, r=_R, p=_P, dklen=_DKLEN)
    return f"scrypt${_N}${_R}${_P}${_b64(salt)}${_b64(digest)}"


def verify_secret(secret: str, stored: str) -> bool:
    """True when ``secret`` hashes to ``stored``; compared in constant time."""
    try:
        scheme, n, r, p, salt_b64, digest_b64 = stored.split("$")
        if scheme != "scrypt":
            return False
        salt, expected = base64.b64decode(salt_b64), base64.b64decode(digest_b64)
        digest = hashlib.scrypt(secret.encode("utf-8"), salt=salt, n=int(n), r=int(r), p=int(p), dklen=len(expected))
    except (ValueError, UnicodeEncodeError):
        return False
    return hmac.compare_digest(digest, expected)
