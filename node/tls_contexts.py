"""One TLS context per certificate in a process, instead of one per connection.

JupyterHub 6.1 builds a fresh ``SSLContext`` with ``make_ssl_context`` for every internal-SSL
call: the hub for each server's start-up check (``User._wait_up``), a server for each call
to the hub's API (``HubAuth._api_request``: the OAuth login, token checks, activity). Each
build loads the system CA bundle, about 0.1 s with OpenSSL 3 on the testbed (no upstream
issue found in JupyterHub's tracker). The contexts are never modified after they are made,
so hpchub shares one per (key, certificate, CA, purpose) and rebuilds it when one of those
files changes (renewed certificates).

Each context also ends a connection cleanly when the peer closes it without TLS's
close_notify (``OP_IGNORE_UNEXPECTED_EOF``): with Python 3.13 and OpenSSL 3.5 such a close
otherwise left the process's next TLS calls to the hub failing with "Broken pipe" (seen on a
shared server as its guest's websockets were closed; the same failure as in
:mod:`hpchub.jobs.dask_tls`).
"""

from __future__ import annotations

import functools
import os
import ssl
import sys
import threading
from collections.abc import Callable

from hpchub.compat import warn_if_untested

# JupyterHub modules that import make_ssl_context by name.
USERS = ("jupyterhub.utils", "jupyterhub.user", "jupyterhub.objects", "jupyterhub.app",
         "jupyterhub.services.auth", "jupyterhub.singleuser.extension",
         "jupyterhub.singleuser.mixins")


def _stamp(*paths: str | None) -> tuple:
    """When each file last changed (None for no file), so a renewed certificate counts."""
    stamps = []
    for path in paths:
        try:
            stamps.append(os.stat(path).st_mtime_ns if path else None)
        except OSError:
            stamps.append(None)
    return tuple(stamps)


def tolerant(context: ssl.SSLContext | None) -> ssl.SSLContext | None:
    """``context`` ending cleanly on a peer's unexpected EOF (see above)."""
    if context is not None:
        context.options |= ssl.OP_IGNORE_UNEXPECTED_EOF
    return context


def shared(make: Callable[..., ssl.SSLContext | None]) -> Callable[..., ssl.SSLContext | None]:
    """``make`` (with JupyterHub's signature) that returns the same context for the same files."""
    cache: dict[tuple, ssl.SSLContext | None] = {}
    lock = threading.Lock()

    @functools.wraps(make)
    def make_shared(keyfile, certfile, cafile=None, verify=None, check_hostname=None,
                    purpose=ssl.Purpose.SERVER_AUTH):
        if verify is not None or check_hostname is not None:  # deprecated forms: not cached
            return tolerant(make(keyfile, certfile, cafile, verify, check_hostname, purpose))
        key = (keyfile, certfile, cafile, purpose, _stamp(keyfile, certfile, cafile))
        with lock:
            if key not in cache:
                cache[key] = tolerant(make(keyfile, certfile, cafile=cafile, purpose=purpose))
            return cache[key]

    make_shared.hpchub_shared = True
    return make_shared


def share_contexts() -> None:
    """Make every imported JupyterHub module use :func:`shared` contexts (idempotent)."""
    utils = sys.modules.get("jupyterhub.utils")
    if utils is None or getattr(utils.make_ssl_context, "hpchub_shared", False):
        return
    warn_if_untested("jupyterhub")
    original = utils.make_ssl_context
    replacement = shared(original)
    for name in USERS:
        module = sys.modules.get(name)
        if module is not None and getattr(module, "make_ssl_context", None) is original:
            module.make_ssl_context = replacement
