"""JupyterLab on a shared interactive node, without Slurm (as NERSC does on login nodes).

The hub runs ``ssh USER@NODE hpchub-shared-launch`` and logs in as the user either with a
short-lived certificate it signs (``ssh_login = "certificate"``: a hub off the cluster, see
:mod:`.ssh_certs`) or by host-based authentication as the user through its sudoers rule
(``"hostbased"``: a hub on a submit host). The least-loaded node of the pool is chosen; CPU
and memory limits per user come from the site config.

ssh must read nothing the user controls: ``-F /dev/null`` skips any ``~/.ssh/config`` (whose
``Match exec``, ``ProxyCommand`` or ``LocalCommand`` would run the user's code on the hub
host), and the options that matter are given on the command line (no user known-hosts file,
no identity files but the hub's, no agent).
"""

from __future__ import annotations

import json
from collections import Counter

from jupyterhub.spawner import Spawner
from traitlets import Dict, Enum, Instance, Integer, List, Unicode

from hpchub.node.contract import JobContract
from hpchub.site_configs import Site
from hpchub.slurm.runner import CommandTimeout, as_user, run

from . import certs
from .slurm import cancel_notebook_jobs
from .ssh_certs import UserCertificates

# Always set, whatever the site adds: nothing from the user's home directory is read.
SSH_FIXED = ("BatchMode=yes", "ConnectTimeout=10", "UserKnownHostsFile=/dev/null",
             "StrictHostKeyChecking=yes", "IdentitiesOnly=yes", "IdentityFile=/dev/null",
             "IdentityAgent=none", "ProxyCommand=none", "ProxyJump=none",
             "PermitLocalCommand=no", "ControlMaster=no", "ControlPath=none",
             "ForwardAgent=no", "ForwardX11=no", "ClearAllForwardings=yes", "LogLevel=ERROR")
# Servers per shared node started by this hub, for least-loaded placement.
_LOAD: Counter[str] = Counter()
_CERTIFICATES: dict[tuple[str, str], UserCertificates] = {}


def ssh_argv(user: str, node: str, options: list[str], argv: tuple[str, ...] | list[str]) -> list[str]:
    """ssh as ``user`` to ``node`` reading no configuration file, with ``SSH_FIXED`` last."""
    flags = [arg for option in (*options, *SSH_FIXED) for arg in ("-o", option)]
    return ["/usr/bin/ssh", "-F", "/dev/null", *flags, "-l", user, node, "--", *argv]


def _certificates(spawner: SharedNodeSpawner) -> UserCertificates:
    """The hub's certificate issuer (one per CA and directory, shared by every spawner)."""
    ca, directory = spawner.site.slurm_access.ssh_ca_key_file, spawner.ssh_key_dir
    if (ca, directory) not in _CERTIFICATES:
        _CERTIFICATES[ca, directory] = UserCertificates(ca, directory,
                                                        spawner.ssh_certificate_lifetime)
    return _CERTIFICATES[ca, directory]


class SharedNodeSpawner(Spawner):
    """A server on a shared (login) node, started over ssh as the user, no queue."""

    # From ProfilesSpawner, as for every child (see hpchub.spawners.profiles).
    site = Instance(Site, help="The center's site config (the shared node pool)")
    hpchub_request = Dict(help="The validated SpawnRequest fields for this server.")
    node = Unicode("")
    pid = Integer(0)
    start_timeout = Integer(60, help="Seconds a shared-node server may take to start"
                            ).tag(config=True)
    ssh_login = Enum(
        ["certificate", "hostbased"], default_value="hostbased",
        help="""How the hub logs in to shared nodes as the user: "certificate" (a user
        certificate signed with the site's ``slurm_access.ssh_ca_key_file``, valid
        ``ssh_certificate_lifetime`` seconds; no sudo) or "hostbased" (ssh run as the user
        through the hub's sudoers rule, with the hub host's key).""",
    ).tag(config=True)
    ssh_certificate_lifetime = Integer(
        300, help="Seconds a login certificate is valid (it is signed anew when a third is left)"
    ).tag(config=True)
    ssh_key_dir = Unicode(
        "/srv/hpchub/ssh-certificates",
        help="Private directory of the per-user keys and certificates (certificate login)",
    ).tag(config=True)
    ssh_options = List(
        Unicode(),
        default_value=["GlobalKnownHostsFile=/etc/ssh/ssh_known_hosts"],
        help="""Extra ssh ``-o`` options for reaching shared nodes. No ssh configuration file is
        read (``-F /dev/null``); options that keep the user's ``~/.ssh`` out (no ProxyCommand,
        identity files, agent...) and those of ``ssh_login`` are always added.""",
    ).tag(config=True)

    def launcher(self) -> str:
        return f"{self.site.runtime_prefix}/bin/hpchub-shared-launch"

    def pick_node(self) -> str:
        pool = [n.name for n in self.site.shared_nodes]
        return min(pool, key=lambda name: (_LOAD[name], pool.index(name)))

    def ssh_argv(self, login: list[str], *argv: str) -> list[str]:
        return ssh_argv(self.user.name, self.node, [*login, *self.ssh_options], argv)

    async def ssh(self, *argv: str, stdin: str | None = None, timeout: float = 30):
        if self.ssh_login == "hostbased":
            login = ["HostbasedAuthentication=yes", "EnableSSHKeysign=yes",
                     "PreferredAuthentications=hostbased"]
            command = as_user(self.user.name, self.ssh_argv(login, *argv))
        else:
            key, cert = await _certificates(self).identity(self.user.name)
            login = [f"IdentityFile={key}", f"CertificateFile={cert}",
                     "PreferredAuthentications=publickey"]
            command = self.ssh_argv(login, *argv)
        return await run(command, stdin=stdin, timeout=timeout)

    def get_state(self) -> dict:
        state = super().get_state()
        if self.pid:
            state.update(node=self.node, pid=self.pid)
        return state

    def load_state(self, state: dict) -> None:
        super().load_state(state)
        self.node, self.pid = state.get("node", ""), state.get("pid", 0)
        if self.pid:
            _LOAD[self.node] += 1

    def clear_state(self) -> None:
        super().clear_state()
        if self.pid:
            _LOAD[self.node] -= 1
        self.node, self.pid = "", 0

    async def start(self):
        self.node = self.pick_node()
        env = certs.env_with_pems({k: v for k, v in self.get_env().items()
                             if k.startswith("JUPYTERHUB_") or k in self.environment},
                            self.cert_paths.get("pems"))
        limits = next(n for n in self.site.shared_nodes if n.name == self.node)
        env.update(JobContract(memory_mb=limits.max_memory_mb_per_user).to_env())  # in JupyterLab
        spec = {
            "env": env,
            "command": [*self.cmd, *self.get_args()],
            "log": f"~/.hpchub-shared-{self.name or 'default'}.log",
        }
        try:
            result = await self.ssh(self.launcher(), "start", stdin=json.dumps(spec))
        except CommandTimeout:
            raise RuntimeError(f"The shared node {self.node} did not answer; try again") from None
        if not result.ok:
            raise RuntimeError(f"Could not start on shared node {self.node}: "
                               f"{result.err.strip()[-500:]}")
        reply = json.loads(result.out.strip().splitlines()[-1])
        self.pid = int(reply["pid"])
        _LOAD[self.node] += 1
        return self.node, int(reply["port"])

    async def poll(self):
        if not self.pid:
            return 0
        try:
            result = await self.ssh(self.launcher(), "status", str(self.pid), timeout=20)
        except CommandTimeout:
            return None  # node not answering: not a reason to call the server stopped
        if result.code == 255:  # ssh itself failed (node unreachable)
            return None
        return None if result.ok else 1

    async def stop(self, now: bool = False):
        await cancel_notebook_jobs(self.user.name, self.name, self.log)
        if self.pid:
            try:
                await self.ssh(self.launcher(), "stop", str(self.pid), timeout=20)
            except CommandTimeout:
                self.log.warning("stop on %s timed out", self.node)
