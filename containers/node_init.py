"""Container entrypoint for testbed nodes: ``hpchub-node-init ROLE``.

Every role first makes the node look like the others (same users and groups, Slurm config,
munge), then runs the role's daemon in the foreground so that the container lives as long
as the daemon does; users and groups come from the directory (``ldap``, through nslcd).
Roles: ``ldap``, ``postgres`` (the hub's database), ``slurmdb``, ``slurmctld``, ``slurmrestd``,
``slurmd``, ``login``, ``hub MODE``. The hub off the cluster (``hub rest``, the ``hub`` image)
has no Slurm, munge or sudo; ``hub cli`` runs on the node image, as a submit host.
"""

from __future__ import annotations

import json
import os
import re
import secrets as secrets_module
import shutil
import subprocess
import sys
import time
from pathlib import Path

from .render import LDAP_SUFFIX, ssha

GENERATED = Path("/etc/hpchub/generated")
SECRETS = Path("/etc/hpchub/secrets")
SLURM_ETC = Path("/etc/slurm")


def run(*argv: str, check: bool = True, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(list(argv), check=check, **kwargs)


def create_unix_accounts() -> None:
    """The hub's account is local (one uid everywhere); the site's users, groups and
    collaboration accounts come from the directory (nslcd). Homes live on the shared volume."""
    spec = json.loads((GENERATED / "unix_accounts.json").read_text())
    hub = spec["hub_user"]
    if run("getent", "passwd", hub["name"], check=False, capture_output=True).returncode:
        # Everywhere, with one uid: Slurm resolves the hub's token (its reads) on slurmctld.
        run("groupadd", "-g", str(hub["uid"]), hub["name"])
        run("useradd", "-M", "-u", str(hub["uid"]), "-g", str(hub["uid"]), "-d", "/srv/hpchub",
            "-s", "/usr/sbin/nologin", "-c", "hpchub hub", hub["name"])
    if Path("/home").is_mount():
        for user in spec["users"]:
            make_home(Path("/home") / user["name"], str(user["uid"]), str(user["uid"]))
        for account in spec.get("collaboration_accounts", []) + spec.get("collection_accounts", []):
            make_home(Path("/home") / account["name"], str(account["uid"]), str(account["gid"]))


def start_nslcd(spec: dict) -> None:
    """Resolve users and groups from the directory (no cache: a group change shows at once)."""
    shutil.copy(GENERATED / "nslcd.conf", "/etc/nslcd.conf")
    shutil.chown("/etc/nslcd.conf", "root", "nslcd")
    Path("/etc/nslcd.conf").chmod(0o640)
    lines = [re.sub(r"^(passwd|group|shadow):.*$", r"\1:         files ldap", line)
             for line in Path("/etc/nsswitch.conf").read_text().splitlines()]
    Path("/etc/nsswitch.conf").write_text("\n".join(lines) + "\n")
    Path("/run/nslcd").mkdir(exist_ok=True)
    shutil.chown("/run/nslcd", "nslcd", "nslcd")
    run("/usr/sbin/nslcd")
    if spec["users"]:
        probe = spec["users"][0]["name"]
        deadline = time.monotonic() + 90
        while run("getent", "passwd", probe, check=False, capture_output=True).returncode:
            if time.monotonic() > deadline:
                sys.exit(f"hpchub-node-init: {probe} is not in the directory (ldap) after 90 s")
            time.sleep(0.5)


def role_ldap() -> None:
    """slapd with the site's people and groups (loaded once per container)."""
    loaded = Path("/var/lib/ldap/.hpchub-loaded")
    if not loaded.exists():
        admin = json.loads((SECRETS / "secrets.json").read_text())["ldap_admin_password"]
        salt = secrets_module.token_bytes(8)
        config = (Path("/usr/share/slapd/slapd.init.ldif").read_text()
                  .replace("@SUFFIX@", LDAP_SUFFIX).replace("@PASSWORD@", ssha(admin, salt)))
        for path in ("/etc/ldap/slapd.d", "/var/lib/ldap"):
            shutil.rmtree(path, ignore_errors=True)
            Path(path).mkdir(parents=True)
        run("slapadd", "-F", "/etc/ldap/slapd.d", "-n", "0", input=config, text=True)
        run("slapadd", "-F", "/etc/ldap/slapd.d", "-n", "1", "-l", str(SECRETS / "directory.ldif"))
        run("chown", "-R", "openldap:openldap", "/etc/ldap/slapd.d", "/var/lib/ldap")
        loaded.touch()
    Path("/run/slapd").mkdir(exist_ok=True)
    shutil.chown("/run/slapd", "openldap", "openldap")
    os.execvp("slapd", ["slapd", "-d", "0", "-h", "ldap:/// ldapi:///", "-u", "openldap",
                        "-g", "openldap", "-F", "/etc/ldap/slapd.d"])


def role_postgres() -> None:
    """PostgreSQL with the hub's database (made once, on the data volume). The hub's password
    is set at every start: a new checkout has new secrets but may find the old volume."""
    data = Path("/var/lib/postgresql/hpchub/data")
    bin_dir = max(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name))
    Path("/run/postgresql").mkdir(exist_ok=True)
    for path in ("/run/postgresql", "/var/lib/postgresql/hpchub"):
        shutil.chown(path, "postgres", "postgres")
    as_postgres = ["runuser", "-u", "postgres", "--"]
    psql = [*as_postgres, "psql", "-q", "-h", "/run/postgresql", "-tA"]
    fresh = not (data / "PG_VERSION").exists()
    if fresh:
        run(*as_postgres, str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "-E", "UTF8",
            "--auth-local=peer", "--auth-host=scram-sha-256", stdout=subprocess.DEVNULL)
        with (data / "pg_hba.conf").open("a") as hba:
            hba.write("host jupyterhub jupyterhub 0.0.0.0/0 scram-sha-256\n")
    password = json.loads((SECRETS / "secrets.json").read_text())["hub_db_password"]
    run(*as_postgres, str(bin_dir / "pg_ctl"), "-D", str(data), "-w", "-o",
        "-c listen_addresses= -k /run/postgresql", "start", stdout=subprocess.DEVNULL)
    if fresh:
        run(*psql, "-c", "CREATE ROLE jupyterhub LOGIN")
        run(*as_postgres, "createdb", "-h", "/run/postgresql", "-O", "jupyterhub", "jupyterhub")
    run(*psql, "-c", f"ALTER ROLE jupyterhub PASSWORD '{password}'")  # hex: nothing to quote
    run(*as_postgres, str(bin_dir / "pg_ctl"), "-D", str(data), "-w", "stop",
        stdout=subprocess.DEVNULL)
    os.execvp("runuser", [*as_postgres, str(bin_dir / "postgres"), "-D", str(data),
                          "-c", "listen_addresses=*", "-k", "/run/postgresql"])


def make_home(home: Path, uid: str, gid: str) -> None:
    if not home.exists():
        shutil.copytree("/etc/skel", home, dirs_exist_ok=True)
        run("chown", "-R", f"{uid}:{gid}", str(home))
        home.chmod(0o700)


def install_slurm_config() -> None:
    SLURM_ETC.mkdir(exist_ok=True)
    for name in ("slurm.conf", "gres.conf", "cgroup.conf"):
        shutil.copy(GENERATED / name, SLURM_ETC / name)
    shutil.copy(GENERATED / "openmpi-mca-params.conf", "/etc/openmpi/openmpi-mca-params.conf")
    for path in ("/var/spool/slurmd", "/var/spool/slurmctld", "/var/log/slurm"):
        Path(path).mkdir(parents=True, exist_ok=True)
        shutil.chown(path, "slurm", "slurm")


def install_jwt_key() -> None:
    """Slurm's JWT key, for slurmctld and slurmdbd to check the tokens slurmrestd forwards."""
    key = SLURM_ETC / "jwt_hs256.key"
    shutil.copy(SECRETS / "jwt_hs256.key", key)
    shutil.chown(key, "slurm", "slurm")
    key.chmod(0o600)


def start_munge() -> None:
    Path("/run/munge").mkdir(exist_ok=True)
    shutil.chown("/run/munge", "munge", "munge")
    run("runuser", "-u", "munge", "--", "/usr/sbin/munged", "--force")


def wait_for(path: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not Path(path).exists():
        if time.monotonic() > deadline:
            sys.exit(f"hpchub-node-init: {path} did not appear within {seconds:.0f} s")
        time.sleep(0.2)


def role_slurmdb() -> None:
    """MariaDB plus slurmdbd (accounting: accounts, QOS, associations)."""
    install_jwt_key()
    conf = SLURM_ETC / "slurmdbd.conf"
    shutil.copy(GENERATED / "slurmdbd.conf", conf)
    shutil.chown(conf, "slurm", "slurm")
    conf.chmod(0o600)
    password = next(
        line.split("=", 1)[1] for line in conf.read_text().splitlines()
        if line.startswith("StoragePass=")
    )
    # Volumes outlive images, whose package users may get other uids: own the data again.
    run("chown", "-R", "mysql:mysql", "/var/lib/mysql")
    Path("/run/mysqld").mkdir(exist_ok=True)
    shutil.chown("/run/mysqld", "mysql", "mysql")
    subprocess.Popen(["/usr/bin/mysqld_safe", "--skip-syslog"], stdout=subprocess.DEVNULL)
    wait_for("/run/mysqld/mysqld.sock", 60)
    sql = (
        "CREATE DATABASE IF NOT EXISTS slurm_acct_db;"
        f"CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY '{password}';"
        f"ALTER USER 'slurm'@'localhost' IDENTIFIED BY '{password}';"
        "GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';"
    )
    for _ in range(50):
        if run("mysql", "-u", "root", "-e", sql, check=False).returncode == 0:
            break
        time.sleep(0.2)
    os.execvp("slurmdbd", ["slurmdbd", "-D"])


def role_slurmctld() -> None:
    install_jwt_key()
    run("chown", "-R", "slurm:slurm", "/var/spool/slurmctld")  # as /var/lib/mysql above
    os.execvp("slurmctld", ["slurmctld", "-D", "-i"])


def role_slurmrestd() -> None:
    """slurmrestd with JWT authentication: it holds no key and checks no token itself; it
    forwards each request's token to slurmctld/slurmdbd, which do."""
    if run("getent", "passwd", "slurmrestd", check=False, capture_output=True).returncode:
        run("useradd", "-r", "-M", "-d", "/nonexistent", "-s", "/usr/sbin/nologin", "slurmrestd")
    os.environ["SLURM_JWT"] = "daemon"
    # Docker's seccomp profile forbids unshare(2); a real deployment keeps these protections.
    os.environ["SLURMRESTD_SECURITY"] = "disable_unshare_sysv,disable_unshare_files"
    os.execvp("slurmrestd", ["slurmrestd", "-a", "rest_auth/jwt", "-u", "slurmrestd",
                             "-g", "slurmrestd", "-s", "openapi/slurmctld,openapi/slurmdbd",
                             "0.0.0.0:6820"])


def install_module_path() -> None:
    """Each collaboration's module tree on Lmod's MODULEPATH (as a center lists its trees in
    ``/etc/lmod/modulespath``)."""
    from hpchub.site_configs import load_site

    site = load_site(str(GENERATED / "site.yaml"))
    listing = Path("/etc/lmod/modulespath")
    if not listing.parent.is_dir():
        return
    ours = [f"{site.module_root}/{c.name}" for c in site.collaborations]
    kept = [line for line in listing.read_text().splitlines() if line not in ours] \
        if listing.exists() else []
    listing.write_text("\n".join(kept + ours) + "\n")


def role_slurmd(gpus: int) -> None:
    """A compute node; GPU nodes get fake device files that Slurm hands out."""
    install_module_path()
    for index in range(gpus):
        device = f"/dev/nvidia{index}"
        if not os.path.exists(device):
            run("mknod", "-m", "666", device, "c", "195", str(index))
    os.execvp("slurmd", ["slurmd", "-D"])


SSHD_CONFIG = """\
# hpchub shared node: users arrive from the hub only, with a certificate of the hub's user CA
# (hub off the cluster) or by host-based authentication (hub on a submit host).
TrustedUserCAKeys /etc/ssh/hpchub_user_ca.pub
PubkeyAuthentication yes
AuthorizedKeysFile /etc/ssh/hpchub-collections/%u
HostbasedAuthentication yes
HostbasedUsesNameFromPacketOnly yes
IgnoreRhosts yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin no
"""
SSH_CLIENT_CONFIG = """\
# hpchub hub: log in to shared nodes as the user with the hub's host key (ssh-keysign).
Host *
    HostbasedAuthentication yes
    EnableSSHKeysign yes
    PreferredAuthentications hostbased
    StrictHostKeyChecking yes
    UserKnownHostsFile /dev/null
    GlobalKnownHostsFile /etc/ssh/ssh_known_hosts
    LogLevel ERROR
"""


def install_ssh_identity() -> None:
    """This node's host key (from its secrets mount) and every hpchub node's public key."""
    for suffix, mode in (("", 0o600), (".pub", 0o644)):
        target = Path(f"/etc/ssh/ssh_host_ed25519_key{suffix}")
        shutil.copy(SECRETS / f"ssh_host_ed25519_key{suffix}", target)
        target.chmod(mode)
    shutil.copy(GENERATED / "ssh_known_hosts", "/etc/ssh/ssh_known_hosts")


def role_login() -> None:
    """The shared interactive node: a Slurm submit host plus sshd for the hub."""
    install_ssh_identity()
    install_module_path()
    Path("/etc/hpchub").mkdir(exist_ok=True)
    shutil.copy(GENERATED / "notebook_webhook_ca.pub", "/etc/hpchub/notebook-webhook-ca.pub")
    run("hpchub", "kernels", "--site", str(GENERATED / "site.yaml"), "setup")
    run("hpchub", "notebooks", "--site", str(GENERATED / "site.yaml"), "setup")
    # Every user's shared-node server joins that user's cgroup (hpchub.node.confine).
    confine = Path("/etc/sudoers.d/hpchub-confine")
    confine.write_text('ALL ALL=(root) NOPASSWD: /opt/hpchub/venv/bin/hpchub-confine ""\n')
    confine.chmod(0o440)
    run("visudo", "-cqf", str(confine))
    Path("/etc/ssh/sshd_config.d/hpchub.conf").write_text(
        SSHD_CONFIG + "HostKey /etc/ssh/ssh_host_ed25519_key\n")
    Path("/etc/ssh/shosts.equiv").write_text("hub\n")
    shutil.copy(GENERATED / "ssh_user_ca.pub", "/etc/ssh/hpchub_user_ca.pub")
    Path("/run/sshd").mkdir(exist_ok=True)
    os.execvp("/usr/sbin/sshd", ["/usr/sbin/sshd", "-D", "-e"])


def role_hub(mode: str) -> None:
    """JupyterHub as an unprivileged user. ``cli``: its only privilege is the generated sudoers
    rule. ``rest``: it holds Slurm's JWT key and the SSH user CA, readable by it alone."""
    spec = json.loads((GENERATED / "unix_accounts.json").read_text())
    hub_user = spec["hub_user"]["name"]
    secrets = json.loads((SECRETS / "secrets.json").read_text())
    password = Path("/etc/hpchub/hub-db-password")
    password.write_text(secrets["hub_db_password"])
    shutil.chown(password, hub_user, hub_user)
    password.chmod(0o400)
    Path("/srv/hpchub").mkdir(exist_ok=True)
    run("chown", "-R", f"{hub_user}:{hub_user}", "/srv/hpchub")
    shutil.copy(GENERATED / "ssh_known_hosts", "/etc/ssh/ssh_known_hosts")
    if mode == "cli":
        sudoers = Path("/etc/sudoers.d/hpchub")
        shutil.copy(GENERATED / "sudoers", sudoers)
        sudoers.chmod(0o440)
        run("visudo", "-cqf", str(sudoers))
        install_ssh_identity()  # ssh-keysign signs host-based logins with the host key
        Path("/etc/ssh/ssh_config.d/hpchub.conf").write_text(SSH_CLIENT_CONFIG)
    keys = [("notebook-webhook-ca", "/etc/hpchub/notebook-webhook-ca")]
    if mode != "cli":
        keys += [("jwt_hs256.key", "/etc/hpchub/slurm-jwt.key"),
                 ("ssh-user-ca", "/etc/hpchub/ssh-user-ca")]
    for source, target in keys:
        shutil.copy(SECRETS / source, target)
        shutil.chown(target, hub_user, hub_user)
        Path(target).chmod(0o400)
    install_webhook_secrets(secrets["notebook_webhook_secret"], hub_user)
    os.chdir("/srv/hpchub")
    os.execvp("runuser", ["runuser", "-u", hub_user, "--", "jupyterhub", "-f",
                          str(GENERATED / "jupyterhub_config.py"), f"--HPCHub.slurm_access={mode}"])


def install_webhook_secrets(secret: str, hub_user: str) -> None:
    """The testbed's collections share one webhook secret (a center gives each its own)."""
    from hpchub.site_configs import load_site

    for coll in load_site(str(GENERATED / "site.yaml")).notebook_collections:
        if coll.webhook_secret_file:
            path = Path(coll.webhook_secret_file)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(secret)
            shutil.chown(path, hub_user, hub_user)
            path.chmod(0o400)


def main() -> None:
    if len(sys.argv) < 2:
        sys.exit("usage: hpchub-node-init ldap|postgres|slurmdb|slurmctld|slurmrestd|"
                 "slurmd [GPUS]|login|hub rest|cli")
    role, args = sys.argv[1], sys.argv[2:]
    if role == "ldap":
        role_ldap()
    if role == "postgres":
        role_postgres()
    start_nslcd(json.loads((GENERATED / "unix_accounts.json").read_text()))
    create_unix_accounts()
    if not (role == "hub" and args[:1] == ["rest"]):  # the hub off the cluster has no Slurm
        install_slurm_config()
        start_munge()
    if role == "slurmdb":
        role_slurmdb()
    elif role == "slurmctld":
        role_slurmctld()
    elif role == "slurmrestd":
        role_slurmrestd()
    elif role == "slurmd":
        role_slurmd(int(args[0]) if args else 0)
    elif role == "login":
        role_login()
    elif role == "hub":
        role_hub(args[0] if args else "cli")
    else:
        sys.exit(f"hpchub-node-init: unknown role {role!r}")


if __name__ == "__main__":
    main()
