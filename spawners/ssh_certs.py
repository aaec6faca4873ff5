"""Short-lived OpenSSH user certificates: how a hub off the cluster logs in to shared nodes.

The hub's account holds a user CA; the shared nodes trust it (``TrustedUserCAKeys``). For each
user the hub keeps a key pair and signs a certificate for exactly that principal, valid for
minutes and good for running a command only (no forwarding, no terminal); a certificate
can be bound to one command (``force_command``), whatever the client asks for. Nothing the user
controls is read: the keys live in the hub's private state directory.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

from hpchub.slurm.runner import run


class CertificateError(RuntimeError):
    """The hub could not sign a login certificate (its CA key is missing or unreadable)."""


class UserCertificates:
    def __init__(self, ca_key: str, directory: str, lifetime_s: int = 300,
                 force_command: str | None = None):
        self.ca_key = ca_key
        self.force_command = force_command
        self.directory = Path(directory)
        self.lifetime_s = lifetime_s
        self._valid_until: dict[str, float] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    def paths(self, user: str) -> tuple[Path, Path]:
        key = self.directory / user
        return key, key.with_name(f"{user}-cert.pub")

    async def identity(self, user: str) -> tuple[Path, Path]:
        """(private key, certificate) for ``user``, signed anew when a third of its life is left."""
        key, cert = self.paths(user)
        async with self._locks.setdefault(user, asyncio.Lock()):
            if self._valid_until.get(user, 0) - time.time() > self.lifetime_s / 3:
                return key, cert
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            os.chmod(self.directory, 0o700)
            if not key.exists():
                await self._keygen("-q", "-t", "ed25519", "-N", "", "-C", f"hpchub:{user}",
                                   "-f", str(key))
            now = time.time()
            await self._keygen(
                "-q", "-s", self.ca_key, "-I", f"hpchub:{user}:{int(now)}", "-n", user,
                "-V", f"-60s:+{self.lifetime_s}s", "-O", "clear",
                *(("-O", f"force-command={self.force_command}") if self.force_command else ()),
                str(key.with_name(f"{user}.pub")))
            self._valid_until[user] = now + self.lifetime_s
        return key, cert

    async def _keygen(self, *argv: str) -> None:
        result = await run(["ssh-keygen", *argv], timeout=20)
        if not result.ok:
            raise CertificateError(f"ssh-keygen failed: {result.err.strip()[-300:]}")
