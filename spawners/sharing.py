"""Sharing a server within a collaboration (hub).

JupyterHub's sharing (``/hub/api/shares``, share codes) lets a user give anyone access to their
server. Here a server is shared only with people who are in one of the owner's collaborations
(the site's collaborations, with membership read from the center's directory through NSS), or
with such a collaboration's group as a whole:

- at login each user's JupyterHub groups become their collaborations (``manage_groups``);
- every user may manage the shares of their own servers (``shares!user``) and may name the
  members and groups of their own collaborations only (``read:users:name!group=<collab>``);
- the share and accept-share handlers refuse, in words, a user or group outside the owner's
  collaborations, so a share code passed to an outsider gives them nothing (and does not tell
  them the owner's collaborations);
- between logins, :mod:`.membership` keeps the groups and direct shares in step with the
  directory.
"""

from __future__ import annotations

import grp
import pwd
from typing import Any

from jupyterhub import apihandlers, handlers
from jupyterhub.apihandlers.shares import ServerShareAPIHandler
from jupyterhub.handlers.pages import AcceptShareHandler
from tornado import web

from hpchub.compat import require
from hpchub.site_configs import Site

_collaborations: tuple[str, ...] = ()  # the site's collaboration names (set by configure)


def collaborations_of(user: str, names: tuple[str, ...] | None = None) -> list[str]:
    """The collaborations ``user`` belongs to, from the directory (primary or secondary group)."""
    try:
        primary = pwd.getpwnam(user).pw_gid
    except KeyError:
        return []
    found = []
    for name in _collaborations if names is None else names:
        try:
            group = grp.getgrnam(name)
        except KeyError:
            continue
        if user in group.gr_mem or group.gr_gid == primary:
            found.append(name)
    return found


def directory_members(collaboration: str) -> set[str]:
    """The members the directory lists for ``collaboration`` (its group's member list)."""
    try:
        return set(grp.getgrnam(collaboration).gr_mem)
    except KeyError:
        return set()


def set_collaborations(site: Site) -> None:
    global _collaborations
    _collaborations = tuple(c.name for c in site.collaborations)


def collaboration_names() -> tuple[str, ...]:
    return _collaborations


def common_collaborations(owner: str, other: str) -> list[str]:
    return sorted(set(collaborations_of(owner)) & set(collaborations_of(other)))


def refusal(owner: str, other: str) -> str:
    mine = ", ".join(collaborations_of(owner)) or "none"
    return (f"{other} is not in a collaboration of {owner}'s ({mine}): a server is shared only "
            "within its owner's collaborations.")


async def add_collaboration_groups(authenticator: Any, handler: Any, auth_model: dict) -> dict:
    """``post_auth_hook``: the user's JupyterHub groups are their collaborations."""
    groups = set(auth_model.get("groups") or ())
    auth_model["groups"] = sorted(groups | set(collaborations_of(auth_model["name"])))
    return auth_model


class CollaborationShareHandler(ServerShareAPIHandler):
    """``POST /hub/api/shares/<owner>/<server>``: only with members or groups of the owner's
    collaborations."""

    async def post(self, user_name: str, server_name: str | None = None) -> None:
        model = self.get_json_body() or {}
        if isinstance(model, dict) and isinstance(model.get("user"), str):
            if not common_collaborations(user_name, model["user"]):
                raise web.HTTPError(403, refusal(user_name, model["user"]))
        elif isinstance(model, dict) and isinstance(model.get("group"), str):
            if model["group"] not in collaborations_of(user_name):
                raise web.HTTPError(403, f"{model['group']} is not a collaboration of "
                                         f"{user_name}'s: a server is shared only within them.")
        await super().post(user_name, server_name)


class CollaborationAcceptShareHandler(AcceptShareHandler):
    """``/hub/accept-share?code=...``: a share code works only for the owner's collaborators."""

    def _check_collaborator(self) -> None:
        from jupyterhub import orm

        share_code = orm.ShareCode.find(self.db, code=self.get_argument("code"))
        if share_code is not None and self.current_user is not None:
            owner, me = share_code.owner.name, self.current_user.name
            if owner != me and not common_collaborations(owner, me):
                self.log.warning("share code of %s refused for %s (no common collaboration)",
                                 owner, me)
                # Not refusal(): an outsider is not told which collaborations the owner is in.
                raise web.HTTPError(403, f"you are not in a collaboration of {owner}'s: this "
                                         f"share code works only for them. Ask {owner} to "
                                         "share with you another way if you should have access.")

    @web.authenticated
    async def get(self) -> None:
        self._check_collaborator()
        await super().get()

    @web.authenticated
    def post(self) -> None:
        self._check_collaborator()
        super().post()


def shared_with(spawner: Any) -> list[str]:
    """Who a server is shared with, as the owner reads it: user names and ``group <name>``."""
    names = []
    for share in getattr(spawner.orm_spawner, "shares", None) or []:
        if share.user is not None:
            names.append(share.user.name)
        elif share.group is not None:
            names.append(f"group {share.group.name}")
    return sorted(names)


def roles(site: Site) -> list[dict]:
    """Every user manages their own servers' shares; a collaboration's members may name its
    members and the group itself, and nobody else."""
    return [{
        "name": "user", "scopes": ["self", "shares!user"],
    }] + [{
        "name": f"collaboration-{c.name}",
        "description": f"members of {c.display_name} may share servers with each other",
        "scopes": [f"read:users:name!group={c.name}", f"read:groups:name!group={c.name}"],
        "groups": [c.name],
    } for c in site.collaborations]


def _with_group_shares(upstream: Any) -> Any:
    """JupyterHub 6.1's ``scopes.get_scopes_for`` gives a user's tokens (their browser's OAuth
    token for a server among them) the servers shared with the user, but not those shared with
    the user's groups, so a group share let nobody in. Found here, no upstream issue yet: a
    token gets its owner's group shares as it gets their own."""
    from jupyterhub import orm
    from jupyterhub.scopes import access_scopes

    def get_scopes_for(orm_object: Any) -> frozenset:
        scopes = upstream(orm_object)
        user = getattr(orm_object, "user", None) if isinstance(orm_object, orm.APIToken) else None
        if user is None:
            return scopes
        shared = frozenset(s for group in user.groups for share in group.shared_with_me
                           for s in share.scopes)
        if not shared:
            return scopes
        if "inherit" in orm_object.scopes:
            return frozenset(scopes | shared)
        if orm_object.client_id != "jupyterhub":  # an OAuth token: its own server only
            return frozenset(scopes | (shared & access_scopes(orm_object.oauth_client)))
        return scopes

    get_scopes_for.upstream = upstream
    return get_scopes_for


def install(site: Site) -> None:
    """Our handlers in place of JupyterHub's share and accept-share handlers."""
    from jupyterhub import scopes

    require("jupyterhub")

    set_collaborations(site)
    if not hasattr(scopes.get_scopes_for, "upstream"):
        scopes.get_scopes_for = _with_group_shares(scopes.get_scopes_for)
    for table, upstream, ours in ((apihandlers.default_handlers, ServerShareAPIHandler,
                                   CollaborationShareHandler),
                                  (handlers.default_handlers, AcceptShareHandler,
                                   CollaborationAcceptShareHandler)):
        table[:] = [(route, ours if handler is upstream else handler, *rest)
                    for route, handler, *rest in table]

