"""Dask on Slurm from a notebook: dask-jobqueue's ``SLURMCluster`` with the site's defaults,
checked before submitting, and a dashboard link that works through the hub.

Safe by default: the scheduler, workers and nannies speak TLS with a certificate made for this
cluster only (``Security.temporary()``; mutual, so a peer without it gets no connection), whose
worker copies sit in a folder only the user can read; the scheduler's dashboard and the workers'
HTTP servers listen on the loopback only (the hub reaches the dashboard through
jupyter-server-proxy).
"""

from __future__ import annotations

import os

from hpchub.site_configs import Site, installed_site
from hpchub.slurm.times import walltime_minutes

from .request import JobRequest, check, notebook_job_name, user_associations


def dashboard_link() -> str:
    """The dashboard through jupyter-server-proxy on this server (JupyterHub's prefix)."""
    prefix = os.environ.get("JUPYTERHUB_SERVICE_PREFIX")
    return f"{prefix}proxy/{{port}}/status" if prefix else "http://{host}:{port}/status"


def private_directory(path: str) -> str:
    """``path`` (created) as a folder only its owner may enter; refused if it is someone else's."""
    os.makedirs(path, mode=0o700, exist_ok=True)
    info = os.lstat(path)
    if info.st_uid != os.getuid() or not os.path.isdir(path) or os.path.islink(path):
        raise PermissionError(f"{path} is not a folder of yours: remove it, then try again")
    os.chmod(path, 0o700)
    return path


def worker_lifetime(walltime: str) -> str:
    """Workers leave (cleanly) a little before Slurm would kill them."""
    minutes = walltime_minutes(walltime)
    return f"{max(1, minutes - max(2, minutes // 10))}m"


def dask_cluster(cores: int = 4, memory: str = "8GB", *, processes: int = 1,
                 partition: str | None = None, account: str | None = None, qos: str | None = None,
                 time: str = "00:30:00", site: Site | None = None, **kwargs):  # noqa: ANN201
    """A ``dask_jobqueue.SLURMCluster`` for this site: one Slurm job per ``cores``-core worker
    job; scale with ``cluster.scale(jobs=N)`` or ``cluster.adapt(maximum_jobs=N)``."""
    import dask
    from dask_jobqueue import SLURMCluster
    from distributed.security import Security

    from . import dask_tls  # noqa: F401 - TLS comms that survive a peer's abrupt close

    site = site or installed_site()
    req = check(JobRequest(1, 1, cores, 0, partition, account, qos, time), site, user_associations())
    dask.config.set({"distributed.dashboard.link": dashboard_link()})
    extra = ["--no-requeue"] + ([f"--qos={req.qos}"] if req.qos else [])
    kwargs.setdefault("local_directory", os.environ.get("TMPDIR", "/tmp"))
    kwargs.setdefault("log_directory", os.path.expanduser("~/.hpchub/dask-logs"))
    os.makedirs(kwargs["log_directory"], exist_ok=True)
    kwargs.setdefault("security", Security.temporary())
    # dask-jobqueue writes the workers' copy of the key there (files 0600); the jobs read it.
    kwargs.setdefault("shared_temp_directory", private_directory(
        os.path.expanduser("~/.hpchub/dask-security")))
    return SLURMCluster(
        queue=req.partition, account=req.account, cores=cores, memory=memory,
        processes=processes, walltime=req.time, job_name=notebook_job_name(),
        interface=site.network.interface, job_extra_directives=extra,
        worker_extra_args=["--lifetime", worker_lifetime(req.time), "--lifetime-stagger", "30s",
                           # a worker serves HTTP (metrics, health) even without a dashboard
                           "--no-dashboard", "--dashboard-address", "127.0.0.1:0",
                           "--preload", "hpchub.jobs.dask_tls",
                           "--preload-nanny", "hpchub.jobs.dask_tls"],
        scheduler_options={"dashboard_address": "127.0.0.1:0"},
        **kwargs,
    )
