"""One ``squeue`` per interval for every hpchub server: the cost does not grow with N.

Spawners register their job ids and read the latest snapshot. A failed or timed-out
``squeue`` keeps the last good snapshot and marks it stale: only Slurm saying a job ended
(or no longer knowing a job it knew at submit time) counts as ended.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from dataclasses import dataclass, field

from hpchub.slurm.client import CommandTimeout, SlurmError, slurm
from hpchub.slurm.jobs import JobInfo

from . import metrics

log = logging.getLogger("hpchub.poller")


@dataclass
class Snapshot:
    jobs: dict[str, JobInfo] = field(default_factory=dict)
    started: float = 0.0  # monotonic time the squeue call began
    ok: bool = False
    error: str = ""


class SlurmPoller:
    """Shared by every spawner in the hub process (see :func:`poller`)."""

    def __init__(self, idle_interval: float = 20.0, pending_interval: float = 5.0,
                 hurry_interval: float = 0.5, hurry_for: float = 30.0, jitter: float = 0.2,
                 timeout: float = 20.0):
        self.idle_interval = idle_interval  # only running servers: node failures, walltime
        self.pending_interval = pending_interval  # some spawn waits in the queue
        self.hurry_interval = hurry_interval  # a spawn was submitted less than hurry_for ago
        self.hurry_for = hurry_for
        self.jitter = jitter
        self.timeout = timeout
        self._spawns: dict[int, float] = {}
        self.snapshot = Snapshot()
        self.last_good = Snapshot()
        self.calls = 0
        self._task: asyncio.Task | None = None
        self._fresh = asyncio.Event()
        self._wake = asyncio.Event()

    def watch(self) -> None:
        """A spawner needs snapshots: start the loop unless it runs."""
        if self._task is None or self._task.done():
            self._task = asyncio.ensure_future(self._loop())

    def hurry(self, key: int) -> None:
        """A spawn or stop is waiting on Slurm: poll quickly for a while (one squeue serves all)."""
        self._spawns[key] = time.monotonic()
        self._wake.set()

    def relax(self, key: int) -> None:
        self._spawns.pop(key, None)

    def delay(self) -> float:
        """Seconds to the next squeue, by what spawners are waiting for."""
        now = time.monotonic()
        if any(now - t < self.hurry_for for t in self._spawns.values()):
            return self.hurry_interval
        base = self.pending_interval if self._spawns else self.idle_interval
        return base * (1 + random.uniform(-self.jitter, self.jitter))  # noqa: S311

    async def _loop(self) -> None:
        while True:
            try:
                await self.refresh()
            except Exception:  # noqa: BLE001 - one bad round must never end polling for all
                log.exception("polling Slurm failed this round; polling goes on")
            self._wake.clear()
            try:
                async with asyncio.timeout(self.delay()):
                    await self._wake.wait()
            except TimeoutError:
                pass

    async def refresh(self) -> Snapshot:
        started = time.monotonic()
        self.calls += 1
        try:
            jobs, error = await slurm().jobs(timeout=self.timeout), ""
        except (SlurmError, CommandTimeout, OSError) as exc:
            jobs, error = None, str(exc)
        metrics.POLLER_LATENCY.observe(time.monotonic() - started)
        if jobs is not None:
            self.snapshot = self.last_good = Snapshot(jobs, started, True)
        else:
            log.warning("Slurm did not list the jobs, keeping the last snapshot: %s", error[:300])
            metrics.POLLER_FAILURES.inc()
            self.snapshot = Snapshot(self.last_good.jobs, self.last_good.started, False, error)
        self._fresh.set()
        self._fresh = asyncio.Event()
        return self.snapshot

    async def newer_than(self, moment: float, timeout: float = 60) -> Snapshot:
        """Wait for a successful snapshot whose squeue began after ``moment``."""
        deadline = time.monotonic() + timeout
        while not (self.last_good.ok and self.last_good.started > moment):
            if time.monotonic() > deadline:
                break
            try:
                async with asyncio.timeout(max(0.1, deadline - time.monotonic())):
                    await self._fresh.wait()
            except TimeoutError:
                break
        return self.last_good


_POLLER: SlurmPoller | None = None


def poller() -> SlurmPoller:
    global _POLLER
    if _POLLER is None:
        _POLLER = SlurmPoller()
    return _POLLER


def configure_poller(running: float, pending: float, submitted: float, timeout: float) -> SlurmPoller:
    """Set the shared poller's intervals (``c.HPCHub.poll_interval_*``, ``slurm_timeout``)."""
    shared = poller()
    shared.idle_interval, shared.pending_interval = running, pending
    shared.hurry_interval, shared.timeout = submitted, timeout
    return shared
