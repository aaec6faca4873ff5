"""The ``cli`` backend: Slurm's own commands on a submit host.

Reads (``squeue``, ``sacctmgr show``, ``scontrol show``) run as the hub's account; what Slurm
must do on a user's behalf (``sbatch``, ``scancel``) runs as that user through the hub's one
sudoers rule. Every call is an argv list with a timeout; a timeout raises
:class:`CommandTimeout` and a refusal :class:`SlurmError` with Slurm's words.
"""

from __future__ import annotations

import time

from .accounts import AssociationCache, parse_associations
from .jobs import (
    LIVE_STATES,
    SERVER_JOB_NAME,
    SERVER_JOBS_FORMAT,
    SQUEUE_FORMAT,
    JobInfo,
    ServerJob,
    notebook_job_name,
    parse_job_id,
    parse_server_jobs,
    parse_squeue,
)
from .runner import CommandTimeout, Result, as_user, run, run_sync

__all__ = ["CommandTimeout", "SlurmCLI", "SlurmError", "sbatch", "slurm", "srun"]

SQUEUE_ALL = ["squeue", "-h", "-a", "-t", "all", "-o", SQUEUE_FORMAT]
SERVER_JOBS = ["squeue", "-h", "-n", SERVER_JOB_NAME, "-t", LIVE_STATES, "-o", SERVER_JOBS_FORMAT]


def sbatch(flags: list[str]) -> list[str]:
    return ["sbatch", *flags]


def srun(flags: list[str]) -> list[str]:
    return ["srun", *flags]


def associations_argv(user: str) -> list[str]:
    return ["sacctmgr", "-n", "-P", "show", "assoc", "where", f"user={user}", "format=account,qos"]


class SlurmError(RuntimeError):
    """Slurm refused or failed; the message is Slurm's own (its ``sbatch: error:`` prefixes cut)."""


def _checked(result: Result, what: str) -> Result:
    if not result.ok:
        detail = " ".join(result.err.replace(f"{what}: error: ", "").split())
        raise SlurmError(detail[:500] or f"{what} failed (exit {result.code})")
    return result


class SlurmCLI:
    """One per process (see :func:`slurm`): associations and reservations are cached here."""

    def __init__(self, cache_s: float = 60.0):
        self.associations_cache = AssociationCache(cache_s)
        self.cache_s = cache_s
        self._reservations: tuple[float, str] | None = None

    # -- jobs ------------------------------------------------------------------------------
    async def jobs(self, timeout: float = 20) -> dict[str, JobInfo]:
        """Every job Slurm still knows, of every user (queue positions need the others)."""
        return parse_squeue(_checked(await run(SQUEUE_ALL, timeout=timeout), "squeue").out)

    def jobs_sync(self, timeout: float = 30) -> dict[str, JobInfo]:
        return parse_squeue(_checked(run_sync(SQUEUE_ALL, timeout=timeout), "squeue").out)

    async def server_jobs(self, timeout: float = 60) -> list[ServerJob]:
        """Live jobs named like server jobs (by anyone: the caller proves which are)."""
        return parse_server_jobs(_checked(await run(SERVER_JOBS, timeout=timeout), "squeue").out)

    async def comment(self, job_id: str, timeout: float = 60) -> str:
        """One job's comment as Slurm prints it (free text: compare it whole, never split it)."""
        argv = ["squeue", "-h", "-j", job_id, "-o", "%k"]
        return _checked(await run(argv, timeout=timeout), "squeue").out

    async def submit(self, user: str, flags: list[str], script: str, timeout: float = 60) -> str:
        """Submit ``script`` as ``user``; the new job's id."""
        result = await run(as_user(user, sbatch(flags)), stdin=script, timeout=timeout)
        return parse_job_id(_checked(result, "sbatch").out)

    async def cancel(self, user: str, job_id: str, timeout: float = 30) -> None:
        _checked(await run(as_user(user, ["scancel", job_id]), timeout=timeout), "scancel")

    async def cancel_notebook_jobs(self, user: str, server_name: str, timeout: float = 30) -> None:
        """Cancel every job a server's notebooks started (ipyparallel engines, Dask workers):
        stopping a server leaves none behind, even when its kernels died without cleaning up."""
        argv = ["scancel", f"--name={notebook_job_name(server_name)}", f"--user={user}"]
        _checked(await run(as_user(user, argv), timeout=timeout), "scancel")

    # -- what the user may use -------------------------------------------------------------
    async def associations(self, user: str) -> dict[str, tuple[str, ...]]:
        """{account: QOS names} the user may submit with (cached)."""
        cached = self.associations_cache.get(user)
        if cached is None:
            result = _checked(await run(associations_argv(user), timeout=20), "sacctmgr")
            cached = parse_associations(result.out)
            self.associations_cache.put(user, cached)
        return cached

    def associations_sync(self, user: str) -> dict[str, tuple[str, ...]]:
        cached = self.associations_cache.get(user)
        if cached is None:
            cached = parse_associations(_checked(run_sync(associations_argv(user)), "sacctmgr").out)
            self.associations_cache.put(user, cached)
        return cached

    async def reservations(self) -> str:
        """``scontrol -o show reservation`` (cached); parse it per user with
        :func:`hpchub.slurm.accounts.parse_reservations`."""
        if self._reservations and time.monotonic() - self._reservations[0] < self.cache_s:
            return self._reservations[1]
        result = await run(["scontrol", "-o", "show", "reservation"], timeout=20)
        if not result.ok:
            return ""  # none can be offered now; asked again next time
        self._reservations = (time.monotonic(), result.out)
        return result.out


_CLIENT: SlurmCLI | None = None


def slurm() -> SlurmCLI:
    """The process's Slurm client."""
    global _CLIENT
    if _CLIENT is None:
        _CLIENT = SlurmCLI()
    return _CLIENT
