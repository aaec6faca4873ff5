"""A shared server asks the hub about its guests at every request, and every few seconds
whether they still may come in; a revoked guest is shut out of everything they had open
(server extension).

JupyterHub's single-user server caches what the hub says about a token for five minutes
(``HubAuth.cache_max_age``) and never looks again at an open websocket, so a revoked guest kept
a notebook's live document, kernels and terminals. Here:

- the owner's requests are left to the cache; a guest's (anyone else's) are asked of the hub
  uncached;
- the kernels and terminals a guest connected to are remembered; once the hub no longer grants
  that guest access, their websockets are closed and those kernels and terminals are shut down
  (code the guest ran there stops with them);
- the server's own API token (``JUPYTERHUB_API_TOKEN``, which anyone running code here can read
  from a kernel's environment) never opens this server: it is for the server's calls to the
  hub, not for requests to the server.

What a guest did as the owner before revocation (files changed, processes started outside a
kernel) is not undone: "Stop sharing and restart" on the home page ends the job and makes the
server a new token (docs/sharing.md).
"""

from __future__ import annotations

import asyncio
import hmac
import os
import weakref
from dataclasses import dataclass, field
from typing import Any

from tornado import web
from tornado.websocket import WebSocketHandler

from hpchub.compat import warn_if_untested

RECHECK_S = 5
REVOKED = "access to this server was revoked by its owner"


@dataclass
class GuestUse:
    """What one guest token opened: kernels and terminals it connected to, open websockets."""

    name: str
    kernels: set[str] = field(default_factory=set)
    terminals: set[str] = field(default_factory=set)
    sockets: weakref.WeakSet = field(default_factory=weakref.WeakSet)


def opened(handler: WebSocketHandler) -> tuple[str | None, str | None]:
    """(kernel id, terminal name) a websocket connects to, if any."""
    kernel = (handler.path_kwargs or {}).get("kernel_id")
    terminal = None
    if type(handler).__name__ == "TermSocket" and handler.path_args:
        terminal = handler.path_args[0]
    return kernel, terminal


class Guard:
    def __init__(self, provider: Any, owner: str, serverapp: Any = None,
                 own_token: str = ""):
        self.provider, self.owner, self.serverapp = provider, owner, serverapp
        self.own_token = own_token
        self.hub_auth = provider.hub_auth
        self.guests: dict[str, GuestUse] = {}  # by token
        self.cached_user_for_token = self.hub_auth.user_for_token
        self.upstream_get_user = provider.get_user
        self.task: asyncio.Task | None = None

    def user_for_token(self, token: str, use_cache: bool = True, session_id: str = "", *,
                       sync: bool = True) -> Any:
        """The hub's answer for ``token``: from the cache for the owner, asked again for anyone
        else (so a share takes effect, and ends, at their next request)."""
        if sync:
            return self.cached_user_for_token(token, use_cache, session_id, sync=True)

        async def ask() -> dict | None:
            model = await self.cached_user_for_token(token, use_cache, session_id, sync=False)
            if use_cache and (model is None or model.get("name") != self.owner):
                model = await self.ask_hub(token, session_id)
            return model
        return ask()

    async def ask_hub(self, token: str, session_id: str) -> dict | None:
        """The hub's uncached answer; a connection that failed (HubAuth's HTTP 500) is tried
        once more before the guest's request fails."""
        try:
            return await self.cached_user_for_token(token, False, session_id, sync=False)
        except web.HTTPError as exc:
            if exc.status_code != 500:
                raise
            self.hub_auth.log.warning("asking the hub about a guest failed, once more: %s", exc)
            await asyncio.sleep(0.2)
            return await self.cached_user_for_token(token, False, session_id, sync=False)

    async def allowed(self, token: str) -> bool:
        model = await self.cached_user_for_token(token, False, sync=False)
        return bool(model) and bool(self.hub_auth.check_scopes(self.hub_auth.access_scopes, model))

    def is_own_token(self, token: str | None) -> bool:
        return bool(token and self.own_token) and hmac.compare_digest(token, self.own_token)

    async def get_user(self, handler: web.RequestHandler) -> Any:
        """Upstream's check, refusing the server's own token; a guest's websocket (and the
        kernel or terminal behind it) is remembered for :meth:`recheck`."""
        token = self.hub_auth.get_token(handler)
        if self.is_own_token(token):
            handler.log.warning("refused a request to %s's server made with the server's own "
                                "API token", self.owner)
            return None
        user = await self.upstream_get_user(handler)
        if user is not None and user.username != self.owner and token and \
                isinstance(handler, WebSocketHandler):
            use = self.guests.setdefault(token, GuestUse(user.username))
            use.sockets.add(handler)
            kernel, terminal = opened(handler)
            if kernel:
                use.kernels.add(kernel)
            if terminal:
                use.terminals.add(terminal)
            if self.task is None:
                self.task = asyncio.ensure_future(self.recheck())
        return user

    async def recheck(self) -> None:
        while True:
            await asyncio.sleep(RECHECK_S)
            for token, use in list(self.guests.items()):
                try:
                    if await self.allowed(token):
                        continue
                except Exception as exc:  # noqa: BLE001 - a hub hiccup is not a revocation
                    self.hub_auth.log.warning("could not re-check a guest with the hub: %s", exc)
                    continue
                self.guests.pop(token, None)
                await self.shut_out(use)

    async def shut_out(self, use: GuestUse) -> None:
        """Close a revoked guest's websockets; shut down the kernels and terminals they used."""
        log = self.hub_auth.log
        log.warning("%s's server: %s for %s; closing %d connection(s), shutting down %d "
                    "kernel(s) and %d terminal(s) they used", self.owner, REVOKED, use.name,
                    len(use.sockets), len(use.kernels), len(use.terminals))
        for handler in list(use.sockets):
            if handler.ws_connection is not None:
                handler.close(1008, REVOKED)
        if self.serverapp is None:
            return
        kernels = self.serverapp.kernel_manager
        for kernel in use.kernels:
            if kernel in kernels:
                try:
                    await kernels.shutdown_kernel(kernel, now=True)
                except Exception as exc:  # noqa: BLE001 - shut down the others all the same
                    log.warning("could not shut down kernel %s: %s", kernel, exc)
        terminals = self.serverapp.web_app.settings.get("terminal_manager")
        for name in use.terminals:
            if terminals is not None and name in terminals.terminals:
                try:
                    await terminals.terminate(name, force=True)
                except Exception as exc:  # noqa: BLE001
                    log.warning("could not end terminal %s: %s", name, exc)


def _jupyter_server_extension_points() -> list[dict]:
    return [{"module": "hpchub.node.share_guard"}]


def _load_jupyter_server_extension(serverapp) -> None:  # noqa: ANN001 - a ServerApp
    provider = serverapp.identity_provider
    owner = os.environ.get("JUPYTERHUB_USER")
    if owner is None or not hasattr(provider, "hub_auth"):
        return  # not a JupyterHub server
    warn_if_untested("jupyterhub")
    guard = Guard(provider, owner, serverapp, os.environ.get("JUPYTERHUB_API_TOKEN", ""))
    provider.hub_auth.user_for_token = guard.user_for_token
    provider.get_user = guard.get_user
