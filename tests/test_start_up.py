"""A server's start-up window (hpchub.node.start_up): CA lookup without the bundle where
that keeps the same trust, no garbage collection until serving, everything restored after."""

from __future__ import annotations

import json
import os
import socket
import ssl
import subprocess
import sys
import threading
from pathlib import Path
from types import SimpleNamespace

from test_certs import (
    ca,  # noqa: F401 - the CA fixture
    write_pems,
)

from hpchub.node import start_up
from hpchub.spawners import certs


def fake_paths(monkeypatch, cafile, capath) -> None:
    monkeypatch.setattr(start_up.ssl, "get_default_verify_paths",
                        lambda: SimpleNamespace(cafile=cafile, capath=capath))


def pem(i: int) -> str:
    return f"-----BEGIN CERTIFICATE-----\nCERT{i}\n-----END CERTIFICATE-----\n"


def bundle_and_dir(root, in_bundle: int, hashed: int) -> tuple[str, str]:
    """A bundle of certificates 0..in_bundle-1; a directory with 0..hashed-1 under hash names."""
    directory = root / "certs"
    directory.mkdir(parents=True)
    bundle = root / "bundle.pem"
    bundle.write_text("".join(pem(i) for i in range(in_bundle)))
    for i in range(hashed):
        (directory / f"{i:08x}.0").write_text(pem(i))
    (directory / "ca-extra.pem").write_text(pem(in_bundle - 1))  # no hash name: not looked up
    return str(bundle), str(directory)


def test_bundle_is_skipped_only_when_the_directory_holds_every_ca(tmp_path, monkeypatch):
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    bundle, directory = bundle_and_dir(tmp_path / "debian", 3, 3)
    fake_paths(monkeypatch, bundle, directory)
    assert start_up.ca_directory() == directory
    fake_paths(monkeypatch, *bundle_and_dir(tmp_path / "partial", 3, 2))
    assert start_up.ca_directory() is None  # a CA only in the bundle: it must stay


def test_same_count_is_not_enough_the_same_certificates_are_needed(tmp_path, monkeypatch):
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    bundle, directory = bundle_and_dir(tmp_path, 2, 2)
    Path(directory, "00000000.1").write_text(pem(0))  # a duplicate link...
    Path(directory, "00000001.0").write_text(pem(7))  # ...and a different CA in its place
    fake_paths(monkeypatch, bundle, directory)
    assert start_up.ca_directory() is None


def test_a_site_bundle_or_missing_paths_are_left_alone(tmp_path, monkeypatch):
    fake_paths(monkeypatch, *bundle_and_dir(tmp_path, 1, 1))
    monkeypatch.setenv("SSL_CERT_FILE", "/site/bundle.pem")
    assert start_up.ca_directory() is None
    monkeypatch.delenv("SSL_CERT_FILE")
    fake_paths(monkeypatch, None, str(tmp_path))
    assert start_up.ca_directory() is None


VERIFY = """
import json, socket, ssl, sys
from hpchub.node import start_up
start_up.ca_directory = lambda: sys.argv[2]
start_up.begin()
ctx = ssl.create_default_context()  # what aiohttp and JupyterHub do during start-up
t = ctx.wrap_socket(socket.create_connection(("127.0.0.1", int(sys.argv[1]))),
                    server_hostname="node7")
t.send(b"x")
print(json.dumps({"skipping": start_up.skipping_bundle(), "looked_up": len(ctx.get_ca_certs())}))
"""


def test_contexts_made_during_start_up_verify_through_the_directory(tmp_path, ca):  # noqa: F811
    """The premise: with the bundle skipped, OpenSSL still finds the CA in a hashed directory."""
    ca_key, ca_cert = ca
    directory = tmp_path / "certs"
    directory.mkdir()
    (directory / "ca.pem").write_bytes(ca_cert)
    subprocess.run(["openssl", "rehash", str(directory)], check=True)
    files = write_pems(tmp_path, certs.issue(ca_key, ca_cert, ca_cert.decode(), "s", ["node7"]))
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(files["cert"], files["key"])
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        conn, _ = listener.accept()
        with server_ctx.wrap_socket(conn, server_side=True) as tls:
            tls.recv(1)

    threading.Thread(target=serve, daemon=True).start()
    done = subprocess.run([sys.executable, "-c", VERIFY, str(listener.getsockname()[1]),
                           str(directory)], capture_output=True, text=True, timeout=30)
    listener.close()
    assert done.returncode == 0, done.stderr
    # The system bundle was not loaded; the test CA was looked up in the directory.
    assert json.loads(done.stdout) == {"skipping": True, "looked_up": 1}


WINDOW = """
import gc, json, os, ssl
from hpchub.node import start_up
start_up.ca_directory = lambda: ssl.get_default_verify_paths().capath
start_up.begin()
during = {"gc": gc.isenabled(), "skipping": start_up.skipping_bundle(),
          "cas": ssl.create_default_context().cert_store_stats()["x509_ca"],
          "env": os.environ.get("SSL_CERT_FILE")}
start_up.end()
after = {"gc": gc.isenabled(), "skipping": start_up.skipping_bundle(),
         "frozen": gc.get_freeze_count() > 0, "env": os.environ.get("SSL_CERT_FILE"),
         "cas": ssl.create_default_context().cert_store_stats()["x509_ca"] > 0}
start_up.settle()
settled = {"frozen": gc.get_freeze_count()}
print(json.dumps([during, after, settled]))
"""


def test_the_window_is_closed_once_serving():
    env = {k: v for k, v in os.environ.items() if k != "SSL_CERT_FILE"}
    done = subprocess.run([sys.executable, "-c", WINDOW], env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    during, after, settled = json.loads(done.stdout)
    # Nothing parsed in advance, and no variable that other libraries (httpx) read is set.
    assert during == {"gc": False, "skipping": True, "cas": 0, "env": None}
    # After: the bundle is loaded again as usual, no variable was ever set.
    assert after == {"gc": True, "skipping": False, "frozen": True, "env": None, "cas": True}
    assert settled == {"frozen": 0}  # start-up's garbage can be collected after all
