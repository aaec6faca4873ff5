"""slurmctld job-info RPCs per minute vs number of running servers: hpchub vs vanilla.

N lightweight jobs (1 CPU ``sleep``, as the servers' stand-ins) run on the testbed. Then, for a
window of W seconds each, slurmctld's own counters (``sdiag``: REQUEST_JOB_INFO*) are read
while
- hpchub, both modes: the real shared poller (hpchub.spawners.poller) in its steady state
  (every server running, no spawn in progress): ``rest`` in the hub container (off the
  cluster, through slurmrestd; its requests are counted too), ``cli`` on login1 (squeue);
- vanilla: batchspawner 1.3.0's per-server query, exactly as it runs it
  (``squeue -h -j <id> -o '%T %B'`` for each server), every JupyterHub poll interval (30 s).

    .venv/bin/python benchmarks/slurmctld_load.py [--sizes 10 50 100] [--window 60]
"""

from __future__ import annotations

import argparse
import re

from common import testbed

HPCHUB = r'''
import asyncio, sys
from hpchub.hub.slurm_connection import connect_slurm
from hpchub.site_configs import load_site
from hpchub.spawners.poller import SlurmPoller
client = connect_slurm(load_site("/etc/hpchub/generated/site.yaml"), sys.argv[2])
async def main(window):
    poller = SlurmPoller()
    poller.watch()
    await asyncio.sleep(window)
asyncio.run(main(float(sys.argv[1])))
print("requests", getattr(client, "requests", 0))
'''

VANILLA = r'''
import subprocess, sys, time
window, interval, ids = float(sys.argv[1]), 30.0, sys.argv[2].split(",")
end = time.monotonic() + window
while True:
    for job in ids:  # one squeue per spawner per JupyterHub poll (batchspawner's query)
        subprocess.run(["squeue", "-h", "-j", job, "-o", "%T %B"], capture_output=True)
    if time.monotonic() + interval > end:
        break
    time.sleep(interval)
'''


def job_info_rpcs(bed) -> int:
    out = bed.exec("slurmctld", "sdiag").output
    return sum(int(m) for m in re.findall(r"^\s*REQUEST_JOB_INFO\w*\s+\(\s*\d+\)\s+count:(\d+)",
                                          out, re.M))


def measure(bed, node: str, script: str, *args: str, window: float) -> tuple[float, float]:
    """(job-info RPCs/min, slurmrestd requests/min) while ``script`` runs on ``node``."""
    bed.exec("slurmctld", "sdiag", "-r")
    before = job_info_rpcs(bed)
    result = bed.exec(node, "python3", "-c", script, str(window), *args, user="jupyterhub")
    if not result.ok:
        raise RuntimeError(result.output[-2000:])
    requests = re.findall(r"^requests (\d+)$", result.output, re.M)
    return ((job_info_rpcs(bed) - before) * 60.0 / window,
            int(requests[-1]) * 60.0 / window if requests else 0.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 50, 100])
    parser.add_argument("--window", type=float, default=60)
    args = parser.parse_args()
    bed = testbed()
    print(f"{'servers':>8} {'rest RPC/min':>13} {'restd req/min':>14} {'cli RPC/min':>12} "
          f"{'vanilla RPC/min':>16} {'vanilla/rest':>13}")
    for n in args.sizes:
        ids = []
        for _ in range(n):
            job = bed.run_as("dave", "login1", "sbatch", "--parsable", "-p", "shared", "-n1",
                             "-t", "30", "-o", "/dev/null", "--wrap", "sleep 1800")
            ids.append(job.output.strip())
        try:
            rest, restd = measure(bed, "hub", HPCHUB, "rest", window=args.window)
            cli, _ = measure(bed, "login1", HPCHUB, "cli", window=args.window)
            vanilla, _ = measure(bed, "login1", VANILLA, ",".join(ids), window=args.window)
            ratio = vanilla / rest if rest else float("inf")
            print(f"{n:>8} {rest:>13.1f} {restd:>14.1f} {cli:>12.1f} {vanilla:>16.1f} "
                  f"{ratio:>12.1f}x", flush=True)
        finally:
            bed.exec("slurmctld", "scancel", *ids)


if __name__ == "__main__":
    main()
