"""Engines and Dask workers from a notebook on the shared node (login1), as alice.

Time to 12 engines ready across 3 nodes: ``hpchub.jobs.ipyparallel_cluster`` vs a hand-written
``ipp.Cluster(engines="slurm", ...)`` configuration, alternating, in the same run; the rate at
which engines register once their job runs; Dask workers (3 jobs) ready time.

    .venv/bin/python benchmarks/engines_ready.py --rounds 3
"""

from __future__ import annotations

import argparse
import json
import statistics

from common import summary, testbed

PROBE = r"""
import json, sys, time, threading
import ipyparallel as ipp
from traitlets.config import Config
from hpchub.jobs import ipyparallel_cluster, dask_cluster
from hpchub.jobs.netinfo import interface_address

def register_times(client, n, start, out):
    # when each engine joined, seen from a second client polling every 50 ms
    seen = 0
    while seen < n:
        ids = len(client.ids)
        if ids > seen:
            out.extend([time.perf_counter() - start] * (ids - seen)); seen = ids
        time.sleep(0.05)

def time_to_12_engines(make_cluster):
    # from building the cluster (inside the timing) to 12 engines connected
    start = time.perf_counter()
    cluster = make_cluster()
    rc = cluster.start_and_connect_sync()
    took = time.perf_counter() - start
    assert len(rc.ids) == 12
    cluster.stop_cluster_sync()
    return took

def hpchub_round():
    return time_to_12_engines(lambda: ipyparallel_cluster(
        nodes=3, tasks_per_node=4, partition="debug", time="00:10:00"))

def vanilla_cluster():
    addr = interface_address("eth0")
    c = Config()
    c.SlurmEngineSetLauncher.batch_template = (
        "#!/bin/sh\n#SBATCH --nodes=3\n#SBATCH --ntasks-per-node=4\n#SBATCH --partition=debug\n"
        "#SBATCH --time=00:10:00\n#SBATCH --output=/home/alice/ipp-vanilla-%j.log\n"
        "srun {program_and_args}\n")
    return ipp.Cluster(engines="slurm", n=12, controller_ip=addr, controller_location=addr,
                       config=c, log_level=40)

def vanilla_round():
    return time_to_12_engines(vanilla_cluster)

def registration_rate():
    cluster = ipyparallel_cluster(nodes=3, tasks_per_node=4, partition="debug", time="00:10:00")
    start = time.perf_counter()
    cluster.start_cluster_sync()
    client = cluster.connect_client_sync()
    joined = []
    register_times(client, 12, start, joined)
    cluster.stop_cluster_sync()
    return joined

def dask_round():
    from dask.distributed import Client
    start = time.perf_counter()
    cluster = dask_cluster(cores=2, memory="2GB", partition="regular", time="00:10:00")
    client = Client(cluster)
    cluster.scale(jobs=3)
    client.wait_for_workers(3, timeout=300)
    took = time.perf_counter() - start
    client.close(); cluster.close()
    return took

rounds = int(sys.argv[1])
out = {"hpchub": [], "vanilla": [], "dask": []}
for i in range(rounds):
    for name, fn in ((("hpchub", hpchub_round), ("vanilla", vanilla_round)) if i % 2 == 0
                     else (("vanilla", vanilla_round), ("hpchub", hpchub_round))):
        out[name].append(fn())
        time.sleep(2)
    out["dask"].append(dask_round())
out["joined"] = registration_rate()
print(json.dumps(out))
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    bed = testbed()
    res = bed.exec("login1", "/opt/hpchub/venv/bin/python", "-c", PROBE, str(args.rounds),
                   user="alice", workdir="/home/alice")
    assert res.code == 0, res.output
    data = json.loads(res.output.strip().splitlines()[-1])
    hp, va = statistics.median(data["hpchub"]), statistics.median(data["vanilla"])
    print(f"12 engines on 3 nodes, hpchub.jobs.ipyparallel_cluster: {summary(data['hpchub'])}")
    print(f"12 engines on 3 nodes, hand-written ipp.Cluster(slurm):  {summary(data['vanilla'])}")
    print(f"hpchub overhead: {100 * (hp / va - 1):+.1f}% (target <= +10%)")
    joined = data["joined"]
    spread = joined[-1] - joined[0]
    print(f"registration: first engine joined {joined[0]:.1f} s after submit, all 12 within "
          f"{spread:.2f} s of it (polled every 0.05 s): >= {12 / max(spread, 0.05):.0f} engines/s")
    print(f"3 Dask workers (3 Slurm jobs, 3 nodes) ready: {summary(data['dask'])}")


if __name__ == "__main__":
    main()
