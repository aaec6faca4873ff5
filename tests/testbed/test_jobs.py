"""hpchub.jobs from notebooks in servers the hub started: the example notebooks end to end,
no jobs left behind however the kernel or server ends, and refused requests submit nothing."""

from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from hubclient import HubUser  # noqa: E402

EXAMPLES = Path(__file__).parents[2] / "examples"
SERVER = "jobs"
JOB_NAME = f"hpchub-nb-{SERVER}"


def code_cells(notebook: str) -> list[str]:
    cells = json.loads((EXAMPLES / notebook).read_text())["cells"]
    return ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]


def notebook_jobs(testbed, user: str = "alice") -> list[str]:
    out = testbed.exec("slurmctld", "squeue", "-h", "-u", user, "-o", "%i %j %T").output
    return [line for line in out.splitlines() if "hpchub-nb-" in line]


def wait_no_jobs(testbed, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while notebook_jobs(testbed) and time.monotonic() < deadline:
        time.sleep(1)
    assert notebook_jobs(testbed) == [], "notebook jobs left in squeue"


@pytest.fixture(scope="module")
def alice(testbed):
    user = HubUser(testbed, "alice")
    user.stop(SERVER)
    user.start(SERVER, {"profile": "shared"})
    yield user
    user.stop(SERVER)
    user.stop("alloc")


def test_mpi_notebook_spans_three_nodes(alice):
    out = alice.run_cells(SERVER, code_cells("01-mpi-ipyparallel.ipynb"), timeout=300)
    assert "engine ids: [0, 1, 2, 3, 4, 5]" in out[0], out[0]
    assert "6 engines ready on c[1-3]" in out[0], out[0]
    ranks = re.findall(r"rank (\d) of 6 on (\S+)", out[1])
    assert sorted(int(r) for r, _ in ranks) == [0, 1, 2, 3, 4, 5], out[1]
    assert {host for _, host in ranks} == {"c1", "c2", "c3"}
    assert "MPI sum over ranks: 21" in out[2]
    assert re.search(r"pi ~ 3\.1\d+ from 1200000 points", out[3]), out[3]
    assert f"squares: {[x * x for x in range(12)]}" in out[4]
    wait_no_jobs(alice.testbed, 30)


def test_gpu_notebook_binds_one_gpu_per_engine(alice):
    out = alice.run_cells(SERVER, code_cells("02-gpu-engines.ipynb"), timeout=300)
    lines = re.findall(r"engine \d on (\S+): CUDA_VISIBLE_DEVICES=(\d+) \(job's GPUs: ([\d,]+)\)", out[1])
    assert len(lines) == 2 and {host for host, _, _ in lines} == {"g1"}, out[1]
    visible = sorted(v for _, v, _ in lines)
    assert visible == ["0", "1"]
    assert all(v in allocated.split(",") for _, v, allocated in lines)
    wait_no_jobs(alice.testbed, 30)


def test_dask_notebook_scales_out_computes_and_scales_down(alice):
    cells = code_cells("03-dask-on-slurm.ipynb")
    kernel = alice.start_kernel(SERVER)
    try:
        out = alice.run_cells(SERVER, cells[:2], timeout=300, kernel_id=kernel)
        link = re.search(r"dashboard: (\S+)", out[0]).group(1)
        assert link.startswith(f"/user/alice/{SERVER}/proxy/"), link
        resp = alice.api.get(alice.base + link, timeout=30)
        assert resp.status_code == 200 and "Dask" in resp.text
        match = re.search(r"3 workers on (\d) nodes: (.*)", out[1])
        assert match and match.group(1) == "3", out[1]
        out = alice.run_cells(SERVER, cells[2:], timeout=300, kernel_id=kernel)
        assert "group means:" in out[0]
        assert "workers after scale-down: 0" in out[1]
    finally:
        alice.kernel_api(SERVER, kernel, "delete")
    wait_no_jobs(alice.testbed, 60)


START_ENGINES = """from hpchub.jobs import ipyparallel_cluster
cluster = ipyparallel_cluster(nodes=2, tasks_per_node=1, partition="debug")
rc = cluster.start_and_connect_sync()
print(len(rc.ids))"""


@pytest.mark.parametrize("how", ["kernel shutdown", "kernel restart", "server stop"])
def test_no_orphan_jobs_whatever_ends_the_notebook(alice, how):
    if not (alice.server(SERVER) or {}).get("ready"):
        alice.start(SERVER, {"profile": "shared"})
    kernel = alice.start_kernel(SERVER)
    assert alice.run_cells(SERVER, [START_ENGINES], timeout=180, kernel_id=kernel)[0].split()[-1] == "2"
    assert len(notebook_jobs(alice.testbed)) == 1
    if how == "kernel shutdown":
        assert alice.kernel_api(SERVER, kernel, "delete").status_code == 204
    elif how == "kernel restart":
        assert alice.kernel_api(SERVER, kernel, "post", "/restart").status_code == 200
        alice.kernel_api(SERVER, kernel, "delete")
    else:
        alice.stop(SERVER)
    wait_no_jobs(alice.testbed, 60)


@pytest.mark.parametrize("call, message", [
    ("ipyparallel_cluster(nodes=1, tasks_per_node=4, gpus_per_task=1, partition='gpu')",
     "nodes of 'gpu' have 2 GPU(s); you asked for 4 per node"),
    ("ipyparallel_cluster(nodes=1, account='lsst')", "you cannot charge account 'lsst'; yours: "),
    ("ipyparallel_cluster(nodes=4, partition='debug')", "partition 'debug' has 3 node(s)"),
    ("dask_cluster(partition='nope')", "unknown partition 'nope'"),
    ("ipyparallel_cluster(qos='debug', account='general', time='01:00:00', partition='debug')",
     "longer than 'debug' allows"),
])
def test_refused_requests_say_why_and_submit_nothing(alice, call, message):
    if not (alice.server(SERVER) or {}).get("ready"):
        alice.start(SERVER, {"profile": "shared"})
    code = f"from hpchub.jobs import *\ntry:\n    {call}\nexcept JobRequestError as e:\n    print(e)"
    assert message in alice.run_code(SERVER, code, timeout=60)
    assert notebook_jobs(alice.testbed) == []


def test_engines_inside_the_servers_own_allocation(alice):
    alice.stop("alloc")
    alice.start("alloc", {"profile": "configurable", "nodes": "2", "time": "00:20:00"})
    jobs_before = alice.testbed.exec("slurmctld", "squeue", "-h", "-u", "alice", "-o", "%i").output.split()
    code = """from hpchub.jobs import ipyparallel_cluster
import os
cluster = ipyparallel_cluster(nodes=2, tasks_per_node=2, mpi=True, in_allocation=True)
rc = cluster.start_and_connect_sync()
def where():
    import os, socket
    from mpi4py import MPI
    return socket.gethostname(), MPI.COMM_WORLD.allreduce(1), os.environ["SLURM_JOB_ID"]
import json
print("RESULT", os.environ["SLURM_JOB_ID"], json.dumps(rc[:].apply_sync(where)))
cluster.stop_cluster_sync()"""
    out = alice.run_code("alloc", code, timeout=180)
    _, job, rest = next(line for line in out.splitlines() if line.startswith("RESULT ")).split(" ", 2)
    results = json.loads(rest)
    assert len(results) == 4 and {r[1] for r in results} == {4}
    assert {r[2] for r in results} == {job}, "engines run as steps of the server's own job"
    assert len({r[0] for r in results}) == 2
    assert alice.testbed.exec("slurmctld", "squeue", "-h", "-u", "alice", "-o", "%i").output.split() \
        == jobs_before, "no new job was queued"
    alice.stop("alloc")
