"""hpchub's part of a JupyterHub config: ``configure(c)`` fills in what the admin left unset.

A center's ``jupyterhub_config.py``::

    c.HPCHub.site_config = "/etc/hpchub/site.yaml"
    c.JupyterHub.authenticator_class = "ldapauthenticator"   # the center's own choices...
    import hpchub.hub
    hpchub.hub.configure(c)                                  # ...then hpchub's defaults

``hpchub hub --site FILE`` writes such a file, with the admin's ``jupyterhub_config.d/*.py``
loaded before ``configure``.
"""

from __future__ import annotations

import copy
import os
import secrets
import sys
from importlib import resources
from pathlib import Path
from typing import Any

from traitlets import TraitError
from traitlets.config import Config
from traitlets.config.loader import LazyConfigValue

from hpchub.node.contract import SERVICE_SITE_CONFIG, SERVICE_STATE_DIR, JobContract
from hpchub.settings import HPCHub
from hpchub.site_configs import Site, SiteConfigError, load_site

CONFIG_TEMPLATE = """\
# Written by `hpchub hub`. Put your own settings in {config_dir}/*.py: they are loaded
# first, and hpchub fills in only what they leave unset.
import glob
c.HPCHub.site_config = {site!r}
c.HPCHub.state_dir = {state!r}
if {mode!r}:
    c.HPCHub.slurm_access = {mode!r}
for path in sorted(glob.glob({config_dir!r} + "/*.py")):
    load_subconfig(path)
import hpchub.hub
hpchub.hub.configure(c)
"""

_SCRIPT_HINT = ("hpchub writes the batch script and talks to Slurm itself; set the node profile "
                "in the site config's profiles[] instead")
# Inherited traits that hpchub's spawners do not honour, with the site-config key to use.
UNHONOURED: dict[str, dict[str, str]] = {
    "SlurmSpawner": {
        "req_partition": "profiles[].partition", "req_queue": "profiles[].partition",
        "req_runtime": "profiles[].time (and partitions[].max_time)",
        "req_nprocs": "profiles[].cpus_per_task", "req_ngpus": "profiles[].gpus_per_node",
        "req_gres": "profiles[].gpus_per_node",
        "req_memory": "node_groups[].memory_mb (batch profiles get whole nodes or their share)",
        "req_account": "default_account (users choose among their Slurm associations)",
        "req_qos": "profiles[].qos", "req_reservation": "profiles[].configurable (users pick a "
        "reservation they may use)",
        "pending_timeout": "profiles[].pending_timeout_s", "runtime_prefix": "runtime_prefix",
        **{name: _SCRIPT_HINT for name in (
            "req_options", "req_srun", "req_prologue", "req_epilogue", "req_host", "req_cluster",
            "req_keepvars_extra", "batch_script", "batch_submit_cmd", "batch_query_cmd",
            "batch_cancel_cmd", "exec_prefix", "batchspawner_singleuser_cmd", "state_pending_re",
            "state_running_re", "state_unknown_re", "state_exechost_re", "state_exechost_exp",
            "startup_poll_interval")},
    },
    "ProfilesSpawner": {name: "profiles[] in the site config" for name in (
        "profiles", "child_class", "child_config", "first_template", "form_template",
        "input_template")},
    "Spawner": {
        "mem_limit": "shared_nodes[].max_memory_mb_per_user (batch servers: their Slurm job)",
        "mem_guarantee": "shared_nodes[].max_memory_mb_per_user (batch servers: their Slurm job)",
        "cpu_limit": "shared_nodes[].max_cpus_per_user (batch servers: their Slurm job)",
        "cpu_guarantee": "shared_nodes[].max_cpus_per_user (batch servers: their Slurm job)",
    },
}
UNHONOURED["BatchSpawnerBase"] = UNHONOURED["BatchSpawnerRegexStates"] = UNHONOURED["SlurmSpawner"]
UNHONOURED["WrapSpawner"] = UNHONOURED["ProfilesSpawner"]


class HubConfigError(TraitError):
    """A setting hpchub cannot run with; the message names it and what to do. A TraitError, so
    JupyterHub stops at start-up with this one line ("Bad config encountered ...")."""


def with_command_line(c: Config) -> Config:
    """``c`` with the running application's command-line settings on top: JupyterHub applies
    them after the config file, so the file alone would miss ``--HPCHub.slurm_access=cli``."""
    from traitlets.config import Application

    cli = getattr(Application.instance(), "cli_config", None) if Application.initialized() else None
    if not cli:
        return c
    merged = copy.deepcopy(c)
    merged.merge(cli)
    return merged


def refuse_unhonoured(config: Config) -> None:
    """Stop on an inherited trait hpchub would silently ignore, naming the key to use."""
    for section, names in UNHONOURED.items():
        if section not in config:
            continue
        for name in sorted(set(config[section]) & set(names)):
            raise HubConfigError(f"c.{section}.{name} has no effect in hpchub: use the site "
                                 f"config's {names[name]}.")


def configure(c: Config) -> Site:
    """Fill ``c`` with hpchub's defaults for every key the admin did not set; start this
    process's Slurm client and poller from ``c.HPCHub``. Returns the site."""
    try:
        settings = HPCHub(config=with_command_line(c))
    except SiteConfigError as exc:
        raise HubConfigError(f"c.HPCHub.site_config: {exc}") from None
    if not settings.site_config:
        raise HubConfigError("c.HPCHub.site_config is not set: give the path of the center's "
                             "site YAML (see docs/site-config.md).")
    refuse_unhonoured(c)
    site = load_site(settings.site_config)
    state = Path(settings.state_dir)
    mode = settings.slurm_access or site.slurm_access.mode
    log_slurm_at_start(connect_slurm(site, mode, settings.slurm_cache_lifetime))
    from hpchub.spawners.poller import configure_poller

    configure_poller(settings.poll_interval_running, settings.poll_interval_pending,
                     settings.poll_interval_submitted, settings.slurm_timeout)
    import hpchub.spawners.api  # noqa: F401 - replaces batchspawner's API handler
    add_home_page(c)

    defaults(c, "JupyterHub", {
        "bind_url": f"http://0.0.0.0:{site.hub.port}",
        "hub_ip": "0.0.0.0",
        "hub_connect_ip": os.uname().nodename,
        "cookie_secret_file": str(state / "jupyterhub_cookie_secret"),
        "db_url": f"sqlite:///{state / 'jupyterhub.sqlite'}",
        "authenticator_class": "pam",
        # Servers outlive the hub: a restarted hub re-attaches to them (spawner state).
        "cleanup_servers": False,
        "allow_named_servers": True,
        "named_server_limit_per_user": site.hub.max_named_servers_per_user,
        "spawner_class": "hpchub",
        "internal_ssl": site.hub.internal_ssl,
        # API spawns answer 202 after a second and clients follow the progress stream.
        "tornado_settings": {"slow_spawn_timeout": 1},
    })
    from hpchub.proxy import proxy_class

    defaults(c, "JupyterHub", {"proxy_class": proxy_class()})
    defaults(c, "ConfigurableHTTPProxy", {"pid_file": str(state / "proxy.pid")})
    if c.JupyterHub.authenticator_class in ("pam", "jupyterhub.auth.PAMAuthenticator"):
        defaults(c, "PAMAuthenticator", {"open_sessions": False})
        if not {"allowed_users", "allow_all"} & set(c.Authenticator):
            if site.users:
                c.Authenticator.allowed_users = {u.name for u in site.users}
            else:
                c.Authenticator.allow_all = True
    defaults(c, "Authenticator", {"admin_users": set(site.hub.admin_users)})
    if c.JupyterHub.internal_ssl:
        # Hub, proxy and servers authenticate each other with certificates from CAs kept in
        # the state directory; servers get theirs from hpchub.spawners.certs.
        defaults(c, "JupyterHub", {
            "internal_certs_location": str(state / "internal-ssl"),
            "trusted_alt_names": [f"DNS:{os.uname().nodename}"],
        })
        from hpchub.node.tls_contexts import share_contexts

        share_contexts()  # one TLS context per certificate, not one per server start
    # Off the cluster the hub has no sudo: it signs a short-lived certificate per user.
    defaults(c, "SharedNodeSpawner", {
        "ssh_login": "certificate" if mode == "rest" else "hostbased",
        "ssh_key_dir": str(state / "ssh-certificates"),
    })
    defaults(c, "Spawner", {
        "cmd": [f"{site.runtime_prefix}/bin/jupyterhub-singleuser"],
        "default_url": "/lab",
        "poll_interval": 10,
        "http_timeout": 120,
        # JupyterHub applies the wrapper's start_timeout; each profile's own pending timeout
        # (shorter) cancels queued jobs with a clear message first.
        "start_timeout": max(p.pending_timeout_s for p in site.profiles) + settings.server_start_s,
    })
    # Servers list the kernels of the collaborations the user's groups can read.
    c.Spawner.environment = {**JobContract(kernel_root=site.kernel_root,
                                           notebook_root=site.notebook_root).to_env(),
                             **dict(c.Spawner.get("environment", {}))}
    from hpchub.spawners import membership

    add_named(c.JupyterHub, "services", [{
        # Server jobs no hub server holds (e.g. after restoring an old database) are cancelled.
        "name": "hpchub-reconciler",
        "command": [sys.executable, "-m", "hpchub.spawners.reconcile",
                    "--interval", str(site.hub.orphan_check_interval_s),
                    "--min-age", str(site.hub.orphan_min_age_s),
                    "--site", settings.site_config, "--slurm-access", mode],
    }, {
        # Collaboration groups and shares follow the directory between logins.
        "name": "hpchub-membership",
        "command": [sys.executable, "-m", "hpchub.spawners.membership", "--site",
                    settings.site_config, "--interval", str(site.hub.membership_check_interval_s)],
    }, {
        # /hub/metrics needs a token with read:metrics: Prometheus scrapes with this one.
        "name": "prometheus", "api_token": metrics_token(state),
    }])
    add_named(c.JupyterHub, "load_roles", [{
        "name": "hpchub-reconciler",
        "scopes": ["list:users", "read:users", "read:servers", "admin:server_state"],
        "services": ["hpchub-reconciler"],
    }, {
        "name": "hpchub-membership", "scopes": membership.SCOPES, "services": ["hpchub-membership"],
    }, {
        "name": "metrics-reader", "scopes": ["read:metrics"], "services": ["prometheus"],
    }])
    add_idle_culler(c, site, settings)
    add_notebook_webhook(c, site, settings)
    add_sharing(c, site)
    return site


def add_sharing(c: Config, site: Site) -> None:
    """Servers are shared within their owner's collaborations (JupyterHub groups made from the
    directory at login); a center that manages groups itself keeps its own."""
    from hpchub.spawners import sharing

    sharing.install(site)
    add_named(c.JupyterHub, "load_roles", sharing.roles(site))
    if "manage_groups" in c.Authenticator or "load_groups" in c.JupyterHub:
        return
    c.Authenticator.manage_groups = True
    theirs = c.Authenticator.get("post_auth_hook")

    async def hook(authenticator, handler, auth_model):  # noqa: ANN001, ANN202
        from jupyterhub.utils import maybe_future

        if theirs is not None:
            auth_model = await maybe_future(theirs(authenticator, handler, auth_model))
        if auth_model is None:
            return None
        return await sharing.add_collaboration_groups(authenticator, handler, auth_model)

    c.Authenticator.post_auth_hook = hook


def add_notebook_webhook(c: Config, site: Site, settings: HPCHub) -> None:
    """The ``notebook-webhook`` service, when a collection has a webhook secret; it needs no
    JupyterHub API scope (it only signs login certificates for the collections' accounts)."""
    if not any(coll.webhook_secret_file for coll in site.notebook_collections):
        return
    add_named(c.JupyterHub, "services", [{
        "name": "notebook-webhook", "url": f"http://127.0.0.1:{settings.notebook_webhook_port}",
        "command": [sys.executable, "-m", "hpchub.notebooks.webhook", "--site", settings.site_config,
                    "--port", str(settings.notebook_webhook_port),
                    "--state-dir", str(Path(settings.state_dir) / "notebook-webhook")],
    }])


def add_idle_culler(c: Config, site: Site, settings: HPCHub) -> None:
    """jupyterhub-idle-culler and its role, with the profiles' idle limits (none: no culler;
    JupyterHub refuses a role of a service it does not have)."""
    limits = [p.idle_timeout_s for p in site.profiles if p.idle_timeout_s]
    if not limits:
        return
    command = [sys.executable, "-m", "jupyterhub_idle_culler",
               f"--timeout={min(limits)}", f"--cull-every={max(15, min(300, min(limits) // 3))}",
               f"--config={Path(__file__).with_name('idle_culler_config.py')}"]
    if c.JupyterHub.internal_ssl:
        certs = Path(settings.state_dir) / "internal-ssl"
        command += ["--ssl-enabled=true", f"--internal-certs-location={certs}"]
    add_named(c.JupyterHub, "services", [{
        "name": "idle-culler", "command": command,
        "environment": {SERVICE_SITE_CONFIG: settings.site_config, SERVICE_STATE_DIR: settings.state_dir},
    }])
    add_named(c.JupyterHub, "load_roles", [{
        "name": "idle-culler",
        "scopes": ["list:users", "read:users:activity", "read:servers", "delete:servers"],
        "services": ["idle-culler"],
    }])


def add_home_page(c: Config) -> None:
    """hpchub's home page (a card per server), after the admin's own template folders (theirs
    win)."""
    ours = str(resources.files("hpchub.spawners").joinpath("templates"))
    paths = list(c.JupyterHub.template_paths) if "template_paths" in c.JupyterHub else []
    if ours not in paths:
        c.JupyterHub.template_paths = [*paths, ours]


def defaults(c: Config, section: str, values: dict[str, Any]) -> None:
    """Set each of ``values`` in ``c.<section>`` unless the admin already set it."""
    for name, value in values.items():
        if name not in c[section]:
            c[section][name] = value


def add_named(section: Config, name: str, entries: list[dict]) -> None:
    """Append services or roles the admin's list does not already name."""
    current = section.get(name, [])
    if isinstance(current, LazyConfigValue):  # c.JupyterHub.services.append(...)
        current = current.get_value([])
    current = list(current)
    names = {entry.get("name") for entry in current}
    section[name] = current + [entry for entry in entries if entry["name"] not in names]


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


def metrics_token(state: Path) -> str:
    """The scrape token in ``<state>/prometheus-token`` (made once, readable by the hub only)."""
    path = state / "prometheus-token"
    if not path.exists():
        state.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_hex(32))
    return path.read_text().strip()


def run_hub(site_path: str, state_dir: str, slurm_access: str | None = None,
            config_dir: str = "/etc/jupyterhub/jupyterhub_config.d") -> int:
    """``hpchub hub``: write the config for this site and exec JupyterHub with it."""
    state = Path(state_dir)
    state.mkdir(parents=True, exist_ok=True)
    state.chmod(0o700)
    load_site(site_path)  # fail here, with the key named, rather than inside JupyterHub
    config = state / "jupyterhub_config.py"
    config.write_text(CONFIG_TEMPLATE.format(site=str(Path(site_path).resolve()), state=str(state),
                                             mode=slurm_access, config_dir=config_dir))
    os.chdir(state)
    os.execvp("jupyterhub", ["jupyterhub", "-f", str(config)])
    return 0
