"""Pure builders: a :class:`Site` becomes the files and commands the testbed containers use.

Nothing here touches Docker; the results are unit-tested as text.
"""

from __future__ import annotations

import json

from hpchub.site_configs.schema import Site

CTLD_HOST = "slurmctld"
DBD_HOST = "slurmdb"
HUB_HOST = "hub"
GPU_DEVICE_DIR = "/dev"


JWT_KEY = "/etc/slurm/jwt_hs256.key"  # on slurmctld and slurmdb only (see node_init)
SLURM_CGROUP_ROOT = "/run/slurm-cgroup"  # compute nodes: the host directories of containers/cgroups.py


def slurm_conf(site: Site) -> str:
    """The cluster's slurm.conf."""
    lines = [
        f"ClusterName={site.cluster_name}",
        f"SlurmctldHost={CTLD_HOST}",
        "SlurmUser=slurm",
        "AuthType=auth/munge",
        # slurmrestd forwards each user's JWT (the hub off the cluster signs them).
        "AuthAltTypes=auth/jwt",
        f"AuthAltParameters=jwt_key={JWT_KEY}",
        "StateSaveLocation=/var/spool/slurmctld",
        "SlurmdSpoolDir=/var/spool/slurmd",
        "SlurmctldLogFile=/var/log/slurm/slurmctld.log",
        "SlurmdLogFile=/var/log/slurm/slurmd.log",
        "SlurmctldPidFile=/run/slurmctld.pid",
        "SlurmdPidFile=/run/slurmd.pid",
        # A job's processes are its freezer cgroup's (cgroup_conf); no task confinement in
        # containers; nodes claim HPC-sized resources on a small machine.
        "ProctrackType=proctrack/cgroup",
        "TaskPlugin=task/none",
        "SlurmdParameters=config_overrides",
        "SelectType=select/cons_tres",
        "SelectTypeParameters=CR_CPU",
        "SchedulerType=sched/backfill",
        "PriorityType=priority/multifactor",
        "PriorityWeightQOS=10000",
        "PriorityWeightAge=100",
        "MpiDefault=none",
        "GresTypes=gpu",
        "ReturnToService=2",
        # Fast failure detection: a dead node is DOWN (and its jobs NODE_FAIL) within ~30 s.
        "SlurmdTimeout=20",
        "SlurmctldTimeout=30",
        "MessageTimeout=10",
        "InactiveLimit=0",
        "KillWait=5",
        "MinJobAge=300",
        "JobAcctGatherType=jobacct_gather/none",
        "AccountingStorageType=accounting_storage/slurmdbd",
        f"AccountingStorageHost={DBD_HOST}",
        "AccountingStorageEnforce=associations,limits,qos",
        "AccountingStorageTRES=gres/gpu",
        "JobCompType=jobcomp/none",
        "",
    ]
    for group in site.node_groups:
        gres = f" Gres=gpu:{group.gpus}" if group.gpus else ""
        features = f" Feature={','.join(group.features)}" if group.features else ""
        lines.append(
            f"NodeName={group.names} CPUs={group.cpus} RealMemory={group.memory_mb}"
            f"{gres}{features} State=UNKNOWN"
        )
    lines.append("")
    for part in site.partitions:
        over = ("EXCLUSIVE" if part.exclusive else
                f"FORCE:{part.oversubscribe}" if part.oversubscribe else "NO")
        lines.append(
            f"PartitionName={part.name} Nodes={part.nodes} Default={'YES' if part.default else 'NO'}"
            f" MaxTime={part.max_time} OverSubscribe={over} State=UP"
        )
    return "\n".join(lines) + "\n"


def gres_conf(site: Site) -> str:
    """Fake GPU device files per GPU node; Slurm hands them out as CUDA_VISIBLE_DEVICES."""
    lines = []
    for group in site.node_groups:
        if group.gpus:
            last = group.gpus - 1
            lines.append(f"NodeName={group.names} Name=gpu File={GPU_DEVICE_DIR}/nvidia[0-{last}]")
    return "\n".join(lines) + "\n"


def slurmdbd_conf(db_password: str) -> str:
    return "\n".join(
        [
            "AuthType=auth/munge",
            "AuthAltTypes=auth/jwt",
            f"AuthAltParameters=jwt_key={JWT_KEY}",
            f"DbdHost={DBD_HOST}",
            "SlurmUser=slurm",
            "LogFile=/var/log/slurm/slurmdbd.log",
            "PidFile=/run/slurmdbd.pid",
            "StorageType=accounting_storage/mysql",
            "StorageHost=localhost",
            "StorageUser=slurm",
            f"StoragePass={db_password}",
            "StorageLoc=slurm_acct_db",
            "",
        ]
    )


def accounts(site: Site) -> list[str]:
    """Slurm accounts users belong to: one per collaboration plus the site default."""
    return [site.default_account] + [c.name for c in site.collaborations]


def user_accounts(site: Site, user: str) -> list[str]:
    return [site.default_account] + site.groups_of(user)


def sacctmgr_commands(site: Site) -> list[list[str]]:
    """Idempotent ``sacctmgr -i`` argv lists that create QOS, accounts and associations."""
    cmds: list[list[str]] = [["sacctmgr", "-i", "add", "cluster", site.cluster_name]]
    for qos in site.qos:
        cmds.append(["sacctmgr", "-i", "add", "qos", qos.name])
        mods = [f"Priority={qos.priority}"]
        if qos.max_time:
            mods.append(f"MaxWall={qos.max_time}")
        if qos.max_jobs_per_user:
            mods.append(f"MaxJobsPerUser={qos.max_jobs_per_user}")
        cmds.append(["sacctmgr", "-i", "modify", "qos", qos.name, "set", *mods])
    qos_names = ",".join(q.name for q in site.qos)
    default_qos = site.qos[0].name
    for account in accounts(site):
        cmds.append(
            ["sacctmgr", "-i", "add", "account", account, f"Cluster={site.cluster_name}",
             f"Description={account}", "Organization=hpchub"]
        )
    for collab in site.collaborations:
        if collab.allocation_node_hours:
            minutes = round(collab.allocation_node_hours * 60)
            cmds.append(["sacctmgr", "-i", "modify", "account", collab.name, "set",
                         f"GrpTRESMins=node={minutes}"])
    for collab in site.collaborations:  # the collaboration account validates kernel releases
        cmds.append(
            ["sacctmgr", "-i", "add", "user", collab.name, f"Account={collab.name}",
             f"Cluster={site.cluster_name}", f"QOS={qos_names}", f"DefaultQOS={default_qos}"]
        )
    for owner in collection_accounts(site):  # it runs the collection's suite through Slurm
        cmds.append(
            ["sacctmgr", "-i", "add", "user", owner["name"], f"Account={owner['account']}",
             f"Cluster={site.cluster_name}", f"QOS={qos_names}", f"DefaultQOS={default_qos}"]
        )
    for user in site.users:
        for account in user_accounts(site, user.name):
            cmds.append(
                ["sacctmgr", "-i", "add", "user", user.name, f"Account={account}",
                 f"Cluster={site.cluster_name}", f"QOS={qos_names}", f"DefaultQOS={default_qos}"]
            )
        cmds.append(
            ["sacctmgr", "-i", "modify", "user", user.name, "set",
             f"DefaultAccount={site.default_account}"]
        )
    return cmds


USERS_GROUP_GID = 4999
HUB_UID = 4990


COLLECTION_UID_BASE = 6000


def collection_accounts(site: Site) -> list[dict]:
    """The accounts that sync notebook collections (``owner``), where a collection names one
    that is neither a user nor a collaboration account: the testbed makes it in the directory
    with its collaboration as primary group (it reads the kernels, cannot change them) and a
    Slurm association with the collaboration's account. A center creates it in its own."""
    known = {u.name for u in site.users} | {c.name for c in site.collaborations}
    found: dict[str, dict] = {}
    for index, coll in enumerate(site.notebook_collections):
        if coll.owner and coll.collaboration and coll.owner not in known | set(found):
            found[coll.owner] = {"name": coll.owner, "uid": COLLECTION_UID_BASE + index,
                                 "gid": site.collaboration(coll.collaboration).gid,
                                 "account": coll.collaboration}
    return list(found.values())


def unix_accounts(site: Site) -> dict:
    """Users and groups to create identically in every container."""
    groups = [{"name": c.name, "gid": c.gid} for c in site.collaborations]
    groups.append({"name": site.hub.users_group, "gid": USERS_GROUP_GID})
    return {
        "groups": groups,
        "users": [
            {"name": u.name, "uid": u.uid, "comment": u.full_name,
             "groups": [*site.groups_of(u.name), site.hub.users_group]}
            for u in site.users
        ],
        # NERSC-style collaboration accounts (`collabsu desi`): they own the kernel releases.
        "collaboration_accounts": [{"name": c.name, "uid": c.gid, "gid": c.gid}
                                   for c in site.collaborations],
        "collection_accounts": collection_accounts(site),
        "hub_user": {"name": site.hub.user, "uid": HUB_UID},
    }


def sudoers(site: Site) -> str:
    """The hub's only privilege: these commands, as a member of the users group."""
    hub, group = site.hub.user, site.hub.users_group
    return (
        "# hpchub: the hub may run exactly these commands, as a user of the hub's users group.\n"
        f"Defaults:{hub} !requiretty, !lecture, env_reset\n"
        f"{hub} ALL=(%{group}) NOPASSWD: /usr/bin/sbatch, /usr/bin/scancel, /usr/bin/ssh\n"
    )


def ssh_known_hosts(public_keys: dict[str, str]) -> str:
    """Host keys of the hub and shared nodes, by node name."""
    return "".join(f"{node} {key.strip()}\n" for node, key in sorted(public_keys.items()))


def gpu_devices(site: Site, host: str) -> int:
    """How many fake GPU device files the node ``host`` needs."""
    return site.node_group(host).gpus if host in site.hostnames else 0


def generated_files(site: Site, db_password: str) -> dict[str, str]:
    """Every generated file, by name, as mounted read-only at /etc/hpchub/generated."""
    return {
        "slurm.conf": slurm_conf(site),
        "gres.conf": gres_conf(site),
        "slurmdbd.conf": slurmdbd_conf(db_password),
        "unix_accounts.json": json.dumps(unix_accounts(site), indent=2),
        "sacctmgr.json": json.dumps(sacctmgr_commands(site), indent=1),
        "cgroup.conf": cgroup_conf(),
        "openmpi-mca-params.conf": openmpi_params(site),
        "sudoers": sudoers(site),
        "nslcd.conf": nslcd_conf(),
    }


def cgroup_conf() -> str:
    """Slurm tracks each job's processes in a cgroup v1 freezer hierarchy: the testbed mounts
    a host directory of its own at SLURM_CGROUP_ROOT/freezer on every compute node
    (containers/cgroups.py); a daemon that leaves its job's process tree ends with the job.
    Nothing is constrained (no task/cgroup): the containers' CPUs and memory are the host's."""
    return (f"CgroupPlugin=cgroup/v1\nCgroupMountpoint={SLURM_CGROUP_ROOT}\n"
            "ConstrainCores=no\nConstrainRAMSpace=no\nConstrainSwapSpace=no\nConstrainDevices=no\n")


def openmpi_params(site: Site) -> str:
    """OpenMPI 5 settings for containers: TCP on the cluster interface, no CMA single-copy."""
    return (
        f"btl_tcp_if_include = {site.network.interface}\n"
        "btl_sm_single_copy_mechanism = none\n"
    )



# ---------------------------------------------------------------------- the directory (LDAP)
LDAP_HOST = "ldap"
LDAP_SUFFIX = "dc=hpchub,dc=test"
PEOPLE = f"ou=people,{LDAP_SUFFIX}"
GROUPS = f"ou=groups,{LDAP_SUFFIX}"


def ssha(password: str, salt: bytes) -> str:
    """An OpenLDAP ``{SSHA}`` password hash."""
    import base64
    import hashlib

    digest = hashlib.sha1(password.encode() + salt).digest()  # noqa: S324 - LDAP's SSHA format
    return "{SSHA}" + base64.b64encode(digest + salt).decode()


def directory_ldif(site: Site, password: str, salt: bytes) -> str:
    """The site's people and groups as LDAP entries (posixAccount, posixGroup with memberUid):
    users, their private groups, the collaborations and their accounts, the users group."""
    accounts = unix_accounts(site)
    entries = [
        [f"dn: {LDAP_SUFFIX}", "objectClass: dcObject", "objectClass: organization",
         "o: hpchub testbed", "dc: hpchub"],
        [f"dn: {PEOPLE}", "objectClass: organizationalUnit", "ou: people"],
        [f"dn: {GROUPS}", "objectClass: organizationalUnit", "ou: groups"],
    ]
    members: dict[str, list[str]] = {group["name"]: [] for group in accounts["groups"]}
    for user in accounts["users"]:
        entries.append(person(user["name"], user["uid"], user["uid"], user["comment"] or user["name"],
                              ssha(password, salt)))
        entries.append(group(user["name"], user["uid"], []))
        for name in user["groups"]:
            members[name].append(user["name"])
    for account in accounts["collaboration_accounts"]:
        entries.append(person(account["name"], account["uid"], account["gid"],
                              f"{account['name']} collaboration account", None))
    for account in accounts["collection_accounts"]:
        entries.append(person(account["name"], account["uid"], account["gid"],
                              f"{account['name']} notebook collection account", None))
    for entry in accounts["groups"]:
        entries.append(group(entry["name"], entry["gid"], members[entry["name"]]))
    return "\n".join("\n".join(lines) + "\n" for lines in entries)


def person(name: str, uid: int, gid: int, full_name: str, password_hash: str | None) -> list[str]:
    lines = [f"dn: uid={name},{PEOPLE}", "objectClass: inetOrgPerson", "objectClass: posixAccount",
             f"uid: {name}", f"cn: {full_name}", f"sn: {full_name.split()[-1]}",
             f"uidNumber: {uid}", f"gidNumber: {gid}", f"homeDirectory: /home/{name}",
             "loginShell: /bin/bash"]
    return lines + ([f"userPassword: {password_hash}"] if password_hash else [])


def group(name: str, gid: int, member_uids: list[str]) -> list[str]:
    return [f"dn: cn={name},{GROUPS}", "objectClass: posixGroup", f"cn: {name}",
            f"gidNumber: {gid}", *(f"memberUid: {uid}" for uid in member_uids)]


def nslcd_conf() -> str:
    """Every node and the hub resolve the site's users and groups from the directory."""
    return (f"uid nslcd\ngid nslcd\nuri ldap://{LDAP_HOST}/\nbase {LDAP_SUFFIX}\nssl off\n"
            "bind_timelimit 5\ntimelimit 5\nreconnect_retrytime 5\n"
            "# root, slurm, munge, the hub's account...: never looked up in the directory\n"
            "nss_initgroups_ignoreusers ALLLOCAL\n")


SLURM_CACHE_S = 20  # the testbed's tests change reservations and wait for the hub to see them
POLL_RUNNING_S = 5
SLURM_TIMEOUT_S = 8


def hub_config(site: Site) -> str:
    """The testbed hub's jupyterhub_config.py, as short as a center's own would be (the
    hub's ``cli`` mode is given on JupyterHub's command line)."""
    return f'''\
# The testbed's hub, configured the way a center configures its own.
from pathlib import Path

c.HPCHub.site_config = "/etc/hpchub/generated/site.yaml"
c.HPCHub.state_dir = "/srv/hpchub"
c.HPCHub.slurm_cache_lifetime = {SLURM_CACHE_S}  # seconds (default 60)
# The testbed notices an ended job or an outage sooner than a center needs to (its tests
# wait less). Defaults: job list every 20 s, given up after 20 s; server state every 10 s.
c.HPCHub.poll_interval_running = {POLL_RUNNING_S}
c.HPCHub.slurm_timeout = {SLURM_TIMEOUT_S}
c.Spawner.poll_interval = {POLL_RUNNING_S}
# Mutual TLS between hub, proxy and every server (certificates from hpchub.spawners.certs).
c.JupyterHub.internal_ssl = True

# Users log in with their directory (LDAP) password; members of {site.hub.users_group} may.
c.JupyterHub.authenticator_class = "hpchub-ldap"
c.LDAPAuthenticator.server_address = "{LDAP_HOST}"
c.LDAPAuthenticator.tls_strategy = "insecure"  # the testbed's directory has no TLS
c.LDAPAuthenticator.bind_dn_template = ["uid={{username}},{PEOPLE}"]
c.LDAPAuthenticator.allowed_groups = ["cn={site.hub.users_group},{GROUPS}"]

# The hub's database: PostgreSQL.
password = Path("/etc/hpchub/hub-db-password").read_text().strip()
c.JupyterHub.db_url = f"postgresql+psycopg://jupyterhub:{{password}}@postgres/jupyterhub"
c.JupyterHub.db_kwargs = {{"pool_pre_ping": True}}

# Settings of this testbed run (benchmarks), if any.
load_subconfig("/etc/hpchub/generated/jupyterhub_config_extra.py")

import hpchub.hub

hpchub.hub.configure(c)
'''
