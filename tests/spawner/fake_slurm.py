"""A Slurm that lives in memory, for the spawner's fast tier: the test moves each job through
its states (queued, running, ended) and can make Slurm stop answering.

It stands in for Slurm, not for anything of hpchub's: the spawner, the poller and the client
interface they use are the real ones. The testbed runs the same scenarios against real Slurm.
"""

from __future__ import annotations

import itertools
from datetime import datetime

from hpchub.slurm.client import SlurmAbout, SlurmClient, SlurmUnavailable
from hpchub.slurm.flags import BatchJob
from hpchub.slurm.jobs import JobInfo, ServerJob


class FakeSlurm(SlurmClient):
    def __init__(self) -> None:
        super().__init__(cache_s=0)
        self.records: dict[str, JobInfo] = {}
        self.submitted: list[tuple[str, BatchJob, str]] = []  # (user, job, script)
        self.cancelled: list[str] = []
        self.answering = True
        self._ids = itertools.count(1001)

    # ---- what the test does to the cluster
    def set_state(self, job_id: str, state: str, nodes: str = "", reason: str = "None") -> None:
        old = self.records[job_id]
        self.records[job_id] = JobInfo(job_id, state, reason, nodes or old.nodes, old.start,
                                       old.partition, old.priority, old.user)

    def forget(self, job_id: str) -> None:
        """Slurm no longer knows the job (MinJobAge passed)."""
        del self.records[job_id]

    def _check(self) -> None:
        if not self.answering:
            raise SlurmUnavailable("slurm_load_jobs error: Unable to contact slurm controller")

    # ---- the client interface
    async def about(self) -> SlurmAbout:
        return SlurmAbout(backend="fake", release="24.11.5")

    async def jobs(self, timeout: float = 20) -> dict[str, JobInfo]:
        self._check()
        return dict(self.records)

    async def server_jobs(self, timeout: float = 60) -> list[ServerJob]:
        self._check()
        return []

    async def comment(self, job_id: str, timeout: float = 60) -> str:
        self._check()
        return ""

    async def submit(self, user: str, job: BatchJob, script: str, timeout: float = 60) -> str:
        self._check()
        job_id = str(next(self._ids))
        self.submitted.append((user, job, script))
        self.records[job_id] = JobInfo(job_id, "PENDING", "Priority", "", "N/A",
                                       job.partition or "regular", 100, user)
        return job_id

    async def cancel(self, user: str, job_id: str, timeout: float = 30) -> None:
        self._check()
        self.cancelled.append(job_id)
        if job_id in self.records and not self.records[job_id].ended:
            self.set_state(job_id, "CANCELLED")

    async def cancel_notebook_jobs(self, user: str, server_name: str, timeout: float = 30) -> None:
        self._check()

    async def _fetch_associations(self, user: str) -> dict[str, tuple[str, ...]]:
        return {"general": ("normal",)}

    async def _fetch_reservations(self) -> list[dict[str, str]]:
        return []

    async def _fetch_node_limit(self, account: str, user: str) -> int | None:
        return None

    async def _fetch_node_seconds(self, account: str, since: datetime,
                                  user: str) -> list[tuple[int, float]]:
        return []
