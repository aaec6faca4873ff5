"""Jupyter server extension in batch servers: how long until this server's job must stop.

``GET <base_url>hpchub/walltime`` answers ``{"job_id": "812", "remaining_s": 540}``: seconds
until Slurm asks the server to stop (the job's end time minus the shutdown warning the hub
requested with ``--signal``), or ``null`` outside a Slurm job. The JupyterLab plug-in
``hpchub-walltime`` (``jupyter_data/labextensions``) polls it and shows a notification 10 and
2 minutes before.
"""

from __future__ import annotations

import asyncio
import os
import time
from datetime import datetime

GRACE_VARIABLE = "HPCHUB_SHUTDOWN_GRACE_S"
REFRESH_S = 60  # the end time changes only when an admin extends the job
_cache: dict[str, float] = {}


async def job_end(job_id: str) -> float | None:
    """The job's end time (epoch seconds) from Slurm, re-read at most once a minute."""
    if _cache and time.monotonic() - _cache["asked"] < REFRESH_S:
        return _cache.get("end")
    proc = await asyncio.create_subprocess_exec(
        "squeue", "-h", "-j", job_id, "-o", "%e",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), 20)
    except TimeoutError:
        proc.kill()
        return _cache.get("end")
    try:
        end = datetime.fromisoformat(out.decode().strip()).timestamp()
    except ValueError:
        return _cache.get("end")
    _cache.update(asked=time.monotonic(), end=end)
    return end


def remaining(end: float, grace_s: int, now: float) -> int:
    """Seconds until the stop signal, never negative."""
    return max(0, int(end - grace_s - now))


async def walltime_reply() -> dict:
    job_id = os.environ.get("SLURM_JOB_ID")
    end = await job_end(job_id) if job_id else None
    grace = int(os.environ.get(GRACE_VARIABLE, "0") or 0)
    return {"job_id": job_id, "remaining_s": None if end is None else remaining(end, grace, time.time())}


def _jupyter_server_extension_points() -> list[dict]:
    return [{"module": "hpchub.spawners.walltime"}]


def _load_jupyter_server_extension(serverapp) -> None:  # noqa: ANN001
    # Imported here: the hub (which imports this package) has no jupyter_server.
    from jupyter_server.base.handlers import APIHandler
    from jupyter_server.utils import url_path_join
    from tornado import web

    class WalltimeHandler(APIHandler):
        @web.authenticated
        async def get(self) -> None:
            self.finish(await walltime_reply())

    route = url_path_join(serverapp.web_app.settings["base_url"], "hpchub/walltime")
    serverapp.web_app.add_handlers(".*$", [(route, WalltimeHandler)])
