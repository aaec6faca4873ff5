"""The testbed is a real Slurm center: multi-node jobs, MPI, GPUs, accounting, users."""

from __future__ import annotations

import re
import time

import pytest

from hpchub.containers.engine import PYTHON as PYTHON_VERSION

PYTHON = "/opt/hpchub/venv/bin/python"
MPI_SCRIPT = """
from mpi4py import MPI
import socket
comm = MPI.COMM_WORLD
total = comm.allreduce(comm.rank + 1)
print("RANK", comm.rank, comm.size, socket.gethostname(), total, flush=True)
"""


def test_multinode_batch_job_runs_on_three_nodes(testbed):
    job = testbed.run_as(
        "alice", "login1", "sbatch", "--wait", "--parsable", "-N3", "-p", "debug", "-o", "multi.out",
        "--wrap", "srun bash -c 'echo HOST $(hostname) $(hostname -i)'",
    )
    assert job.ok, job.output
    out = testbed.exec("login1", "cat", "/home/alice/multi.out").output
    hosts = dict(line.split()[1:3] for line in out.splitlines() if line.startswith("HOST"))
    assert sorted(hosts) == ["c1", "c2", "c3"]
    assert len(set(hosts.values())) == 3, f"addresses not distinct: {hosts}"


def test_mpi_allreduce_six_ranks_three_nodes(testbed):
    testbed.exec("login1", "bash", "-c", f"cat > /home/carol/mpi_sum.py <<'EOF'\n{MPI_SCRIPT}\nEOF")
    testbed.exec("login1", "chown", "carol:carol", "/home/carol/mpi_sum.py")
    # Bounded (1 min each): in 2 of ~8 runs here some ranks hung (no output) across the
    # containers; up to three attempts, every output shown if all fail. Known issue, see notes.
    attempts = []
    for _ in range(3):
        done = testbed.run_as("carol", "login1", "srun", "-p", "debug", "-N3", "-t", "1",
                              "--ntasks-per-node=2", "--mpi=pmix", PYTHON, "mpi_sum.py")
        attempts.append(done.output)
        if done.ok:
            break
    assert done.ok, "\n---\n".join(attempts)
    ranks = [line.split() for line in done.output.splitlines() if line.startswith("RANK")]
    assert sorted(int(r[1]) for r in ranks) == list(range(6))
    assert {r[2] for r in ranks} == {"6"}
    assert {r[3] for r in ranks} == {"c1", "c2", "c3"}
    assert {r[4] for r in ranks} == {"21"}  # 1 + 2 + ... + 6


@pytest.mark.parametrize("gpus, expected", [(1, "0"), (2, "0,1")])
def test_gpu_job_sees_exactly_its_gpus(testbed, gpus, expected):
    done = testbed.run_as("alice", "login1", "sbatch", "--wait", "--parsable", "-p", "gpu",
                          f"--gpus={gpus}", "-o", f"gpu{gpus}.out",
                          "--wrap", "echo CVD=$CUDA_VISIBLE_DEVICES JOB_GPUS=$SLURM_JOB_GPUS")
    assert done.ok, done.output
    out = testbed.exec("login1", "cat", f"/home/alice/gpu{gpus}.out").output
    assert f"CVD={expected} JOB_GPUS={expected}" in out


def test_more_gpus_than_a_node_has_is_refused(testbed):
    done = testbed.run_as("alice", "login1", "sbatch", "-p", "gpu", "--gpus=3", "--wrap", "true")
    assert not done.ok
    assert "Requested node configuration is not available" in done.output


def test_account_membership_is_enforced(testbed):
    refused = testbed.run_as("bob", "login1", "sbatch", "-A", "desi", "-p", "debug", "--wrap", "true")
    assert not refused.ok
    assert "Invalid account" in refused.output
    allowed = testbed.run_as("alice", "login1", "sbatch", "--wait", "-A", "desi", "-p", "debug",
                             "-o", "/dev/null", "--wrap", "true")
    assert allowed.ok, allowed.output


@pytest.mark.parametrize("submit_host", ["login1", "g1"])
def test_srun_reaches_compute_nodes(testbed, submit_host):
    done = testbed.run_as("dave", submit_host, "srun", "-p", "debug", "-N3", "hostname")
    assert done.ok, done.output
    assert sorted(done.output.split()) == ["c1", "c2", "c3"]


def test_users_and_groups_identical_on_every_node(testbed):
    ids = {node: testbed.exec(node, "id", "carol").output.strip()
           for node in ["hub", "login1", "c1", "c2", "c3", "g1", "slurmctld"]}
    assert len(set(ids.values())) == 1, ids
    assert re.search(r"uid=2003\(carol\).*5001\(desi\).*5002\(lsst\)", ids["hub"])
    assert "desi" not in testbed.exec("c1", "id", "dave").output


def test_shared_home_and_software_volumes(testbed):
    testbed.run_as("bob", "login1", "bash", "-c", "echo shared-ok > note.txt")
    assert testbed.exec("g1", "cat", "/home/bob/note.txt").output.strip() == "shared-ok"
    assert testbed.exec("c3", "stat", "-c", "%a %U", "/home/bob").output.split() == ["700", "bob"]
    testbed.exec("hub", "bash", "-c", "mkdir -p /global/common/software/probe && touch "
                 "/global/common/software/probe/x")
    assert testbed.exec("c2", "test", "-f", "/global/common/software/probe/x").ok


def test_runtime_is_the_hpchub_wheel_and_world_readable(testbed):
    done = testbed.run_as("dave", "c1", PYTHON, "-c",
                          "import hpchub.spawners, hpchub.jobs, mpi4py, ipyparallel, dask_jobqueue;"
                          "print(hpchub.spawners.__file__)")
    assert done.ok, done.output
    assert f"/opt/hpchub/venv/lib/{PYTHON_VERSION}/site-packages/hpchub/spawners/" in done.output


def test_a_daemon_started_in_a_job_ends_with_the_job(testbed):
    """A process that leaves its job's process tree (setsid, parent gone) is still the job's:
    Slurm tracks jobs by cgroup (proctrack/cgroup), so it ends when the job ends, and nothing
    of a finished job keeps running on the node."""
    marker = "hpchub-daemon-in-a-job"
    script = f"setsid bash -c 'exec -a {marker} sleep 600' </dev/null >/dev/null 2>&1 &\nsleep 2\n"
    job = testbed.run_as("alice", "login1", "sbatch", "--wait", "--parsable", "-p", "debug",
                         "-w", "c3", "-o", "/dev/null", "--wrap", script)
    assert job.ok, job.output
    left = ""
    for _ in range(10):  # the step's processes are killed as it ends; give the node 10 s
        left = testbed.exec("c3", "pgrep", "-a", "-u", "alice", "-f", marker).output.strip()
        if not left:
            break
        time.sleep(1)
    testbed.exec("c3", "pkill", "-u", "alice", "-f", marker)
    assert not left, f"alice's finished job left a process running on c3: {left}"
