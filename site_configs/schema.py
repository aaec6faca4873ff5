"""The site description: nodes, partitions, QOS, collaborations, users and node profiles.

A site config is YAML validated by these models. Unknown keys are rejected, and every error
names the key path that is wrong (``profiles[2].partition``), so a center admin can fix it
without reading Python.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from hpchub.slurm.hostlist import expand_hostlist
from hpchub.slurm.times import walltime_minutes

NAME = r"^[a-z][a-z0-9_-]{0,31}$"


def _valid_walltime(value: str) -> str:
    walltime_minutes(value)
    return value


Walltime = Annotated[str, AfterValidator(_valid_walltime)]
"""A Slurm time limit ``[D-]HH:MM:SS``, checked when the config is loaded."""


class Strict(BaseModel):
    """Base model: unknown keys are an error, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


class NodeGroup(Strict):
    """Compute nodes that share one hardware description."""

    names: str = Field(description="Slurm hostlist, e.g. 'c[1-3]' or 'nid[001000-002999]'")
    cpus: int = Field(ge=1, le=4096)
    """CPUs per node (Slurm CPUs=)"""
    memory_mb: int = Field(ge=256)
    """memory per node in MB (Slurm RealMemory=)"""
    gpus: int = Field(default=0, ge=0, le=16)
    """GPUs per node (gres gpu)"""
    features: tuple[str, ...] = ()
    """Slurm node features (constraints)"""

    @field_validator("names")
    @classmethod
    def _hostlist(cls, value: str) -> str:
        expand_hostlist(value)
        return value

    @property
    def hostnames(self) -> list[str]:
        return expand_hostlist(self.names)


class Partition(Strict):
    name: str = Field(pattern=NAME)
    """the Slurm partition"""
    nodes: str = Field(description="Slurm hostlist of member nodes")
    default: bool = False
    """the partition jobs go to when none is named"""
    exclusive: bool = Field(default=False, description="whole nodes only (OverSubscribe=EXCLUSIVE)")
    max_time: Walltime = "12:00:00"
    """longest time limit a job may ask for, [D-]HH:MM:SS"""
    oversubscribe: int | None = Field(default=None, ge=2, le=64)
    """jobs that may share each CPU (Slurm OverSubscribe=FORCE:N); none: one job per CPU"""
    description: str = ""
    """shown to users on the profile page"""


class Qos(Strict):
    name: str = Field(pattern=NAME)
    """the Slurm QOS"""
    description: str = ""
    """shown to users next to the QOS choice"""
    max_time: str | None = None
    """longest time limit under this QOS (Slurm MaxWall)"""
    max_jobs_per_user: int | None = Field(default=None, ge=1)
    """running jobs a user may have under this QOS (MaxJobsPerUser)"""
    priority: int = Field(default=0, ge=0)
    """Slurm QOS priority"""


class Collaboration(Strict):
    """A science collaboration: one Unix group and one Slurm account."""

    name: str = Field(pattern=NAME)
    """Unix group and Slurm account name (e.g. desi)"""
    display_name: str
    """the name people know (e.g. "DESI")"""
    gid: int = Field(ge=1000, lt=65534)
    """the group id (testbed; a center takes it from its directory)"""
    members: tuple[str, ...] = ()
    """member user names (testbed; a center takes them from its directory)"""
    allocation_node_hours: float | None = Field(default=None, gt=0)
    """node-hours the account may use per allocation year (the testbed sets it as Slurm's
    GrpTRESMins=node=N; a center sets that with sacctmgr)"""


class User(Strict):
    """A testbed user (a real center takes users from its directory)."""

    name: str = Field(pattern=NAME)
    """login name"""
    uid: int = Field(ge=1000, lt=65534)
    """user id"""
    full_name: str = ""
    """full name (gecos)"""


class SharedNode(Strict):
    """An interactive node where servers start without Slurm (NERSC's login nodes)."""

    name: str = Field(pattern=NAME)
    """host name the hub reaches over ssh"""
    max_cpus_per_user: int = Field(
        default=2, ge=1, description="CPUs all of a user's servers share (a CPU set of their own)")
    max_memory_mb_per_user: int = Field(
        default=4096, ge=256, description="memory of all a user's processes together (cgroup)")
    cgroup_root: str = Field(
        default="/sys/fs/cgroup",
        description="where the node's cgroup controllers are mounted; hpchub-confine keeps "
                    "per-user cgroups below it (v1: cpuset/hpchub/<user>, memory/hpchub/<user>)")


class Profile(Strict):
    """A node profile offered at login."""

    name: str = Field(pattern=NAME)
    """identifier in forms, API requests and state"""
    display_name: str
    """title on the profile page"""
    description: str
    """one line under the title"""
    kind: Literal["shared", "slurm"]
    """shared: a shared node, no queue; slurm: a batch job"""
    partition: str | None = None
    """Slurm partition of a slurm profile"""
    nodes: int = Field(default=1, ge=1)
    """nodes per job (the default when configurable)"""
    max_nodes: int | None = Field(default=None, ge=1)
    """most nodes a user may ask for (configurable profiles)"""
    gpus_per_node: int = Field(default=0, ge=0)
    """GPUs per node the job asks for"""
    cpus_per_task: int | None = Field(default=None, ge=1)
    """CPUs the server may use (default: the whole node or share)"""
    time: Walltime = "01:00:00"
    """time limit (the default when configurable), [D-]HH:MM:SS"""
    qos: tuple[str, ...] = Field(default=(), description="QOS choices; the first is the default")
    configurable: bool = Field(default=False, description="user picks nodes/time/QOS/account")
    allowed_groups: tuple[str, ...] = Field(default=(), description="empty: everyone")
    pending_timeout_s: int = Field(default=600, ge=10)
    """a job still queued after this long is cancelled and the user told why"""
    idle_timeout_s: int | None = Field(default=None, ge=30)
    """a server without activity this long is stopped by jupyterhub-idle-culler (batch servers
    hold nodes: give them a limit); none: never culled"""
    charge: str = ""
    """how the center charges for this profile, shown on the form (e.g. "1 node-hour per hour")"""

    @model_validator(mode="after")
    def _kind_fields(self) -> Profile:
        if self.kind == "slurm" and not self.partition:
            raise ValueError("a 'slurm' profile needs a partition")
        if self.kind == "shared" and self.partition:
            raise ValueError("a 'shared' profile runs without Slurm: remove 'partition'")
        return self


class Network(Strict):
    interface: str = Field(
        default="eth0", description="interface that engines/workers on other nodes can reach"
    )


class KernelValidation(Strict):
    """Where `hpchub kernels validate` runs a release on a compute node."""

    partition: str | None = Field(default=None, description="default: the default partition")
    qos: str | None = None
    """QOS of validation jobs"""
    time: Walltime = "00:15:00"
    """time limit of validation jobs"""


class NotebookSuite(Strict):
    """The notebooks a collection sync runs before it publishes (each in one kernel)."""

    notebooks: tuple[str, ...] = ("**/*.ipynb",)
    """glob patterns, relative to the repository's top"""
    exclude: tuple[str, ...] = ()
    """glob patterns of notebooks not run (they are still published)"""
    timeout_s: int = Field(default=300, ge=10, le=86400)
    """seconds each notebook may run"""
    kernel: str = Field(default="python3", pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
    """the kernel every notebook runs in, whatever it was saved with (e.g. desi-current)"""


class NotebookCollection(Strict):
    """A curated, read-only notebook collection kept in a git repository (hpchub notebooks)."""

    name: str = Field(pattern=NAME)
    """directory name under notebook_root and in users' ~/notebooks-latest"""
    display_name: str = Field(min_length=1, max_length=80)
    """the name people know (e.g. "DESI tutorials")"""
    repository: str = Field(pattern=r"^(/|https://|ssh://|git@)[^\s]+$")
    """git URL or path the owner's account can fetch"""
    ref: str = Field(default="main", pattern=r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,99}$")
    """the branch that is published (``main``), or a tag written in full (``refs/tags/v1``): only
    that exact ref is fetched, so a tag named like the branch is never published"""
    collaboration: str | None = None
    """visible to this collaboration's group only; unset: every user"""
    owner: str | None = Field(default=None, pattern=NAME)
    """account that syncs and owns the published tree (default: the collaboration)"""
    suite: NotebookSuite = NotebookSuite()
    """what must pass before a version is published"""
    webhook_secret_file: str | None = None
    """on the hub: the push webhook's shared secret (unset: no webhook for this collection)"""
    forge_repository: str | None = None
    """the forge's name of the repository (e.g. desihub/tutorials); when set, a push must name it"""
    max_megabytes: int = Field(default=512, ge=1)
    """a commit whose files add up to more is not published (the sync stops reading at the limit)"""
    max_files: int = Field(default=5000, ge=1)
    """a commit with more files is not published"""

    @field_validator("ref")
    @classmethod
    def _ref(cls, value: str) -> str:
        if ".." in value or "//" in value or value.endswith((".lock", "/", ".")) or "/." in value:
            raise ValueError(f"{value!r} is not a git ref name")
        if value.startswith("refs/") and not value.startswith(("refs/heads/", "refs/tags/")):
            raise ValueError("write a branch name (main) or a tag in full (refs/tags/v1)")
        return value

    @property
    def account(self) -> str:
        return self.owner or self.collaboration or ""

    @property
    def full_ref(self) -> str:
        """The one ref published: ``refs/heads/<ref>`` unless ``ref`` names a ref in full."""
        return self.ref if self.ref.startswith("refs/") else f"refs/heads/{self.ref}"


class SlurmAccess(Strict):
    """How the hub reaches Slurm (docs/slurm-access.md)."""

    mode: Literal["rest", "cli"] = Field(
        default="cli",
        description="rest: the hub is off the cluster and calls slurmrestd with a short-lived "
                    "JWT per user; cli: the hub runs on a submit host and calls Slurm's commands "
                    "(sbatch/scancel as the user through sudo)")
    rest_url: str = Field(default="http://slurmrestd:6820", pattern=r"^https?://[^\s]+$",
                          description="slurmrestd's address (mode rest)")
    jwt_key_file: str = Field(
        default="/etc/hpchub/slurm-jwt.key",
        description="HS256 key shared with slurmctld and slurmdbd (AuthAltParameters=jwt_key=); "
                    "readable only by the hub's account (mode rest)")
    ssh_ca_key_file: str = Field(
        default="/etc/hpchub/ssh-user-ca",
        description="OpenSSH user CA whose public key the shared nodes trust "
                    "(TrustedUserCAKeys); the hub signs a certificate per user with it (mode rest; "
                    "mode cli logs in by host-based authentication)")


# Hub behaviour set in JupyterHub's own settings (jupyterhub_config.py), not in the site config.
JUPYTERHUB_SETTINGS = {
    "port": "c.JupyterHub.bind_url", "admin_users": "c.Authenticator.admin_users",
    "internal_ssl": "c.JupyterHub.internal_ssl",
    "max_named_servers_per_user": "c.JupyterHub.named_server_limit_per_user",
}


class Hub(Strict):
    @model_validator(mode="before")
    @classmethod
    def _not_jupyterhubs(cls, data):
        for key, setting in JUPYTERHUB_SETTINGS.items():
            if isinstance(data, dict) and key in data:
                raise ValueError(f"hub.{key} is JupyterHub's own setting: set {setting} in "
                                 "jupyterhub_config.py instead")
        return data

    user: str = Field(default="jupyterhub", pattern=NAME, description="unprivileged hub account")
    users_group: str = Field(
        default="hpcusers", pattern=NAME,
        description="Unix group of users the hub may start servers for (its sudoers rule)",
    )
    orphan_check_interval_s: int = Field(default=60, ge=5, description="0 would be too eager")
    notebook_webhook_ca_key_file: str = Field(
        default="/etc/hpchub/notebook-webhook-ca",
        description="SSH CA the notebook-webhook service signs its sync logins with (on the hub, "
                    "readable by the hub's account only). Login nodes trust it for the notebook "
                    "collections' accounts only: `hpchub notebooks setup` writes "
                    "/etc/ssh/hpchub-collections/<account> from the public key beside it (.pub)")
    membership_check_interval_s: int = Field(
        default=30, ge=5, description="how often collaboration groups and shares are checked "
                                      "against the directory between logins")
    orphan_min_age_s: int = Field(
        default=300, ge=10, description="a server job no hub server holds for this long is cancelled")
    max_pending_spawns_per_user: int = Field(
        default=2, ge=1,
        description="servers of one user that may be starting at once; more get HTTP 429, so "
                    "no user can fill the hub-wide limit of concurrent spawns")


class Site(Strict):
    """A whole site: what the hub offers and, for a testbed, what the containers are."""

    name: str = Field(pattern=NAME)
    """short name of the site (testbed containers and volumes are named after it)"""
    description: str = ""
    """free text"""
    cluster_name: str = Field(pattern=NAME)
    """Slurm ClusterName"""
    runnable_testbed: bool = Field(
        default=False, description="true when `hpchub testbed up` can build this site in Docker"
    )
    node_groups: tuple[NodeGroup, ...] = Field(min_length=1)
    """the compute nodes, by hardware"""
    partitions: tuple[Partition, ...] = Field(min_length=1)
    """Slurm partitions"""
    qos: tuple[Qos, ...] = (Qos(name="normal"),)
    """Slurm QOS"""
    collaborations: tuple[Collaboration, ...] = ()
    """collaborations (Unix groups and Slurm accounts)"""
    users: tuple[User, ...] = ()
    """testbed users (a center takes users from its directory: LDAP, NSS)"""
    default_account: str = Field(default="general", pattern=NAME)
    """Slurm account of users in no collaboration"""
    allocation_year_starts: str = Field(default="01-01", pattern=r"^\d\d-\d\d$")
    """MM-DD the allocation year begins: accounts' node-hours used are counted from then"""
    shared_nodes: tuple[SharedNode, ...] = ()
    """nodes where servers start without Slurm"""
    profiles: tuple[Profile, ...] = Field(min_length=1)
    """node profiles offered at login, in this order"""
    kernel_root: str = "/global/common/software/jupyter/kernels"
    """shared directory of the collaborations' kernel releases (hpchub kernels)"""
    module_root: str = "/global/common/software/modulefiles"
    """shared directory of the collaborations' environment-module trees (``<root>/<collaboration>``),
    for ``kind: modules`` kernel releases: a release loads modules from its own collaboration's
    tree and ``system_module_paths`` only"""
    system_module_paths: tuple[str, ...] = ()
    """the center's own module trees (compilers, MPI, ...) that every collaboration's modules
    releases may load from, after the collaboration's own tree"""
    image_root: str = "/global/common/software/containers"
    """shared directory of the collaborations' unpacked container images (``<root>/<collaboration>``,
    made with ``hpchub kernels unpack-image``), for ``kind: container, runtime: podman`` releases"""
    runtime_prefix: str = "/opt/hpchub/venv"
    """the hpchub node runtime (a venv) on every node"""
    kernel_validation: KernelValidation = KernelValidation()
    """where kernel releases are validated"""
    notebook_root: str = "/global/common/software/jupyter/notebooks"
    """shared directory of the published notebook collections (hpchub notebooks)"""
    notebook_collections: tuple[NotebookCollection, ...] = ()
    """curated notebook collections, shown read-only in users' ~/notebooks-latest"""
    network: Network = Network()
    """the cluster network"""
    hub: Hub = Hub()
    """the hub"""
    slurm_access: SlurmAccess = SlurmAccess()
    """how the hub reaches Slurm"""

    @property
    def hostnames(self) -> list[str]:
        return [host for group in self.node_groups for host in group.hostnames]

    def node_group(self, host: str) -> NodeGroup:
        return next(g for g in self.node_groups if host in g.hostnames)

    def partition(self, name: str) -> Partition:
        return next(p for p in self.partitions if p.name == name)

    @property
    def default_partition(self) -> str:
        """Where a job that names no partition goes: the one marked ``default``, else the first."""
        return next((p.name for p in self.partitions if p.default), self.partitions[0].name)

    def account_for(self, accounts: Iterable[str]) -> str:
        """What a user who names no account is charged: the site's ``default_account`` if they
        may charge it, else the first of theirs ("" when they have none)."""
        accounts = list(accounts)
        return self.default_account if self.default_account in accounts else next(iter(accounts), "")

    def collaboration(self, name: str) -> Collaboration:
        return next(c for c in self.collaborations if c.name == name)

    def notebook_collection(self, name: str) -> NotebookCollection:
        return next(c for c in self.notebook_collections if c.name == name)

    def groups_of(self, user: str) -> list[str]:
        return [c.name for c in self.collaborations if user in c.members]

    @field_validator("allocation_year_starts")
    @classmethod
    def _a_real_day(cls, value: str) -> str:
        month, day = (int(part) for part in value.split("-"))
        datetime.date(2001, month, day)  # ValueError for 13-01, 04-31, 02-29 (not every year)
        return value

    @model_validator(mode="after")
    def _references(self) -> Site:
        errors = CrossReferences(self)
        errors.check()
        return self


class CrossReferences:
    """Checks that names used in one section exist in another; raises naming the key."""

    def __init__(self, site: Site):
        self.site = site

    def check(self) -> None:
        site = self.site
        hosts = set(site.hostnames)
        if len(hosts) != len(site.hostnames):
            raise ValueError("node_groups: a node is listed twice")
        unique("partitions", [p.name for p in site.partitions])
        unique("qos", [q.name for q in site.qos])
        unique("users", [u.name for u in site.users])
        unique("profiles", [p.name for p in site.profiles])
        unique("collaborations", [c.name for c in site.collaborations])
        for i, part in enumerate(site.partitions):
            missing = sorted(set(expand_hostlist(part.nodes)) - hosts)
            if missing:
                raise ValueError(f"partitions[{i}].nodes: unknown node(s) {', '.join(missing)}")
        if sum(p.default for p in site.partitions) > 1:
            raise ValueError("partitions: more than one partition has default: true")
        users = {u.name for u in site.users}
        for i, collab in enumerate(site.collaborations):
            if collab.name == site.default_account:
                raise ValueError(f"collaborations[{i}].name: clashes with default_account")
            stray = sorted(set(collab.members) - users) if users else []
            if stray:
                raise ValueError(f"collaborations[{i}].members: unknown user(s) {', '.join(stray)}")
        self._check_profiles()
        self._check_collections()
        kv = site.kernel_validation
        if kv.partition and kv.partition not in {p.name for p in site.partitions}:
            raise ValueError(f"kernel_validation.partition: unknown partition {kv.partition!r}")
        if kv.qos and kv.qos not in {q.name for q in site.qos}:
            raise ValueError(f"kernel_validation.qos: unknown QOS {kv.qos!r}")

    def _check_profiles(self) -> None:
        site = self.site
        partitions = {p.name for p in site.partitions}
        qos = {q.name for q in site.qos}
        groups = {c.name for c in site.collaborations}
        for i, prof in enumerate(site.profiles):
            where = f"profiles[{i}]"
            if prof.partition and prof.partition not in partitions:
                raise ValueError(
                    f"{where}.partition: unknown partition {prof.partition!r} "
                    f"(known: {', '.join(sorted(partitions))})"
                )
            for name in prof.qos:
                if name not in qos:
                    raise ValueError(f"{where}.qos: unknown QOS {name!r}")
            for name in prof.allowed_groups:
                if name not in groups:
                    raise ValueError(f"{where}.allowed_groups: unknown collaboration {name!r}")
            if prof.kind == "shared" and not site.shared_nodes:
                raise ValueError(f"{where}.kind: 'shared' needs at least one entry in shared_nodes")
            if prof.partition:
                self._check_fits(where, prof)
        for i, part in enumerate(site.partitions):
            if part.exclusive and part.oversubscribe:
                raise ValueError(f"partitions[{i}].oversubscribe: an exclusive partition gives whole nodes")

    def _check_collections(self) -> None:
        collaborations = {c.name for c in self.site.collaborations}
        unique("notebook_collections", [c.name for c in self.site.notebook_collections])
        for i, coll in enumerate(self.site.notebook_collections):
            if coll.collaboration and coll.collaboration not in collaborations:
                raise ValueError(f"notebook_collections[{i}].collaboration: unknown collaboration "
                                 f"{coll.collaboration!r}")
            if not coll.account:
                raise ValueError(f"notebook_collections[{i}].owner: a center-wide collection "
                                 "needs the account that syncs it")

    def _check_fits(self, where: str, prof: Profile) -> None:
        part = self.site.partition(prof.partition)
        members = set(expand_hostlist(part.nodes))
        if max(prof.nodes, prof.max_nodes or 0) > len(members):
            raise ValueError(f"{where}.nodes: partition {part.name!r} has {len(members)} node(s)")
        gpus = [g.gpus for g in self.site.node_groups if members & set(g.hostnames)]
        if prof.gpus_per_node > min(gpus):
            raise ValueError(f"{where}.gpus_per_node: nodes of {part.name!r} have fewer GPUs")
        if walltime_minutes(prof.time) > walltime_minutes(part.max_time):
            raise ValueError(f"{where}.time: longer than partition {part.name!r} max_time")


def unique(section: str, names: list[str]) -> None:
    seen: set[str] = set()
    for i, name in enumerate(names):
        if name in seen:
            raise ValueError(f"{section}[{i}].name: {name!r} is defined twice")
        seen.add(name)
