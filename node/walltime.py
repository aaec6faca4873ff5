"""Jupyter server extension in batch servers: how long until this server's job must stop.

``GET <base_url>hpchub/walltime`` answers ``{"job_id": "812", "remaining_s": 540}``: seconds
until Slurm asks the server to stop (job start + time limit - the shutdown warning the hub
requested with ``--signal``), or ``null`` outside a Slurm job. Computed from what the hub and
``hpchub-singleuser`` put in the environment, so it costs slurmctld nothing however many
servers poll (an admin's later ``scontrol update TimeLimit`` is not seen). The JupyterLab
plug-in ``hpchub-walltime`` (``jupyter_data/labextensions``) polls it and shows a notification
10 and 2 minutes before.
"""

from __future__ import annotations

import os
import time

STARTED = "HPCHUB_JOB_STARTED"  # epoch seconds, set by hpchub-singleuser as the job starts
LIMIT = "HPCHUB_TIME_LIMIT_S"  # the job's time limit, from the hub
GRACE = "HPCHUB_SHUTDOWN_GRACE_S"  # how long before the limit Slurm signals the server


def remaining(end: float, grace_s: int, now: float) -> int:
    """Seconds until the stop signal, never negative."""
    return max(0, int(end - grace_s - now))


def walltime_reply(env: dict | os._Environ = os.environ, now: float | None = None) -> dict:
    job_id = env.get("SLURM_JOB_ID")
    try:
        end = float(env[STARTED]) + int(env[LIMIT])
    except (KeyError, ValueError):
        return {"job_id": job_id, "remaining_s": None}
    grace = int(env.get(GRACE, "0") or 0)
    return {"job_id": job_id, "remaining_s": remaining(end, grace, time.time() if now is None else now)}


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
