"""API key secrets: how they are made, shown and hashed."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

KEY_SCHEME = "kvb"


@dataclass(frozen=True, slots=True)
class NewKeySecret:
    """A freshly generated key: the full secret (shown once), its visible prefix and its hash."""

    secret: str
    prefix: str
    key_hash: str


def hash_key(secret: str) -> str:
    """SHA-256 of the secret.

    The secrets are 256-bit random strings, not passwords, so a fast unsalted hash is enough against
    offline guessing and keeps the per-request lookup cheap (one hash and one indexed read).
    """
    return hashlib.sha256(secret.encode()).hexdigest()


def generate_key() -> NewKeySecret:
    """Make a new key of the form ``kvb_<8 visible chars>_<43 secret chars>``."""
    public = secrets.token_hex(4)
    secret = f"{KEY_SCHEME}_{public}_{secrets.token_urlsafe(32)}"
    return NewKeySecret(secret=secret, prefix=f"{KEY_SCHEME}_{public}", key_hash=hash_key(secret))
