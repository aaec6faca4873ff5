"""JupyterLab on a shared interactive node, without Slurm (as NERSC does on login nodes).

The hub runs ``ssh NODE hpchub-shared-launch`` as the user (host-based SSH authentication,
through the hub's sudoers rule). The least-loaded node of the pool is chosen; CPU and memory
limits per user come from the site config.

ssh runs on the hub host as the user, so it must read nothing the user controls: ``-F
/dev/null`` skips ``~/.ssh/config`` (whose ``Match exec``, ``ProxyCommand`` or
``LocalCommand`` would run the user's code on the hub host), and the options that matter are
given on the command line (no user known-hosts file, no identity files, no agent).
"""

from __future__ import annotations

import json
from collections import Counter

from hpchub.site_configs import load_site
from hpchub.slurm.runner import CommandTimeout, as_user, run
from jupyterhub.spawner import Spawner
from traitlets import Integer, List, Unicode

from . import certs
from .slurm import cancel_notebook_jobs

# Always set, whatever the site adds: nothing from the user's home directory is read.
SSH_FIXED = ("BatchMode=yes", "ConnectTimeout=10", "UserKnownHostsFile=/dev/null",
             "StrictHostKeyChecking=yes", "IdentitiesOnly=yes", "IdentityFile=/dev/null",
             "IdentityAgent=none", "ProxyCommand=none", "ProxyJump=none",
             "PermitLocalCommand=no", "ControlMaster=no", "ControlPath=none",
             "ForwardAgent=no", "ForwardX11=no", "ClearAllForwardings=yes", "LogLevel=ERROR")
# Servers per shared node started by this hub, for least-loaded placement.
_LOAD: Counter[str] = Counter()


class SharedNodeSpawner(Spawner):
    site_path = Unicode(help="Site config with the shared node pool").tag(config=True)
    node = Unicode("")
    pid = Integer(0)
    start_timeout = Integer(60).tag(config=True)
    ssh_options = List(
        Unicode(),
        default_value=["HostbasedAuthentication=yes", "EnableSSHKeysign=yes",
                       "PreferredAuthentications=hostbased",
                       "GlobalKnownHostsFile=/etc/ssh/ssh_known_hosts"],
        help="""ssh ``-o`` options for reaching shared nodes as the user (how the hub
        authenticates). No ssh configuration file is read (``-F /dev/null``); options that keep
        the user's ``~/.ssh`` out (no ProxyCommand, identity files, agent...) are always added.""",
    ).tag(config=True)

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.site = load_site(self.site_path)

    def launcher(self) -> str:
        return f"{self.site.runtime_prefix}/bin/hpchub-shared-launch"

    def pick_node(self) -> str:
        pool = [n.name for n in self.site.shared_nodes]
        return min(pool, key=lambda name: (_LOAD[name], pool.index(name)))

    def ssh_argv(self, *argv: str) -> list[str]:
        options = [arg for option in (*self.ssh_options, *SSH_FIXED) for arg in ("-o", option)]
        return ["/usr/bin/ssh", "-F", "/dev/null", *options, self.node, "--", *argv]

    async def ssh(self, *argv: str, stdin: str | None = None, timeout: float = 30):
        return await run(as_user(self.user.name, self.ssh_argv(*argv)), stdin=stdin,
                         timeout=timeout)

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
