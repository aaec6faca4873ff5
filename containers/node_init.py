"""Container entrypoint for testbed nodes: ``hpchub-node-init ROLE``.

Every role first makes the node look like the others (same users and groups, Slurm config,
munge), then runs the role's daemon in the foreground so that the container lives as long
as the daemon does. Roles: ``slurmdb``, ``slurmctld``, ``slurmd``, ``login``, ``hub``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

GENERATED = Path("/etc/hpchub/generated")
SECRETS = Path("/etc/hpchub/secrets")
SLURM_ETC = Path("/etc/slurm")


def run(*argv: str, check: bool = True, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(list(argv), check=check, **kwargs)


def create_unix_accounts() -> None:
    """Create the site's groups and users with fixed ids; homes live on the shared volume."""
    spec = json.loads((GENERATED / "unix_accounts.json").read_text())
    for group in spec["groups"]:
        if run("getent", "group", group["name"], check=False, capture_output=True).returncode:
            run("groupadd", "-g", str(group["gid"]), group["name"])
    for user in spec["users"]:
        name, uid = user["name"], str(user["uid"])
        home = Path("/home") / name
        if run("getent", "passwd", name, check=False, capture_output=True).returncode:
            run("groupadd", "-g", uid, name)
            run("useradd", "-M", "-u", uid, "-g", uid, "-d", str(home), "-s", "/bin/bash",
                "-c", user["comment"], name)
        if user["groups"]:
            run("usermod", "-G", ",".join(user["groups"]), name)
        make_home(home, uid, uid)
    for account in spec.get("collaboration_accounts", []):
        name, home = account["name"], Path("/home") / account["name"]
        if run("getent", "passwd", name, check=False, capture_output=True).returncode:
            run("useradd", "-M", "-u", str(account["uid"]), "-g", str(account["gid"]),
                "-d", str(home), "-s", "/bin/bash", "-c", f"{name} collaboration account", name)
        make_home(home, str(account["uid"]), str(account["gid"]))


def make_home(home: Path, uid: str, gid: str) -> None:
    if not home.exists():
        shutil.copytree("/etc/skel", home, dirs_exist_ok=True)
        run("chown", "-R", f"{uid}:{gid}", str(home))
        home.chmod(0o700)


def install_slurm_config() -> None:
    SLURM_ETC.mkdir(exist_ok=True)
    for name in ("slurm.conf", "gres.conf"):
        shutil.copy(GENERATED / name, SLURM_ETC / name)
    shutil.copy(GENERATED / "openmpi-mca-params.conf", "/etc/openmpi/openmpi-mca-params.conf")
    for path in ("/var/spool/slurmd", "/var/spool/slurmctld", "/var/log/slurm"):
        Path(path).mkdir(parents=True, exist_ok=True)
        shutil.chown(path, "slurm", "slurm")


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
    conf = SLURM_ETC / "slurmdbd.conf"
    shutil.copy(GENERATED / "slurmdbd.conf", conf)
    shutil.chown(conf, "slurm", "slurm")
    conf.chmod(0o600)
    password = next(
        line.split("=", 1)[1] for line in conf.read_text().splitlines()
        if line.startswith("StoragePass=")
    )
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
    os.execvp("slurmctld", ["slurmctld", "-D", "-i"])


def role_slurmd(gpus: int) -> None:
    """A compute node; GPU nodes get fake device files that Slurm hands out."""
    for index in range(gpus):
        device = f"/dev/nvidia{index}"
        if not os.path.exists(device):
            run("mknod", "-m", "666", device, "c", "195", str(index))
    os.execvp("slurmd", ["slurmd", "-D"])


SSHD_CONFIG = """\
# hpchub shared node: users arrive from the hub by host-based authentication only.
HostbasedAuthentication yes
HostbasedUsesNameFromPacketOnly yes
IgnoreRhosts yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication no
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
    run("hpchub", "kernels", "--site", str(GENERATED / "site.yaml"), "setup")
    # Every user's shared-node server joins that user's cgroup (hpchub.spawners.confine).
    confine = Path("/etc/sudoers.d/hpchub-confine")
    confine.write_text('ALL ALL=(root) NOPASSWD: /opt/hpchub/venv/bin/hpchub-confine ""\n')
    confine.chmod(0o440)
    run("visudo", "-cqf", str(confine))
    Path("/etc/ssh/sshd_config.d/hpchub.conf").write_text(
        SSHD_CONFIG + "HostKey /etc/ssh/ssh_host_ed25519_key\n")
    Path("/etc/ssh/shosts.equiv").write_text("hub\n")
    Path("/run/sshd").mkdir(exist_ok=True)
    os.execvp("/usr/sbin/sshd", ["/usr/sbin/sshd", "-D", "-e"])


def role_hub() -> None:
    """JupyterHub as an unprivileged user whose only privilege is the generated sudoers rule."""
    spec = json.loads((GENERATED / "unix_accounts.json").read_text())
    hub_user = spec["hub_user"]
    secrets = json.loads((SECRETS / "secrets.json").read_text())
    lines = "".join(f"{u['name']}:{secrets['demo_password']}\n" for u in spec["users"])
    run("chpasswd", input=lines, text=True)
    if run("getent", "passwd", hub_user, check=False, capture_output=True).returncode:
        # shadow: PAM checks site users' passwords; ssh-keysign signs with the host key.
        run("useradd", "-r", "-M", "-d", "/srv/hpchub", "-s", "/usr/sbin/nologin",
            "-G", "shadow", hub_user)
    sudoers = Path("/etc/sudoers.d/hpchub")
    shutil.copy(GENERATED / "sudoers", sudoers)
    sudoers.chmod(0o440)
    run("visudo", "-cqf", str(sudoers))
    install_ssh_identity()
    Path("/etc/ssh/ssh_config.d/hpchub.conf").write_text(SSH_CLIENT_CONFIG)
    run("chown", "-R", f"{hub_user}:{hub_user}", "/srv/hpchub")
    os.execvp("runuser", ["runuser", "-u", hub_user, "--", "hpchub", "hub",
                          "--site", str(GENERATED / "site.yaml"), "--state-dir", "/srv/hpchub"])


def main() -> None:
    if len(sys.argv) < 2:
        sys.exit("usage: hpchub-node-init slurmdb|slurmctld|slurmd [GPUS]|login|hub")
    role = sys.argv[1]
    create_unix_accounts()
    install_slurm_config()
    start_munge()
    if role == "slurmdb":
        role_slurmdb()
    elif role == "slurmctld":
        role_slurmctld()
    elif role == "slurmd":
        role_slurmd(int(sys.argv[2]) if len(sys.argv) > 2 else 0)
    elif role == "login":
        role_login()
    elif role == "hub":
        role_hub()
    else:
        sys.exit(f"hpchub-node-init: unknown role {role!r}")


if __name__ == "__main__":
    main()
