"""Cancel server jobs the hub no longer knows (a JupyterHub-managed service).

A job is a server job of user U only when Slurm says all three: its name is
``hpchub-spawner``, its owner is U, and its whole comment is ``hpchub:U/<server>``. It is an
orphan when, for longer than ``--min-age`` seconds, no server of the hub (running or starting)
holds its job id: e.g. the hub's database was restored from an older copy. A round acts only on
a complete view of the hub (every page of active users, the same total throughout) and asks
the hub once more about each candidate's owner before cancelling; Slurm or hub errors skip the
round. Orphans are cancelled as their user, through the hub's sudoers rule, and logged.

    python -m hpchub.spawners.reconcile --interval 60 --min-age 300
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import time
import urllib.error
import urllib.parse
import urllib.request

from hpchub.hub.slurm_connection import connect_slurm
from hpchub.node.server_certs import hub_client_context
from hpchub.site_configs import load_site
from hpchub.slurm.client import CommandTimeout, SlurmError, slurm
from hpchub.slurm.jobs import SERVER_JOB_NAME, ServerJob, is_server_comment

log = logging.getLogger("hpchub.reconcile")
PAGINATION = "application/jupyterhub-pagination+json"


class IncompleteView(RuntimeError):
    """The hub's list of servers could not be read whole and consistent: act on nothing."""


def job_ids_in(state: object) -> set[str]:
    """Every ``job_id`` in a (wrapped) spawner state."""
    found: set[str] = set()
    if isinstance(state, dict):
        for key, value in state.items():
            if key == "job_id" and value:
                found.add(str(value))
            else:
                found |= job_ids_in(value)
    return found


def known_job_ids(users: list[dict]) -> set[str]:
    """Job ids held by servers the hub runs or is starting (REST model with server state)."""
    ids: set[str] = set()
    for user in users:
        for server in (user.get("servers") or {}).values():
            if server.get("ready") or server.get("pending"):
                ids |= job_ids_in(server.get("state"))
    return ids


def orphans(jobs: list[ServerJob], known: set[str], now: float, min_age: float) -> list[ServerJob]:
    return [j for j in jobs if j.job_id not in known and now - j.submitted >= min_age]


def hub_get(path: str, accept: str = "application/json") -> object:
    request = urllib.request.Request(
        os.environ["JUPYTERHUB_API_URL"].rstrip("/") + path,
        headers={"Authorization": f"token {os.environ['JUPYTERHUB_API_TOKEN']}", "Accept": accept})
    context = hub_client_context(os.environ)  # internal SSL: the service's certificate
    with urllib.request.urlopen(request, timeout=30, context=context) as resp:  # noqa: S310
        return json.load(resp)


def active_users(page_size: int = 200) -> list[dict]:
    """Every active user, page by page; :class:`IncompleteView` unless the pages add up."""
    users: list[dict] = []
    offset, total = 0, None
    while True:
        page = hub_get(f"/users?state=active&offset={offset}&limit={page_size}", PAGINATION)
        if not isinstance(page, dict) or "_pagination" not in page:
            raise IncompleteView("the hub's user list is not paginated")
        info = page["_pagination"]
        if total is None:
            total = info["total"]
        elif info["total"] != total:
            raise IncompleteView(f"active users changed while paging ({total} -> {info['total']})")
        users += page["items"]
        if not info.get("next") or not page["items"]:
            break
        offset = info["next"]["offset"]
    names = [u["name"] for u in users]
    if len(users) != total or len(set(names)) != len(names):
        raise IncompleteView(f"read {len(users)} users ({len(set(names))} distinct) of {total}")
    return users


def still_orphan(job: ServerJob) -> bool:
    """Ask the hub about the job's owner alone: does any server of theirs hold the job?
    An owner the hub does not know holds none; any other error says no (not this round)."""
    try:
        model = hub_get(f"/users/{urllib.parse.quote(job.user, safe='')}")
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return True
        log.warning("the hub did not answer about %s (%s); job %s left for now", job.user,
                    exc.code, job.job_id)
        return False
    except OSError as exc:
        log.warning("the hub did not answer about %s (%s); job %s left for now", job.user,
                    exc, job.job_id)
        return False
    return job.job_id not in known_job_ids([model]) if isinstance(model, dict) else False


async def reconcile_once(min_age: float, page_size: int = 200) -> list[ServerJob]:
    """One round; returns the jobs it cancelled."""
    # Hub first, Slurm second: a job submitted in between is young, hence spared by min_age.
    try:
        known = known_job_ids(active_users(page_size))
        jobs = await slurm().server_jobs()
    except IncompleteView as exc:
        log.warning("skipping this round: %s", exc)
        return []
    except (SlurmError, CommandTimeout) as exc:
        log.warning("Slurm did not list the server jobs, skipping this round: %s", exc)
        return []
    cancelled = []
    for job in orphans(jobs, known, time.time(), min_age):
        try:
            proven = is_server_comment(await slurm().comment(job.job_id), job.user)
        except (SlurmError, CommandTimeout):
            proven = False  # ended meanwhile, or Slurm busy: nothing to do this round
        if not proven:
            log.info("job %s of %s is named %s but is no server job; left alone", job.job_id,
                     job.user, SERVER_JOB_NAME)
            continue
        if not still_orphan(job):
            continue
        log.warning("cancelling orphan server job %s of %s: no hub server holds it",
                    job.job_id, job.user)
        try:
            await slurm().cancel(job.user, job.job_id, timeout=60)
            cancelled.append(job)
        except (SlurmError, CommandTimeout) as exc:
            log.error("cancelling job %s failed: %s", job.job_id, exc)
    log.info("round done: %d server job(s) held by the hub, %d orphan(s) cancelled",
             len(known), len(cancelled))
    return cancelled


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m hpchub.spawners.reconcile")
    ap.add_argument("--interval", type=float, default=60)
    ap.add_argument("--min-age", type=float, default=300)
    ap.add_argument("--page-size", type=int, default=200, help="users per hub API request")
    ap.add_argument("--once", action="store_true", help="one round, then exit")
    ap.add_argument("--site", required=True, help="the site config (how to reach Slurm)")
    ap.add_argument("--slurm-access", choices=["rest", "cli"], help="default: the site's mode")
    args = ap.parse_args()
    site = load_site(args.site)
    connect_slurm(site, args.slurm_access or site.slurm_access.mode)
    logging.basicConfig(level=logging.INFO, format="[%(levelname)1.1s %(asctime)s reconcile] %(message)s")
    while True:
        try:
            asyncio.run(reconcile_once(args.min_age, args.page_size))
        except Exception:  # noqa: BLE001 - keep watching; the next round may work
            log.exception("reconcile round failed")
        if args.once:
            return
        time.sleep(args.interval)


if __name__ == "__main__":
    main()
