"""Short-lived Slurm JWTs (HS256, Slurm's ``auth/jwt``), one per user, signed by the hub.

Whoever holds the key can act as any Slurm user, as the ``cli`` backend's sudoers rule lets
the hub do: keep it readable by the hub's account only (docs/slurm-access.md).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from pathlib import Path


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def sign(claims: dict[str, object], key: bytes) -> str:
    """A compact HS256 JWT of ``claims``."""
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
    payload = _b64(json.dumps(claims, separators=(",", ":")).encode())
    signature = hmac.new(key, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{_b64(signature)}"


class TokenMinter:
    """Tokens valid ``lifetime_s``; each is reused until a third of its life is left."""

    def __init__(self, key_file: str, lifetime_s: int = 600):
        self.key_file = Path(key_file)
        self.lifetime_s = lifetime_s
        self._key: bytes | None = None
        self._tokens: dict[str, tuple[float, str]] = {}

    @property
    def key(self) -> bytes:
        if self._key is None:
            self._key = self.key_file.read_bytes()
        return self._key

    def token(self, user: str) -> str:
        now = time.time()
        cached = self._tokens.get(user)
        if cached and cached[0] - now > self.lifetime_s / 3:
            return cached[1]
        expires = int(now) + self.lifetime_s
        token = sign({"iat": int(now), "exp": expires, "sun": user,
                      "jti": secrets.token_hex(8)}, self.key)
        self._tokens[user] = (expires, token)
        return token

    def forget(self, user: str) -> None:
        """Drop a token Slurm refused (the key may have been rotated: it is read again)."""
        self._tokens.pop(user, None)
        self._key = None
