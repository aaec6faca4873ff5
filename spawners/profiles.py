"""The node-profile page and the spawner that runs the chosen profile.

How hpchub's spawners fit together (said here only):

- :class:`ProfilesSpawner` is the hub's ``spawner_class``. From ``wrapspawner.ProfilesSpawner``
  it takes the wrapper: one child spawner per server, built for the chosen profile, whose
  state is nested in the wrapper's (``child_profile``, ``child_state``) and whose start, stop
  and poll the wrapper runs. It replaces the form (the site's profiles, filtered by the user's
  groups) and builds the child with every argument JupyterHub 6 gives a spawner (wrapspawner
  1.0.1 passes fewer: the child would lack ``orm_spawner``, ``user_options``, internal SSL).
- The children are hpchub's own JupyterHub spawners: :class:`.slurm.SlurmSpawner` (batch
  profiles; batchspawner's is not used, see its module) and :class:`.shared_node.SharedNodeSpawner`.
  Both receive, from :meth:`ProfilesSpawner.construct_child` only, ``site`` (the loaded site
  config), ``hpchub_request`` (the validated request) and their profile's timeouts.
- A member's request is validated once per spawn, by :func:`.options.parse_request` against
  the site and their real Slurm associations: in :meth:`ProfilesSpawner.run_options_from_form`
  for the form (an error shows on the form) or in ``apply_user_options`` (every spawn, API ones
  too). It is stored once, in the wrapper's state (``request``); the child's holds its job's
  facts.
- Settings of batchspawner and wrapspawner that hpchub does not honour stop the hub at start-up
  (``hpchub.hub.unhonoured``).
"""

from __future__ import annotations

import asyncio
import grp
import logging
import os
import pwd
import time
from importlib import resources
from urllib.parse import urlparse

import jinja2
import wrapspawner
from tornado import web
from traitlets import default

from hpchub.hub.idle import take_note
from hpchub.hub.settings import HPCHub
from hpchub.hub.unhonoured import refuse_unhonoured
from hpchub.site_configs import Site, load_site
from hpchub.slurm.accounts import usable_reservations
from hpchub.slurm.allocations import Allocation, period_start
from hpchub.slurm.client import CommandTimeout, SlurmError, slurm
from hpchub.slurm.hostlist import expand_hostlist
from hpchub.slurm.times import walltime_seconds

from . import certs
from .options import (
    OptionsError,
    SpawnRequest,
    UserChoices,
    hours,
    parse_request,
    visible_profiles,
)
from .poller import poller
from .shared_node import SharedNodeSpawner
from .sharing import shared_with
from .slurm import SlurmSpawner

log = logging.getLogger("hpchub.profiles")
_FORM = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)


def unix_groups(user: str) -> tuple[str, ...]:
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        return ()
    return tuple(grp.getgrgid(g).gr_name for g in os.getgrouplist(user, entry.pw_gid))


async def user_choices(site: Site, user: str) -> UserChoices:
    """The user's accounts and QOS (Slurm associations) and usable reservations (both cached
    by the Slurm client), and their Unix groups."""
    groups = unix_groups(user)
    try:
        qos_by_account = await slurm().associations(user)
        reservations = await slurm().reservations()
    except (CommandTimeout, SlurmError) as exc:
        log.warning("associations of %s: %s", user, exc)
        raise web.HTTPError(503, "Slurm's accounting is not answering; try again in a minute") from None
    accounts = tuple(qos_by_account)
    return UserChoices(
        accounts=accounts, default_account=site.account_for(accounts), qos_by_account=qos_by_account,
        reservations=usable_reservations(reservations, user, accounts, groups), groups=groups,
        allocations=await allocations(site, user, accounts),
    )


async def allocations(site: Site, user: str, accounts: tuple[str, ...]) -> dict[str, Allocation]:
    """The node-hours left on each of the user's accounts that has a limit (cached by the
    Slurm client). An account whose figures Slurm does not give is left out: Slurm's own
    limits still apply at submission."""
    since = period_start(time.time(), site.allocation_year_starts)
    found: dict[str, Allocation] = {}
    for account in accounts:
        try:
            allocation = await slurm().allocation(account, since, user)
        except (CommandTimeout, SlurmError) as exc:
            log.warning("allocation of account %s: %s", account, exc)
            continue
        if allocation is not None:
            found[account] = allocation
    return found


def queue_summary(partition: str | None) -> str:
    """"3 queued, 2 running" for a partition, from the shared poller's last snapshot."""
    if not partition:
        return ""
    jobs = [j for j in poller().last_good.jobs.values() if j.partition == partition]
    if not poller().last_good.ok:
        return ""
    return f"{sum(j.pending for j in jobs)} queued, {sum(j.running for j in jobs)} running"


class ProfilesSpawner(HPCHub, wrapspawner.ProfilesSpawner):
    """Offers the site's node profiles and runs the chosen one as a child spawner
    (``c.JupyterHub.spawner_class = "hpchub"``; settings in ``c.HPCHub``)."""

    def __init__(self, **kwargs):
        self._spawn_kwargs = dict(kwargs)
        self._request_fields: dict = {}  # the validated request: stored once, in this state
        self._form_request: SpawnRequest | None = None  # validated by the form, for _apply
        self.end_reason = ""  # why the last server stopped, until the form has shown it
        super().__init__(**kwargs)
        # The last options a spawn was started with (JupyterHub keeps a refused request's too).
        self._accepted_options = dict(self.orm_spawner.user_options or {}) \
            if self.orm_spawner is not None else {}
        refuse_unhonoured(self.config)  # also what was set after hpchub.hub.configure(c)
        self.site = load_site(self.site_config)
        self.profiles = [(p.display_name, p.name, self._class_for(p.kind), {})
                         for p in self.site.profiles]

    async def progress(self):
        """The child's progress, once there is a child.

        wrapspawner 1.0.1 raises "No child spawner yet exists" when the spawn page opens its
        progress stream before ``start()`` built the child, and JupyterHub then ends the stream:
        under a burst of 50 spawns every page lost its progress (benchmarks/hub_api_latency.py).
        """
        while self.child_spawner is None:
            if not self._spawn_pending:
                return
            await asyncio.sleep(0.2)
        async for event in self.child_spawner.progress():
            yield event

    @staticmethod
    def _class_for(kind: str):
        return SharedNodeSpawner if kind == "shared" else SlurmSpawner

    # --------------------------------------------------------------- the form
    async def get_options_form(self):
        choices = await user_choices(self.site, self.user.name)
        profiles = visible_profiles(self.site, choices.groups)
        last = dict(self.user_options or {})
        template = resources.files("hpchub.spawners").joinpath("templates/profiles.html.j2")
        return _FORM.from_string(template.read_text()).render(
            profiles=profiles, choices=choices, last=last,
            selected=last.get("profile") or profiles[0].name,
            queue={p.name: queue_summary(p.partition) for p in profiles},
            partitions={p.name: self.site.partition(p.partition) for p in profiles if p.partition},
            stopped=self.take_end_reason(),
            shared_with=shared_with(self),
            node_hours={p.name: hours(p.nodes * walltime_seconds(p.time) / 3600)
                        for p in profiles if p.kind != "shared" and not p.configurable},
            left={a.account: {"left": round(a.left_node_hours, 2),
                              "limit": round(a.limit_node_hours, 2)}
                  for a in choices.allocations.values()},
        )

    def options_from_form(self, formdata: dict) -> dict:
        """Keep only the fields of the chosen profile; validation follows in
        :meth:`validated` (async: it asks Slurm about the user's associations)."""
        return {k: v for k, v in formdata.items() if k in
                ("profile", "nodes", "time", "account", "qos", "reservation") and v != [""]}

    async def run_options_from_form(self, formdata: dict) -> dict:
        self._form_request = await self.validated(self.options_from_form(formdata))
        return self._form_request.as_options()

    async def validated(self, raw: dict) -> SpawnRequest:
        try:
            return parse_request(self.site, raw, await user_choices(self.site, self.user.name))
        except OptionsError as exc:
            raise web.HTTPError(400, str(exc)) from None

    def check_pending_limit(self) -> None:
        """Refuse (429) a spawn beyond the user's limit of servers starting at once."""
        limit = self.site.hub.max_pending_spawns_per_user
        starting = [name or "default" for name, s in self.user.spawners.items()
                    if s is not self and s.pending == "spawn"]
        if len(starting) >= limit:
            raise web.HTTPError(429, f"You already have {len(starting)} server(s) starting "
                                f"({', '.join(sorted(starting)[:5])}); at most {limit} may start "
                                "at once. Wait for one to start, or stop one, then try again.")

    async def _apply(self, spawner, user_options: dict) -> None:
        """JupyterHub's ``apply_user_options`` hook: every spawn (form or API) passes here.

        JupyterHub stores the options it was sent before this hook runs; a refused request's
        are put back to the last accepted ones, so nothing ("Start again with the same
        options", the next form) ever replays what was refused."""
        form, self._form_request = self._form_request, None
        try:
            self.check_pending_limit()
            if form is not None and form.as_options() == dict(user_options or {}):
                request = form  # the form's request, validated a moment ago
            else:
                request = await self.validated(dict(user_options or {}))
        except web.HTTPError:
            self.user_options = self.orm_spawner.user_options = dict(self._accepted_options)
            self.db.commit()
            raise
        self.user_options = self.orm_spawner.user_options = self._accepted_options = \
            request.as_options()
        self._request_fields = request.fields()
        self.end_reason = ""  # a new server: the last one's ending is old news

    @default("apply_user_options")
    def _default_apply(self):
        return self._apply

    # --------------------------------------------------------------- internal SSL
    def server_hosts(self) -> list[str]:
        """Every node this server may run on: its partition's nodes, or the shared nodes."""
        fields = self._request_fields or {}
        if fields.get("kind") == "shared":
            return [n.name for n in self.site.shared_nodes]
        return expand_hostlist(self.site.partition(fields["partition"]).nodes)

    async def create_certs(self):
        """A key and certificate for this server only, kept in memory (see :mod:`.certs`).

        JupyterHub's own ``create_certs`` names the files after the user, so two named
        servers starting at once would share (and overwrite) one key; it also cannot know
        the node, which Slurm picks later.
        """
        name = f"{self.user.name}/{self.name or 'default'}"
        hosts = self.server_hosts()
        pems = await asyncio.to_thread(
            certs.issue_for_server, self.internal_certs_location,
            self.internal_trust_bundles["notebooks-ca"], name, hosts)
        self.log.info("Issued an internal SSL certificate for %s, valid on %s",
                      self._log_name, ",".join(hosts))
        # JupyterHub's get_env reads these three; the job gets the PEM text instead.
        return {"keyfile": "", "certfile": "", "cafile": "", "pems": pems}

    # --------------------------------------------------------------- the child
    def construct_child(self):
        if self.child_spawner is not None:
            return self.child_spawner
        options = dict(self.user_options or {})
        # After a hub restart the profile comes from the saved state (load_child_class).
        self.child_profile = options.get("profile") or self.child_profile
        profile = next((p for p in self.site.profiles if p.name == self.child_profile), None)
        if profile is None:
            return None  # nothing chosen yet (a new or stopped server)
        self.child_class = self._class_for(profile.kind)
        self.child_config = self.child_settings(profile)
        kwargs = {**self._spawn_kwargs, "config": self.config, **self.child_config,
                  "site": self.site, "hpchub_request": self._request_fields}
        self.child_spawner = self.child_class(**kwargs)
        self.child_spawner.persist = self.persist_state
        self.child_spawner.clear_state()
        if self.child_state:
            self.child_spawner.load_state(self.child_state)
        # ip and port are the child's own (from its job); linking would overwrite them with 0.
        common = (set(self.trait_names()) & set(self.child_spawner.trait_names())
                  - set(self.child_config) - {"apply_user_options", "options_form", "ip", "port"})
        for trait in common:
            wrapspawner.wrapspawner.directional_link((self, trait), (self.child_spawner, trait))
        return self.child_spawner

    def child_settings(self, profile) -> dict:
        """The child's timeouts, from its profile (derived, so never stored)."""
        if profile.kind == "shared":
            return {}
        return {
            "pending_timeout": profile.pending_timeout_s,
            "start_timeout": profile.pending_timeout_s + self.server_start_s,
        }

    def load_child_class(self, state):
        self.child_profile = state.get("profile", "")
        profile = next((p for p in self.site.profiles if p.name == self.child_profile), None)
        if profile is not None:
            self.child_class = self._class_for(profile.kind)
            self.child_config = self.child_settings(profile)

    async def get_url(self):
        """The child's (a batch server still starting when the hub restarted waits for it)."""
        if self.child_spawner is None:
            return await super().get_url()
        url = await self.child_spawner.get_url()
        # JupyterHub 6.1's restart check copies a new URL's scheme to `server.protocol`, which
        # nothing reads (the attribute is `proto`; no upstream issue found), and then waits on
        # the old scheme: set it on this spawner's server object, the one it waits with.
        self.server.proto = urlparse(url).scheme
        return url

    # --------------------------------------------------------------- state
    def persist_state(self) -> None:
        """Store this spawner's state now (the child calls it once its job exists)."""
        self.orm_spawner.state = self.get_state()
        self.db.commit()

    def get_state(self) -> dict:
        state = super().get_state()
        state.pop("child_conf", None)  # wrapspawner stores it; here it is derived (child_settings)
        if self._request_fields:
            state["request"] = self._request_fields
        if self.end_reason:
            state["end_reason"] = self.end_reason
        return state

    def load_state(self, state):
        # The child is rebuilt from the stored profile, request and child state. States written
        # before the request was stored here kept it in wrapspawner's child_conf.
        self.user_options = self.user_options or {}
        self._request_fields = dict(state.get("request")
                                    or state.get("child_conf", {}).get("hpchub_request") or {})
        self.end_reason = state.get("end_reason", "")
        super().load_state(state)

    def clear_state(self):
        """After a stop: the child goes, why it stopped stays (for the next form)."""
        reason = (take_note(self.state_dir, f"{self.user.name}/{self.name}")
                  or getattr(self.child_spawner, "end_reason", ""))
        super().clear_state()
        self.end_reason = reason or self.end_reason
        self._request_fields = {}

    def take_end_reason(self) -> str | None:
        reason, self.end_reason = self.end_reason, ""
        return reason or None
