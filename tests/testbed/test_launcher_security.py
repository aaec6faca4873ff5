"""bob attacks alice's multi-node launchers for real: he finds every socket her Dask and
ipyparallel clusters listen on (all nodes), connects to each from his own processes and tries
to run code as her. Nothing runs, nothing of hers changes; her clusters keep working.

Also the MPI path: bob cannot attach a step to alice's MPI job (Slurm checks the job's owner,
munge-authenticated).
"""

from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from hubclient import HubUser  # noqa: E402

SERVER = "launchsec"
NODES = ("login1", "c1", "c2", "c3")
MARKER = "/tmp/hpchub-launcher-pwned"
ALICE_UID = "2001"
USER_OF = {ALICE_UID: "alice"}

# What bob runs on login1 against every socket of alice's (one process, each attempt given
# 10 s, twice what a client needs to connect to an open cluster: a peer that never answers is
# as closed as one that refuses); one JSON line per attempt.
ATTACK = r'''
import json, os, sys, threading, uuid
kind, marker, sockets = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])

def pwn():
    import getpass, pathlib
    pathlib.Path(marker).write_text(getpass.getuser())
    return getpass.getuser()

def attempt(socket, how, fn):
    out = {"socket": socket, "how": how, "got": None, "error": "no answer in 10 s"}
    def run():
        try:
            out.update(fn(), error=None)
        except BaseException as exc:
            out["error"] = f"{type(exc).__name__}: {str(exc)[:120]}"
    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(10)
    print("ATTEMPT", json.dumps(out), flush=True)

def dask(addr, scheme, security):
    from distributed import Client
    c = Client(f"{scheme}://{addr}", timeout="5s", security=security)
    return {"got": c.run_on_scheduler(pwn)}

def http(addr):
    # A dashboard or metrics server answering anyone (it must not listen off the loopback).
    import urllib.error, urllib.request
    try:
        with urllib.request.urlopen(f"http://{addr}/health", timeout=5) as answer:
            return {"got": f"HTTP {answer.status}"}
    except urllib.error.HTTPError as answer:  # any HTTP answer at all
        return {"got": f"HTTP {answer.code}"}

def ipp_client(addr):
    # An ipyparallel client that knows every port of alice's controller (copied from her
    # connection file by the test, as a network scan would find them), not her key, and
    # knocks first at this socket.
    import ipyparallel as ipp
    info = json.loads(sys.argv[4])
    info["key"] = uuid.uuid4().hex
    host, port = addr.rsplit(":", 1)
    info.update(interface=f"tcp://{host}", registration=int(port), location=host)
    rc = ipp.Client(info, timeout=2)
    return {"ids": rc.ids, "got": rc[:].apply_sync(pwn) if rc.ids else None}

for addr in sockets:
    if kind == "dask":
        from distributed.security import Security
        attempt(addr, "dask tcp", lambda a=addr: dask(a, "tcp", None))
        attempt(addr, "dask tls", lambda a=addr: dask(a, "tls", Security.temporary()))
        attempt(addr, "http", lambda a=addr: http(a))
    else:
        attempt(addr, "ipp client", lambda a=addr: ipp_client(a))
os._exit(0)
'''


def listening(testbed, uid: str) -> set[tuple[str, str, int, int]]:
    """(node, address, port, pid) of every TCP socket ``uid`` listens on, on every node (a
    socket on every interface is named by its node)."""
    found = set()
    for node in NODES:  # as the user: root in a container may not read others' /proc/<pid>/fd
        out = testbed.exec(node, "ss", "-H", "-ltnpe", user=USER_OF[uid]).output
        for line in out.splitlines():
            if f"uid:{uid} " not in line + " ":
                continue
            local = line.split()[3]
            address, port = local.rsplit(":", 1)
            address = address.strip("[]")
            if address in ("0.0.0.0", "*", "::"):  # every interface: reach it by the node's name
                address = node
            pid = re.search(r"pid=(\d+)", line)
            found.add((node, address, int(port), int(pid.group(1)) if pid else 0))
    return found


def loopback(address: str) -> bool:
    return address.startswith("127.") or address == "::1"


def process_of(testbed, node: str, pid: int) -> str:
    return testbed.exec(node, "sh", "-c", f"tr '\\0' ' ' < /proc/{pid}/cmdline").output


@pytest.fixture(scope="module")
def alice(testbed):
    user = HubUser(testbed, "alice")
    user.stop(SERVER)
    user.start(SERVER, {"profile": "shared"})
    yield user
    user.stop(SERVER)


def attack(testbed, sockets, kind: str, extra: str = "") -> list[dict]:
    """bob's attempts on every socket, from his own process on login1."""
    testbed.exec("login1", "rm", "-f", MARKER)
    targets = [f"{address}:{port}" for _, address, port, _ in sorted(sockets)]
    done = testbed.run_as("bob", "login1", "/opt/hpchub/venv/bin/python", "-c", ATTACK, kind,
                          MARKER, json.dumps(targets), extra)
    attempts = [json.loads(line[8:]) for line in done.output.splitlines()
                if line.startswith("ATTEMPT ")]
    tried = {a["socket"] for a in attempts}
    assert tried == set(targets), f"bob's attack did not run on every socket: {done.output[-2000:]}"
    return attempts


def assert_nothing_ran(testbed, attempts: list[dict]) -> None:
    won = [a for a in attempts if a.get("got") or a.get("ids")]
    assert not won, f"bob got in: {won}"
    assert not testbed.exec("login1", "test", "-e", MARKER).ok, "bob's code ran as alice"


DASK_START = """
from dask.distributed import Client
from hpchub.jobs import dask_cluster
cluster = dask_cluster(cores=1, memory="1GB", partition="debug", time="00:10:00")
client = Client(cluster)
cluster.scale(jobs=1)
client.wait_for_workers(1, timeout=240)
print("DASK", cluster.scheduler_address, client.dashboard_link)
"""


def test_another_user_cannot_use_a_members_dask_cluster(testbed, alice):
    before = listening(testbed, ALICE_UID)
    kernel = alice.start_kernel(SERVER)
    try:
        out = alice.run_cells(SERVER, [DASK_START], timeout=300, kernel_id=kernel)[0]
        scheduler, link = re.search(r"DASK (\S+) (\S+)", out).groups()
        opened = listening(testbed, ALICE_UID) - before
        assert any(str(port) in scheduler for _, _, port, _ in opened), (scheduler, opened)
        # Every socket the cluster opened: the scheduler in alice's kernel, each worker and nanny.
        exposed = {s for s in opened if not loopback(s[1])}
        assert len(exposed) >= 3, opened  # the scheduler, a worker and its nanny
        attempts = attack(testbed, exposed, "dask")
        assert len(attempts) == 3 * len(exposed)
        assert_nothing_ran(testbed, attempts)
        assert scheduler.startswith("tls://"), scheduler
        # The dashboard is on the loopback only, and still opens through the hub for alice.
        dashboard = int(re.search(r"/proxy/(\d+)/", link).group(1))
        assert dashboard in {p for _, a, p, _ in opened - exposed}, (dashboard, opened)
        assert alice.api.get(alice.base + link, timeout=30).status_code == 200
        # The cluster is still alice's and works.
        check = "print('SUM', client.submit(sum, [1, 2, 3]).result())"
        assert "SUM 6" in alice.run_cells(SERVER, [check], timeout=120, kernel_id=kernel)[0]
        # The workers' copy of the cluster's key is alice's alone.
        modes = testbed.run_as("alice", "login1", "find", ".hpchub/dask-security", "-printf",
                               "%m %u %p\\n").output
        rows = [line.split() for line in modes.splitlines()]
        assert rows[0][:2] == ["700", "alice"], modes
        assert all(r[0] == "600" and r[1] == "alice" for r in rows[1:]) and len(rows) > 1, modes
        leaked = testbed.run_as("bob", "login1", "sh", "-c", "cat ~alice/.hpchub/dask-security/.??*")
        assert not leaked.ok
    finally:
        alice.kernel_api(SERVER, kernel, "delete")


IPP_START = """
import json, os
from hpchub.jobs import ipyparallel_cluster
cluster = ipyparallel_cluster(nodes=2, tasks_per_node=1, partition="debug", time="00:10:00")
rc = cluster.start_and_connect_sync()
path = os.path.join(cluster.profile_dir, "security", f"ipcontroller-{cluster.cluster_id}-client.json")
print("IPP", len(rc.ids), path)
"""


def test_another_user_cannot_use_a_members_ipyparallel_cluster(testbed, alice):
    before = listening(testbed, ALICE_UID)
    kernel = alice.start_kernel(SERVER)
    try:
        out = alice.run_cells(SERVER, [IPP_START], timeout=300, kernel_id=kernel)[0]
        engines, path = re.search(r"IPP (\d+) (\S+)", out).groups()
        assert engines == "2"
        opened = listening(testbed, ALICE_UID) - before
        exposed = {s for s in opened if not loopback(s[1])}
        assert exposed, opened
        kinds = {process_of(testbed, node, pid) for node, _, _, pid in exposed}
        assert any("ipyparallel" in k or "ipcontroller" in k for k in kinds), kinds
        # bob knows every port of the controller (read here from alice's file, minus the key).
        info = json.loads(testbed.exec("login1", "cat", path).output)
        assert testbed.run_as("bob", "login1", "cat", path).ok is False, "bob reads her file"
        info.pop("key")
        attempts = attack(testbed, exposed, "ipp", json.dumps(info))
        assert_nothing_ran(testbed, attempts)
        check = "print('IDS', rc.ids, rc[:].apply_sync(lambda: 6 * 7))"
        assert "IDS [0, 1] [42, 42]" in alice.run_cells(SERVER, [check], timeout=120, kernel_id=kernel)[0]
    finally:
        alice.kernel_api(SERVER, kernel, "delete")


def test_another_user_cannot_attach_to_a_members_mpi_job(testbed):
    """MPI ranks are steps of alice's job: bob cannot add a step to it, and sattach gets him
    none of its tasks (each node's slurmd refuses him; alice herself would be attached)."""
    job = testbed.run_as("alice", "login1", "sbatch", "--parsable", "-p", "debug", "-N2", "-t", "5",
                         "-o", "/dev/null", "--wrap", "srun --mpi=pmix sleep 120")
    assert job.ok, job.output
    job_id = job.output.strip()
    try:
        deadline = time.monotonic() + 60
        while f"{job_id}.0 " not in testbed.exec("slurmctld", "squeue", "-h", "-s", "-o", "%i ").output:
            assert time.monotonic() < deadline, "alice's MPI step did not start"
            time.sleep(1)
        testbed.exec("login1", "rm", "-f", MARKER)
        into = testbed.run_as("bob", "login1", "srun", f"--jobid={job_id}", "--overlap", "-N1",
                              "touch", MARKER)
        assert not into.ok and "Access/permission denied" in into.output, into.output
        attach = testbed.run_as("bob", "login1", "timeout", "20", "sattach", f"{job_id}.0")
        assert attach.code != 124, "bob stayed attached to alice's step"
        assert attach.output.count("no tasks running") == 2, attach.output
        for node in NODES:
            assert not testbed.exec(node, "test", "-e", MARKER).ok
    finally:
        testbed.exec("slurmctld", "scancel", job_id)
