"""The hub's Slurm client, and what the hub says about it at start-up."""

from __future__ import annotations

from hpchub.site_configs import Site


def connect_slurm(site: Site, mode: str, cache_s: float = 60.0):  # noqa: ANN201 - SlurmClient
    """This process's Slurm client: slurmrestd (``rest``) or Slurm's commands (``cli``)."""
    from hpchub.slurm.client import connect

    access = site.slurm_access
    return connect(mode, access.rest_url, access.jwt_key_file, site.hub.user, cache_s)


def log_slurm_at_start(client) -> None:  # noqa: ANN001 - a SlurmClient
    """Say in the hub's log, as it starts, which Slurm (and REST API) it talks to, or why it
    cannot (JupyterHub reads its config inside its event loop; elsewhere this does nothing)."""
    import asyncio
    import logging

    log = logging.getLogger("JupyterHub")

    async def check() -> None:
        try:
            log.info("hpchub: %s", await client.about())
        except Exception as exc:  # noqa: BLE001 - said in words; servers stay as they are
            log.error("hpchub: cannot use this Slurm: %s", exc)

    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return
    task = loop.create_task(check())
    _STARTUP_TASKS.add(task)
    task.add_done_callback(_STARTUP_TASKS.discard)


_STARTUP_TASKS: set = set()
