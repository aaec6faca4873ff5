"""Jupyter server extension in every server: where it runs and how long until its job must stop.

``GET <base_url>hpchub/walltime`` answers ``{"job_id": "812", "remaining_s": 540, ...}``:
seconds until Slurm asks the server to stop (job start + time limit - the shutdown warning the
hub requested with ``--signal``), or ``null`` outside a Slurm job; and for JupyterLab's status
bar the job's nodes, partition, account, QOS and stop time, or on a shared node the node and
the user's share of it (CPUs this server may use, memory). Computed from what the hub and
``hpchub-singleuser`` put in the environment, so it costs slurmctld nothing however many
servers poll (an admin's later ``scontrol update TimeLimit`` is not seen). The JupyterLab
extension ``hpchub-walltime`` (TypeScript in ``node/labextensions``) polls it, shows a
notification at the times of its ``warnings`` setting (10 and 2 minutes before by default),
and keeps a status-bar item counting down.
"""

from __future__ import annotations

import os
import socket
import time

from .contract import JobContract


def remaining(end: float, grace_s: int, now: float) -> int:
    """Seconds until the stop signal, never negative."""
    return max(0, int(end - grace_s - now))


def walltime_reply(env: dict | os._Environ = os.environ, now: float | None = None) -> dict:
    job_id = env.get("SLURM_JOB_ID")
    contract = JobContract.from_env(env)
    where = {"nodes": env.get("SLURM_JOB_NODELIST") or socket.gethostname(),
             "partition": env.get("SLURM_JOB_PARTITION"), "account": env.get("SLURM_JOB_ACCOUNT"),
             "qos": env.get("SLURM_JOB_QOS"), "cpus": len(os.sched_getaffinity(0)),
             "memory_mb": contract.memory_mb, "shared": contract.shared_server}
    if contract.job_started is None or contract.time_limit_s is None:
        return {"job_id": job_id, "remaining_s": None, "stops_at": None, **where}
    end = contract.job_started + contract.time_limit_s
    grace = contract.shutdown_grace_s or 0
    now = time.time() if now is None else now
    return {"job_id": job_id, "remaining_s": remaining(end, grace, now), "stops_at": end - grace,
            **where}


def _jupyter_server_extension_points() -> list[dict]:
    return [{"module": "hpchub.node.walltime"}]


def _load_jupyter_server_extension(serverapp) -> None:  # noqa: ANN001
    # Imported here: the hub (which imports this package) has no jupyter_server.
    from jupyter_server.base.handlers import APIHandler
    from jupyter_server.utils import url_path_join
    from tornado import web

    class WalltimeHandler(APIHandler):
        @web.authenticated
        def get(self) -> None:
            self.finish(walltime_reply())

    route = url_path_join(serverapp.web_app.settings["base_url"], "hpchub/walltime")
    serverapp.web_app.add_handlers(".*$", [(route, WalltimeHandler)])
