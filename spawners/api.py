"""The one thing a server job may tell the hub: the port it listens on.

Upstream ``batchspawner/api.py`` calls ``setattr`` on the spawner for every key of the JSON
body, so a user's job could set ``exec_prefix``, ``batch_submit_cmd``... and make the hub run
commands. hpchub removes that handler from JupyterHub's API and serves its own: the job is
identified by its own API token, the body may hold only ``port``, and the host is never taken
from the job (it comes from Slurm's record of where the job runs).
"""

from __future__ import annotations

import hashlib
import json

import batchspawner.api  # noqa: F401 - imported so that its handler can be removed below
from jupyterhub import apihandlers
from jupyterhub.apihandlers import APIHandler
from tornado import web

PATH = r"/api/hpchub/port"


def find_spawner(user, token: str):
    """The (child) spawner whose API token is ``token``, or None. After a hub restart a starting
    server's spawner knows only the token's SHA-256 (kept in its state)."""
    digest = hashlib.sha256(token.encode()).hexdigest() if token else None
    for spawner in user.spawners.values():
        inner = getattr(spawner, "child_spawner", None) or spawner
        if token and (getattr(inner, "api_token", None) == token
                      or getattr(inner, "token_sha256", None) == digest):
            return inner
    return None


def parse_port(body: bytes) -> int:
    try:
        data = json.loads(body or b"{}")
    except ValueError:
        raise web.HTTPError(400, "body must be JSON") from None
    if not isinstance(data, dict) or set(data) != {"port"}:
        raise web.HTTPError(400, "body must be exactly {\"port\": <int>}")
    port = data["port"]
    if not isinstance(port, int) or isinstance(port, bool) or not 1024 <= port <= 65535:
        raise web.HTTPError(400, "port must be an integer from 1024 to 65535")
    return port


class PortReportHandler(APIHandler):
    @web.authenticated
    def post(self):
        spawner = find_spawner(self.current_user, self.get_auth_token())
        if spawner is None or not hasattr(spawner, "report_port"):
            raise web.HTTPError(403, "this token belongs to no pending hpchub server")
        spawner.report_port(parse_port(self.request.body))
        self.set_status(201)
        self.finish(json.dumps({"message": "port recorded"}))


def install_handlers() -> None:
    """Replace batchspawner's handler with ours in JupyterHub's default API handlers."""
    handlers = apihandlers.default_handlers
    handlers[:] = [h for h in handlers if h[0] != r"/api/batchspawner"]
    if not any(h[0] == PATH for h in handlers):
        handlers.append((PATH, PortReportHandler))


install_handlers()
