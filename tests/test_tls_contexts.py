"""One TLS context per certificate (hpchub.node.tls_contexts), on JupyterHub's own
make_ssl_context and real certificate files."""

from __future__ import annotations

import os
import ssl
import sys

import jupyterhub.objects
import jupyterhub.services.auth
import jupyterhub.user
import jupyterhub.utils
from test_certs import (
    ca,  # noqa: F401 - the CA fixture
    write_pems,
)

from hpchub.node import tls_contexts
from hpchub.spawners import certs


def files(tmp_path, ca):  # noqa: F811
    key, cert = ca
    return write_pems(tmp_path, certs.issue(key, cert, cert.decode(), "hub", ["hub"]))


def test_same_files_same_context_renewed_files_new_one(tmp_path, ca):  # noqa: F811
    make = tls_contexts.shared(jupyterhub.utils.make_ssl_context)
    paths = files(tmp_path, ca)
    first = make(paths["key"], paths["cert"], cafile=paths["ca"])
    assert first is make(paths["key"], paths["cert"], cafile=paths["ca"])
    assert first.verify_mode.name == "CERT_REQUIRED" and first.check_hostname
    assert first.options & ssl.OP_IGNORE_UNEXPECTED_EOF  # a peer's abrupt close ends cleanly
    stat = os.stat(paths["cert"])
    os.utime(paths["cert"], ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # renewed
    assert make(paths["key"], paths["cert"], cafile=paths["ca"]) is not first
    assert make(None, None) is None  # no internal SSL: no context, as upstream


def test_share_contexts_replaces_jupyterhubs_function_everywhere(monkeypatch):
    modules = [jupyterhub.utils, jupyterhub.user, jupyterhub.objects, jupyterhub.services.auth]
    original = jupyterhub.utils.make_ssl_context
    for module in modules:  # restored after the test
        monkeypatch.setattr(module, "make_ssl_context", original)
    tls_contexts.share_contexts()
    replacement = jupyterhub.utils.make_ssl_context
    assert replacement is not original and replacement.hpchub_shared
    assert all(module.make_ssl_context is replacement for module in modules)
    tls_contexts.share_contexts()  # idempotent: not wrapped twice
    assert jupyterhub.utils.make_ssl_context is replacement
    assert "jupyterhub.singleuser.extension" in tls_contexts.USERS
    assert sys.modules["jupyterhub.user"].make_ssl_context is replacement
