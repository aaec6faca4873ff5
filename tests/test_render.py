"""The files and commands generated for the testbed, checked as text."""

from __future__ import annotations

import json
import re

from hpchub.containers import render
from hpchub.containers.engine import apt_mirror
from hpchub.containers.image import node_requirements
from hpchub.containers.testbed import free_subnet
from hpchub.site_configs import bundled_site

SITE = bundled_site("testbed")


def conf_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line and not line.startswith("#")]


def test_slurm_conf_nodes_and_partitions():
    lines = conf_lines(render.slurm_conf(SITE))
    assert "NodeName=c[1-3] CPUs=64 RealMemory=256000 Feature=cpu State=UNKNOWN" in lines
    assert "NodeName=g1 CPUs=64 RealMemory=256000 Gres=gpu:2 Feature=gpu State=UNKNOWN" in lines
    assert ("PartitionName=regular Nodes=c[1-3] Default=YES MaxTime=12:00:00 "
            "OverSubscribe=EXCLUSIVE State=UP") in lines
    assert "AccountingStorageEnforce=associations,limits,qos" in lines
    assert "SlurmdParameters=config_overrides" in lines


def test_gres_conf_has_one_device_per_gpu():
    assert render.gres_conf(SITE).strip() == "NodeName=g1 Name=gpu File=/dev/nvidia[0-1]"
    assert render.gpu_devices(SITE, "g1") == 2
    assert render.gpu_devices(SITE, "c1") == 0
    assert render.gpu_devices(SITE, "login1") == 0


def test_accounts_follow_collaborations():
    cmds = render.sacctmgr_commands(SITE)
    users = [c for c in cmds if c[2:4] == ["add", "user"]]
    carol = sorted(c[5] for c in users if c[4] == "carol")
    assert carol == ["Account=desi", "Account=general", "Account=lsst"]
    dave = [c[5] for c in users if c[4] == "dave"]
    assert dave == ["Account=general"]
    assert ["sacctmgr", "-i", "modify", "qos", "interactive", "set", "Priority=100",
            "MaxWall=04:00:00", "MaxJobsPerUser=2"] in cmds


def test_unix_accounts_have_fixed_ids():
    spec = render.unix_accounts(SITE)
    assert {"name": "desi", "gid": 5001} in spec["groups"]
    carol = next(u for u in spec["users"] if u["name"] == "carol")
    assert carol["uid"] == 2003 and carol["groups"] == ["desi", "lsst", "hpcusers"]
    assert {"name": "hpcusers", "gid": 4999} in spec["groups"]
    assert "NOPASSWD: /usr/bin/sbatch, /usr/bin/scancel, /usr/bin/ssh" in render.sudoers(SITE)


def test_generated_files_are_complete():
    files = render.generated_files(SITE, "secret")
    assert "StoragePass=secret" in files["slurmdbd.conf"]
    assert json.loads(files["sacctmgr.json"])[0][:4] == ["sacctmgr", "-i", "add", "cluster"]
    assert "btl_tcp_if_include = eth0" in files["openmpi-mca-params.conf"]


def test_apt_mirror_from_deb822_and_legacy(tmp_path):
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list.d" / "debian.sources").write_text(
        "Types: deb\nURIs: http://security.example/debian-security\nSuites: bookworm-security\n\n"
        "Types: deb\nURIs: http://mirror.example/debian\nSuites: bookworm bookworm-updates\n"
    )
    assert apt_mirror(tmp_path) == "http://mirror.example/debian"
    legacy = tmp_path / "legacy"
    (legacy / "sources.list.d").mkdir(parents=True)
    (legacy / "sources.list").write_text("deb [arch=amd64] http://old.example/debian bookworm main\n")
    assert apt_mirror(legacy) == "http://old.example/debian"


def test_free_subnet_skips_taken():
    assert str(free_subnet([])) == "172.28.0.0/24"
    assert str(free_subnet(["172.28.0.0/23", "fd00::/64"])) == "172.28.2.0/24"


def test_node_requirements_come_from_metadata():
    reqs = node_requirements()
    assert any(r.startswith("jupyterhub") for r in reqs)
    assert any(r.startswith("mpi4py") for r in reqs)
    assert not any(r.startswith("pytest") for r in reqs)
    # The nodes' runtime gets no hub-only package; the hub's images add them.
    assert not any(r.startswith(("batchspawner", "wrapspawner", "psycopg")) for r in reqs)
    hub = node_requirements("hub")
    assert {r.split("=")[0].split(">")[0].split("[")[0] for r in hub} >= {
        "wrapspawner", "jupyterhub-ldapauthenticator", "psycopg", "jupyterhub-idle-culler"}


def test_the_directory_holds_the_sites_people_and_groups():
    import base64
    import hashlib

    site = SITE
    ldif = render.directory_ldif(site, "pw", b"salt1234")
    entries = {block.splitlines()[0]: block for block in ldif.strip().split("\n\n")}
    alice = entries[f"dn: uid=alice,{render.PEOPLE}"]
    assert "uidNumber: 2001" in alice and "homeDirectory: /home/alice" in alice
    hashed = base64.b64decode(re.search(r"userPassword: \{SSHA\}(\S+)", alice).group(1))
    assert hashed == hashlib.sha1(b"pw" + b"salt1234").digest() + b"salt1234"  # noqa: S324
    desi = entries[f"dn: cn=desi,{render.GROUPS}"]
    assert set(re.findall(r"memberUid: (\w+)", desi)) == set(site.collaboration("desi").members)
    users_group = entries[f"dn: cn={site.hub.users_group},{render.GROUPS}"]
    assert set(re.findall(r"memberUid: (\w+)", users_group)) == {u.name for u in site.users}
    # Collaboration accounts own kernel releases but have no password to log in with.
    assert "userPassword" not in entries[f"dn: uid=desi,{render.PEOPLE}"]


def test_the_hub_config_is_short_and_valid_python():
    text = render.hub_config(SITE)
    compile(text, "jupyterhub_config.py", "exec")
    settings = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
    assert len(settings) <= 20 and settings[-1] == "hpchub.hub.configure(c)"
