"""The ``cli`` backend: Slurm's own commands on a submit host.

Reads (``squeue``, ``sacctmgr show``, ``scontrol show``) run as the hub's account; what Slurm
must do on a user's behalf (``sbatch``, ``scancel``) runs as that user through the hub's one
sudoers rule. Every call is an argv list with a timeout; a timeout raises
:class:`CommandTimeout` and a refusal :class:`SlurmError` with Slurm's words.
"""

from __future__ import annotations

from datetime import datetime

from .accounts import parse_associations, reservation_fields
from .allocations import iso, parse_account_limit, parse_sacct_usage
from .client import SlurmAbout, SlurmClient, SlurmError
from .flags import BatchJob, sbatch_flags
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
from .versions import check_release, release_of

__all__ = ["CommandTimeout", "SlurmCLI", "SlurmError", "sbatch", "srun"]

SQUEUE_ALL = ["squeue", "-h", "-a", "-t", "all", "-o", SQUEUE_FORMAT]
SERVER_JOBS = ["squeue", "-h", "-n", SERVER_JOB_NAME, "-t", LIVE_STATES, "-o", SERVER_JOBS_FORMAT]


def sbatch(flags: list[str]) -> list[str]:
    return ["sbatch", *flags]


def srun(flags: list[str]) -> list[str]:
    return ["srun", *flags]


def associations_argv(user: str) -> list[str]:
    return ["sacctmgr", "-n", "-P", "show", "assoc", "where", f"user={user}", "format=account,qos"]


def _checked(result: Result, what: str) -> Result:
    if not result.ok:
        detail = " ".join(result.err.replace(f"{what}: error: ", "").split())
        raise SlurmError(detail[:500] or f"{what} failed (exit {result.code})")
    return result


class SlurmCLI(SlurmClient):
    """Slurm's commands; the ``*_sync`` methods serve code without an event loop (notebooks)."""

    async def about(self) -> SlurmAbout:
        said = _checked(await run(["sinfo", "--version"], timeout=20), "sinfo").out.strip()
        release = release_of(said)
        check_release(release, f"this node's Slurm commands ({said or 'no version'})")
        return SlurmAbout("cli", ".".join(map(str, release)))

    async def jobs(self, timeout: float = 20) -> dict[str, JobInfo]:
        return parse_squeue(_checked(await run(SQUEUE_ALL, timeout=timeout), "squeue").out)

    def jobs_sync(self, timeout: float = 30) -> dict[str, JobInfo]:
        return parse_squeue(_checked(run_sync(SQUEUE_ALL, timeout=timeout), "squeue").out)

    async def server_jobs(self, timeout: float = 60) -> list[ServerJob]:
        return parse_server_jobs(_checked(await run(SERVER_JOBS, timeout=timeout), "squeue").out)

    async def comment(self, job_id: str, timeout: float = 60) -> str:
        argv = ["squeue", "-h", "-j", job_id, "-o", "%k"]
        return _checked(await run(argv, timeout=timeout), "squeue").out

    async def submit(self, user: str, job: BatchJob, script: str, timeout: float = 60) -> str:
        result = await run(as_user(user, sbatch(sbatch_flags(job))), stdin=script, timeout=timeout)
        return parse_job_id(_checked(result, "sbatch").out)

    async def cancel(self, user: str, job_id: str, timeout: float = 30) -> None:
        _checked(await run(as_user(user, ["scancel", job_id]), timeout=timeout), "scancel")

    async def cancel_notebook_jobs(self, user: str, server_name: str, timeout: float = 30) -> None:
        argv = ["scancel", f"--name={notebook_job_name(server_name)}", f"--user={user}"]
        _checked(await run(as_user(user, argv), timeout=timeout), "scancel")

    async def _fetch_associations(self, user: str) -> dict[str, tuple[str, ...]]:
        return parse_associations(
            _checked(await run(associations_argv(user), timeout=20), "sacctmgr").out)

    def associations_sync(self, user: str) -> dict[str, tuple[str, ...]]:
        cached = self.associations_cache.get(user)
        if cached is None:
            cached = parse_associations(_checked(run_sync(associations_argv(user)), "sacctmgr").out)
            self.associations_cache.put(user, cached)
        return cached

    async def _fetch_node_limit(self, account: str, user: str) -> int | None:
        argv = ["sacctmgr", "-n", "-P", "show", "assoc", f"where account={account}",
                "format=user,grptresmins"]
        return parse_account_limit(_checked(await run(argv, timeout=20), "sacctmgr").out)

    async def _fetch_node_seconds(self, account: str, since: datetime,
                                  user: str) -> list[tuple[int, float]]:
        argv = ["sacct", "-a", "-X", "-n", "-P", "-A", account, "-S", iso(since), "-E", "now",
                "-o", "NNodes,ElapsedRaw"]
        return parse_sacct_usage(_checked(await run(argv, timeout=30), "sacct").out)

    async def _fetch_reservations(self) -> list[dict[str, str]]:
        result = await run(["scontrol", "-o", "show", "reservation"], timeout=20)
        return reservation_fields(_checked(result, "scontrol").out)
