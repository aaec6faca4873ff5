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
  the bundle (Debian's ``update-ca-certificates`` keeps both), the bundle is skipped during
  start-up and OpenSSL looks CAs up in the directory when a connection needs one: the same
  trust, without the parse. The variable is removed again before any kernel or terminal
  starts.

``begin()`` runs before the server's imports (:func:`hpchub.spawners.fast_start.run_server`);
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

HASHED_NAME = re.compile(r"[0-9a-f]{8}\.[0-9]+")  # OpenSSL's c_rehash / `openssl rehash`
PEM = re.compile(rb"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.S)
CA_FILE_ENV = "SSL_CERT_FILE"
SETTLE_AFTER_S = 60  # by then the user's JupyterLab has loaded
_started: dict[str, str] = {}  # what begin() changed, for end()


def certificates(data: bytes) -> set[bytes]:
    """The PEM certificates in ``data``, whitespace removed, for comparing files."""
    return {b"".join(pem.split()) for pem in PEM.findall(data)}


def ca_lookup_env() -> dict[str, str]:
    """The environment that skips the CA bundle, or ``{}`` unless every certificate of the
    bundle is also in the hashed directory (e.g. RHEL keeps only a bundle)."""
    if CA_FILE_ENV in os.environ:  # the site chose a bundle: keep it
        return {}
    paths = ssl.get_default_verify_paths()
    if not paths.cafile or not paths.capath:
        return {}
    try:
        in_bundle = certificates(Path(paths.cafile).read_bytes())
        in_directory: set[bytes] = set()
        for name in os.listdir(paths.capath):
            if HASHED_NAME.fullmatch(name):
                in_directory |= certificates(Path(paths.capath, name).read_bytes())
    except OSError:
        return {}
    if not in_bundle or not in_bundle <= in_directory:
        return {}
    return {CA_FILE_ENV: os.devnull}  # no bundle: certificates come from the directory


def begin() -> None:
    """Before the server's imports."""
    gc.disable()
    _started.clear()
    _started.update(ca_lookup_env())
    os.environ.update(_started)


def end() -> None:
    """The server serves: its environment as it was, collection back on."""
    if _started:
        _prime_tornado()
    for variable in _started:
        os.environ.pop(variable, None)
    _started.clear()
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
    return [{"module": "hpchub.spawners.start_up"}]


def _load_jupyter_server_extension(serverapp) -> None:  # noqa: ANN001 - a ServerApp
    """Nothing to add while the server initializes; see the start hook."""


async def _start_jupyter_server_extension(serverapp) -> None:  # noqa: ANN001
    """Runs once the event loop turns after ``ServerApp.start``: the port is bound, serving."""
    bundle = "skipped" if _started else "parsed"
    end()
    serverapp.io_loop.call_later(SETTLE_AFTER_S, settle)
    started = os.environ.get("HPCHUB_JOB_STARTED")
    if started:
        serverapp.log.info("hpchub: serving %.2f s after the server's process started "
                           "(system CA bundle %s during start-up)",
                           time.time() - float(started), bundle)
