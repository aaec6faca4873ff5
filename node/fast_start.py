"""Run a user's server in this process, without a JupyterLab start-up cost that buys nothing.

``python -m hpchub.node.fast_start jupyterhub-singleuser [ARGS...]`` starts the server in
the current interpreter when that ``jupyterhub-singleuser`` is this environment's own; any other
command (another environment's server, a container wrapper) is simply ``exec``'d.

What it skips: importing ``jupyterlab.labapp`` computes ``app_version``, and building the
``AppOptions`` for that runs ``node yarn.js config`` to learn the npm registry (0.8 s of a
2.3 s start on the testbed, whenever ``node`` is on the PATH, as it is on most HPC nodes). The
version does not depend on the registry, and a server in a job never builds extensions, so the
lookup is skipped for that one import and restored afterwards (the extension manager, if a user
opens it, reads yarn's configuration as usual). No upstream issue names this exact cost;
jupyterlab/jupyterlab#8471 is the closest (node and npm work at start-up).

The in-process server also starts inside :mod:`.start_up`'s window and shares TLS contexts
(:mod:`.tls_contexts`).
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

from hpchub.compat import warn_if_untested
from hpchub.notebooks.links import link_from_env

from . import start_up
from .tls_contexts import share_contexts

IN_PROCESS = "jupyterhub-singleuser"


def _no_yarn_config(logger) -> dict:
    """What ``jupyterlab.commands._yarn_config`` returns when node is absent."""
    return {"yarn config": {}, "npm config": {}}


def import_lab_without_node() -> None:
    """Import ``jupyterlab.labapp`` without running node for yarn's configuration."""
    try:
        import jupyterlab.commands as commands
    except ImportError:  # a server without JupyterLab: nothing to skip
        return
    original = getattr(commands, "_yarn_config", None)
    if original is None:  # a JupyterLab that no longer has it
        return
    warn_if_untested("jupyterlab")
    commands._yarn_config = _no_yarn_config
    try:
        import jupyterlab.labapp  # noqa: F401 - computes app_version now, without node
    finally:
        commands._yarn_config = original


def runs_here(program: str) -> bool:
    """True when ``program`` is this environment's own ``jupyterhub-singleuser``."""
    found = shutil.which(program)
    return bool(found) and Path(found) == Path(sys.prefix, "bin", IN_PROCESS)


def run_server(command: list[str], before: Callable[[], None] = lambda: None) -> NoReturn:
    """Run ``command``: JupyterHub's single-user server in this process, anything else exec'd.

    ``before`` runs once the server's code is imported, just before it starts.
    """
    link_from_env(os.environ)  # ~/notebooks-latest
    if not runs_here(command[0]):
        before()
        os.execvp(command[0], command)
    start_up.begin()  # undone by start_up's server extension once the server serves
    import_lab_without_node()
    from jupyterhub.singleuser import main

    share_contexts()
    before()

    sys.argv = [IN_PROCESS, *command[1:]]
    sys.exit(main())


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: python -m hpchub.node.fast_start jupyterhub-singleuser [ARGS...]")
    from .server_certs import write_from_env

    write_from_env(os.environ)  # internal SSL on a shared node
    run_server(sys.argv[1:])
