"""Internal SSL in the job: the PEM text the hub handed over (see
:mod:`hpchub.spawners.certs`) becomes private files for the server, and a TLS context for
calling the hub's API with them."""

from __future__ import annotations

import atexit
import os
import shutil
import ssl
import tempfile
from pathlib import Path

from .contract import PEM_ENV

PATH_ENV = {"key": "JUPYTERHUB_SSL_KEYFILE", "cert": "JUPYTERHUB_SSL_CERTFILE",
            "ca": "JUPYTERHUB_SSL_CLIENT_CA"}


def write_from_env(env: os._Environ | dict) -> Path | None:
    """In the job: PEM variables -> files in a private directory, removed at exit.

    Removal runs when the server exits inside this Python process (the usual case, see
    :mod:`.fast_start`); a server that is ``exec``'d instead leaves the directory to the
    node's /tmp cleanup.
    """
    if PEM_ENV["key"] not in env:
        return None
    directory = Path(tempfile.mkdtemp(prefix="hpchub-ssl-"))  # 0700, on the node
    atexit.register(shutil.rmtree, directory, True)
    old_umask = os.umask(0o077)
    try:
        for part, variable in PEM_ENV.items():
            path = directory / f"{part}.pem"
            path.write_text(env.pop(variable))
            env[PATH_ENV[part]] = str(path)
    finally:
        os.umask(old_umask)
    return directory


def hub_client_context(env: os._Environ | dict) -> ssl.SSLContext | None:
    """The TLS context for calling the hub's API with this server's certificate, if any."""
    if not env.get(PATH_ENV["key"]):
        return None
    context = ssl.create_default_context(cafile=env[PATH_ENV["ca"]])
    context.load_cert_chain(env[PATH_ENV["cert"]], env[PATH_ENV["key"]])
    return context
