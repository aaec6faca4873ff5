"""The testbed's hub as a center runs it: a short jupyterhub_config.py, users and groups from
LDAP (slapd, nslcd on every node), state in PostgreSQL, idle culling by jupyterhub-idle-culler."""

from __future__ import annotations

import re
import time

import pytest
import requests
from directory import member_of
from hubclient import HubUser
from test_spawners import wait_poll_rounds

CONFIG = "/etc/hpchub/generated/jupyterhub_config.py"


def login(testbed, user: str) -> requests.Response:
    session = requests.Session()
    session.get(f"{testbed.hub_url}/hub/login", timeout=10)
    return session.post(f"{testbed.hub_url}/hub/login", allow_redirects=False, timeout=60, data={
        "username": user, "password": testbed.secrets()["demo_password"],
        "_xsrf": session.cookies.get("_xsrf")})


def profiles_offered(user: HubUser) -> set[str]:
    page = user.session.get(f"{user.base}/hub/spawn", timeout=60)
    assert page.status_code == 200, page.text[:300]
    return set(re.findall(r'name="profile" id="profile-[^"]+" value="([^"]+)"', page.text))


def test_the_hub_runs_from_a_short_center_config_with_ldap_and_postgresql(testbed, alice):
    config = testbed.exec("hub", "cat", CONFIG).output
    settings = [line for line in config.splitlines() if line.strip() and not line.startswith("#")]
    assert len(settings) <= 20, config
    assert "hpchub.hub.configure(c)" in config and "hpchub-ldap" in config
    assert f"jupyterhub -f {CONFIG}" in testbed.exec("hub", "ps", "-eo", "args").output
    # The hub's users are rows in PostgreSQL; there is no SQLite database.
    rows = testbed.exec("postgres", "runuser", "-u", "postgres", "--", "psql", "-h", "/run/postgresql",
                        "-At", "-d", "jupyterhub", "-c", "SELECT name FROM users").output.split()
    assert "alice" in rows
    assert not testbed.exec("hub", "test", "-e", "/srv/hpchub/jupyterhub.sqlite").ok
    # No site user is baked into any node: every one resolves them from the directory.
    for node in ("hub", "login1", "c1", "g1", "slurmctld", "slurmrestd"):
        assert not testbed.exec(node, "grep", "-q", "^alice:", "/etc/passwd").ok, node
        assert re.match(r"alice:[^:]*:2001:", testbed.exec(node, "getent", "passwd", "alice").output), node


def test_a_member_added_to_a_collaboration_in_ldap_gets_its_profiles_at_next_login(testbed):
    assert "gpu" not in profiles_offered(HubUser(testbed, "dave"))
    with member_of(testbed, "dave", "desi"):
        assert "desi" in testbed.exec("c1", "id", "-Gn", "dave").output.split()  # no restart
        assert "gpu" in profiles_offered(HubUser(testbed, "dave"))
    assert "gpu" not in profiles_offered(HubUser(testbed, "dave"))
    assert "desi" not in testbed.exec("login1", "id", "-Gn", "dave").output.split()


def test_a_directory_outage_stops_logins_with_a_message_and_leaves_servers_alone(testbed, alice):
    alice.start("ldap-out", {"profile": "debug"})
    directory = testbed.container("ldap")
    directory.stop(timeout=5)
    try:
        refused = login(testbed, "carol")
        assert refused.status_code == 503
        assert "directory (LDAP) is not answering" in refused.text
        assert "Servers that are running are not affected" in refused.text
        wait_poll_rounds(testbed, 2, failed=False)  # while Slurm shows bare uids
        assert alice.server("ldap-out")["ready"]
        assert alice.run_code("ldap-out", "print(6 * 7)").strip() == "42"
    finally:
        directory.start()
    deadline = time.monotonic() + 60
    while login(testbed, "carol").status_code != 302:
        assert time.monotonic() < deadline, "logins did not come back with the directory"
        time.sleep(2)
    alice.stop("ldap-out")


def test_jupyterhub_upgrade_db_runs_on_the_postgresql_database(testbed):
    done = testbed.exec("hub", "sh", "-c", f"cd /srv/hpchub && runuser -u jupyterhub -- "
                        f"jupyterhub upgrade-db -f {CONFIG} 2>&1")
    assert done.ok, done.output
    head = testbed.exec("hub", "python3", "-c", (
        "from alembic.config import Config; from alembic.script import ScriptDirectory\n"
        "cfg = Config(); cfg.set_main_option('script_location', 'jupyterhub:alembic')\n"
        "print(ScriptDirectory.from_config(cfg).get_current_head())")).output.strip()
    stamped = testbed.exec("postgres", "runuser", "-u", "postgres", "--", "psql", "-h",
                           "/run/postgresql", "-At", "-d", "jupyterhub", "-c",
                           "SELECT version_num FROM alembic_version").output.strip()
    assert head and stamped == head


@pytest.fixture
def bob(testbed):
    user = HubUser(testbed, "bob")
    yield user
    for name in list(user.model().get("servers", {})):
        user.stop(name)


def test_an_idle_server_is_culled_its_job_cancelled_and_the_user_told_why(testbed, bob):
    bob.start("idle", {"profile": "quick"})  # idle limit 30 s
    bob.start("keep", {"profile": "shared"})  # no idle limit
    jobs = testbed.exec("slurmctld", "squeue", "-h", "-u", "bob", "-n", "hpchub-spawner", "-o", "%i")
    [job] = jobs.output.split()
    deadline = time.monotonic() + 240
    while bob.server("idle") and bob.server("idle").get("ready"):
        assert time.monotonic() < deadline, "the idle server was not culled"
        time.sleep(5)
    deadline = time.monotonic() + 60
    while testbed.exec("slurmctld", "squeue", "-h", "-j", job, "-o", "%T").output.strip() not in (
            "", "CANCELLED", "COMPLETED"):
        assert time.monotonic() < deadline, "the culled server's job is still in the queue"
        time.sleep(2)
    assert bob.server("keep")["ready"], "a server without an idle limit was culled"
    page = bob.session.get(f"{bob.base}/hub/spawn/bob/idle", timeout=60).text
    assert re.search(r"no activity for \d+ s, and servers of this profile are stopped after 30 s idle", page)


def test_the_nodes_runtime_has_no_hub_only_package_and_the_hub_has_them(testbed):
    hub_only = "wrapspawner", "ldapauthenticator", "psycopg", "jupyterhub_idle_culler"
    python = "/opt/hpchub/venv/bin/python"
    for package in hub_only:
        assert not testbed.exec("c1", python, "-c", f"import {package}").ok, package
        assert testbed.exec("hub", python, "-c", f"import {package}").ok, package
    # What runs in jobs and notebooks imports without them.
    done = testbed.exec("c1", python, "-c", "import hpchub.node.singleuser, hpchub.node.shared_launch, "
                        "hpchub.jobs.ipp, hpchub.jobs.dask, hpchub.kernels.visible")
    assert done.ok, done.output


@pytest.mark.parametrize("node", ["hub", "c1"])
def test_every_patched_upstream_is_at_a_tested_version(testbed, node):
    """The hub's and the nodes' runtimes hold the versions hpchub's patches were tested with
    (hpchub.compat); an image built with a newer release fails here, naming the patch."""
    done = testbed.exec(node, "/opt/hpchub/venv/bin/python", "-m", "hpchub.compat")
    assert done.ok, done.output
    patched_there = ("jupyterhub",) if node == "hub" else (
        "distributed", "jupyterhub", "jupyterlab")
    for upstream in patched_there:
        assert re.search(rf"^{upstream} +\d", done.output, re.M), done.output
