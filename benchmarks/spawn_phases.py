"""Where an hpchub spawn's time goes, from the logs of the hub, slurmctld and the server.

Used by ``spawn_latency.py``; also runnable alone for the last spawns of a user's server:

    .venv/bin/python benchmarks/spawn_phases.py [--user alice] [--server bench] [--last 10]
"""

from __future__ import annotations

import argparse
import datetime
import re
import statistics

from common import testbed

PHASES = (
    ("hub", "hub: request to job submitted (options, certificate, sbatch)"),
    ("queue", "Slurm: submitted to allocated (its next scheduling pass)"),
    ("launch", "node: allocated to JupyterLab's first log line (job launch, Python imports)"),
    ("init", "server: first log line to serving (extensions, port bound)"),
    ("ready", "hub: serving to ready (port seen, start-up check)"),
)


def _t(stamp: str) -> float:
    return datetime.datetime.fromisoformat(stamp.replace(" ", "T")).timestamp()


def phases(bed, user: str, server: str, last: int) -> list[dict[str, float]]:
    """Per job, the seconds spent in each of :data:`PHASES` (jobs whose logs are complete)."""
    hub = bed.container("hub").logs(tail=50000).decode(errors="replace")
    ctld = bed.exec("slurmctld", "tail", "-20000", "/var/log/slurm/slurmctld.log").output
    name = f"{user}:{server}" if server else user
    rows = []
    for found in list(re.finditer(rf"\[I (\S+ \S+) JupyterHub slurm:\d+\] Submitted job (\d+) "
                                  rf"for {re.escape(name)} ", hub))[-last:]:
        job = found.group(2)
        took = re.search(rf"\[I (\S+ \S+) JupyterHub base:\d+\] User {re.escape(name)} took "
                         r"(\S+) seconds to start", hub[found.end():])
        alloc = re.search(rf"\[(\S+)\] sched: Allocate JobId={job} NodeList=(\w+)", ctld)
        submit = re.search(rf"\[(\S+)\] _slurm_rpc_submit_batch_job: JobId={job} ", ctld)
        if not (took and alloc and submit):
            continue
        log = bed.exec(alloc.group(2), "cat", f"/home/{user}/.hpchub-jupyter-{job}.log").output
        first = re.search(r"\[\w (\S+ \S+) ", log)
        serving = re.search(r"\[I (\S+ \S+) ServerApp\] hpchub: serving", log)
        if not (first and serving):
            continue
        ready = _t(took.group(1))
        requested = ready - float(took.group(2))
        rows.append({
            "hub": _t(found.group(1)) - requested,
            "queue": _t(alloc.group(1)) - _t(submit.group(1)),
            "launch": _t(first.group(1)) - _t(alloc.group(1)),
            "init": _t(serving.group(1)) - _t(first.group(1)),
            "ready": ready - _t(serving.group(1)),
        })
    return rows


def report(rows: list[dict[str, float]]) -> str:
    if not rows:
        return "no complete spawn logs found"
    lines = [f"where hpchub's time goes (median of {len(rows)} spawns, from the logs):"]
    for key, label in PHASES:
        lines.append(f"  {statistics.median(r[key] for r in rows):5.2f} s  {label}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--user", default="alice")
    parser.add_argument("--server", default="bench")
    parser.add_argument("--last", type=int, default=10)
    args = parser.parse_args()
    print(report(phases(testbed(), args.user, args.server, args.last)))


if __name__ == "__main__":
    main()
