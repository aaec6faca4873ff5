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

from . import metrics
from .runner import CommandTimeout, run
from .slurm_cli import JobInfo, parse_squeue, squeue_argv

log = logging.getLogger("hpchub.poller")


@dataclass
class Snapshot:
    jobs: dict[str, JobInfo] = field(default_factory=dict)
    started: float = 0.0  # monotonic time the squeue call began
    ok: bool = False
    error: str = ""


class SlurmPoller:
    """Shared by every spawner in the hub process (see :func:`poller`)."""

    def __init__(self, interval: float = 5.0, jitter: float = 0.2, timeout: float = 20.0):
        self.interval = interval
        self.jitter = jitter
        self.timeout = timeout
        self.snapshot = Snapshot()
        self.last_good = Snapshot()
        self.calls = 0
        self._watchers = 0
        self._task: asyncio.Task | None = None
        self._fresh = asyncio.Event()
        self._wake = asyncio.Event()

    def watch(self) -> None:
        """A spawner starts needing snapshots; starts the loop if needed."""
        self._watchers += 1
        if self._task is None or self._task.done():
            self._task = asyncio.ensure_future(self._loop())

    def unwatch(self) -> None:
        self._watchers = max(0, self._watchers - 1)

    async def _loop(self) -> None:
        while True:
            await self.refresh()
            delay = self.interval * (1 + random.uniform(-self.jitter, self.jitter))  # noqa: S311
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), delay)
            except TimeoutError:
                pass

    async def refresh(self) -> Snapshot:
        started = time.monotonic()
        self.calls += 1
        try:
            result = await run(squeue_argv(), timeout=self.timeout)
            ok, error = result.ok, result.err.strip()
        except (CommandTimeout, OSError) as exc:
            ok, error, result = False, str(exc), None
        metrics.POLLER_LATENCY.observe(time.monotonic() - started)
        if ok:
            self.snapshot = self.last_good = Snapshot(parse_squeue(result.out), started, True)
        else:
            log.warning("squeue failed, keeping the last snapshot: %s", error[:300])
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
            self._wake.set()
            try:
                await asyncio.wait_for(self._fresh.wait(), max(0.1, deadline - time.monotonic()))
            except TimeoutError:
                break
        return self.last_good

    def nudge(self) -> None:
        """Ask for an early refresh (a spawner is waiting on a state change)."""
        self._wake.set()


_POLLER: SlurmPoller | None = None


def poller() -> SlurmPoller:
    global _POLLER
    if _POLLER is None:
        _POLLER = SlurmPoller()
    return _POLLER
