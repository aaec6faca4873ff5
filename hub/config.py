"""hpchub's part of a JupyterHub config: ``configure(c)`` fills in what the admin left unset.

A center's ``jupyterhub_config.py``::

    c.HPCHub.site_config = "/etc/hpchub/site.yaml"
    c.JupyterHub.authenticator_class = "ldapauthenticator"   # the center's own choices...
    import hpchub.hub
    hpchub.hub.configure(c)                                  # ...then hpchub's defaults

``hpchub hub --site FILE`` writes such a file (:mod:`.run`).
"""

from __future__ import annotations

import copy
import os
import secrets
import sys
from importlib import resources
from pathlib import Path
from typing import Any

from traitlets.config import Config
from traitlets.config.loader import LazyConfigValue

from hpchub.node.contract import SERVICE_SITE_CONFIG, SERVICE_STATE_DIR, JobContract
from hpchub.site_configs import Site, SiteConfigError, load_site

from .settings import HPCHub, HubConfigError
from .slurm_connection import connect_slurm, log_slurm_at_start
from .unhonoured import refuse_unhonoured


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
    import hpchub.spawners.api  # noqa: F401 - the job's port report (batchspawner's handler goes)
    add_home_page(c)

    defaults(c, "JupyterHub", {
        "hub_ip": "0.0.0.0",
        "hub_connect_ip": os.uname().nodename,
        "cookie_secret_file": str(state / "jupyterhub_cookie_secret"),
        "db_url": f"sqlite:///{state / 'jupyterhub.sqlite'}",
        "authenticator_class": "pam",
        # Servers outlive the hub: a restarted hub re-attaches to them (spawner state).
        "cleanup_servers": False,
        "allow_named_servers": True,
        "named_server_limit_per_user": 10,
        "spawner_class": "hpchub",
        # API spawns answer 202 after a second and clients follow the progress stream.
        "tornado_settings": {"slow_spawn_timeout": 1},
    })
    from .proxy import proxy_class

    defaults(c, "JupyterHub", {"proxy_class": proxy_class()})
    defaults(c, "ConfigurableHTTPProxy", {"pid_file": str(state / "proxy.pid")})
    if c.JupyterHub.authenticator_class in ("pam", "jupyterhub.auth.PAMAuthenticator"):
        defaults(c, "PAMAuthenticator", {"open_sessions": False})
        if not {"allowed_users", "allow_all"} & set(c.Authenticator):
            if site.users:
                c.Authenticator.allowed_users = {u.name for u in site.users}
            else:
                c.Authenticator.allow_all = True
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


def metrics_token(state: Path) -> str:
    """The scrape token in ``<state>/prometheus-token`` (made once, readable by the hub only)."""
    path = state / "prometheus-token"
    if not path.exists():
        state.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_hex(32))
    return path.read_text().strip()
