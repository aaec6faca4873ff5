"""Cancel server jobs the hub no longer knows (a JupyterHub-managed service).

A server job is an ``hpchub-spawner`` job whose comment is ``hpchub:<user>/<server>``. It is
an orphan when, for longer than ``--min-age`` seconds, no server of the hub (running or
starting) holds its job id: e.g. the hub's database was restored from an older copy, or a
spawn's bookkeeping was lost in a crash. Orphans are cancelled as their user, through the
hub's sudoers rule, and logged. Slurm errors skip a round; they never cancel anything.

    python -m hpchub.spawners.reconcile --interval 60 --min-age 300
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from datetime import datetime

from .certs import hub_client_context
from .runner import as_user
from .slurm_cli import JOB_NAME

log = logging.getLogger("hpchub.reconcile")
SQUEUE = ["squeue", "-h", "-n", JOB_NAME, "-t", "PENDING,RUNNING,CONFIGURING,SUSPENDED",
          "-o", "%i|%u|%k|%V"]


@dataclass(frozen=True)
class ServerJob:
    job_id: str
    user: str
    comment: str
    submitted: float  # epoch seconds


def parse_jobs(text: str) -> list[ServerJob]:
    jobs = []
    for line in text.splitlines():
        parts = line.strip().split("|")
        if len(parts) != 4 or not parts[0].isdigit() or not parts[2].startswith("hpchub:"):
            continue
        try:
            submitted = datetime.fromisoformat(parts[3]).timestamp()
        except ValueError:
            continue
        jobs.append(ServerJob(parts[0], parts[1], parts[2], submitted))
    return jobs


def job_ids_in(state: object) -> set[str]:
    """Every ``job_id`` in a (wrapped) spawner state."""
    found: set[str] = set()
    if isinstance(state, dict):
        for key, value in state.items():
            if key == "job_id" and value:
                found.add(str(value))
            else:
                found |= job_ids_in(value)
    return found


def known_job_ids(users: list[dict]) -> set[str]:
    """Job ids held by servers the hub runs or is starting (REST model with server state)."""
    ids: set[str] = set()
    for user in users:
        for server in (user.get("servers") or {}).values():
            if server.get("ready") or server.get("pending"):
                ids |= job_ids_in(server.get("state"))
    return ids


def orphans(jobs: list[ServerJob], known: set[str], now: float, min_age: float) -> list[ServerJob]:
    return [j for j in jobs if j.job_id not in known and now - j.submitted >= min_age]


def hub_users() -> list[dict]:
    url = os.environ["JUPYTERHUB_API_URL"].rstrip("/") + "/users?state=active"
    request = urllib.request.Request(
        url, headers={"Authorization": f"token {os.environ['JUPYTERHUB_API_TOKEN']}"})
    context = hub_client_context(os.environ)  # internal SSL: the service's certificate
    with urllib.request.urlopen(request, timeout=30, context=context) as resp:  # noqa: S310
        return json.load(resp)


def reconcile_once(min_age: float) -> list[ServerJob]:
    """One round; returns the jobs it cancelled."""
    # Hub first, Slurm second: a job submitted in between is young, hence spared by min_age.
    known = known_job_ids(hub_users())
    out = subprocess.run(SQUEUE, capture_output=True, text=True, timeout=60)
    if out.returncode:
        log.warning("squeue failed, skipping this round: %s", out.stderr.strip()[:300])
        return []
    cancelled = []
    for job in orphans(parse_jobs(out.stdout), known, time.time(), min_age):
        log.warning("cancelling orphan server job %s of %s (%s): no hub server holds it",
                    job.job_id, job.user, job.comment)
        result = subprocess.run(as_user(job.user, ["scancel", job.job_id]), capture_output=True,
                                text=True, timeout=60)
        if result.returncode == 0:
            cancelled.append(job)
        else:
            log.error("scancel %s failed: %s", job.job_id, result.stderr.strip()[:300])
    return cancelled


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m hpchub.spawners.reconcile")
    ap.add_argument("--interval", type=float, default=60)
    ap.add_argument("--min-age", type=float, default=300)
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="[%(levelname)1.1s %(asctime)s reconcile] %(message)s")
    while True:
        try:
            reconcile_once(args.min_age)
        except Exception:  # noqa: BLE001 - keep watching; the next round may work
            log.exception("reconcile round failed")
        time.sleep(args.interval)


if __name__ == "__main__":
    main()
