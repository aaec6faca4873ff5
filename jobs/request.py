"""What a notebook asks Slurm for, checked against the site and the user's associations
before anything is submitted."""

from __future__ import annotations

import os
import pwd

from hpchub.site_configs import Site
from hpchub.slurm import jobs
from hpchub.slurm.client import CommandTimeout, SlurmError, slurm
from hpchub.slurm.flags import JobRequest
from hpchub.slurm.hostlist import expand_hostlist
from hpchub.slurm.times import walltime_minutes

__all__ = ["JobRequest", "JobRequestError", "check", "notebook_job_name", "user_associations"]


class JobRequestError(ValueError):
    """The request cannot be submitted; the message says what is allowed instead."""


def user_associations(user: str | None = None) -> dict[str, tuple[str, ...]]:
    """{account: QOS names} the user may submit with, from Slurm's accounting (cached)."""
    try:
        return slurm().associations_sync(user or pwd.getpwuid(os.getuid()).pw_name)
    except (SlurmError, CommandTimeout) as exc:
        raise JobRequestError(f"Slurm accounting did not answer ({exc}); try again") from None


def check(req: JobRequest, site: Site, associations: dict[str, tuple[str, ...]]) -> JobRequest:
    """The request with defaults filled in, or :class:`JobRequestError` naming the problem."""
    for field in ("nodes", "tasks_per_node", "cpus_per_task"):
        if not isinstance(getattr(req, field), int) or getattr(req, field) < 1:
            raise JobRequestError(f"{field} must be a whole number of at least 1")
    if not isinstance(req.gpus_per_task, int) or req.gpus_per_task < 0:
        raise JobRequestError("gpus_per_task must be a whole number (0 for none)")
    partitions = {p.name: p for p in site.partitions}
    name = req.partition or site.default_partition
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
    account = req.account or site.account_for(associations)
    if account not in associations:
        raise JobRequestError(f"you cannot charge account {account!r}; yours: {', '.join(associations)}")
    if req.qos and req.qos not in associations[account]:
        raise JobRequestError(f"QOS {req.qos!r} is not allowed with account {account!r}; allowed: "
                              f"{', '.join(associations[account]) or 'none'}")
    for value in (name, account, req.qos):
        if value and not jobs.NAME.fullmatch(value):
            raise JobRequestError(f"{value!r} is not a valid Slurm name")
    return JobRequest(req.nodes, req.tasks_per_node, req.cpus_per_task, req.gpus_per_task, name,
                      account, req.qos, req.time)


def notebook_job_name(server_name: str | None = None) -> str:
    """The Slurm job name of every job this server's notebooks start (the hub cancels them by
    it when the server stops)."""
    if server_name is None:
        server_name = os.environ.get("JUPYTERHUB_SERVER_NAME", "")
    return jobs.notebook_job_name(server_name)
