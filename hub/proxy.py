"""The hub's proxy: configurable-http-proxy, started by the hub as JupyterHub does."""

from __future__ import annotations

from pathlib import Path

from jupyterhub.proxy import ConfigurableHTTPProxy

from hpchub.compat import require


class HubProxy(ConfigurableHTTPProxy):
    """Stops a leftover proxy at start-up only if the pid file's process *is* the proxy.

    JupyterHub 6.1 (``ConfigurableHTTPProxy._check_pid``) checks only that some process has
    the recorded pid on Linux, and then sends it SIGTERM. After a restart of the hub's
    container or machine the pid is soon someone else's, often the new hub's own: the hub
    killed itself at start-up. Upstream: jupyterhub/jupyterhub#2886.
    """

    def _check_pid(self, pid: int) -> None:
        super()._check_pid(pid)  # ProcessLookupError if no process has that pid
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            raise ProcessLookupError(pid) from None
        command = Path(self.command[0]).name.encode()
        if not any(command in arg for arg in argv):
            raise ProcessLookupError(pid)


def proxy_class() -> type[ConfigurableHTTPProxy]:
    """The hub's ``JupyterHub.proxy_class``, once JupyterHub is a tested version."""
    require("jupyterhub")
    return HubProxy
