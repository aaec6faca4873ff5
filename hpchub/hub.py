"""Turn a site config into a running JupyterHub (``hpchub hub --site ...``)."""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path

from hpchub.site_configs import Site, load_site

CONFIG_TEMPLATE = """\
# Written by `hpchub hub`; edit the site config instead.
from hpchub.hub import configure
configure(c, {site!r}, {state!r}, {mode!r})
"""


def configure(c, site_path: str, state_dir: str,  # noqa: ANN001 - traitlets Config
              slurm_access: str | None = None) -> Site:
    """Fill a JupyterHub config object from the site config (``slurm_access`` overrides the
    site's ``slurm_access.mode``)."""
    site = load_site(site_path)
    state = Path(state_dir)
    mode = slurm_access or site.slurm_access.mode
    connect_slurm(site, mode)
    c.JupyterHub.bind_url = f"http://0.0.0.0:{site.hub.port}"
    c.JupyterHub.hub_ip = "0.0.0.0"
    c.JupyterHub.hub_connect_ip = os.uname().nodename
    c.JupyterHub.cookie_secret_file = str(state / "jupyterhub_cookie_secret")
    c.JupyterHub.db_url = f"sqlite:///{state / 'jupyterhub.sqlite'}"
    c.ConfigurableHTTPProxy.pid_file = str(state / "proxy.pid")
    c.JupyterHub.authenticator_class = "pam"
    if site.users:
        c.Authenticator.allowed_users = {u.name for u in site.users}
    else:
        c.Authenticator.allow_all = True
    c.Authenticator.admin_users = set(site.hub.admin_users)
    c.PAMAuthenticator.open_sessions = False
    # Servers outlive the hub: a restarted hub re-attaches to them (spawner state).
    c.JupyterHub.cleanup_servers = False
    c.JupyterHub.allow_named_servers = True
    c.JupyterHub.named_server_limit_per_user = site.hub.max_named_servers_per_user
    if site.hub.internal_ssl:
        # Hub, proxy and servers authenticate each other with certificates from CAs kept in
        # the state directory; servers get theirs from hpchub.spawners.certs.
        c.JupyterHub.internal_ssl = True
        c.JupyterHub.internal_certs_location = str(state / "internal-ssl")
        c.JupyterHub.trusted_alt_names = [f"DNS:{os.uname().nodename}"]
        from hpchub.spawners.tls_contexts import share_contexts

        share_contexts()  # one TLS context per certificate, not one per server start
    import hpchub.spawners.api  # noqa: F401 - replaces batchspawner's API handler

    c.JupyterHub.spawner_class = "hpchub.spawners.profiles.ProfilesSpawner"
    c.ProfilesSpawner.site_path = str(site_path)
    # Off the cluster the hub has no sudo: it signs a short-lived certificate per user.
    c.SharedNodeSpawner.ssh_login = "certificate" if mode == "rest" else "hostbased"
    c.SharedNodeSpawner.ssh_key_dir = str(state / "ssh-certificates")
    c.Spawner.cmd = [f"{site.runtime_prefix}/bin/jupyterhub-singleuser"]
    c.Spawner.default_url = "/lab"
    # Servers list the kernels of the collaborations the user's groups can read.
    c.Spawner.environment = {"HPCHUB_KERNEL_ROOT": site.kernel_root}
    c.Spawner.poll_interval = 10
    c.Spawner.http_timeout = 120
    # API spawns answer 202 after a second and clients follow the progress stream.
    c.JupyterHub.tornado_settings = {"slow_spawn_timeout": 1}
    # JupyterHub applies the wrapper's start_timeout; each profile's own pending timeout
    # (shorter) cancels queued jobs with a clear message first.
    c.Spawner.start_timeout = max(p.pending_timeout_s for p in site.profiles) + 180
    # Server jobs no hub server holds (e.g. after restoring an old database) are cancelled.
    c.JupyterHub.services = [{
        "name": "hpchub-reconciler",
        "command": [sys.executable, "-m", "hpchub.spawners.reconcile",
                    "--interval", str(site.hub.orphan_check_interval_s),
                    "--min-age", str(site.hub.orphan_min_age_s),
                    "--site", str(site_path), "--slurm-access", mode],
    }]
    # /hub/metrics needs a token with read:metrics: Prometheus scrapes with this service's.
    c.JupyterHub.services.append({"name": "prometheus", "api_token": metrics_token(state)})
    c.JupyterHub.load_roles = [{
        "name": "hpchub-reconciler",
        "scopes": ["list:users", "read:users", "read:servers", "admin:server_state"],
        "services": ["hpchub-reconciler"],
    }, {
        "name": "metrics-reader",
        "scopes": ["read:metrics"],
        "services": ["prometheus"],
    }]
    return site


def connect_slurm(site: Site, mode: str):  # noqa: ANN201 - hpchub.slurm.client.SlurmClient
    """This process's Slurm client: slurmrestd (``rest``) or Slurm's commands (``cli``)."""
    from hpchub.slurm.client import connect

    access = site.slurm_access
    return connect(mode, access.rest_url, access.jwt_key_file, site.hub.user)


def metrics_token(state: Path) -> str:
    """The scrape token in ``<state>/prometheus-token`` (made once, readable by the hub only)."""
    path = state / "prometheus-token"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_hex(32))
    return path.read_text().strip()


def run_hub(site_path: str, state_dir: str, slurm_access: str | None = None) -> int:
    state = Path(state_dir)
    state.mkdir(parents=True, exist_ok=True)
    state.chmod(0o700)
    load_site(site_path)  # fail here, with the key named, rather than inside JupyterHub
    config = state / "jupyterhub_config.py"
    config.write_text(CONFIG_TEMPLATE.format(site=str(site_path), state=str(state),
                                             mode=slurm_access))
    os.chdir(state)
    os.execvp("jupyterhub", ["jupyterhub", "-f", str(config)])
    return 0
