"""Collaboration membership follows the directory within a minute (a JupyterHub-managed service).

At login a user's JupyterHub groups become their collaborations (:mod:`.sharing`); between
logins this service keeps them true. Every round, for each collaboration:

- a hub group member the directory no longer has in the collaboration leaves the hub group (so
  servers shared with the group no longer let them in), and every server shared with them by
  someone they now share no collaboration with is unshared;
- a directory member the hub knows joins the hub group.

The hub's own sharing checks do the rest: a server's share guard asks the hub about each guest
every few seconds and shuts a revoked guest out (``hpchub.node.share_guard``).

    python -m hpchub.spawners.membership --site /etc/hpchub/site.yaml --interval 30
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable

from hpchub.node.server_certs import hub_client_context
from hpchub.site_configs import load_site

from .sharing import collaborations_of, common_collaborations, directory_members

log = logging.getLogger("hpchub.membership")
SCOPES = ["groups", "users:shares", "read:users:name"]


def hub(method: str, path: str, body: dict | None = None) -> object:
    request = urllib.request.Request(
        os.environ["JUPYTERHUB_API_URL"].rstrip("/") + path, method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Authorization": f"token {os.environ['JUPYTERHUB_API_TOKEN']}",
                 "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30,  # noqa: S310 - the hub's own URL
                                context=hub_client_context(os.environ)) as resp:
        raw = resp.read()
    return json.loads(raw) if raw else None


def quoted(name: str) -> str:
    return urllib.parse.quote(name, safe="")


def known_to_hub(name: str) -> bool:
    try:
        hub("GET", f"/users/{quoted(name)}")
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return False
        raise
    return True


def unshare_outsiders(guest: str, call: Callable = hub) -> list[str]:
    """Revoke every server shared with ``guest`` whose owner shares no collaboration with them;
    the servers revoked, as ``owner/server``."""
    revoked = []
    shared = call("GET", f"/users/{quoted(guest)}/shared") or {}
    for item in shared.get("items", []):
        server = item.get("server") or {}
        owner, name = (server.get("user") or {}).get("name"), server.get("name", "")
        if not owner or common_collaborations(owner, guest):
            continue
        call("DELETE", f"/users/{quoted(guest)}/shared/{quoted(owner)}/{quoted(name)}")
        revoked.append(f"{owner}/{name}")
    return revoked


def sync_once(collaborations: list[str]) -> dict[str, list[str]]:
    """One round; what changed: ``left``, ``joined`` (``user collaboration``) and ``unshared``."""
    changed: dict[str, list[str]] = {"left": [], "joined": [], "unshared": []}
    for collab in collaborations:
        try:
            in_hub = set((hub("GET", f"/groups/{quoted(collab)}") or {}).get("users", []))
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                continue  # nobody of it has logged in yet
            raise
        gone = sorted(u for u in in_hub if collab not in collaborations_of(u, (collab,)))
        if gone:
            hub("DELETE", f"/groups/{quoted(collab)}/users", {"users": gone})
            changed["left"] += [f"{u} {collab}" for u in gone]
            for user in gone:
                changed["unshared"] += [f"{s} (was shared with {user})"
                                        for s in unshare_outsiders(user)]
        new = sorted(u for u in directory_members(collab) - in_hub if known_to_hub(u))
        if new:
            hub("POST", f"/groups/{quoted(collab)}/users", {"users": new})
            changed["joined"] += [f"{u} {collab}" for u in new]
    return changed


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m hpchub.spawners.membership")
    ap.add_argument("--site", required=True)
    ap.add_argument("--interval", type=float, default=30)
    ap.add_argument("--once", action="store_true", help="one round, then exit")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO,
                        format="[%(levelname)1.1s %(asctime)s membership] %(message)s")
    from . import sharing

    sharing.set_collaborations(load_site(args.site))
    names = list(sharing.collaboration_names())
    while True:
        try:
            changed = sync_once(names)
            for what, items in changed.items():
                for item in items:
                    log.warning("%s: %s", what, item)
        except Exception:  # noqa: BLE001 - the next round may work
            log.exception("membership round failed")
        if args.once:
            return
        time.sleep(args.interval)


if __name__ == "__main__":
    main()
