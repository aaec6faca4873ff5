"""What a notebook asks Slurm for, checked against the site and the user's associations
before anything is submitted."""

from __future__ import annotations

import os
import pwd
import subprocess
import time
from dataclasses import dataclass

from hpchub.site_configs import Site
from hpchub.site_configs.hostlist import expand_hostlist
from hpchub.site_configs.schema import walltime_minutes
from hpchub.spawners.options import SLURM_NAME
from hpchub.spawners.slurm_cli import parse_associations, server_label


class JobRequestError(ValueError):
    """The request cannot be submitted; the message says what is allowed instead."""


@dataclass(frozen=True)
class JobRequest:
    """Resources for one batch of engines or workers (a single Slurm job)."""

    nodes: int = 1
    tasks_per_node: int = 1
    cpus_per_task: int = 1
    gpus_per_task: int = 0
    partition: str | None = None
    account: str | None = None
    qos: str | None = None
    time: str = "00:30:00"

    @property
    def tasks(self) -> int:
        return self.nodes * self.tasks_per_node


_ASSOCIATIONS: dict[str, tuple[float, dict[str, tuple[str, ...]]]] = {}
ASSOCIATIONS_TTL_S = 60


def user_associations(user: str | None = None) -> dict[str, tuple[str, ...]]:
    """{account: QOS names} the user may submit with, from Slurm's accounting (kept 60 s)."""
    user = user or pwd.getpwuid(os.getuid()).pw_name
    cached = _ASSOCIATIONS.get(user)
    if cached and time.monotonic() - cached[0] < ASSOCIATIONS_TTL_S:
        return cached[1]
    out = subprocess.run(["sacctmgr", "-n", "-P", "show", "assoc", "where", f"user={user}",
                          "format=account,qos"], capture_output=True, text=True, timeout=30)
    if out.returncode:
        raise JobRequestError(f"Slurm accounting did not answer ({out.stderr.strip()}); try again")
    _ASSOCIATIONS[user] = (time.monotonic(), parse_associations(out.stdout))
    return _ASSOCIATIONS[user][1]


def default_account(associations: dict[str, tuple[str, ...]], site: Site) -> str:
    return site.default_account if site.default_account in associations else next(iter(associations))


def check(req: JobRequest, site: Site, associations: dict[str, tuple[str, ...]]) -> JobRequest:
    """The request with defaults filled in, or :class:`JobRequestError` naming the problem."""
    for field in ("nodes", "tasks_per_node", "cpus_per_task"):
        if not isinstance(getattr(req, field), int) or getattr(req, field) < 1:
            raise JobRequestError(f"{field} must be a whole number of at least 1")
    if not isinstance(req.gpus_per_task, int) or req.gpus_per_task < 0:
        raise JobRequestError("gpus_per_task must be a whole number (0 for none)")
    partitions = {p.name: p for p in site.partitions}
    name = req.partition or next((p.name for p in site.partitions if p.default), site.partitions[0].name)
    if name not in partitions:
        raise JobRequestError(f"unknown partition {name!r}; this site has: {', '.join(partitions)}")
    part = partitions[name]
    hosts = expand_hostlist(part.nodes)
    if req.nodes > len(hosts):
        raise JobRequestError(f"partition {name!r} has {len(hosts)} node(s); you asked for {req.nodes}")
    group = site.node_group(hosts[0])
    if req.tasks_per_node * req.cpus_per_task > group.cpus:
        raise JobRequestError(f"nodes of {name!r} have {group.cpus} CPUs; you asked for "
                              f"{req.tasks_per_node} tasks x {req.cpus_per_task} CPUs per node")
    if req.gpus_per_task and req.tasks_per_node * req.gpus_per_task > group.gpus:
        raise JobRequestError(f"nodes of {name!r} have {group.gpus} GPU(s); you asked for "
                              f"{req.tasks_per_node * req.gpus_per_task} per node"
                              + ("" if group.gpus else ": use a GPU partition"))
    try:
        minutes = walltime_minutes(req.time)
    except ValueError as exc:
        raise JobRequestError(str(exc)) from None
    if minutes > walltime_minutes(part.max_time):
        raise JobRequestError(f"time {req.time} is longer than {name!r} allows ({part.max_time})")
    if not associations:
        raise JobRequestError("you have no Slurm account on this cluster: ask the center for one")
    account = req.account or default_account(associations, site)
    if account not in associations:
        raise JobRequestError(f"you cannot charge account {account!r}; yours: {', '.join(associations)}")
    if req.qos and req.qos not in associations[account]:
        raise JobRequestError(f"QOS {req.qos!r} is not allowed with account {account!r}; allowed: "
                              f"{', '.join(associations[account]) or 'none'}")
    for value in (name, account, req.qos):
        if value and not SLURM_NAME.match(value):
            raise JobRequestError(f"{value!r} is not a valid Slurm name")
    return JobRequest(req.nodes, req.tasks_per_node, req.cpus_per_task, req.gpus_per_task, name,
                      account, req.qos, req.time)


def sbatch_options(req: JobRequest, job_name: str) -> list[str]:
    """``sbatch`` flags for a checked request (argv, never script text)."""
    argv = [f"--job-name={job_name}", f"--partition={req.partition}", f"--nodes={req.nodes}",
            f"--ntasks-per-node={req.tasks_per_node}", f"--cpus-per-task={req.cpus_per_task}",
            f"--time={req.time}", f"--account={req.account}", "--no-requeue"]
    if req.qos:
        argv.append(f"--qos={req.qos}")
    if req.gpus_per_task:
        argv += [f"--gpus-per-task={req.gpus_per_task}", f"--gpu-bind=per_task:{req.gpus_per_task}"]
    return argv


def notebook_job_name(server_name: str | None = None) -> str:
    """The Slurm job name of every job a server's notebooks start; the hub cancels them by it
    when the server stops."""
    if server_name is None:
        server_name = os.environ.get("JUPYTERHUB_SERVER_NAME", "")
    return "hpchub-nb-" + server_label(server_name)
