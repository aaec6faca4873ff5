"""What a server does differently while it starts, undone once it serves.

A JupyterLab server's start is ~1,300 Python modules, and nearly every object they create
lives as long as the server. Two costs buy nothing there:

- cyclic garbage collection runs again and again over those objects (0.15-0.3 s on the
  testbed): it is off until the server serves; what start-up made is then frozen
  (``gc.freeze``) while the user's first requests run, and handed back to the collector a
  minute later (:func:`settle`);
- four TLS contexts (aiohttp's two defaults, JupyterHub's client for the hub API, tornado's
  client default, see :func:`_prime_tornado`) each parse the whole system CA bundle, 0.11 s
  each with OpenSSL 3 here. Where OpenSSL's hashed CA directory holds every certificate of
  the bundle (Debian's ``update-ca-certificates`` keeps both), contexts made during start-up
  load only the directory, where OpenSSL looks a CA up when a connection needs it: the same
  trust, without the parse. This replaces ``ssl.SSLContext.set_default_verify_paths`` for
  the start-up only; environment variables such as ``SSL_CERT_FILE``, which other libraries
  read themselves (httpx), are left alone.

``begin()`` runs before the server's imports (:func:`hpchub.node.fast_start.run_server`);
``end()`` runs from this module's server extension when jupyter_server starts its extensions,
on the event loop's first turn after the port is bound.
"""

from __future__ import annotations

import gc
import os
import re
import ssl
import time
from pathlib import Path

from hpchub.compat import warn_if_untested

from .contract import JobContract

HASHED_NAME = re.compile(r"[0-9a-f]{8}\.[0-9]+")  # OpenSSL's c_rehash / `openssl rehash`
PEM = re.compile(rb"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.S)
SETTLE_AFTER_S = 60  # by then the user's JupyterLab has loaded
# What begin() replaces (None: ssl.SSLContext inherits it from the C base class).
_OWN_DEFAULT_PATHS = vars(ssl.SSLContext).get("set_default_verify_paths")


def certificates(data: bytes) -> set[bytes]:
    """The PEM certificates in ``data``, whitespace removed, for comparing files."""
    return {b"".join(pem.split()) for pem in PEM.findall(data)}


def ca_directory() -> str | None:
    """OpenSSL's hashed CA directory, if every certificate of the system bundle is in it.

    None where a site names its own bundle (``SSL_CERT_FILE``), or where the directory lacks
    CAs of the bundle (RHEL keeps only a bundle there).
    """
    if os.environ.get("SSL_CERT_FILE"):
        return None
    paths = ssl.get_default_verify_paths()
    if not paths.cafile or not paths.capath:
        return None
    try:
        in_bundle = certificates(Path(paths.cafile).read_bytes())
        in_directory: set[bytes] = set()
        for name in os.listdir(paths.capath):
            if HASHED_NAME.fullmatch(name):
                in_directory |= certificates(Path(paths.capath, name).read_bytes())
    except OSError:
        return None
    return paths.capath if in_bundle and in_bundle <= in_directory else None


def _directory_only(directory: str):  # noqa: ANN202 - an SSLContext method
    def set_default_verify_paths(context: ssl.SSLContext) -> None:
        context.load_verify_locations(capath=directory)

    set_default_verify_paths.hpchub_directory = directory
    return set_default_verify_paths


def skipping_bundle() -> bool:
    """True between :func:`begin` and :func:`end` when the CA bundle is not parsed."""
    return hasattr(ssl.SSLContext.set_default_verify_paths, "hpchub_directory")


def begin() -> None:
    """Before the server's imports."""
    gc.disable()
    directory = ca_directory()
    if directory:
        warn_if_untested("python")
        ssl.SSLContext.set_default_verify_paths = _directory_only(directory)


def end() -> None:
    """The server serves: OpenSSL's default paths as they were, collection back on."""
    if skipping_bundle():
        _prime_tornado()
        if _OWN_DEFAULT_PATHS is None:
            del ssl.SSLContext.set_default_verify_paths
        else:
            ssl.SSLContext.set_default_verify_paths = _OWN_DEFAULT_PATHS
    if not gc.isenabled():
        # Start-up's ~240,000 objects were never scanned: set them aside rather than have the
        # first collections after re-enabling scan them all during the first requests.
        gc.freeze()
        gc.enable()


def settle() -> None:
    """A while after start-up: hand start-up's objects back to the oldest generation, so that
    the few thousand that were garbage (about 1 %) are eventually collected, not kept."""
    gc.unfreeze()


def _prime_tornado() -> None:
    """Tornado's server wraps each accepted TLS socket in an ``SSLIOStream`` that also builds
    (once, lazily) a *client* default context it never uses: a CA bundle parse, 0.11 s, on the
    server's first connection (the hub's start-up check, then the user's first page). Made
    here, while the CA lookup needs no parse. No upstream issue found (tornado 6.5)."""
    try:
        from tornado.netutil import _client_ssl_defaults
    except ImportError:  # a tornado without it: nothing to prime
        return
    _client_ssl_defaults()


def _jupyter_server_extension_points() -> list[dict]:
    return [{"module": "hpchub.node.start_up"}]


def _load_jupyter_server_extension(serverapp) -> None:  # noqa: ANN001 - a ServerApp
    """Nothing to add while the server initializes; see the start hook."""


async def _start_jupyter_server_extension(serverapp) -> None:  # noqa: ANN001
    """Runs once the event loop turns after ``ServerApp.start``: the port is bound, serving."""
    bundle = "skipped" if skipping_bundle() else "parsed"
    end()
    serverapp.io_loop.call_later(SETTLE_AFTER_S, settle)
    started = JobContract.from_env().job_started
    if started:
        serverapp.log.info("hpchub: serving %.2f s after the server's process started "
                           "(system CA bundle %s during start-up)",
                           time.time() - started, bundle)
