"""The Slurm client interface, its shared caches, and the process's client.

Two backends implement it: :class:`hpchub.slurm.cli.SlurmCLI` (Slurm's commands on a submit
host) and :class:`hpchub.slurm.rest.SlurmREST` (slurmrestd, for a hub off the cluster). A
process picks one with :func:`connect`; code that runs on cluster nodes (kernels CLI, notebook
launchers) gets the ``cli`` backend without asking.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime

from .accounts import AssociationCache
from .allocations import Allocation, node_minutes
from .flags import BatchJob
from .jobs import JobInfo, ServerJob
from .runner import CommandTimeout

__all__ = ["CommandTimeout", "SlurmAbout", "SlurmClient", "SlurmError", "SlurmUnavailable",
           "connect", "slurm", "use"]


class SlurmError(RuntimeError):
    """Slurm refused or failed; the message is Slurm's own words."""


class SlurmUnavailable(SlurmError):
    """The scheduler did not answer usefully (slurmrestd down, 5xx, an unreadable answer)."""


@dataclass(frozen=True)
class SlurmAbout:
    """What a client talks to."""

    backend: str  # "rest" or "cli"
    release: str  # Slurm's, e.g. "24.11.5"
    apis: tuple[str, ...] = ()  # REST API versions the slurmrestd serves (rest)
    api: str | None = None  # the one spoken (rest)

    def __str__(self) -> str:
        if self.backend == "rest":
            return (f"Slurm {self.release} through slurmrestd, REST API {self.api or 'none'} "
                    f"(served: {', '.join(self.apis) or 'none'})")
        return f"Slurm {self.release} through its commands"


class SlurmClient(ABC):
    """What hpchub asks of Slurm. Associations and reservations are cached here."""

    @abstractmethod
    async def about(self) -> SlurmAbout:
        """Which Slurm (and REST API) this client talks to; ``UnsupportedSlurm`` when hpchub
        cannot talk to it, in words."""

    def __init__(self, cache_s: float = 60.0):
        self.associations_cache = AssociationCache(cache_s)
        self.allocations_cache = AssociationCache(cache_s)  # by account
        self.cache_s = cache_s
        self._reservations: tuple[float, list[dict[str, str]]] | None = None

    @abstractmethod
    async def jobs(self, timeout: float = 20) -> dict[str, JobInfo]:
        """Every job Slurm still knows, of every user (queue positions need the others)."""

    @abstractmethod
    async def server_jobs(self, timeout: float = 60) -> list[ServerJob]:
        """Live jobs named like server jobs (by anyone: the caller proves which are)."""

    @abstractmethod
    async def comment(self, job_id: str, timeout: float = 60) -> str:
        """One job's comment (free text: compare it whole, never split it)."""

    @abstractmethod
    async def submit(self, user: str, job: BatchJob, script: str, timeout: float = 60) -> str:
        """Submit ``script`` as ``user``; the new job's id. Never retried after it may have
        reached Slurm: a lost answer leaves at most one job, which the reconciler cancels."""

    @abstractmethod
    async def cancel(self, user: str, job_id: str, timeout: float = 30) -> None:
        """Cancel one of ``user``'s jobs, as that user."""

    @abstractmethod
    async def cancel_notebook_jobs(self, user: str, server_name: str, timeout: float = 30) -> None:
        """Cancel every job a server's notebooks started (ipyparallel engines, Dask workers):
        stopping a server leaves none behind, even when its kernels died without cleaning up."""

    @abstractmethod
    async def _fetch_associations(self, user: str) -> dict[str, tuple[str, ...]]: ...

    @abstractmethod
    async def _fetch_reservations(self) -> list[dict[str, str]]: ...

    @abstractmethod
    async def _fetch_node_limit(self, account: str, user: str) -> int | None:
        """The account's own ``GrpTRESMins`` node-minutes (None: no such limit)."""

    @abstractmethod
    async def _fetch_node_seconds(self, account: str, since: datetime,
                                  user: str) -> list[tuple[int, float]]:
        """(nodes, seconds run) of each of the account's jobs since ``since`` (slurmdbd)."""

    async def allocation(self, account: str, since: datetime, user: str) -> Allocation | None:
        """What is left of ``account``'s node-minute limit (cached; None: the account has no
        node limit). Read as ``user``, one of the account's members."""
        cached = self.allocations_cache.get(account)
        if cached is None:
            limit = await self._fetch_node_limit(account, user)
            used = node_minutes(await self._fetch_node_seconds(account, since, user)) \
                if limit is not None else 0.0
            cached = (Allocation(account, limit, used) if limit is not None else None,)
            self.allocations_cache.put(account, cached)
        return cached[0]

    async def associations(self, user: str) -> dict[str, tuple[str, ...]]:
        """{account: QOS names} the user may submit with (cached)."""
        cached = self.associations_cache.get(user)
        if cached is None:
            cached = await self._fetch_associations(user)
            self.associations_cache.put(user, cached)
        return cached

    async def reservations(self) -> list[dict[str, str]]:
        """Every reservation, with ``scontrol``'s field names (cached); pick the user's with
        :func:`hpchub.slurm.accounts.usable_reservations`. None offered while Slurm fails."""
        if self._reservations and time.monotonic() - self._reservations[0] < self.cache_s:
            return self._reservations[1]
        try:
            rows = await self._fetch_reservations()
        except (SlurmError, CommandTimeout, OSError):
            return []  # asked again next time
        self._reservations = (time.monotonic(), rows)
        return rows


_CLIENT: SlurmClient | None = None


def connect(mode: str = "cli", rest_url: str = "", jwt_key_file: str = "",
            hub_user: str = "", cache_s: float = 60.0) -> SlurmClient:
    """Make this process's client: ``cli`` or ``rest`` (slurmrestd at ``rest_url``);
    associations and reservations are cached for ``cache_s`` seconds."""
    if mode == "rest":
        from .rest import SlurmREST

        return use(SlurmREST(rest_url, jwt_key_file, hub_user, cache_s=cache_s))
    from .cli import SlurmCLI

    return use(SlurmCLI(cache_s))


def use(client: SlurmClient | None) -> SlurmClient | None:
    """Make ``client`` this process's client (None: back to the default)."""
    global _CLIENT
    _CLIENT = client
    return client


def slurm() -> SlurmClient:
    """The process's Slurm client (``cli`` unless :func:`connect` chose another)."""
    return _CLIENT or connect()
