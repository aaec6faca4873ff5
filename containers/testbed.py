"""``hpchub testbed``: a real Slurm center in Docker containers, generated from a site config.

One image, one container per node, one bridge network with DNS by node name, named volumes
for ``/home``, the shared software tree, accounting and controller state. ``up`` is
idempotent: containers whose image and generated config are unchanged are left running.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import os
import secrets
import shlex
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import docker
from docker.errors import APIError, NotFound

from hpchub.node.contract import TESTBED_STATE
from hpchub.site_configs import Site, load_site

from . import cgroups, render
from .engine import TestbedError, client, ensure_base_image
from .image import IMAGES, SOURCE, build_image

STATE_ROOT = Path(os.environ.get(TESTBED_STATE, SOURCE / ".testbed"))
HUB_PORT = 8000  # where JupyterHub's proxy listens in the hub container (its default bind_url)


@dataclass(frozen=True)
class NodeSpec:
    """One container: its node name, role command and what it mounts."""

    name: str
    command: tuple[str, ...]
    volumes: tuple[tuple[str, str], ...] = ()
    ports: tuple[tuple[int, int], ...] = ()
    has_secrets: bool = False  # mounts .testbed/<project>/secrets/<node> at /etc/hpchub/secrets
    cgroup_root: str = ""  # where the node's cgroup directories are mounted (see cgroups.py)
    cgroup_controllers: tuple[str, ...] = ()
    image: str = "node"  # "node" (cluster), "hub" (off the cluster) or "hub-cli", see image.IMAGES
    sshd: bool = False  # has an SSH host key (shared nodes; the hub, for host-based login)
    # Users may make user namespaces (rootless podman kernels): Docker's default seccomp profile
    # refuses CLONE_NEWUSER, so these nodes run without a seccomp filter (docs/security.md).
    user_namespaces: bool = False


@dataclass(repr=False)
class Testbed:
    """A testbed instance; ``project`` prefixes every container, network and volume."""

    site: Site
    site_path: Path
    project: str = "hpchub"
    hub_port: int | None = None
    hub_mode: str | None = None  # slurm_access.mode of the hub container (default: the site's)
    hub_extra_config: str = ""  # more JupyterHub settings, loaded last (benchmarks, experiments)

    def __post_init__(self) -> None:
        self.state = STATE_ROOT / self.project
        self.hub_port = self.hub_port or HUB_PORT
        self.hub_mode = self.hub_mode or self.site.slurm_access.mode
        self._cli: docker.DockerClient | None = None

    def __repr__(self) -> str:
        return f"Testbed({self.site.name!r}, project={self.project!r})"

    # ------------------------------------------------------------------ naming
    @property
    def cli(self) -> docker.DockerClient:
        if self._cli is None:
            self._cli = client()
        return self._cli

    @property
    def network_name(self) -> str:
        return f"{self.project}-net"

    def container_name(self, node: str) -> str:
        return f"{self.project}-{node}"

    def volume(self, what: str) -> str:
        return f"{self.project}-{what}"

    @property
    def labels(self) -> dict[str, str]:
        return {"hpchub.project": self.project}

    def nodes(self) -> list[NodeSpec]:
        """Every container, in start order."""
        shared = ((self.volume("home"), "/home"), (self.volume("software"), "/global/common/software"))
        specs = [
            # The center's directory (users and groups: every node resolves them with nslcd)
            # and the hub's database.
            NodeSpec("ldap", ("ldap",), has_secrets=True),
            NodeSpec("postgres", ("postgres",), ((self.volume("pgdata"), "/var/lib/postgresql/hpchub"),),
                     has_secrets=True),
            NodeSpec("slurmdb", ("slurmdb",), ((self.volume("mysql"), "/var/lib/mysql"),),
                     has_secrets=True),
            NodeSpec("slurmctld", ("slurmctld",), ((self.volume("ctld"), "/var/spool/slurmctld"),),
                     has_secrets=True),
            NodeSpec("slurmrestd", ("slurmrestd",)),
        ]
        for host in self.site.hostnames:
            specs.append(NodeSpec(host, ("slurmd", str(render.gpu_devices(self.site, host))), shared,
                                  cgroup_root=render.SLURM_CGROUP_ROOT,
                                  cgroup_controllers=cgroups.COMPUTE_NODE, user_namespaces=True))
        for login in self.site.shared_nodes:
            specs.append(NodeSpec(login.name, ("login",), shared, has_secrets=True,
                                  cgroup_root=login.cgroup_root, cgroup_controllers=cgroups.SHARED_NODE,
                                  sshd=True, user_namespaces=True))
        # Off the cluster (rest) the hub's image has no Slurm; on a submit host (cli) it does.
        specs.append(
            NodeSpec("hub", ("hub", str(self.hub_mode)),
                     (*shared, (self.volume("hubdata"), "/srv/hpchub")),
                     ports=((HUB_PORT, self.hub_port),), has_secrets=True, sshd=True,
                     image="hub" if self.hub_mode == "rest" else "hub-cli")
        )
        return specs

    # ------------------------------------------------------------------ secrets, files
    def secrets(self) -> dict[str, str]:
        path = self.state / "secrets" / "secrets.json"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.parent.chmod(0o700)
            words = ["lab", "node", "slurm", "quasar", "photon", "galaxy", "kernel", "nebula"]
            demo = "-".join(secrets.choice(words) for _ in range(3)) + str(secrets.randbelow(100))
            path.write_text(json.dumps({"demo_password": demo}))
            path.chmod(0o600)
        values = json.loads(path.read_text())
        missing = {name: secrets.token_hex(16) for name in
                   ("db_password", "hub_db_password", "ldap_admin_password", "ldap_salt",
                    "notebook_webhook_secret")
                   if name not in values}
        if missing:  # made by an older hpchub: add the new ones
            values.update(missing)
            path.write_text(json.dumps(values))
        return values

    def ssh_host_keys(self) -> dict[str, str]:
        """Make (once) the SSH host keys of the hub and shared nodes; returns public keys."""
        public = {}
        for spec in self.nodes():
            if spec.sshd:
                key = self.state / "secrets" / spec.name / "ssh_host_ed25519_key"
                public[spec.name] = ssh_keygen(key, spec.name)
        return public

    def node_secrets(self) -> str:
        """Per-node secrets (once): the hub's demo password, Slurm's JWT key on slurmctld,
        slurmdb and the hub, and the SSH user CA on the hub. Returns the CA's public key."""
        root = self.state / "secrets"
        for node in ("slurmctld", "slurmdb", "hub", "ldap", "postgres"):
            (root / node).mkdir(parents=True, exist_ok=True)
        values = self.secrets()
        for node, names in (("hub", ("demo_password", "hub_db_password", "notebook_webhook_secret")),
                            ("postgres", ("hub_db_password",)), ("ldap", ("ldap_admin_password",))):
            private(root / node / "secrets.json", json.dumps({name: values[name] for name in names}))
        private(root / "ldap" / "directory.ldif", render.directory_ldif(
            self.site, values["demo_password"], bytes.fromhex(values["ldap_salt"])))
        key = root / "slurm-jwt.key"
        if not key.exists():
            key.write_bytes(secrets.token_bytes(32))
            key.chmod(0o600)
        for node in ("slurmctld", "slurmdb", "hub"):
            shutil.copy(key, root / node / "jwt_hs256.key")
        return ssh_keygen(root / "hub" / "ssh-user-ca", "hpchub user CA")

    def webhook_ca(self) -> str:
        """The notebook-webhook's own SSH CA (once, on the hub); its public key."""
        return ssh_keygen(self.state / "secrets" / "hub" / "notebook-webhook-ca",
                          "hpchub notebook-webhook CA")

    def write_generated(self) -> str:
        """Write the generated config directory; returns a hash of its content."""
        out = self.state / "generated"
        out.mkdir(parents=True, exist_ok=True)
        files = render.generated_files(self.site, self.secrets()["db_password"])
        files["ssh_known_hosts"] = render.ssh_known_hosts(self.ssh_host_keys())
        files["ssh_user_ca.pub"] = self.node_secrets()
        files["notebook_webhook_ca.pub"] = self.webhook_ca()
        files["site.yaml"] = self.site_path.read_text()
        files["jupyterhub_config.py"] = render.hub_config(self.site)
        files["jupyterhub_config_extra.py"] = self.hub_extra_config
        digest = hashlib.sha256()
        for name, text in sorted(files.items()):
            target = out / name
            target.write_text(text)
            target.chmod(0o600 if name == "slurmdbd.conf" else 0o644)
            digest.update(name.encode() + b"\0" + text.encode())
        return digest.hexdigest()[:16]

    # ------------------------------------------------------------------ image
    def build_image(self) -> dict[str, str]:
        """Build the node and hub images unless they exist from the same sources."""
        return build_image(self.cli, self.state)

    # ------------------------------------------------------------------ lifecycle
    def up(self, build: bool = True) -> dict[str, float]:
        """Start (or keep) the whole testbed and wait until every node is idle and the hub
        answers. Returns the seconds each stage took."""
        times: dict[str, float] = {}
        with stage(times, "engine"):
            self.cli  # noqa: B018 - starts dockerd when needed
        with stage(times, "base image"):
            ensure_base_image(self.cli)
        with stage(times, "image build"):
            images = (self.build_image() if build else
                      {target: self.cli.images.get(tag).id for target, tag in IMAGES.items()})
        with stage(times, "containers"):
            config = self.write_generated()
            self.ensure_network_and_volumes()
            self.start_nodes(images, config)
        with stage(times, "slurm ready"):
            self.wait_slurm_ready()
        with stage(times, "hub ready"):
            self.wait_hub_ready()
        return times

    def ensure_network_and_volumes(self) -> None:
        for spec in self.nodes():
            if spec.cgroup_root:  # also after a reboot: a kept container mounts them
                cgroups.ensure(self.project, spec.name, spec.cgroup_controllers)
        try:
            self.cli.networks.get(self.network_name)
        except NotFound:
            taken = [cfg.get("Subnet", "") for net in self.cli.networks.list()
                     for cfg in (net.attrs.get("IPAM") or {}).get("Config") or []]
            subnet = free_subnet(taken)
            pool = docker.types.IPAMPool(subnet=str(subnet))
            self.cli.networks.create(self.network_name, driver="bridge", labels=self.labels,
                                     ipam=docker.types.IPAMConfig(pool_configs=[pool]))
        for spec in self.nodes():
            for vol, _ in spec.volumes:
                try:
                    self.cli.volumes.get(vol)
                except NotFound:
                    self.cli.volumes.create(vol, labels=self.labels)

    def start_nodes(self, images: dict[str, str], config: str) -> None:
        """Create missing or outdated containers in dependency order (outdated ones are all
        removed first: a new layout may give a node an address an old container still holds)."""
        specs = self.nodes()
        fingerprints = {s.name: f"{images[s.image]}:{config}:{' '.join(s.command)}" for s in specs}
        for spec in reversed(specs):
            container = self.find(spec.name)
            if container and container.labels.get("hpchub.fingerprint") != fingerprints[spec.name]:
                retire(container)
        for spec in specs:
            container = self.find(spec.name)
            if container:
                if container.status != "running":
                    container.start()
                continue
            self.create(spec, fingerprints[spec.name]).start()
            if spec.name == "slurmdb":
                self.wait_dbd_and_load_accounts()

    def addresses(self) -> dict[str, str]:
        """Fixed address of every node, so names resolve even while a node is down."""
        net = self.cli.networks.get(self.network_name)
        subnet = ipaddress.ip_network(net.attrs["IPAM"]["Config"][0]["Subnet"])
        return {spec.name: str(subnet[10 + i]) for i, spec in enumerate(self.nodes())}

    def create(self, spec: NodeSpec, fingerprint: str):
        addresses = self.addresses()
        generated = self.state / "generated"
        mounts = [docker.types.Mount("/etc/hpchub/generated", str(generated), type="bind",
                                     read_only=True)]
        if spec.has_secrets:
            mounts.append(docker.types.Mount("/etc/hpchub/secrets",
                                             str(self.state / "secrets" / spec.name),
                                             type="bind", read_only=True))
        mounts += [docker.types.Mount(target, vol, type="volume") for vol, target in spec.volumes]
        if spec.cgroup_root:
            mounts += [docker.types.Mount(f"{spec.cgroup_root}/{controller}", str(path), type="bind")
                       for controller, path in
                       cgroups.ensure(self.project, spec.name, spec.cgroup_controllers).items()]
        return self.cli.containers.create(
            IMAGES[spec.image],
            command=list(spec.command),
            name=self.container_name(spec.name),
            hostname=spec.name,
            labels={**self.labels, "hpchub.node": spec.name, "hpchub.fingerprint": fingerprint},
            mounts=mounts,
            network=self.network_name,
            networking_config={self.network_name: self.cli.api.create_endpoint_config(
                aliases=[spec.name], ipv4_address=addresses[spec.name])},
            extra_hosts={name: ip for name, ip in addresses.items() if name != spec.name},
            ports={f"{inner}/tcp": ("127.0.0.1", outer) for inner, outer in spec.ports},
            shm_size="256m",
            security_opt=["seccomp=unconfined"] if spec.user_namespaces else None,
            detach=True,
        )

    def wait_dbd_and_load_accounts(self) -> None:
        self.wait_for(lambda: self.exec("slurmdb", "sacctmgr", "-n", "list", "cluster").ok,
                      60, "slurmdbd did not answer `sacctmgr list cluster`", "slurmdb")
        commands = json.loads((self.state / "generated" / "sacctmgr.json").read_text())
        # "add" of something that exists already fails harmlessly; the check below is what counts.
        script = "\n".join(shlex.join(argv) + " >/dev/null 2>&1" for argv in commands)
        self.exec("slurmdb", "bash", "-c", script)
        assoc = self.exec("slurmdb", "sacctmgr", "-n", "-P", "show", "assoc", "format=user,account")
        expected = {f"{u.name}|{a}" for u in self.site.users
                    for a in render.user_accounts(self.site, u.name)}
        missing = expected - set(assoc.output.split())
        if missing:
            raise TestbedError(f"Slurm associations missing after setup: {sorted(missing)}\n"
                               f"{assoc.output[-2000:]}")

    def wait_slurm_ready(self, timeout: float = 90) -> None:
        """Wait until every compute node is usable; nodes left DOWN by a restart are resumed."""
        hosts = set(self.site.hostnames)

        def ready() -> bool:
            result = self.exec("slurmctld", "sinfo", "-h", "-N", "-o", "%N %t")
            states = dict(line.split() for line in result.output.splitlines() if line.strip())
            stuck = sorted(h for h in hosts if states.get(h, "").startswith(("down", "drain")))
            if stuck:
                self.exec("slurmctld", "scontrol", "update", f"nodename={','.join(stuck)}",
                          "state=resume")
            return result.ok and hosts <= {h for h, s in states.items()
                                           if s in ("idle", "mix", "alloc")}

        self.wait_for(ready, timeout, "compute nodes did not become idle", "slurmctld",
                      extra=lambda: self.exec("slurmctld", "sinfo", "-N", "-l").output)

    def wait_hub_ready(self, timeout: float = 60) -> None:
        def answers() -> bool:
            try:
                with urllib.request.urlopen(self.hub_url + "/hub/health", timeout=3) as resp:
                    return resp.status == 200
            except OSError:
                return False

        self.wait_for(answers, timeout, f"the hub did not answer on {self.hub_url}", "hub")

    @property
    def hub_url(self) -> str:
        return f"http://127.0.0.1:{self.hub_port}"

    def down(self, keep_data: bool = False) -> None:
        """Remove every container and the network; volumes too unless ``keep_data``."""
        order = {spec.name: i for i, spec in enumerate(self.nodes())}
        containers = self.cli.containers.list(all=True, filters=self._filter())
        for container in sorted(containers, key=lambda c: -order.get(c.labels.get("hpchub.node"), 0)):
            retire(container)
        for network in self.cli.networks.list(filters=self._filter()):
            network.remove()
        cgroups.remove(self.project)
        if not keep_data:
            for volume in self.cli.volumes.list(filters=self._filter()):
                volume.remove(force=True)
            shutil.rmtree(self.state, ignore_errors=True)

    def status(self) -> list[tuple[str, str]]:
        rows = []
        for spec in self.nodes():
            container = self.find(spec.name)
            rows.append((spec.name, container.status if container else "absent"))
        return rows

    def leftovers(self) -> list[str]:
        """Names of anything of this project still on the engine."""
        found = [c.name for c in self.cli.containers.list(all=True, filters=self._filter())]
        found += [n.name for n in self.cli.networks.list(filters=self._filter())]
        found += [v.name for v in self.cli.volumes.list(filters=self._filter())]
        return found

    # ------------------------------------------------------------------ helpers for tests
    def find(self, node: str):
        try:
            return self.cli.containers.get(self.container_name(node))
        except NotFound:
            return None

    def container(self, node: str):
        found = self.find(node)
        if found is None:
            raise TestbedError(f"no container for node {node!r}: is the testbed up?")
        return found

    def exec(self, node: str, *argv: str, user: str = "root", env: dict | None = None,
             workdir: str | None = None) -> ExecResult:
        """Run ``argv`` on ``node`` (no shell unless argv asks for one). Another ``user`` than
        root logs in with ``runuser -l`` (Docker's own lookup reads only /etc/passwd, and site
        users come from the directory): their groups, home and login environment."""
        if user != "root":
            command = shlex.join(argv)
            if env:
                command = shlex.join(["env", *(f"{k}={v}" for k, v in env.items())]) + " " + command
            if workdir:
                command = f"cd {shlex.quote(workdir)} && {command}"
            argv = ("runuser", "-l", "-s", "/bin/bash", user, "-c", command)
            user, env, workdir = "root", None, None
        code, output = self.container(node).exec_run(list(argv), user=user, environment=env,
                                                     workdir=workdir, demux=False)
        return ExecResult(code, (output or b"").decode(errors="replace"))

    def run_as(self, user: str, node: str, *argv: str) -> ExecResult:
        """Run ``argv`` as a site user in their home directory, as a login would."""
        return self.exec(node, *argv, user=user, workdir=f"/home/{user}")

    def kill_node(self, node: str) -> None:
        self.container(node).kill()

    def start_node(self, node: str) -> None:
        self.container(node).start()

    def stop_slurmctld(self) -> None:
        self.container("slurmctld").stop(timeout=5)

    def start_slurmctld(self) -> None:
        self.container("slurmctld").start()

    def logs(self, node: str, lines: int = 20) -> str:
        container = self.find(node)
        if container is None:
            return "(no container)"
        return container.logs(tail=lines).decode(errors="replace")

    def wait_for(self, ready: Callable[[], bool], timeout: float, what: str, node: str,
                 extra: Callable[[], str] | None = None) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if ready():
                return
            time.sleep(0.5)
        detail = extra() if extra else ""
        raise TestbedError(f"{what} within {timeout:.0f} s. Last log lines of {node}:\n"
                           f"{self.logs(node)}{detail}")

    def _filter(self) -> dict:
        return {"label": f"hpchub.project={self.project}"}


@dataclass(frozen=True)
class ExecResult:
    code: int
    output: str

    @property
    def ok(self) -> bool:
        return self.code == 0


@contextmanager
def stage(times: dict[str, float], name: str) -> Iterator[None]:
    start = time.monotonic()
    yield
    times[name] = time.monotonic() - start
    print(f"testbed: {name:<12} {times[name]:6.1f} s", flush=True)


def ssh_keygen(key: Path, comment: str) -> str:
    """An ed25519 key pair at ``key`` (made once); the public key."""
    if not key.exists():
        key.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment,
                        "-f", str(key)], check=True)
    return key.with_suffix(".pub").read_text()


def retire(container) -> None:
    """Stop (daemons save their state, e.g. slurmctld's job list), then remove."""
    try:
        container.stop(timeout=10)
    except APIError:
        pass
    container.remove(force=True, v=True)


def free_subnet(taken: list[str]) -> ipaddress.IPv4Network:
    """A /24 in 172.28.0.0/14 that overlaps no existing Docker network.

    >>> str(free_subnet(["172.28.0.0/24", "172.17.0.0/16"]))
    '172.28.1.0/24'
    """
    used = [ipaddress.ip_network(t) for t in taken if t and ":" not in t]
    for candidate in ipaddress.ip_network("172.28.0.0/14").subnets(new_prefix=24):
        if not any(candidate.overlaps(u) for u in used):
            return candidate
    raise TestbedError("no free /24 in 172.28.0.0/14 for the testbed network")


def private(path: Path, text: str) -> None:
    """Write a secret file readable by its owner only."""
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_text(text)


def from_site(site_path: str | Path, project: str = "hpchub", hub_port: int | None = None,
              hub_mode: str | None = None, hub_extra_config: str = "") -> Testbed:
    path = Path(site_path)
    if not path.exists():
        path = Path(str(resources.files("hpchub.site_configs").joinpath(f"{site_path}.yaml")))
    site = load_site(path)
    if not site.runnable_testbed:
        raise TestbedError(f"site {site.name!r} is not a runnable testbed (runnable_testbed: false)")
    return Testbed(site=site, site_path=path, project=project, hub_port=hub_port,
                   hub_mode=hub_mode, hub_extra_config=hub_extra_config)
