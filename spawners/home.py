"""The hub's home page as cards, one per server: where it runs, its job, its queue state or
time left, or why it stopped; and ``GET /hub/api/hpchub/servers``, which the page polls.

The answer is built from what the hub already holds (spawner state and the shared poller's
last snapshot): loading the page costs Slurm nothing. A user sees only their own servers.
"""

from __future__ import annotations

import json
import time
from datetime import datetime

from jupyterhub.apihandlers import APIHandler
from jupyterhub.scopes import needs_scope
from tornado import web

from hpchub.slurm.jobs import JobInfo
from hpchub.slurm.messages import explain_reason, pending_message, start_estimate

from .poller import poller
from .sharing import shared_with

PATH = r"/api/hpchub/servers"
UNANSWERED = "The scheduler is not answering; your server is left alone and shown as it was."


def _stops_at(job: JobInfo, grace_s: int) -> float | None:
    """Epoch at which Slurm asks the server to stop (start + time limit - the warning)."""
    try:
        started = datetime.fromisoformat(job.start).timestamp()
    except ValueError:
        return None
    return started + job.limit_s - grace_s if job.limit_s else None


def _slurm_card(child, snapshot) -> dict:  # noqa: ANN001 - a SlurmSpawner
    card: dict = {"job_id": child.job_id or None, "partition": child.request.partition}
    job = child._own(snapshot.jobs) if child.job_id else None  # noqa: SLF001 - same package
    if job is None:
        card["state"] = "unknown" if child.job_id else "starting"
        if child.job_id:
            card["note"] = UNANSWERED if not snapshot.ok else (
                f"Slurm does not list job {child.job_id} right now; your server is left alone.")
        return card
    card["nodes"] = job.nodes or None
    if job.unknown:
        card.update(state="unknown", note=UNANSWERED)
    elif job.pending:
        card.update(state="queued", note=pending_message(job, snapshot.jobs),
                    reason=job.reason, reason_words=explain_reason(job.reason),
                    estimated_start=start_estimate(job))
    elif job.running:
        card.update(state="running", stops_at=_stops_at(job, child.grace()))
    else:
        card.update(state="stopping")
    if not snapshot.ok:
        card["note"] = UNANSWERED
    return card


def server_card(user, name: str, spawner) -> dict:  # noqa: ANN001 - JupyterHub objects
    """One card: profile, where, state, and what the buttons need."""
    options = dict(spawner.user_options or {})
    profile = next((p for p in spawner.site.profiles if p.name == options.get("profile")), None)
    card = {
        "name": name, "profile": profile.display_name if profile else None,
        "kind": profile.kind if profile else None, "options": options,
        "ready": spawner.ready, "pending": spawner.pending,
        "url": user.server_url(name) if spawner.ready else None,
        "state": "stopped", "stopped_because": spawner.end_reason or None,
        "shared_with": shared_with(spawner),
    }
    child = spawner.child_spawner
    if not (spawner.active and child is not None):
        return card
    if hasattr(child, "job_id"):
        card.update(_slurm_card(child, poller().snapshot))
    else:
        card.update(state="running" if spawner.ready else "starting",
                    nodes=getattr(child, "node", "") or None)
    if spawner.pending == "stop":
        card["state"] = "stopping"
    elif card["state"] == "running" and not spawner.ready:
        card["state"] = "starting"
    return card


def server_cards(user) -> list[dict]:  # noqa: ANN001
    """The default server first, then the named ones by name."""
    names = sorted({"", *user.orm_user.orm_spawners}, key=lambda n: (n != "", n))
    spawners = [(name, user.spawners[name]) for name in names]  # a stopped one's too
    return [server_card(user, name, s) for name, s in spawners if hasattr(s, "site")]


class ServersHandler(APIHandler):
    """The caller's own cards, for a token that may read their servers (as JupyterHub's own
    ``GET /hub/api/users/<name>``): a token scoped to less, e.g. ``users:activity``, gets 403."""

    @web.authenticated
    def get(self):
        user = self.current_user
        if user is None or not hasattr(user, "spawners"):
            raise web.HTTPError(403, "only a user has servers")
        self.finish_cards(user.name)

    @needs_scope("read:servers")
    def finish_cards(self, user_name: str) -> None:
        user = self.current_user
        self.finish(json.dumps({"now": time.time(), "servers": server_cards(user)}))
