"""The shared poller: one squeue serves every waiting spawner; failures keep the last snapshot.

A stand-in ``squeue`` executable on PATH counts its calls (the real one is exercised by the
testbed tests and benchmarks/slurmctld_load.py).
"""

from __future__ import annotations

import asyncio
import os
import stat
import time

import pytest

from hpchub.spawners.poller import SlurmPoller

SCRIPT = """#!/bin/sh
echo call >> "{log}"
if [ -f "{fail}" ]; then echo "slurm_load_jobs error: Unable to contact slurm controller" >&2; exit 1; fi
echo "7|RUNNING|None|c1|2026-11-24T10:00:00|regular|10|alice|4:00:00|0:10"
"""


@pytest.fixture()
def fake_squeue(tmp_path, monkeypatch):
    log, fail = tmp_path / "calls", tmp_path / "fail"
    exe = tmp_path / "squeue"
    exe.write_text(SCRIPT.format(log=log, fail=fail))
    exe.chmod(exe.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    return log, fail


def calls(log) -> int:
    return len(log.read_text().splitlines()) if log.exists() else 0


def test_hundred_waiters_share_one_squeue(fake_squeue):
    log, _ = fake_squeue

    async def scenario():
        poller = SlurmPoller(idle_interval=0.3, jitter=0)
        poller.watch()
        moment = time.monotonic()
        snaps = await asyncio.gather(*(poller.newer_than(moment, timeout=5) for _ in range(100)))
        assert all(s.ok and s.jobs["7"].running for s in snaps)
        await asyncio.sleep(1.0)
        return calls(log)

    total = asyncio.run(scenario())
    assert 2 <= total <= 6, total  # ~one call per 0.3 s interval, not one per waiter


def test_failed_squeue_keeps_last_snapshot_and_says_so(fake_squeue):
    log, fail = fake_squeue

    async def scenario():
        poller = SlurmPoller()
        good = await poller.refresh()
        fail.touch()
        bad = await poller.refresh()
        return good, bad, poller.last_good

    good, bad, last = asyncio.run(scenario())
    assert good.ok and not bad.ok
    assert "Unable to contact" in bad.error
    assert bad.jobs == good.jobs and last is good  # nothing looks ended because Slurm is down


def test_cadence_follows_what_spawners_wait_for():
    poller = SlurmPoller(idle_interval=20, pending_interval=5, hurry_interval=0.5, jitter=0)
    assert poller.delay() == 20
    poller.hurry(1)
    assert poller.delay() == 0.5
    poller._spawns[1] -= 60  # submitted a minute ago, still waiting in the queue
    assert poller.delay() == 5
    poller.relax(1)
    assert poller.delay() == 20
