"""An ordinary user (alice) attacks another (bob) on the real testbed: nothing happens to bob.

Each test reproduces one attack of the security issue for real: a second user's job with a
crafted name or comment, a real ``~/.ssh/config``, a real crafted kernel view.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest
import requests
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).parent))
from hubclient import HubUser  # noqa: E402
from test_spawners import hpchub_jobs, wait_poll_rounds, wait_until  # noqa: E402

NOW = "2026-01-01T00:00:00"


def state_of(testbed, job_id: str) -> str:
    return testbed.exec("slurmctld", "squeue", "-h", "-t", "all", "-j", job_id, "-o", "%T").output.strip()


def held_job(testbed, user: str, name: str = "probe", comment: str | None = None) -> str:
    """A job of ``user`` that stays PENDING (held): it sits in every squeue listing. Slurm
    takes names of up to 1024 characters, with any characters but NUL."""
    argv = ["sbatch", "--parsable", "--hold", "-p", "debug", "-t", "5", "-o", "/dev/null",
            f"--job-name={name}", "--wrap", "true"]
    if comment is not None:
        argv.insert(2, f"--comment={comment}")
    job = testbed.run_as(user, "login1", *argv)
    assert job.ok and job.output.strip().isdigit(), job.output
    return job.output.strip()


def rename(testbed, user: str, job_id: str, name: str) -> None:
    done = testbed.run_as(user, "login1", "scontrol", "update", f"JobId={job_id}", f"JobName={name}")
    assert done.ok, done.output


def forged_lines(job_ids, state: str, user: str = "bob") -> list[str]:
    """Records for ``job_ids`` in the poller's old (11 fields) and current (10 fields) format,
    plus the malformed ones that used to raise inside the parser."""
    lines = []
    for job_id in job_ids:
        lines += [f"{job_id}|{state}|None|login1|{NOW}|debug|9|{user}|hpchub-spawner|30:00|0:01",
                  f"{job_id}|{state}|None|login1|{NOW}|debug|9|{user}|30:00|0:01"]
    first = job_ids[0]
    return lines + [f"{first}||None|login1|{NOW}|debug|9|{user}|30:00|0:01",
                    f"{first}|{state}|None|login1|{NOW}|debug|\u0661\u0662|{user}|30:00|0:01"]


@pytest.fixture()
def cleanup(testbed):
    jobs: list[str] = []
    yield jobs
    if jobs:
        testbed.exec("slurmctld", "scancel", *jobs)


def test_crafted_job_names_forge_no_squeue_record(testbed, cleanup):
    """alice's job names hold forged squeue lines for bob's next jobs (RUNNING on login1) and
    for bob's running server (COMPLETED): bob's server starts on a compute node and keeps
    running; carol's batch spawn still works (the poller did not die)."""
    alice, bob, carol = (HubUser(testbed, n) for n in ("alice", "bob", "carol"))
    probe = held_job(testbed, "alice")
    cleanup.append(probe)
    rename(testbed, "alice", probe, "x\n" + "\n".join(
        forged_lines(list(range(int(probe) + 1, int(probe) + 5)), "RUNNING")))
    bob.stop("sec")
    events = bob.start("sec", {"profile": "debug"})
    messages = [e.get("message", "") for e in events]
    assert not any("login1" in m for m in messages), messages
    assert any("Running on c" in m for m in messages), messages
    host = bob.run_code("sec", "import socket; print(socket.gethostname())").strip()
    assert host in ("c1", "c2", "c3"), host
    job = next(m.split()[2] for m in messages if m.startswith("Submitted job"))
    killer = held_job(testbed, "alice", "x\n" + "\n".join(forged_lines([job], "COMPLETED")))
    cleanup.append(killer)
    try:
        carol.stop("sec")
        carol.start("sec", {"profile": "debug"})  # hurries the poller; proves it still runs
        wait_poll_rounds(testbed, 2, failed=False)  # the forged line read twice
        assert (bob.server("sec") or {}).get("ready"), "a forged COMPLETED stopped bob's server"
        assert bob.run_code("sec", "print(6 * 7)").strip() == "42"
        assert state_of(testbed, job) == "RUNNING"
    finally:
        bob.stop("sec")
        carol.stop("sec")


def test_crafted_comments_steer_no_cancel(testbed, cleanup):
    """alice's server-named job carries bob's job id in its comment: the reconciler looks at
    it, finds no provable server job, and cancels nothing of bob's."""
    work = testbed.run_as("bob", "login1", "sbatch", "--parsable", "-p", "debug", "-t", "10",
                          "-o", "/dev/null", "--job-name=bob-work", "--wrap", "sleep 600")
    assert work.ok, work.output
    victim = work.output.strip()
    cleanup.append(victim)
    forged = (f"hpchub:alice/g\n{victim}|bob|hpchub:bob/x|{NOW}\n{victim}|bob|{NOW}")
    lure = held_job(testbed, "alice", "hpchub-spawner", comment=forged)
    cleanup.append(lure)
    looked = f"job {lure} of alice is named hpchub-spawner but is no server job"
    wait_until(lambda: state_of(testbed, victim) not in ("RUNNING", "PENDING") or looked
               in testbed.container("hub").logs(since=int(time.time()) - 120).decode(), 120,
               "the reconciler did not look at the crafted job", step=3)
    assert state_of(testbed, victim) in ("RUNNING", "PENDING"), "bob's job was cancelled"
    assert state_of(testbed, lure) == "PENDING"  # not a server job: left alone too


def reconciler_env(testbed) -> dict[str, str]:
    """The managed service's own environment (its hub token and certificates)."""
    pid = testbed.exec("hub", "pgrep", "-f", "hpchub.spawners.reconcile").output.split()[0]
    raw = testbed.exec("hub", "cat", f"/proc/{pid}/environ", user="jupyterhub").output
    return dict(item.split("=", 1) for item in raw.split("\0") if "=" in item)


def test_reconciler_reads_every_page_of_active_users(testbed):
    """With a page of one user (as with 200+ users and JupyterHub's page limit), a round still
    sees every server: none of alice's or bob's server jobs is cancelled."""
    alice, bob = HubUser(testbed, "alice"), HubUser(testbed, "bob")
    for user in (alice, bob):
        user.stop("pages")
        user.start("pages", {"profile": "debug"})
    try:
        held = {r[0] for u in ("alice", "bob") for r in hpchub_jobs(testbed, u) if r[2] == "RUNNING"}
        result = testbed.exec("hub", "python3", "-m", "hpchub.spawners.reconcile", "--once",
                              "--page-size", "1", "--min-age", "0",
                              "--site", "/etc/hpchub/generated/site.yaml", user="jupyterhub",
                              env=reconciler_env(testbed))
        assert "round done" in result.output and "cancelling" not in result.output, result.output
        time.sleep(2)
        assert held <= {r[0] for u in ("alice", "bob") for r in hpchub_jobs(testbed, u)}
        assert alice.server("pages")["ready"] and bob.server("pages")["ready"]
    finally:
        alice.stop("pages")
        bob.stop("pages")


def test_users_ssh_config_runs_nothing_on_the_hub(testbed):
    """bob's ~/.ssh/config (shared home) asks ssh to run commands: the hub's ssh ignores it."""
    marker = "/tmp/hpchub-pwned-by-bob"
    config = (f'Match exec "touch {marker}-match"\n'
              f"Host *\n  ProxyCommand sh -c 'touch {marker}-proxy; exec nc %h %p'\n"
              f"  PermitLocalCommand yes\n  LocalCommand touch {marker}-local\n")
    setup = testbed.run_as("bob", "login1", "sh", "-c",
                           "mkdir -p -m 700 ~/.ssh && printf '%s' \"$1\" > ~/.ssh/config", "sh", config)
    assert setup.ok, setup.output
    bob = HubUser(testbed, "bob")
    try:
        bob.stop("sshcfg")
        bob.start("sshcfg", {"profile": "shared"})
        assert bob.run_code("sshcfg", "import socket; print(socket.gethostname())").strip() == "login1"
        bob.stop("sshcfg")
        leftovers = testbed.exec("hub", "sh", "-c", f"ls {marker}* 2>/dev/null").output
        assert not leftovers.strip(), f"bob's ssh config ran on the hub: {leftovers}"
    finally:
        testbed.run_as("bob", "login1", "rm", "-f", ".ssh/config")
        bob.stop("sshcfg")


def test_a_collaboration_view_reaches_no_further_than_its_own_kernels(testbed):
    """DESI's maintainer plants an 'lsst-current' kernel and a JupyterLab extension in DESI's
    view: carol (DESI and LSST) gets neither."""
    root = "/global/common/software/jupyter/kernels"
    plant = f"""
set -e
cd {root}/desi
old=$(readlink current || true)
echo "$old" > .before-evil
mkdir -p views/evil/kernels/lsst-current views/evil/kernels/desi-planted \
         views/evil/labextensions/evil-ext/static
for k in lsst-current desi-planted; do
  printf '{{"argv": ["/bin/false"], "display_name": "%s from desi", "language": "python"}}' $k \
    > views/evil/kernels/$k/kernel.json
done
printf '{{"name": "evil-ext", "version": "1.0.0", "jupyterlab": %s}}' \
  '{{"_build": {{"load": "static/remoteEntry.js"}}}}' > views/evil/labextensions/evil-ext/package.json
echo 'alert("evil")' > views/evil/labextensions/evil-ext/static/remoteEntry.js
chmod -R g+rX views/evil
ln -sfn views/evil current
"""
    restore = f"""
cd {root}/desi
old=$(cat .before-evil); rm -f .before-evil current
if [ -n "$old" ]; then ln -s "$old" current; fi
rm -rf views/evil
"""
    assert testbed.run_as("desi", "login1", "sh", "-c", plant).ok
    carol = HubUser(testbed, "carol")
    try:
        carol.stop("views")
        carol.start("views", {"profile": "shared"})
        specs = carol.api.get(f"{testbed.hub_url}/user/carol/views/api/kernelspecs", timeout=30).json()
        kernels = specs["kernelspecs"]
        assert "desi-planted" in kernels  # DESI's own names still come from DESI's view
        lsst = kernels.get("lsst-current")
        assert lsst is None or lsst["spec"]["display_name"] != "lsst-current from desi", lsst
        lab = carol.api.get(f"{testbed.hub_url}/user/carol/views/lab", timeout=30)
        assert lab.status_code == 200 and "hpchub-walltime" in lab.text  # our own extension loads
        assert "evil-ext" not in lab.text  # the planted one is not in the page's extension list
        path = carol.run_code("views", "import os; print(os.environ.get('JUPYTER_PATH', ''))")
        assert f"{root}/desi" not in path
    finally:
        carol.stop("views")
        testbed.run_as("desi", "login1", "sh", "-c", restore)


def test_kernels_setup_refuses_a_collaboration_without_its_account(testbed):
    """A collaboration whose group exists but whose account does not: setup changes nothing
    (it used to make a root-owned tree every member could write)."""
    site = testbed.exec("login1", "cat", "/etc/hpchub/generated/site.yaml").output
    site = site.replace("collaborations:\n", "collaborations:\n  - name: ghostc\n"
                        "    display_name: Ghost\n    gid: 5999\n    members: [alice]\n", 1)
    site = site.replace("/global/common/software/jupyter/kernels", "/tmp/ghost-kernels")
    script = ("getent group ghostc >/dev/null || groupadd -g 5999 ghostc; "
              "printf '%s' \"$1\" > /tmp/ghost-site.yaml; rm -rf /tmp/ghost-kernels; "
              "hpchub kernels --site /tmp/ghost-site.yaml setup; echo \"exit=$?\"; "
              "ls -la /tmp/ghost-kernels 2>&1")
    result = testbed.exec("login1", "sh", "-c", script, "sh", site)
    assert "exit=2" in result.output, result.output
    assert "no Unix account or group named after collaboration(s) ghostc" in result.output
    assert "No such file or directory" in result.output  # nothing was made


def test_metrics_need_a_token(testbed):
    assert requests.get(f"{testbed.hub_url}/hub/metrics", timeout=30).status_code == 403
    token = testbed.exec("hub", "cat", "/srv/hpchub/prometheus-token").output.strip()
    resp = requests.get(f"{testbed.hub_url}/hub/metrics", timeout=30,
                        headers={"Authorization": f"token {token}"})
    assert resp.status_code == 200 and "hpchub_poller_latency_seconds" in resp.text


def test_unknown_options_get_a_short_answer(testbed):
    dave = HubUser(testbed, "dave")
    body = {f"k{i}" + "x" * 60: 1 for i in range(10_000)}  # about 0.7 MB
    resp = dave.spawn("big", {"profile": "configurable", **body})
    assert resp.status_code == 400 and len(resp.content) < 2000, len(resp.content)
    dave.stop("big")


def test_reservation_excluding_a_user_is_not_offered_to_them(testbed):
    made = testbed.exec("slurmctld", "scontrol", "create", "reservation", "ReservationName=no-alice",
                        "Users=-alice", "StartTime=now+1day", "Duration=60", "Nodes=c1")
    assert made.ok, made.output
    made_at = time.monotonic()
    alice, bob = HubUser(testbed, "alice"), HubUser(testbed, "bob")

    def form(user: HubUser) -> str:
        return user.session.get(f"{testbed.hub_url}/hub/spawn", timeout=30).text

    try:
        # Polled more often than the proxy's 5 s keep-alive, which may close an idle connection.
        wait_until(lambda: 'value="no-alice"' in form(bob), 75, "bob was not offered no-alice",
                   step=2)
        from hpchub.containers.render import SLURM_CACHE_S  # how long forms cache Slurm

        time.sleep(max(0.0, SLURM_CACHE_S + 1 - (time.monotonic() - made_at)))
        assert 'value="no-alice"' not in form(alice)
    finally:
        testbed.exec("slurmctld", "scontrol", "delete", "ReservationName=no-alice")


def test_one_user_cannot_take_every_spawn_slot(testbed):
    """With the debug partition down, alice's spawns wait in the queue: only three (the
    testbed's limit) are taken, the rest get 429 at once, and bob still starts a server."""
    alice, bob = HubUser(testbed, "alice"), HubUser(testbed, "bob")
    names = [f"flood{i}" for i in range(5)]
    assert testbed.exec("slurmctld", "scontrol", "update", "PartitionName=debug", "State=DOWN").ok
    try:
        replies = [alice.spawn(name, {"profile": "debug"}) for name in names]
        assert [r.status_code for r in replies] == [202, 202, 202, 429, 429], [r.text for r in replies]
        assert "at most 3 may start at once" in replies[3].text
        bob.stop("fair")
        bob.start("fair", {"profile": "shared"})
        assert bob.run_code("fair", "print(1)").strip() == "1"
    finally:
        testbed.exec("slurmctld", "scontrol", "update", "PartitionName=debug", "State=UP")
        for name in names:
            alice.stop(name)
        bob.stop("fair")
    wait_until(lambda: not hpchub_jobs(testbed, "alice"), 30, "alice's queued jobs were left")


def test_named_servers_per_user_are_limited(testbed):
    dave = HubUser(testbed, "dave")
    names = [f"many{i}" for i in range(11)]
    try:
        replies = [dave.spawn(name, {"profile": "no-such-profile"}) for name in names]
        assert all(r.status_code == 400 for r in replies)
        assert "already has the maximum of 10 named servers" in replies[-1].text
    finally:
        for name in names:
            dave.stop(name)


CGROUP_PROBE = """
import json, os, subprocess, sys
cg = [line.split(":", 2)[2].strip() for line in open("/proc/self/cgroup") if ":cpuset:" in line][0]
mine = sorted(os.sched_getaffinity(0))
try:
    os.sched_setaffinity(0, range(os.cpu_count()))  # what `taskset -c 0-N` does
except OSError:
    pass
hog = subprocess.run([sys.executable, "-c", "b = b'x' * (1700 * 2**20)"])
print(json.dumps([cg, mine, sorted(os.sched_getaffinity(0)), hog.returncode]))
"""


def test_shared_node_limits_hold_per_user_in_their_own_cgroup(testbed):
    """alice and bob on the shared node: each in a cgroup of their own, on distinct CPUs that
    `taskset` cannot widen, and a process past the user's memory share is killed."""
    alice, bob = HubUser(testbed, "alice"), HubUser(testbed, "bob")
    seen = {}
    try:
        for user in (alice, bob):
            user.stop("cg")
            user.start("cg", {"profile": "shared"})
            seen[user.name] = json.loads(user.run_code("cg", CGROUP_PROBE, timeout=120))
        for name, (cgroup, cpus, after, hog) in seen.items():
            assert cgroup.endswith(f"/hpchub/{name}"), cgroup
            assert after == cpus, (name, cpus, after)
            assert hog == -9, f"{name}'s 1.7 GB process was not stopped at 1.5 GB ({hog})"
        assert seen["alice"][1] != seen["bob"][1], seen
        limit = testbed.exec("login1", "cat", "/run/hpchub-cgroup/memory/hpchub/bob/memory.limit_in_bytes")
        assert limit.output.strip() == str(1536 * 2**20)
        escape = testbed.run_as("bob", "login1", "sh", "-c",
                                "echo $$ > /run/hpchub-cgroup/cpuset/hpchub/cgroup.procs")
        assert not escape.ok  # leaving the cgroup needs root
    finally:
        alice.stop("cg")
        bob.stop("cg")


free_text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\0"),
                    min_size=1, max_size=120)


HUB_VIEW = """
import asyncio, json
from hpchub.hub.slurm_connection import connect_slurm
from hpchub.site_configs import load_site
from hpchub.slurm.client import slurm
connect_slurm(load_site("/etc/hpchub/generated/site.yaml"), "rest")
async def view():
    jobs, servers = await slurm().jobs(), await slurm().server_jobs()
    print(json.dumps([{j.job_id: (j.user, j.state, j.partition) for j in jobs.values()},
                      {j.job_id: j.user for j in servers}]))
asyncio.run(view())
"""


def hub_view(testbed) -> tuple[dict, dict]:
    """Jobs and server jobs as the hub's slurmrestd client reads them."""
    out = testbed.exec("hub", "python3", "-c", HUB_VIEW, user="jupyterhub").output
    jobs, servers = json.loads(out.strip().splitlines()[-1])
    return {k: tuple(v) for k, v in jobs.items()}, servers


@settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck))
@given(name=free_text, comment=free_text, as_server=st.booleans())
def test_real_jobs_with_arbitrary_names_parse_as_the_real_jobs(testbed, name, comment, as_server):
    """Real sbatch, real squeue: whatever alice names or comments her job, the poller's and the
    reconciler's records are exactly Slurm's jobs (ids, owners, states from safe listings)."""
    from hpchub.slurm.cli import SERVER_JOBS, SQUEUE_ALL
    from hpchub.slurm.jobs import parse_server_jobs, parse_squeue

    job_name = "hpchub-spawner" if as_server else name
    job = testbed.run_as("alice", "login1", "sbatch", "--parsable", "--hold", "-p", "debug",
                         "-t", "5", "-o", "/dev/null", f"--job-name={job_name}",
                         f"--comment={comment}", "--wrap", "true")
    assume(job.ok)  # Slurm refuses some texts outright (too long, ...): nothing to parse then
    job_id = job.output.strip().split(";")[0]
    try:
        def truth() -> dict[str, str]:  # ids and owners, from a listing with no user text
            return dict(line.split("|") for line in testbed.exec(
                "slurmctld", "squeue", "-h", "-a", "-t", "all", "-o", "%i|%u").output.split())

        before = truth()
        views = {  # the cli backend's parsers on a submit host, and the hub's slurmrestd client
            "cli": ({j.job_id: (j.user, j.state, j.partition) for j in parse_squeue(testbed.exec(
                        "login1", *SQUEUE_ALL, user="jupyterhub").output).values()},
                    {j.job_id: j.user for j in parse_server_jobs(
                        testbed.exec("login1", *SERVER_JOBS, user="jupyterhub").output)}),
            "rest": hub_view(testbed),
        }
        real = {**before, **truth()}  # a job may end between the listings, none may appear
        for polled, servers in views.values():
            assert set(before) <= set(polled) | (set(before) - set(truth()))
            assert set(polled) <= set(real), set(polled) - set(real)  # no forged record
            assert {j: p[0] for j, p in polled.items()} == {j: real[j] for j in polled}
            assert polled[job_id][1:] == ("PENDING", "debug")
            assert (job_id in servers) is as_server and servers.get(job_id, "alice") == "alice"
    finally:
        testbed.exec("slurmctld", "scancel", job_id)


def test_a_token_scoped_to_less_cannot_read_the_server_cards(testbed):
    """A token of alice's that may only report activity (as a notebook extension might hold)
    reads none of her cards (servers, nodes, jobs, shares, log lines); her full token does."""
    alice = HubUser(testbed, "alice")
    made = alice.api.post(f"{alice.base}/hub/api/users/alice/tokens", timeout=30,
                          json={"note": "activity only", "expires_in": 600,
                                "scopes": ["users:activity!user=alice"]})
    assert made.status_code == 201, made.text
    narrow = made.json()["token"]
    url = f"{alice.base}/hub/api/hpchub/servers"
    read = requests.get(url, headers={"Authorization": f"token {narrow}"}, timeout=30)
    assert read.status_code in (403, 404), read.text[:300]
    assert '"servers":' not in read.text
    assert alice.api.get(url, timeout=30).status_code == 200
