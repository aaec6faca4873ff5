"""A shared server asks the hub about its guests at every request, and every few seconds about
their open connections, so revoking a share ends a guest's access at once (server extension).

JupyterHub's single-user server caches what the hub says about a token for five minutes
(``HubAuth.cache_max_age``) and never looks again at an open websocket, so a revoked guest kept
a notebook's live document, kernels and terminals. The owner's requests are left to the cache;
a guest's (anyone else's) are asked of the hub uncached, and a guest's websockets are closed
when the hub no longer grants access to this server.
"""

from __future__ import annotations

import asyncio
import os
import weakref
from typing import Any

from tornado import web
from tornado.websocket import WebSocketHandler

RECHECK_S = 5
REVOKED = "access to this server was revoked by its owner"


class Guard:
    def __init__(self, provider: Any, owner: str):
        self.provider, self.owner = provider, owner
        self.hub_auth = provider.hub_auth
        self.sockets: weakref.WeakKeyDictionary[WebSocketHandler, str] = weakref.WeakKeyDictionary()
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
                model = await self.cached_user_for_token(token, False, session_id, sync=False)
            return model
        return ask()

    async def allowed(self, token: str) -> bool:
        model = await self.cached_user_for_token(token, False, sync=False)
        return bool(model) and bool(self.hub_auth.check_scopes(self.hub_auth.access_scopes, model))

    async def get_user(self, handler: web.RequestHandler) -> Any:
        """Upstream's check; a guest's websocket is remembered for :meth:`recheck`."""
        user = await self.upstream_get_user(handler)
        if user is not None and user.username != self.owner and \
                isinstance(handler, WebSocketHandler) and handler not in self.sockets:
            token = self.hub_auth.get_token(handler)
            if token:
                self.sockets[handler] = token
                if self.task is None:
                    self.task = asyncio.ensure_future(self.recheck())
        return user

    async def recheck(self) -> None:
        while True:
            await asyncio.sleep(RECHECK_S)
            for handler, token in list(self.sockets.items()):
                if handler.ws_connection is None:
                    continue  # not open yet, or closed
                try:
                    if await self.allowed(token):
                        continue
                except Exception as exc:  # noqa: BLE001 - a hub hiccup is not a revocation
                    handler.log.warning("could not re-check a guest with the hub: %s", exc)
                    continue
                handler.log.warning("closing a guest's connection on %s's server: %s",
                                    self.owner, REVOKED)
                self.sockets.pop(handler, None)
                handler.close(1008, REVOKED)


def _jupyter_server_extension_points() -> list[dict]:
    return [{"module": "hpchub.node.share_guard"}]


def _load_jupyter_server_extension(serverapp) -> None:  # noqa: ANN001 - a ServerApp
    provider = serverapp.identity_provider
    owner = os.environ.get("JUPYTERHUB_USER")
    if owner is None or not hasattr(provider, "hub_auth"):
        return  # not a JupyterHub server
    guard = Guard(provider, owner)
    provider.hub_auth.user_for_token = guard.user_for_token
    provider.get_user = guard.get_user
