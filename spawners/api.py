"""What a server job may tell the hub: the port it listens on, or that it failed to start
(with the end of its log).

The job is identified by its own API token, the body is exactly ``{"port": N}`` or
``{"failed": TEXT}``, and the host is never taken from the job (it comes from Slurm's record
of where the job runs). A failure is taken only while that server is starting.

hpchub does not need batchspawner. Where it is installed in the hub's environment anyway (a
center coming from it), its ``/api/batchspawner`` handler, which ``setattr``s every key of the
JSON body on the spawner (a user's job could set ``exec_prefix``... and run commands on the
hub), is taken out of JupyterHub's API.
"""

from __future__ import annotations

import hashlib
import json

from jupyterhub import apihandlers
from jupyterhub.apihandlers import APIHandler
from tornado import web

from hpchub.compat import require
from hpchub.node.contract import REPORT_MAX_CHARS

from . import home

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


def parse_report(body: bytes) -> tuple[str, int | str]:
    """``("port", N)`` or ``("failed", TEXT)``; anything else is a 400."""
    try:
        data = json.loads(body or b"{}")
    except ValueError:
        raise web.HTTPError(400, "body must be JSON") from None
    if not isinstance(data, dict) or set(data) not in ({"port"}, {"failed"}):
        raise web.HTTPError(400, "body must be exactly {\"port\": <int>} or {\"failed\": <text>}")
    if "failed" in data:
        text = data["failed"]
        if not isinstance(text, str) or len(text) > REPORT_MAX_CHARS:
            raise web.HTTPError(400, f"failed must be a string of at most {REPORT_MAX_CHARS} characters")
        return "failed", text
    port = data["port"]
    if not isinstance(port, int) or isinstance(port, bool) or not 1024 <= port <= 65535:
        raise web.HTTPError(400, "port must be an integer from 1024 to 65535")
    return "port", port


class PortReportHandler(APIHandler):
    @web.authenticated
    def post(self):
        spawner = find_spawner(self.current_user, self.get_auth_token())
        if spawner is None or not hasattr(spawner, "report_port"):
            raise web.HTTPError(403, "this token belongs to no pending hpchub server")
        kind, value = parse_report(self.request.body)
        if kind == "port":
            spawner.report_port(value)
        elif not spawner.report_failure(value):
            raise web.HTTPError(409, "this server is not starting")
        self.set_status(201)
        self.finish(json.dumps({"message": f"{kind} recorded"}))


def install_handlers() -> None:
    """Add hpchub's handlers to JupyterHub's default API handlers; batchspawner's goes."""
    try:
        import batchspawner.api  # noqa: F401 - registers its handler when first imported
    except ImportError:
        pass
    else:
        require("batchspawner")
    handlers = apihandlers.default_handlers
    handlers[:] = [h for h in handlers if h[0] != r"/api/batchspawner"]
    if not any(h[0] == PATH for h in handlers):
        handlers.append((PATH, PortReportHandler))
    if not any(h[0] == home.PATH for h in handlers):
        handlers.append((home.PATH, home.ServersHandler))


install_handlers()
